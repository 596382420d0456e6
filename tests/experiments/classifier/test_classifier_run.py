"""The classifier experiment end to end: smoke run, outputs, resume."""
import json
import os
import sys

import chex
import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import classifier_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
import pins  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import build  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax import errors  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.errors import NonFiniteError  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import branch  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import run as classifier  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import steps as classifier_steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _smoke(method='ce'):
  config = classifier_digits.get_config(f'{method},smoke')
  config.train.epochs = 2
  config.train.decay_epochs = (1,)
  config.run.checkpoint_every = 4
  config_lib.validate(config, num_devices=jax.device_count())
  return config


def _start(config, workdir):
  workdir_lib.prepare(str(workdir), config_lib.to_json(config))
  return str(workdir)


@pytest.mark.parametrize('method', ['ce_drs', 'ldam_drw', 'oracle'])
def test_smoke_run_writes_everything(tmp_path, method):
  config = _smoke(method)
  workdir = _start(config, tmp_path / method)
  classifier.run(config, workdir)
  for name in ('results.json', 'per_class.json', 'report.md', 'done.json',
               'metrics.jsonl', 'figures/ekld_vs_size.png',
               'figures/confusion.png'):
    assert os.path.exists(os.path.join(workdir, name)), name
  per_class = json.load(open(os.path.join(workdir, 'per_class.json')))
  assert len(per_class) == 10
  assert all(np.isfinite(r['ekld']) and r['ekld'] >= 0 for r in per_class)
  results = json.load(open(os.path.join(workdir, 'results.json')))
  assert 0 <= results['balanced_accuracy'] <= 1
  assert -1 <= results['ekld_spearman'] <= 1
  if method != 'oracle':
    assert results['switch_epoch'] == 1
  # Seeded values: the losses at the first records and after the switch
  # (step 12: the second epoch's DRS / DRW phase), and the final metric.
  losses = pins.first_losses(os.path.join(workdir, 'metrics.jsonl'), 7)
  pins.check(f'classifier_digits:{method},smoke', {
      k: v for k, v in losses.items() if k in ('loss@2', 'loss@4', 'loss@12')}
             | {'balanced_accuracy': results['balanced_accuracy']})


def test_deferred_phases_switch_at_the_first_lr_drop():
  config = _smoke('ce_drs')
  data = build.build(config.data, config.seed)
  plan = classifier.Plan(config, data)
  switch = plan.steps_per_epoch * 1
  assert plan.switch_step == switch
  assert not plan.resampling(switch - 1) and plan.resampling(switch)
  assert not plan.reweighting(switch)
  config.method = 'ce_drw'
  plan = classifier.Plan(config, data)
  assert plan.reweighting(switch) and not plan.reweighting(switch - 1)
  weights = plan.loss_params(switch)['class_weights']
  # Effective-number weights favour the small classes.
  assert weights[data.class_order[-1]] > weights[data.class_order[0]]


def test_resume_after_a_kill_gives_the_same_state(tmp_path, monkeypatch):
  config = _smoke('ce_drs')
  data = build.build(config.data, config.seed)
  mesh = pipeline.make_mesh()
  full_dir = _start(config, tmp_path / 'full')
  full, _, plan, _ = classifier.train(config, full_dir, data, mesh)
  assert plan.total_steps > 6

  killed_dir = _start(config, tmp_path / 'killed')
  real_jit = classifier_steps.jit_train_step

  def dying_jit(*args, **kwargs):
    step_fn = real_jit(*args, **kwargs)
    calls = []

    def step(*a):
      calls.append(1)
      if len(calls) == 6:  # after the checkpoint at step 4
        raise KeyboardInterrupt
      return step_fn(*a)
    return step

  monkeypatch.setattr(classifier_steps, 'jit_train_step', dying_jit)
  with pytest.raises(KeyboardInterrupt):
    classifier.train(config, killed_dir, data, mesh)
  monkeypatch.setattr(classifier_steps, 'jit_train_step', real_jit)
  ckpt = checkpoint_lib.Checkpointer(os.path.join(killed_dir, 'checkpoints'))
  assert ckpt.latest_step() == 4
  ckpt.close()
  resumed, _, _, _ = classifier.train(config, killed_dir, data, mesh)
  # The whole state: parameters, BN statistics (train-mode steps do not
  # read them, so parameters alone would not show a lost BN state), the
  # optimiser's momentum and the step. Random streams (fold_in(step)) and
  # sampler positions (pure functions of seed and step) follow from step.
  assert int(resumed.step) == int(full.step) == plan.total_steps
  chex.assert_trees_all_close(jax.device_get(full), jax.device_get(resumed),
                              atol=1e-6)
  steps_logged = [json.loads(l)['step'] for l in
                  open(os.path.join(killed_dir, 'metrics.jsonl'))]
  assert steps_logged == sorted(set(steps_logged))


def test_nan_loss_stops_with_one_line_and_keeps_the_checkpoint(tmp_path):
  config = _smoke('ce')
  config.train.lr = 1e30  # diverges at once
  config.run.checkpoint_every = 1
  workdir = _start(config, tmp_path / 'nan')
  with pytest.raises(NonFiniteError) as info:
    classifier.run(config, workdir)
  assert '\n' not in str(info.value) and 'lower the learning rate' in str(
      info.value)
  assert not workdir_lib.is_done(workdir)


@pytest.mark.parametrize('config_name, arg, shape', [
    ('classifier_mnist', 'rot,ce_drs,smoke', (28, 28, 1)),
    ('classifier_cifar10_lt', 'ldam_drw,smoke', (32, 32, 3)),
])
def test_smoke_variants_of_the_tfds_configs(tmp_path, fake_npz, config_name,
                                            arg, shape):
  module = __import__(config_name)
  config = module.get_config(arg)
  config.data.path = fake_npz(shape)
  config_lib.validate(config, num_devices=jax.device_count())
  workdir = _start(config, tmp_path / 'run')
  classifier.run(config, workdir)
  results = json.load(open(os.path.join(workdir, 'results.json')))
  assert results['data'] == config.data.name  # the file stands in for it
  assert 0 <= results['balanced_accuracy'] <= 1
  assert workdir_lib.is_done(workdir)


def test_best_model_is_chosen_on_the_validation_split(tmp_path):
  config = _smoke('ce')
  config.data.val_per_class = 3
  config.train.eval_every_epochs = 1
  workdir = _start(config, tmp_path / 'best')
  classifier.run(config, workdir)
  results = json.load(open(os.path.join(workdir, 'results.json')))
  best = results['best_on_validation']
  assert best['step'] in (11, 22)  # an epoch end: 351 images / 32 per step
  assert 0 <= best['balanced_accuracy'] <= 1
  assert os.listdir(os.path.join(workdir, 'checkpoints_best')) == [
      str(best['step'])]
  logged = [json.loads(l) for l in open(os.path.join(workdir,
                                                     'metrics.jsonl'))]
  assert any('val_balanced_accuracy' in r for r in logged)


def test_a_best_model_ahead_of_the_main_checkpoint_is_dropped(tmp_path):
  """A kill after the best-model save but before the main one: the resumed
  run redoes those steps, so that best model (which orbax would keep while
  refusing every earlier save) is deleted and the search restarts."""
  state = {'w': jax.numpy.arange(3.0)}
  main = checkpoint_lib.Checkpointer(str(tmp_path / 'checkpoints'))
  main.save(4, state)
  main.close()
  best = classifier.BestModel(str(tmp_path), enabled=True)
  best.offer(6, state, 0.9)
  best.close()
  resumed = classifier.BestModel(str(tmp_path), enabled=True)
  try:
    assert resumed.score == -1.0
    resumed.offer(5, state, 0.5)
    assert resumed.restore(state)[1]['step'] == 5
  finally:
    resumed.close()


def test_a_run_branched_at_the_switch_equals_one_trained_from_step_0(
    tmp_path):
  config = _smoke('ce')
  data = build.build(config.data, config.seed)
  mesh = pipeline.make_mesh()
  ce_dir = _start(config, tmp_path / 'ce')
  _, _, plan, _ = classifier.train(config, ce_dir, data, mesh)
  switch = plan.switch_step
  ckpt = checkpoint_lib.Checkpointer(
      os.path.join(ce_dir, branch.DIR))
  assert ckpt.all_steps() == [switch]
  ckpt.close()

  drs = _smoke('ce_drs')
  full, _, _, speed = classifier.train(drs, _start(drs, tmp_path / 'full'),
                                       data, mesh)
  assert speed['branched_from'] is None
  # The first call's compilation is timed apart from steady training, under
  # its own key (no GIT here: no GIT compilation).
  assert speed['compile_and_first_step_s'] > 0
  assert speed['train_images_per_s'] > 0
  assert 'git_compile_and_first_step_s' not in speed
  drs.train.branch_from = ce_dir
  branched_dir = _start(drs, tmp_path / 'branched')
  branched, _, _, speed = classifier.train(drs, branched_dir, data, mesh)
  assert speed['branched_from'] == {'run': ce_dir, 'step': switch}
  chex.assert_trees_all_close(jax.device_get(full.params),
                              jax.device_get(branched.params), atol=1e-6)
  steps_logged = [json.loads(l)['step'] for l in
                  open(os.path.join(branched_dir, 'metrics.jsonl'))]
  ce_logged = [json.loads(l)['step'] for l in
               open(os.path.join(ce_dir, 'metrics.jsonl'))]
  # The shared steps' metrics are copied: the curve is whole, each step once.
  assert [s for s in steps_logged if s <= switch] == [
      s for s in ce_logged if s <= switch]
  assert steps_logged == sorted(set(steps_logged))
  assert steps_logged[-1] == plan.total_steps


@pytest.mark.parametrize('method,change,match', [
    ('ce_drs', {'seed': 1}, r'\(seed differ\)'),
    ('ce_drs', {'train.lr': 0.05}, r'train\.lr differ'),
    ('ldam_drw', {}, r'\(loss differ\)'),
    ('oracle', {}, 'does not train like its siblings'),
])
def test_branching_from_a_run_that_trains_otherwise_is_refused(
    tmp_path, method, change, match):
  source = _smoke('ce')
  source_dir = _start(source, tmp_path / 'ce')  # config.json is enough
  config = _smoke(method)
  for key, value in change.items():
    section, _, name = key.rpartition('.')
    (config[section] if section else config)[name] = value
  config.train.branch_from = source_dir
  data = build.build(config.data, config.seed)
  with pytest.raises(errors.ConfigError, match=match):
    branch.check_source(config, classifier.Plan(config, data), data)
