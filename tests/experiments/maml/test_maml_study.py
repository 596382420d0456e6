"""The invariance-transfer study: temperature fit, metrics by hand, the
centroid rule, config bad input, and a smoke run of every learner."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import maml_mnist_rot  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import run as maml  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import study as maml_study  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import transfer_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import transfer  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.maml import transfer_stats  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_fit_temperature_recovers_the_generating_temperature():
  rng = np.random.default_rng(0)
  base = rng.normal(size=(4000, 4)) * 2.0
  labels = np.array([rng.choice(4, p=np.exp(b) / np.exp(b).sum())
                     for b in base])
  # Logits 3x too confident: the fitted T undoes it.
  t = transfer_stats.fit_temperature(3.0 * base, labels)
  assert abs(t - 3.0) < 0.3


def test_task_metrics_by_hand():
  clean = np.log(np.array([[[0.5, 0.5], [0.9, 0.1]]]))  # [T=1, NQ=2, N=2]
  moved = np.log(np.array([[[[0.5, 0.5]], [[0.1, 0.9]]]]))  # [1, 2, D=1, 2]
  labels = np.array([[1, 0]])
  out = transfer_stats.task_metrics(clean, moved, labels)
  kl = 0.9 * np.log(0.9 / 0.1) + 0.1 * np.log(0.1 / 0.9)
  np.testing.assert_allclose(out['ekld_by_label'], [[kl, 0.0]])
  np.testing.assert_allclose(out['ekld'], [kl / 2])
  np.testing.assert_allclose(out['consistency'], [0.5])  # argmax 0 == 0
  np.testing.assert_allclose(out['acc_clean'], [0.5])
  np.testing.assert_allclose(out['acc_transformed'], [0.0])
  assert transfer_stats.kept_fraction(0.75, 0.5, 4) == pytest.approx(0.5)
  iv = transfer_stats.interval([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
  assert iv['ci95_seeds'] == pytest.approx(4.303 / np.sqrt(3), rel=1e-3)
  assert iv['ci95_tasks'] == pytest.approx(1.96 / np.sqrt(3))


def test_centroid_logits_are_minus_squared_distances_to_class_means():
  support = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
  logits = transfer.centroid_logits(support, np.array([0, 0, 1]),
                                    np.array([[1.0, 1.0]]), 2)
  np.testing.assert_allclose(logits, [[-1.0, -10.0]])


def _score(ekld_tasks, kept):
  t = np.asarray(ekld_tasks, np.float64)
  per_task = {'ekld': t.tolist(), 'consistency': (1 - t).tolist(),
              'acc_transformed': (0.5 + 0 * t).tolist()}
  means = {k: float(np.mean(v)) for k, v in per_task.items()}
  return {'means': dict(means, kept=kept), 'per_task': per_task}


def test_paired_differences_pair_seeds_and_tasks_against_maml():
  # Two seeds x two tasks; the CNN's eKLD is MAML's + 0.1 on seed 0's
  # tasks and + 0.3 on seed 1's.
  result = {'learners': ['maml', 'cnn_head'], 'shots': [1], 'seeds': [0, 1],
            'per_seed': {
                '0': {'maml': {'1-shot': _score([0.2, 0.4], 0.5)},
                      'cnn_head': {'1-shot': _score([0.3, 0.5], 0.7)}},
                '1': {'maml': {'1-shot': _score([1.0, 2.0], 0.1)},
                      'cnn_head': {'1-shot': _score([1.3, 2.3], 0.2)}}}}
  diffs = maml_study.paired_differences(result)
  assert list(diffs) == ['cnn_head']
  ekld = diffs['cnn_head']['1-shot']['ekld']
  np.testing.assert_allclose(ekld['seeds']['differences'], [0.1, 0.3])
  assert ekld['seeds']['mean'] == pytest.approx(0.2)
  half = 12.706 * np.std([0.1, 0.3], ddof=1) / np.sqrt(2)  # t(0.975, 1)
  np.testing.assert_allclose(ekld['seeds']['ci95'], [0.2 - half, 0.2 + half],
                             rtol=1e-3)
  np.testing.assert_allclose(ekld['tasks']['differences'],
                             [0.1, 0.1, 0.3, 0.3])
  assert ekld['seeds']['favour_baseline'] == 2  # lower eKLD is better
  kept = diffs['cnn_head']['1-shot']['kept']
  np.testing.assert_allclose(kept['seeds']['differences'], [0.2, 0.1])
  assert 'tasks' not in kept  # kept is a per-seed ratio of means
  assert maml_study.paired_differences(dict(result, learners=['cnn_head'])) == {}
  text = '\n'.join(transfer_report.paired_lines(result))
  assert 'plain CNN, head fine-tuned - MAML | 1 | +0.200 [' in text


def test_study_config_bad_input_is_one_line_exit_2(tmp_path):
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'launch.py'), '--config',
       os.path.join(ROOT, 'configs/maml_mnist_rot.py') + ':smoke',
       '--config.maml.tune_classes=(7,8)', '--workdir',
       str(tmp_path / 'w')], capture_output=True, text=True, check=False)
  assert result.returncode == 2
  assert 'config.maml.tune_classes' in result.stderr.strip().splitlines()[-1]


def _npz(path):
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(10), 24)
  images = rng.integers(0, 40, (len(labels), 28, 28, 1)).astype(np.uint8)
  for i, c in enumerate(labels):
    images[i, 2 + 2 * c:6 + 2 * c, 4:24] = 230
  np.savez(path, x_train=images, y_train=labels, x_test=images[:1],
           y_test=labels[:1])
  return str(path)


@pytest.mark.parametrize('learners', [
    # A meta-learner and the plain CNN's pipeline (pre-training, tuning on
    # meta-val classes, fine-tuning, centroids); all six are slow (three
    # meta-trainings).
    ('maml', 'cnn_head', 'cnn_centroid'),
    pytest.param(None, marks=pytest.mark.slow)], ids=['three', 'all'])
def test_study_smoke_runs_every_learner(tmp_path, learners):
  config = maml_mnist_rot.get_config('smoke')
  if learners:
    config.maml.transfer_learners = learners
  config.data.path = _npz(tmp_path / 'digits.npz')
  config_lib.validate(config, num_devices=jax.device_count())
  workdir = str(tmp_path / 'run')
  workdir_lib.prepare(workdir, config_lib.to_json(config))
  maml.run(config, workdir)
  result = json.load(open(os.path.join(workdir, 'transfer.json')))
  assert result['learners'] == list(config.maml.transfer_learners)
  assert result['classes']['test'] == [5, 6, 7, 8]
  for name in result['learners']:
    row = result['summary'][name]['1-shot']
    assert row['ekld']['mean'] >= 0 and row['temperature']['mean'] > 0
    assert 0 <= row['acc_clean']['mean'] <= 1
    assert row['ekld']['ci95_tasks'] is not None
    score = result['per_seed']['0'][name]['1-shot']
    assert sorted(score['ekld_by_class']) == ['5', '6', '7', '8']
  # Paired against MAML on the same tasks: the per-task differences are
  # the two learners' per-task values, task by task.
  for name in ('cnn_head', 'cnn_centroid'):
    tasks = result['paired'][name]['1-shot']['ekld']['tasks']
    np.testing.assert_allclose(tasks['differences'], np.subtract(
        result['per_seed']['0'][name]['1-shot']['per_task']['ekld'],
        result['per_seed']['0']['maml']['1-shot']['per_task']['ekld']))
  assert 'Paired differences against MAML' in open(
      os.path.join(workdir, 'report.md')).read()
  if 'maml++' in result['learners']:
    assert result['runs']['0']['maml++']['inner_steps'] == 1
  assert set(result['runs']['0']['cnn']['grid']) == {
      'cnn_head lr=0.1 steps=1', 'cnn_all lr=0.1 steps=1'}
  for path in ('figures/invariance_transfer.png', 'report.md',
               'seed0/maml/checkpoints') + (
                   ('seed0/anil/metrics.jsonl',) if 'anil' in
                   result['learners'] else ()):
    assert os.path.exists(os.path.join(workdir, path)), path
  assert workdir_lib.is_done(workdir)
