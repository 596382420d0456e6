"""Where a GIT study's stages live and which of them it runs.

The study (run.py) and its report (report.py) both read these: the seed of
each long-tailed instance, whether any method re-styles with GIT, the MUNIT
run an instance's GIT methods load, and the study's rows: one classifier
stage per method of config.methods and, with config.compare_adain, one more
per GIT method that re-styles with GIT's AdaIN-only MUNIT (METHOD +
ADAIN_SUFFIX) instead of the MUNIT whose style also warps.
"""
import os

from gitjax import config_base
from gitjax.runtime import paths

# The row of a GIT method re-styled by the AdaIN-only MUNIT (compare_adain),
# and that MUNIT's stage folder in each instance.
ADAIN_SUFFIX = '_adain'
ADAIN_MUNIT = 'munit_adain'


def instance_seed(config, instance):
  """Seed of long-tailed instance `instance`: data set, init, sampling."""
  return config.seed + instance


def uses_git(config):
  """Whether any method of the study re-styles with GIT (needs a MUNIT)."""
  return any(config_base.method_parts(m)[3] for m in config.methods)


def compares_adain(config):
  """Whether the study also trains the AdaIN-only MUNIT (compare_adain)."""
  return bool(config.get('compare_adain', False)) and uses_git(config)


def munit_variants(config):
  """The MUNIT stages of an instance: '' (config.munit as given) and, with
  compare_adain, 'adain' (the same with munit.warp='none')."""
  return ('', 'adain') if compares_adain(config) else ('',)


def munit_folder(config, workdir, instance, variant=''):
  """The MUNIT run the instance's GIT methods (variant '') or their
  AdaIN-only rows (variant 'adain') re-style with."""
  if variant == 'adain':
    return os.path.join(workdir, f'instance_{instance}', ADAIN_MUNIT)
  if config.git.munit_workdir:
    return paths.resolve(config.git.munit_workdir)
  return os.path.join(workdir, f'instance_{instance}', 'munit')


def rows(config):
  """[(row, method, MUNIT variant)]: the study's classifier stages in table
  order; each AdaIN-only row right after its GIT method."""
  out = []
  for method in config.methods:
    out.append((method, method, ''))
    if compares_adain(config) and config_base.method_parts(method)[3]:
      out.append((method + ADAIN_SUFFIX, method, 'adain'))
  return out


def row_method(row):
  """The classifier method a row trains (its name without ADAIN_SUFFIX)."""
  return row[:-len(ADAIN_SUFFIX)] if row.endswith(ADAIN_SUFFIX) else row


def row_variant(row):
  """The MUNIT variant a row's GIT batches come from ('' or 'adain')."""
  return 'adain' if row.endswith(ADAIN_SUFFIX) else ''
