"""Sweeps of repairs over edit-set types and sizes: one configuration in, one CSV row out.

The pieces, each with one job:

* :mod:`~edits.experiments.grid`: :class:`TrialConfig` (one repair, picklable, with a stable
  ``experiment_id``) and :func:`expand_grid` (the cross product a command line asks for);
* :mod:`~edits.experiments.trial`: :func:`run_trial`, a top-level function that makes or reuses
  the edit set, repairs, evaluates, and returns the row (so any executor can run it anywhere);
* :mod:`~edits.experiments.columns`: the CSV's columns, in order, with their units;
* :mod:`~edits.experiments.csv_log`: the resumable, append-only, fsync'd CSV;
* :mod:`~edits.experiments.executors`: serial and process-pool executors behind one small base
  class and a registry (the seam a Ray or Slurm executor plugs into);
* :mod:`~edits.experiments.sweep`: skip finished rows, run the rest, append each row as it lands;
* :mod:`~edits.experiments.plots`: figures and a summary table from the CSV.
"""
