"""branch.start and branch.saver on a tiny state: a run that branches from a
sibling starts at the switch with the sibling's whole state and metrics, a
run with its own checkpoint resumes from it, and only a run whose prefix
siblings can use saves its state at the switch."""
import os
import sys

import chex
import jax
import jax.numpy as jnp
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import classifier_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax import errors  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import build  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import branch  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import run as classifier  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import checkpoint  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _config(method):
  config = classifier_digits.get_config(f'{method},smoke')
  config.train.epochs = 6
  config.train.decay_epochs = (4,)
  config.run.keep_checkpoints = 1
  if method.endswith('_git'):
    config.git.munit_workdir = '/m'  # not read: no step is taken here
  config_lib.validate(config, num_devices=jax.device_count())
  return config


def _state(offset):
  return {'params': {'w': jnp.arange(4.0) + offset},
          'batch_stats': {'var': jnp.full((2,), offset)},
          'opt': (jnp.array(offset), jnp.array(int(offset), jnp.int32))}


@pytest.fixture(scope='module')
def data():
  config = _config('ce')
  return build.build(config.data, config.seed)


def _source(tmp_path, data, steps_saved, keep=None):
  """A finished CE run folder: its state at `steps_saved` in
  branch_checkpoint/ (the state there is _state(step)) and metrics to the
  end. `keep`: another checkpointer than branch.saver's, keeping that many."""
  source = str(tmp_path / 'ce')
  ce = _config('ce')
  plan = classifier.Plan(ce, data)
  workdir_lib.prepare(source, config_lib.to_json(ce))
  saver = (branch.saver(source, plan, data, first=0)
           if keep is None else
           checkpoint.Checkpointer(os.path.join(source, branch.DIR), keep))
  for step in steps_saved:
    saver.save(step, _state(float(step)))
  saver.close()
  writer = metrics.MetricWriter(source)
  for step in range(1, plan.total_steps + 1):
    writer.write(step, {'loss': float(step)})
  writer.close()
  return source


def _branched(tmp_path, source, method='ce_drs'):
  config = _config(method)
  config.train.branch_from = source
  workdir = str(tmp_path / method)
  workdir_lib.prepare(workdir, config_lib.to_json(config))
  return config, workdir


def test_a_run_branches_at_the_switch_with_the_siblings_state(
    tmp_path, data, capsys):
  plan = classifier.Plan(_config('ce_drs'), data)
  switch = plan.switch_step
  assert 0 < switch < plan.total_steps
  source = _source(tmp_path, data, [switch])
  config, workdir = _branched(tmp_path, source)
  ckpt, writer, state, first, origin = branch.start(
      config, workdir, _state(-1.0), plan, data)
  assert first == switch
  chex.assert_trees_all_equal(state, _state(float(switch)))
  assert origin == {'run': source, 'step': switch}
  assert f'starting at step {switch}' in capsys.readouterr().out
  writer.close()
  # The sibling's curves up to the switch are copied, nothing after it.
  assert [r['step'] for r in metrics.read(workdir)] == list(
      range(1, switch + 1))
  assert [r['loss'] for r in metrics.read(workdir)][-1] == float(switch)
  # Killed after a checkpoint of its own: it resumes there, and still says
  # where its steps came from.
  ckpt.save(switch + 1, _state(98.0), {'branched_from': origin})
  ckpt.save(switch + 2, _state(99.0), {'branched_from': origin})
  assert ckpt.all_steps() == [switch + 2]  # config.run.keep_checkpoints=1
  ckpt.close()
  ckpt, writer, state, first, again = branch.start(
      config, workdir, _state(-1.0), plan, data)
  assert first == switch + 2
  chex.assert_trees_all_equal(state, _state(99.0))
  assert again == origin
  writer.close()
  ckpt.close()


def test_the_state_taken_is_the_one_at_the_switch_not_the_latest(
    tmp_path, data):
  plan = classifier.Plan(_config('ce_drs'), data)
  switch = plan.switch_step
  source = _source(tmp_path, data, [switch, switch + 3], keep=2)
  config, workdir = _branched(tmp_path, source)
  ckpt, writer, state, first, _ = branch.start(
      config, workdir, _state(-1.0), plan, data)
  assert first == switch
  chex.assert_trees_all_equal(state, _state(float(switch)))
  writer.close()
  ckpt.close()


def test_switch_epoch_and_git_before_switch_at_their_boundaries():
  train = _config('ce_drs').train
  assert branch.switch_epoch(train) == 4  # the first lr drop
  train.deferred_epoch = 0
  assert branch.switch_epoch(train) == 0  # deferred from the start
  train.deferred_epoch, train.decay_epochs = -1, ()
  assert branch.switch_epoch(train) == train.epochs  # no switch
  git = _config('ce_drs_git').git
  train = _config('ce_drs_git').train
  for start, before in ((3, True), (4, False), (5, False)):
    git.start_epoch = start
    assert branch.git_before_switch(train, git) == before, start


def test_without_a_checkpoint_at_the_switch_it_trains_from_step_0(
    tmp_path, data, capsys):
  plan = classifier.Plan(_config('ce_drs'), data)
  source = _source(tmp_path, data, [plan.switch_step - 1])
  config, workdir = _branched(tmp_path, source)
  fresh = _state(-1.0)
  ckpt, writer, state, first, origin = branch.start(
      config, workdir, fresh, plan, data)
  assert first == 0 and origin is None
  chex.assert_trees_all_equal(state, fresh)
  assert 'has no checkpoint at the switch' in capsys.readouterr().out
  writer.close()
  ckpt.close()
  assert metrics.read(workdir) == []


def test_without_branch_from_it_is_a_plain_resume(tmp_path, data):
  config = _config('ce_drs')
  plan = classifier.Plan(config, data)
  fresh = _state(-1.0)
  ckpt, writer, state, first, origin = branch.start(
      config, str(tmp_path), fresh, plan, data)
  assert (first, origin) == (0, None) and state is fresh
  writer.close()
  ckpt.close()


def test_only_a_shareable_prefix_is_saved_at_the_switch(tmp_path, data):
  plan = classifier.Plan(_config('ce'), data)
  tmp = os.path.join(str(tmp_path), branch.DIR, '1.orbax-checkpoint-tmp-9')
  os.makedirs(tmp)  # a save killed half-way: the owner tidies it
  saver = branch.saver(str(tmp_path), plan, data, first=plan.switch_step - 1)
  assert saver.directory == os.path.join(str(tmp_path), branch.DIR)
  assert not os.path.exists(tmp)
  saver.save(1, _state(1.0))
  saver.save(2, _state(2.0))
  assert saver.all_steps() == [2]  # keeps one: the switch
  saver.close()
  # Resumed at or past the switch: nothing left to give.
  assert branch.saver(str(tmp_path), plan, data, plan.switch_step) is None
  # Oracle and class-balanced sampling from step 0 train another prefix.
  for method in ('oracle', 'ce_rs'):
    other = classifier.Plan(_config(method), data)
    assert not other.shares_prefix(data)
    assert branch.saver(str(tmp_path / method), other, data, 0) is None


def test_branch_from_refuses_a_folder_that_is_not_a_sibling(tmp_path, data):
  config = _config('ce_drs')
  plan = classifier.Plan(config, data)
  empty = str(tmp_path / 'empty')
  os.makedirs(empty)
  config.train.branch_from = empty
  with pytest.raises(errors.ConfigError, match='is not a classifier run '
                     r'folder \(no config.json\)'):
    branch.check_source(config, plan, data)
  munit_dir = str(tmp_path / 'munit')
  workdir_lib.prepare(munit_dir, '{"experiment": "munit"}')
  config.train.branch_from = munit_dir
  with pytest.raises(errors.ConfigError, match='is a munit run, not a '
                     'classifier run'):
    branch.check_source(config, plan, data)
  other = _config('ce')
  other.seed, other.model.depth = 5, 14
  other_dir = str(tmp_path / 'other')
  workdir_lib.prepare(other_dir, config_lib.to_json(other))
  config.train.branch_from = other_dir
  with pytest.raises(errors.ConfigError, match=(
      r'trains differently before the switch \(model.depth, seed differ\); '
      r"give a run of the same data, seed, model, recipe and loss, or ''")):
    branch.check_source(config, plan, data)
  oracle = _config('oracle')
  oracle.train.branch_from = other_dir
  with pytest.raises(errors.ConfigError, match='does not train like its '
                     'siblings up to the switch'):
    branch.check_source(oracle, classifier.Plan(oracle, data), data)
