"""Starting a classifier run from a sibling's state at the DRS/DRW switch.

CE, CE+DRS and CE+DRS+GIT (and LDAM-DRW, LDAM-DRW+GIT) train the same steps
up to the switch when they share data, seed, model, recipe and loss
(classifier.Plan.shares_prefix). The first such run saves its state at the
switch in WORKDIR/branch_checkpoint/; a run whose config.train.branch_from
names it starts there, with the same parameters as training from step 0
(tests/experiments/classifier/test_classifier_run.py), and copies its metrics up to the
switch so that the curves are whole.
"""
import json
import os

import ml_collections

from gitjax import config as config_lib
from gitjax import config_base
from gitjax import errors
from gitjax.runtime import checkpoint as checkpoint_lib
from gitjax.runtime import metrics as metrics_lib
from gitjax.runtime import paths
from gitjax.runtime import resume
from gitjax.runtime import workdir as workdir_lib

DIR = 'branch_checkpoint'


def switch_epoch(train):
  """The epoch of the DRS/DRW switch: train.deferred_epoch, else the first
  lr drop, else train.epochs (no switch)."""
  if train.deferred_epoch >= 0:
    return train.deferred_epoch
  return train.decay_epochs[0] if train.decay_epochs else train.epochs


def git_before_switch(train, git):
  """Whether a GIT method of this recipe takes GIT steps before the switch
  (then its steps before the switch are not those of its siblings)."""
  start = config_lib.git_start_epoch(train, git)
  return start is not None and start < switch_epoch(train)


def signature(config):
  """What decides a run's steps before the switch, from its JSON dict."""
  git_early = False
  if config_base.method_parts(config['method'])[3]:
    git_early = git_before_switch(ml_collections.ConfigDict(config['train']),
                                  ml_collections.ConfigDict(config['git']))
  return {'seed': config['seed'],
          'loss': config_base.method_parts(config['method'])[0],
          'git_before_switch': git_early,
          'data': config['data'], 'model': config['model'],
          'train': {k: v for k, v in config['train'].items()
                    if k != 'branch_from'}}


def check_source(config, plan, data):
  """The sibling run folder config.train.branch_from names (absolute), or
  None when it names none. Raises ConfigError when this run or the sibling
  trains differently before the switch."""
  source = config.train.branch_from
  if not source:
    return None
  source = paths.resolve(source)
  if not plan.shares_prefix(data):
    raise errors.ConfigError(
        f'config.train.branch_from={source!r}: method {config.method} does not '
        'train like its siblings up to the switch (oracle, rs, rw, a '
        'validation split, GIT steps before the switch, or no switch before '
        "the last epoch); leave it at ''")
  config_file = os.path.join(source, workdir_lib.CONFIG_FILE)
  if not paths.exists(config_file):
    raise errors.ConfigError(
        f'config.train.branch_from={source!r} is not a classifier run folder '
        f'(no {workdir_lib.CONFIG_FILE}); give the folder of a run of the '
        'same recipe')
  theirs = json.loads(paths.read_text(config_file))
  if theirs.get('experiment') != 'classifier':
    raise errors.ConfigError(
        f'config.train.branch_from={source!r} is a {theirs.get("experiment")} '
        'run, not a classifier run')
  ours = json.loads(config_lib.to_json(config))
  differ = [key for key, _, _ in workdir_lib.differences(signature(theirs),
                                                          signature(ours))]
  if differ:
    raise errors.ConfigError(
        f'config.train.branch_from={source!r} trains differently before the '
        f'switch ({", ".join(differ)} differ); give a run of the same data, '
        "seed, model, recipe and loss, or ''")
  return source


def start(config, workdir, state, plan, data):
  """resume.start, or the sibling's state at the switch when this run has
  no checkpoint of its own and config.train.branch_from gives one.

  Returns:
    (checkpointer, metric writer, state, first step, {'run', 'step'} of the
    sibling state the run's steps start from, or None).
  """
  checkpointer, writer, state, first = resume.start(
      workdir, state, config.run.keep_checkpoints)
  if first:  # its own checkpoint: where its steps came from is in the meta
    return (checkpointer, writer, state, first,
            checkpointer.restored_meta.get('branched_from'))
  source = check_source(config, plan, data)
  if source is None:
    return checkpointer, writer, state, first, None
  step, restored = plan.switch_step, None
  directory = os.path.join(source, DIR)
  if paths.isdir(directory):
    there = checkpoint_lib.Checkpointer(directory)
    if step in there.all_steps():
      restored, _ = there.restore(state, step=step)
    there.close()
  if restored is None:
    print(f'{source} has no checkpoint at the switch (step {step}) yet; '
          'training from step 0', flush=True)
    return checkpointer, writer, state, first, None
  # The writer of a run without checkpoints holds nothing after step 0.
  for record in metrics_lib.read(source):
    if record['step'] <= step:
      writer.write(record.pop('step'), record)
  print(f'starting at step {step} (the DRS/DRW switch) from {source}, whose '
        'steps before it this run shares', flush=True)
  return checkpointer, writer, restored, step, {'run': source, 'step': step}


def saver(workdir, plan, data, first):
  """The checkpointer of this run's state at the switch, for its siblings;
  None when no sibling can use it or the run resumes past the switch."""
  if plan.shares_prefix(data) and first < plan.switch_step:
    return checkpoint_lib.Checkpointer(os.path.join(workdir, DIR), keep=1,
                                       owner=True)
  return None
