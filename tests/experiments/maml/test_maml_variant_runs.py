"""Smoke runs of the MAML++ and ANIL variants (plain MAML's:
tests/experiments/test_maml_run.py)."""
import json
import os
import sys

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import maml_digits  # pylint: disable=g-import-not-at-top,wrong-import-position
import maml_omniglot_small  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
import pins  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import run as maml  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _run(config, workdir):
  config_lib.validate(config, num_devices=jax.device_count())
  workdir_lib.prepare(str(workdir), config_lib.to_json(config))
  maml.run(config, str(workdir))
  assert workdir_lib.is_done(str(workdir))
  return (json.load(open(os.path.join(workdir, 'results.json'))),
          [json.loads(l) for l in open(os.path.join(workdir,
                                                    'metrics.jsonl'))])


def test_maml_plus_plus_smoke_run_anneals_and_tests_the_best_checkpoint(
    tmp_path):
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(15), 30)
  images = rng.integers(0, 40, (len(labels), 28, 28, 1)).astype(np.uint8)
  for i, c in enumerate(labels):
    images[i, 2 + c:6 + c, 4:24] = 230
  train = labels < 10
  np.savez(tmp_path / 'few.npz', x_train=images[train], y_train=labels[train],
           x_test=images[~train], y_test=labels[~train])
  config = maml_omniglot_small.get_config('maml++,smoke')
  config.data.path = str(tmp_path / 'few.npz')
  results, metrics = _run(config, tmp_path / 'run')
  assert results['variant'] == 'maml++'
  assert all(results['features'][k] for k in (
      'learn_inner_lr', 'multi_step_loss', 'per_step_bn', 'cosine_lr',
      'select_best'))
  assert 0 <= results['best_val_accuracy'] <= 1
  # First order for epochs 0-1 (meta-steps 1-2), then second order.
  by_step = {m['step']: m for m in metrics if 'first_order' in m}
  assert by_step[2]['first_order'] == 1.0 and by_step[4]['first_order'] == 0.0
  assert 'best_val_accuracy' in by_step[4]
  pins.check('maml_omniglot_small:maml++,smoke', {
      'loss@2': by_step[2]['loss'], 'loss@4': by_step[4]['loss'],
      'best_val_accuracy': results['best_val_accuracy'],
      'test_accuracy': results['test_accuracy']})


def test_anil_smoke_run_learns_head_rates_only(tmp_path):
  config = maml_digits.get_config('anil,smoke')
  config.maml.learn_inner_lr = True
  results, metrics = _run(config, tmp_path / 'run')
  assert results['variant'] == 'anil' and results['features']['head_only']
  assert sorted(results['inner_lrs']) == ['head/bias', 'head/kernel']
  assert 0 <= results['test_accuracy'] <= 1
  losses = [m for m in metrics if 'loss' in m]
  pins.check('maml_digits:anil,smoke', {
      f'loss@{m["step"]}': m['loss'] for m in losses[:2]}
             | {'test_accuracy': results['test_accuracy']})
