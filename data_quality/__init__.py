"""Data quality before repair: suspect labels, near-duplicate images and prediction checks.

A repair that "fixes" an image whose label is wrong teaches the model a mistake, and a test
image with a near-copy in the training set measures memory, not generalisation. One job per
module:

* :mod:`data_quality.reports`: the three reports' shape, timestamped names, reading them back;
* :mod:`data_quality.features`: frozen features of a model layer (cached), for probes and
  embeddings;
* :mod:`data_quality.probabilities`: out-of-sample predicted probabilities (the model on a
  held-out split, or a cross-validated probe on frozen features);
* :mod:`data_quality.label_issues`: cleanlab's ranking of suspect labels, optionally with TracIn
  self-influence;
* :mod:`data_quality.embeddings`: image embeddings by name (pixels, a thumbnail, a model layer);
* :mod:`data_quality.duplicates`: exact nearest neighbours with faiss, within and across splits;
* :mod:`data_quality.validation`: accuracy, per-class misses, reliability diagram and ECE;
* :mod:`data_quality.flagged`: the images a report or a review flags, for ``--exclude-flagged``;
* :mod:`data_quality.decisions`: the review page's decisions in SQLite, exported to CSV/JSON;
* :mod:`data_quality.options` and :mod:`data_quality.pipeline`: the scripts' shared options and
  the run of all three checks.

Corrected labels themselves are applied in the data layer (:mod:`helpers.label_overrides`), so
that training and evaluation, which sit below this package, see them too.
"""
