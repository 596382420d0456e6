"""Experiment `classifier`: long-tailed training with the usual baselines,
optional GIT re-styling inside the step, balanced accuracy and eKLD."""
