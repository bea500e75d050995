"""TracIn influence: which training images taught a model each of its answers.

TracIn (Pruthi et al., 2020) sums, over the checkpoints of a training run, the learning rate
times the dot product of two examples' loss gradients. This package replays the epoch
checkpoints ``train.py`` writes (each carries its learning rate), computes the training side
once per checkpoint and caches it on disk, and answers two questions: how much each training
image influenced itself (high for mislabelled or atypical images), and which training images
pushed an edit image towards (proponents) or away from (opponents) its label.

Modules: :mod:`influence.run` (the checkpoints of a run), :mod:`influence.factors` (last-layer
gradient factors), :mod:`influence.cache` (the on-disk training side), :mod:`influence.tracin`
(the scores), :mod:`influence.captum_backend` (Captum's TracInCP / TracInCPFast, the oracle
and the route to layers beyond the last), :mod:`influence.results` (NPZ + JSON files),
:mod:`influence.plots` and :mod:`influence.report` (figures and the PDF).
"""
