"""Experiment `maml`: MAML on episodes, meta-test accuracy, and the
invariance-transfer study against a plain CNN."""
