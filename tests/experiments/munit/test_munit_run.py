"""The MUNIT experiment end to end: smoke run, outputs, resume, export."""
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

import munit_cifar10_lt  # pylint: disable=g-import-not-at-top,wrong-import-position
import munit_digits  # pylint: disable=g-import-not-at-top,wrong-import-position
import munit_mnist  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
import pins  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import build  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.errors import WorkdirError  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.munit import run as munit  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.munit import steps as munit_steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _smoke():
  config = munit_digits.get_config('rot,smoke')
  config_lib.validate(config, num_devices=jax.device_count())
  return config


def _start(config, workdir):
  workdir_lib.prepare(str(workdir), config_lib.to_json(config))
  return str(workdir)


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
  config = _smoke()
  workdir = _start(config, tmp_path_factory.mktemp('munit') / 'smoke')
  munit.run(config, workdir)
  return config, workdir


def test_smoke_run_writes_everything(smoke_run):
  config, workdir = smoke_run
  assert config.munit.iterations == 6 and config.munit.sample_every == 3
  for name in ('figures/samples_000003.png', 'figures/samples_000006.png',
               'figures/interpolation.png', 'figures/losses.png',
               'figures/recovered_rot.png', 'figures/labels.png',
               'results.json', 'recovered_values.json', 'report.md',
               'done.json', 'metrics.jsonl', 'generator.json'):
    assert os.path.exists(os.path.join(workdir, name)), name
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  assert ckpt.all_steps() == [3, 6]  # every 3 iterations and at the end
  ckpt.close()
  results = json.load(open(os.path.join(workdir, 'results.json')))
  rot = results['recovery']['rot']
  assert 0 <= rot['learned']['tv_distance'] <= 1
  assert rot['learned']['n'] == 10 * 2 * 2  # classes x images x styles
  labels = results['labels']
  assert 0 <= labels['restyled']['accuracy'] <= 1
  assert len(labels['restyled']['per_class']) == 10
  assert results['speed']['iterations_per_s'] > 0
  records = [json.loads(l) for l in open(os.path.join(workdir,
                                                      'metrics.jsonl'))]
  assert [r['step'] for r in records] == [2, 3, 4, 6]
  assert all(np.isfinite(r['d_loss']) and 'd_real' in r for r in records)
  done = json.load(open(os.path.join(workdir, 'done.json')))
  assert done['experiment'] == 'munit' and 'rot_tv_learned' in done
  assert 'Label preservation' in open(os.path.join(workdir,
                                                   'report.md')).read()
  # Seeded values: the first records' objectives (each weighted term feeds
  # them) and what the evaluation measured.
  first = records[0]
  pins.check('munit_digits:rot,smoke', {
      'loss_g@2': first['g_loss'], 'loss_d@2': first['d_loss'],
      'loss_recon_x@2': first['recon_x'], 'loss_g@3': records[1]['g_loss'],
      'tv_distance': rot['learned']['tv_distance'],
      'restyled_accuracy': labels['restyled']['accuracy']})


@pytest.mark.parametrize('module, arg, shape', [
    (munit_digits, 'bg,smoke', (28, 28, 1)),
    (munit_digits, 'dil,smoke', (28, 28, 1)),
    # GIT's sizes (the largest smoke graph) and a second CIFAR transform:
    # slow; the fixture above trains munit_digits:rot.
    pytest.param(munit_mnist, 'rot,smoke', (28, 28, 1),
                 marks=pytest.mark.slow),
    (munit_cifar10_lt, 'none,smoke', (32, 32, 3)),
    pytest.param(munit_cifar10_lt, 'brightness_contrast,smoke', (32, 32, 3),
                 marks=pytest.mark.slow),
])
def test_smoke_variants_of_the_other_configs(tmp_path, fake_npz, module, arg,
                                             shape):
  config = module.get_config(arg)
  if config.data.source != 'digits':
    config.data.path = fake_npz(shape)  # stands in for TFDS
  config_lib.validate(config, num_devices=jax.device_count())
  workdir = _start(config, tmp_path / 'run')
  munit.run(config, workdir)
  results = json.load(open(os.path.join(workdir, 'results.json')))
  assert results['iterations'] == config.munit.iterations
  assert 0 <= results['labels']['restyled']['balanced_accuracy'] <= 1
  recovered = set(results['recovery'] or {}) - {'rot_match'}
  transform = config.data.transform
  assert recovered == ({transform} if transform in ('rot', 'bg', 'dil')
                       else set())
  assert workdir_lib.is_done(workdir)


def test_export_gives_a_pure_restyle_function(smoke_run):
  _, workdir = smoke_run
  restyle = munit.load_restyler(workdir)
  images = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1),
                                             dtype=np.uint8)
  key = jax.random.key(1)
  out = np.asarray(restyle(key, images))
  assert out.shape == (4, 28, 28, 1) and out.dtype == np.float32
  assert out.min() >= 0 and out.max() <= 255
  np.testing.assert_array_equal(out, np.asarray(restyle(key, images)))
  assert not np.array_equal(out, np.asarray(restyle(jax.random.key(2),
                                                    images)))
  np.testing.assert_allclose(jax.jit(restyle)(key, images), out, atol=1e-3)
  with pytest.raises(WorkdirError, match='no MUNIT run'):
    munit.load_restyler(os.path.dirname(workdir))


def test_resume_after_a_kill_gives_the_same_parameters(tmp_path,
                                                      monkeypatch):
  config = _smoke()
  data = build.build(config.data, config.seed)
  mesh = pipeline.make_mesh()
  full, _, _, _ = munit.train(config, _start(config, tmp_path / 'full'),
                              data, mesh)
  killed_dir = _start(config, tmp_path / 'killed')
  real_jit = munit_steps.jit_train_step

  def dying_jit(*args, **kwargs):
    step_fn = real_jit(*args, **kwargs)
    calls = []

    def step(*a):
      calls.append(1)
      if len(calls) == 5:  # after the checkpoint at iteration 3
        raise KeyboardInterrupt
      return step_fn(*a)
    return step

  monkeypatch.setattr(munit_steps, 'jit_train_step', dying_jit)
  with pytest.raises(KeyboardInterrupt):
    munit.train(config, killed_dir, data, mesh)
  monkeypatch.setattr(munit_steps, 'jit_train_step', real_jit)
  ckpt = checkpoint_lib.Checkpointer(os.path.join(killed_dir, 'checkpoints'))
  assert ckpt.latest_step() == 3
  ckpt.close()
  resumed, _, _, _ = munit.train(config, killed_dir, data, mesh)
  assert int(resumed.step) == int(full.step) == 6
  chex.assert_trees_all_close(jax.device_get(full.params),
                              jax.device_get(resumed.params), atol=1e-6)
  chex.assert_trees_all_close(jax.device_get(full.opt_state),
                              jax.device_get(resumed.opt_state), atol=1e-6)
  steps_logged = [json.loads(l)['step'] for l in
                  open(os.path.join(killed_dir, 'metrics.jsonl'))]
  assert steps_logged == sorted(set(steps_logged))
