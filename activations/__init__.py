"""Activations of real images, their 2-D embedding, and data-set export to NPZ batches.

* :mod:`activations.sources`: a class-balanced draw from any data set the data layer reads
  (NPZ splits streamed one file at a time);
* :mod:`activations.layers`: layer names and forward hooks;
* :mod:`activations.store`: the on-disk set under ``data/activations/<name>/``, replaced whole;
* :mod:`activations.extract`: draw, run the model, write the set;
* :mod:`activations.embedding`: PCA then UMAP to 2-D coordinates;
* :mod:`activations.npz_export`: any data set to ImageNet64's batch-file layout.
"""
