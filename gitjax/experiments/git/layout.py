"""Where a GIT study's stages live and which of them it runs.

The study (run.py) and its report (report.py) both read these: the seed of
each long-tailed instance, whether any method re-styles with GIT, and the
MUNIT run an instance's GIT methods load.
"""
import os

from gitjax import config_base
from gitjax.runtime import paths


def instance_seed(config, instance):
  """Seed of long-tailed instance `instance`: data set, init, sampling."""
  return config.seed + instance


def uses_git(config):
  """Whether any method of the study re-styles with GIT (needs a MUNIT)."""
  return any(config_base.method_parts(m)[3] for m in config.methods)


def munit_folder(config, workdir, instance):
  """The MUNIT run the instance's GIT methods re-style with."""
  if config.git.munit_workdir:
    return paths.resolve(config.git.munit_workdir)
  return os.path.join(workdir, f'instance_{instance}', 'munit')
