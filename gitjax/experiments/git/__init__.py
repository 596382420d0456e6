"""Experiment `git`: the whole GIT study, dataset -> MUNIT -> classifiers ->
report, per long-tailed instance."""
