"""Experiment `munit`: MUNIT on a long-tailed set, and the re-styler GIT loads.

`load_restyler(workdir)` is re-exported here: users call
`gitjax.experiments.munit.load_restyler(workdir)(key, images)`.
"""


def load_restyler(workdir, step=None, decoder='a'):
  """See `gitjax.experiments.munit.run.load_restyler`."""
  # Imported on call: importing this package must not import the trainer
  # (the classifier's step imports munit.steps).
  from gitjax.experiments.munit import run  # pylint: disable=g-import-not-at-top
  return run.load_restyler(workdir, step=step, decoder=decoder)
