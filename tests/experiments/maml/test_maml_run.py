"""MAML experiment: smoke runs of every config, resume, bad input."""
import json
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import maml_digits  # pylint: disable=g-import-not-at-top,wrong-import-position
import maml_mnist_rot  # pylint: disable=g-import-not-at-top,wrong-import-position
import maml_omniglot  # pylint: disable=g-import-not-at-top,wrong-import-position
import maml_omniglot_small  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
import pins  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.errors import ConfigError  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.errors import DataError  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import run as maml  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import steps as maml_steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _start(config, workdir):
  config_lib.validate(config, num_devices=jax.device_count())
  workdir_lib.prepare(str(workdir), config_lib.to_json(config))
  return str(workdir)


def test_configs_validate_and_bad_arguments_fail():
  for module, args in ((maml_digits, ('', 'smoke')),
                       (maml_omniglot_small, ('', 'smoke')),
                       (maml_mnist_rot, ('', 'smoke')),
                       (maml_omniglot, ('5w1s', '20w1s', '5w5s', '20w1s,smoke'))):
    for arg in args:
      config = module.get_config(arg)
      if config.data.source == 'npz':
        config.data.path = 'x.npz'
      config_lib.validate(config, num_devices=1)
    with pytest.raises(ValueError):
      module.get_config('bogus')
  twenty = maml_omniglot.get_config('20w1s').maml
  assert (twenty.ways, twenty.meta_batch, twenty.inner_steps,
          twenty.inner_lr) == (20, 16, 5, 0.1)


def test_bad_input_is_one_line_before_any_work():
  config = maml_digits.get_config('smoke')
  config.maml.inner_steps = -1
  with pytest.raises(ConfigError, match='maml.inner_steps'):
    config_lib.validate(config)
  config = maml_digits.get_config('smoke')
  config.maml.test_classes = ()
  with pytest.raises(ConfigError, match='test_classes is empty'):
    config_lib.validate(config)
  config = maml_digits.get_config('smoke')
  config.maml.ways = 6  # meta-test has 5 digits
  with pytest.raises(DataError, match='6-way tasks need 6 classes'):
    maml.load_splits(config)
  config = maml_digits.get_config('smoke')
  config.maml.queries = 500  # digits have ~180 images per class
  with pytest.raises(DataError, match='images per class'):
    maml.load_splits(config)
  # Through the launcher: exit 2 with one line, before any work.
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'launch.py'), '--config',
       os.path.join(ROOT, 'configs/maml_digits.py:smoke'),
       '--config.maml.inner_steps=-1', '--workdir', '/nonexistent/run'],
      capture_output=True, text=True, check=False, cwd=ROOT)
  assert result.returncode == 2
  assert result.stderr.strip().count('\n') == 0
  assert 'maml.inner_steps=-1' in result.stderr


# The real step, traced at most once through the digits run, a second run,
# a resume and the two Omniglot smoke runs (same step settings and pool
# shapes).
_STEP_ONCE = jax.jit(chex.assert_max_traces(maml_steps.train_step, n=1),
                     static_argnames='statics', donate_argnames='state')


def test_digits_smoke_run_compiles_once_writes_everything_and_resumes(
    tmp_path, monkeypatch):
  monkeypatch.setattr(maml_steps, 'train_step_jit', _STEP_ONCE)
  config = maml_digits.get_config('smoke')
  workdir = _start(config, tmp_path / 'run')
  maml.run(config, workdir)
  for name in ('results.json', 'report.md', 'done.json', 'metrics.jsonl',
               'figures/accuracy_vs_steps.png'):
    assert os.path.exists(os.path.join(workdir, name)), name
  results = json.load(open(os.path.join(workdir, 'results.json')))
  assert len(results['test_accuracy_by_steps']) == 2  # 0 and 1 steps
  assert 0 <= results['test_accuracy'] <= 1 and results['test_ci95'] >= 0
  assert results['classes'] == {'train': 5, 'val': 0, 'test': 5}
  assert results['images_per_class']['train'] == 20
  # Seeded values: the first meta-losses and the meta-test accuracy.
  pins.check('maml_digits:smoke', {
      **pins.first_losses(os.path.join(workdir, 'metrics.jsonl'), 2),
      'test_accuracy': results['test_accuracy'],
      'test_accuracy_0_steps': results['test_accuracy_by_steps'][0]})
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  assert ckpt.all_steps() == [3, 4]  # run.checkpoint_every, then the end
  ckpt.close()
  # Resume after a kill gives the parameters of the uninterrupted run.
  _, splits = maml.load_splits(config)
  full, _, _, _ = maml.train(config, str(tmp_path / 'run'), splits)
  killed_dir = _start(config, tmp_path / 'killed')
  real_step = maml_steps.train_step_jit
  calls = []

  def dying_step(*args, **kwargs):
    calls.append(1)
    if len(calls) == 4:  # after the checkpoint at step 3
      raise KeyboardInterrupt
    return real_step(*args, **kwargs)

  monkeypatch.setattr(maml_steps, 'train_step_jit', dying_step)
  with pytest.raises(KeyboardInterrupt):
    maml.train(config, killed_dir, splits)
  monkeypatch.setattr(maml_steps, 'train_step_jit', real_step)
  resumed, _, _, _ = maml.train(config, killed_dir, splits)
  state0 = maml_steps.init_state(maml_steps.make_statics(config),
                                 splits.pools['train'].shape[2:])
  assert jax.tree.structure(resumed) == jax.tree.structure(state0)
  # The whole state (meta-parameters, outer Adam moments, step); the task
  # draws are fold_in(step) of the seed, so step pins them.
  chex.assert_trees_all_close(jax.device_get(full), jax.device_get(resumed),
                              atol=1e-6)
  logged = [json.loads(l)['step'] for l in
            open(os.path.join(killed_dir, 'metrics.jsonl'))]
  assert logged == sorted(set(logged))


def _few_shot_npz(path):
  """Train split: classes 0-9, test split: classes 10-14 (30 images each),
  so that the Omniglot smoke runs' pools have the digits smoke run's shapes
  (5 train classes, 5 val, 5 test: Omniglot-small's source split with 5
  val classes, Omniglot's random 5/5/5 split) and reuse its
  compilations."""
  rng = np.random.default_rng(0)

  def make(classes):
    labels = np.repeat(classes, 30)
    images = rng.integers(0, 40, (len(labels), 28, 28, 1)).astype(np.uint8)
    for i, c in enumerate(labels):
      images[i, 2 + 2 * (c % 10):6 + 2 * (c % 10), 4:24] = 230
    return images, labels

  (x_train, y_train), (x_test, y_test) = make(np.arange(10)), make(
      np.arange(10, 15))
  np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test,
           y_test=y_test)
  return str(path)


@pytest.mark.parametrize('module,arg', [
    (maml_omniglot_small, 'smoke'), (maml_omniglot, '5w1s,smoke')])
def test_npz_config_smoke_runs(tmp_path, monkeypatch, module, arg):
  config = module.get_config(arg)
  monkeypatch.setattr(maml_steps, 'train_step_jit', _STEP_ONCE)
  config.data.path = _few_shot_npz(tmp_path / 'few_shot.npz')
  workdir = _start(config, tmp_path / 'run')
  maml.run(config, workdir)
  results = json.load(open(os.path.join(workdir, 'results.json')))
  assert 0 <= results['test_accuracy'] <= 1
  if config.maml.split == 'source':
    assert results['classes'] == {'train': 5, 'val': 5, 'test': 5}
    assert 'val_accuracy' in open(os.path.join(workdir,
                                               'metrics.jsonl')).read()
  assert workdir_lib.is_done(workdir)
