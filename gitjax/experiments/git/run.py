"""Experiment `git`: the whole Generative Invariance Transfer study, one command.

For each long-tailed instance i (seed = config.seed + i, i < num_instances)
the stages run in order, each in a sub-folder that is a complete run folder
of its own experiment kind (its config.json, checkpoints, metrics, report):

  instance_<i>/dataset/        the long-tailed, transformed data set
  instance_<i>/munit/          MUNIT on it (skipped when git.munit_workdir
                               names a finished run, or no method uses GIT)
  instance_<i>/munit_adain/    with compare_adain: the same MUNIT with
                               munit.warp='none' (GIT's AdaIN-only style)
  instance_<i>/<method>/       one classifier per method of config.methods,
                               evaluated (balanced accuracy) and measured
                               (per-class eKLD); '_git' methods re-style
                               with the instance's MUNIT
  instance_<i>/<method>_adain/ with compare_adain: each '_git' method again,
                               re-styled by munit_adain (same data, seed and
                               steps before the switch)

then WORKDIR gets results.json, figures/ and report.md (per method: balanced
accuracy and mean eKLD over all classes and over the smallest fifth of the
classes, mean +- std over instances; eKLD against class size, every method
in one figure; the MUNIT's samples and measurements; time per stage).

Methods that train alike up to the DRS/DRW switch (CE, CE+DRS, CE+DRS+GIT:
same loss, uniform sampling and no GIT step before it) train those steps
once: the later ones start from the first such method's state at the switch
(config.share_prefix, classifier config.train.branch_from), which gives the
same result as training them from step 0 in less time. A GIT method never
gives its steps to others, and one whose GIT steps start before the switch
(git.start_epoch) trains from step 0, saying why.

A finished stage is never rerun (its folder holds done.json); a killed run
resumes inside the stage it was in, from that stage's last checkpoint, and
gives the result an uninterrupted run gives. Bad GIT input (a MUNIT folder
that is missing, unfinished or of another image shape; a git.munit_step
that is not saved; a threshold K at or below the smallest class) is
reported in one line before any training.
"""
import json
import os
import time

import ml_collections

from gitjax import config as config_lib
from gitjax import config_base
from gitjax import errors
from gitjax.data import build
from gitjax.experiments.classifier import run as classifier
from gitjax.experiments.dataset import run as dataset
from gitjax.experiments.git import layout
from gitjax.experiments.git import report as git_report
from gitjax.experiments.munit import run as munit
from gitjax.runtime import paths
from gitjax.runtime import workdir as workdir_lib

STAGES_FILE = 'stages.json'


def _section(config_dict):
  return ml_collections.ConfigDict(config_dict.to_dict())


def stage_config(config, kind, seed, method=None, munit_workdir='',
                 branch_from='', munit_variant=''):
  """The resolved config of one stage's run (experiment `kind`);
  munit_variant 'adain' is the study's MUNIT with munit.warp='none'."""
  c = config_base.get_base(kind)
  c.seed = seed
  c.data = _section(config.data)
  c.run = _section(config.run)
  if kind == 'munit':
    c.munit = _section(config.munit)
    if munit_variant == 'adain':
      c.munit.warp = 'none'
  elif kind == 'classifier':
    c.method = method
    c.model = _section(config.model)
    c.train = _section(config.train)
    c.invariance = _section(config.invariance)
    c.train.branch_from = branch_from
    if config_base.method_parts(method)[3]:
      c.git = _section(config.git)
      c.git.munit_workdir = munit_workdir
  config_lib.validate(c)
  return c


def branch_sources(config, root, seed, data, munit_workdir):
  """{method: the sibling stage folder it starts from at the DRS/DRW switch}:
  with config.share_prefix, every method that trains like an earlier method
  without GIT up to the switch (same loss; ERM, DRS or DRW; no oracle; no
  GIT step before the switch) starts from the first such method's state
  there instead of training those steps again. A GIT method is never the
  source; one that cannot branch says why in one line and trains from
  step 0."""
  sources, firsts = {}, {}
  if not config.share_prefix:
    return sources
  for method in config.methods:
    plan = classifier.Plan(stage_config(config, 'classifier', seed, method,
                                        munit_workdir), data)
    if plan.git_before_switch:
      print(f'[git] {method} trains from step 0: its GIT steps start at '
            f'epoch {plan.git_start_epoch}, before the switch at epoch '
            f'{plan.switch_epoch} (git.start_epoch)', flush=True)
      continue
    if not plan.shares_prefix(data):
      continue
    if plan.loss in firsts:
      sources[method] = os.path.join(root, firsts[plan.loss])
    elif plan.git:
      print(f'[git] {method} trains from step 0: no method without GIT of '
            f'loss {plan.loss} comes before it in config.methods to share '
            'the steps before the switch with', flush=True)
    else:
      firsts[plan.loss] = method
  return sources


class StageClock:
  """Wall time per stage, kept in WORKDIR/stages.json across restarts (the
  time of a stage killed before it finished is not counted)."""

  def __init__(self, workdir):
    self.path = os.path.join(workdir, STAGES_FILE)
    self.stages = {}
    if paths.exists(self.path):
      self.stages = json.loads(paths.read_text(self.path))

  def run(self, name, fn):
    record = self.stages.setdefault(name, {'seconds': 0.0, 'done': False})
    t0 = time.time()
    fn()
    record['seconds'] += time.time() - t0
    record['done'] = True
    workdir_lib.write_json(self.path, self.stages)


def _run_stage(folder, config, runner, **kwargs):
  """Runs (or resumes, or skips when finished) one stage in its folder."""
  resumed = workdir_lib.prepare(folder, config_lib.to_json(config))
  state = ('finished' if workdir_lib.is_done(folder) else
           'resuming' if resumed else 'starting')
  print(f'[git] {state} {config.experiment} in {folder}', flush=True)
  runner.run(config, folder, **kwargs)


def _check_inputs(config, workdir, datasets):
  """One-line errors for bad GIT input, before any training."""
  step = config.git.munit_step
  if layout.uses_git(config) and not config.git.munit_workdir and step not in (
      0, config.munit.iterations):
    raise errors.ConfigError(
        f'config.git.munit_step={step}: this study trains its MUNIT for '
        f'munit.iterations={config.munit.iterations} and keeps only the last '
        f'checkpoints; set munit.iterations={step} (the generator after '
        f'{step} iterations does not depend on the run\'s length) or '
        'git.munit_step=0')
  for instance, data in enumerate(datasets):
    folder = layout.munit_folder(config, workdir, instance)
    if config.git.munit_workdir:
      munit.check_generator(folder, data.image_shape, step)
    for method in config.methods:
      if config_base.method_parts(method)[3]:
        sub = stage_config(config, 'classifier',
                           layout.instance_seed(config, instance), method, folder)
        classifier.Plan(sub, data)  # threshold K against the smallest class


def run(config, workdir):
  """Runs every stage of every instance, then writes the study's report."""
  if workdir_lib.finished(workdir):
    return
  datasets = [build.build(config.data, layout.instance_seed(config, i))
              for i in range(config.num_instances)]
  _check_inputs(config, workdir, datasets)
  clock = StageClock(workdir)
  for instance, data in enumerate(datasets):
    seed = layout.instance_seed(config, instance)
    root = os.path.join(workdir, f'instance_{instance}')
    print(f'[git] instance {instance + 1}/{config.num_instances} (seed '
          f'{seed}): {len(data.y_train)} training images, sizes by rank '
          f'{data.class_sizes[data.class_order].tolist()}', flush=True)
    clock.run(f'instance_{instance}/dataset', lambda: _run_stage(
        os.path.join(root, 'dataset'), stage_config(config, 'dataset', seed),
        dataset, data=data))
    folder = layout.munit_folder(config, workdir, instance)
    if layout.uses_git(config) and not config.git.munit_workdir:
      for variant in layout.munit_variants(config):
        sub = layout.munit_folder(config, workdir, instance, variant)
        clock.run(f'instance_{instance}/{os.path.basename(sub)}',
                  lambda: _run_stage(
                      sub, stage_config(config, 'munit', seed,
                                        munit_variant=variant),
                      munit, data=data))
    sources = branch_sources(config, root, seed, data, folder)
    for row, method, variant in layout.rows(config):
      clock.run(f'instance_{instance}/{row}', lambda: _run_stage(
          os.path.join(root, row),
          stage_config(config, 'classifier', seed, method,
                       layout.munit_folder(config, workdir, instance, variant),
                       sources.get(method, '')),
          classifier, data=data))
  t0 = time.time()
  results = git_report.write(config, workdir, clock.stages)
  print(f'[git] report written in {time.time() - t0:.1f} s', flush=True)
  workdir_lib.mark_done(workdir, {
      'experiment': 'git',
      'balanced_accuracy': {m: r['balanced_accuracy']['mean']
                            for m, r in results['methods'].items()}})
  print(git_report.summary_lines(results), flush=True)
  print(f'outputs in {workdir} (report.md)', flush=True)
