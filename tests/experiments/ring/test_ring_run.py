"""The unrolled-GAN ring experiment: step, metrics, smoke run, resume."""
import json
import math
import os
import sys

import chex
import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import unrolled_ring as ring_config  # pylint: disable=g-import-not-at-top,wrong-import-position

import pins  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.errors import NonFiniteError  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.ring import report as ring_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.ring import run as ring_run  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.ring import steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _smoke(arg='k2,smoke'):
  config = ring_config.get_config(arg)
  config_lib.validate(config, num_devices=jax.device_count())
  return config


def _start(config, workdir):
  workdir_lib.prepare(str(workdir), config_lib.to_json(config))
  return str(workdir)


def test_configs_validate_and_bad_arguments_fail():
  for arg in ('k0', 'k5', 'k10', 'k10,smoke'):
    config = ring_config.get_config(arg)
    config_lib.validate(config, num_devices=1)
  assert ring_config.get_config('k5').ring.unroll_steps == 5
  for bad in ('5', 'k', 'k5,tiny'):
    with pytest.raises(ValueError, match='kN'):
      ring_config.get_config(bad)


def test_one_iteration_traces_once_keeps_the_tree_and_unrolls_only_g():
  config = _smoke()
  statics = steps.make_statics(config)
  step = jax.jit(chex.assert_max_traces(steps.train_step, n=1),
                 static_argnames='statics')
  state0 = steps.init_state(statics)
  state1, metrics = step(state0, statics=statics)
  state2, _ = step(state1, statics=statics)
  chex.assert_trees_all_equal_shapes_and_dtypes(state0, state2)
  assert int(state2.step) == 2
  assert all(np.isfinite(float(v)) for v in jax.device_get(metrics).values())
  # K only changes the generator's update; the real D takes the same step.
  config.ring.unroll_steps = 0
  plain = steps.make_statics(config)
  state_plain, _ = jax.jit(steps.train_step, static_argnames='statics')(
      steps.init_state(plain), statics=plain)
  chex.assert_trees_all_close(state_plain.params['dis'], state1.params['dis'])
  diff = jax.tree.map(lambda a, b: float(np.abs(a - b).max()),
                      state_plain.params['gen'], state1.params['gen'])
  assert max(jax.tree.leaves(diff)) > 0


def test_ring_metrics_by_hand():
  centres = steps.mode_centres(8, 2.0)
  np.testing.assert_allclose(centres[2], [0.0, 2.0], atol=1e-6)
  samples = np.concatenate([
      np.repeat(centres[:1], 30, 0),                  # mode 0: 30
      np.repeat(centres[1:2] + [0.05, 0.0], 25, 0),   # mode 1: 25, 2.5 std
      np.repeat(centres[2:3] + [0.0, 0.07], 10, 0),   # 3.5 std: low quality
      np.repeat(centres[3:4], 10, 0),                 # mode 3: 10 (< 20)
      np.zeros((5, 2)),                               # between modes
  ])
  m = steps.ring_metrics(samples, centres, 0.02, 3.0, 20)
  assert m['mode_counts'] == [30, 25, 0, 10, 0, 0, 0, 0]
  assert m['modes_covered'] == 2
  np.testing.assert_allclose(m['hq_fraction'], 65 / 80)
  p = np.array([30, 25, 10]) / 65
  np.testing.assert_allclose(m['mode_kl'], np.sum(p * np.log(8 * p)))
  uniform = steps.ring_metrics(np.repeat(centres, 20, 0), centres,
                                       0.02)
  assert uniform['modes_covered'] == 8 and abs(uniform['mode_kl']) < 1e-12
  none = steps.ring_metrics(np.full((4, 2), np.nan), centres, 0.02)
  assert none['hq_fraction'] == 0 and none['mode_kl'] == pytest.approx(
      math.log(8))


def test_smoke_run_writes_everything(tmp_path):
  config = _smoke('k5,smoke')
  workdir = _start(config, tmp_path / 'run')
  ring_run.run(config, workdir)
  for name in ('results.json', 'report.md', 'done.json', 'metrics.jsonl',
               'figures/samples.png', 'snapshots/step_0000006.npy'):
    assert os.path.exists(os.path.join(workdir, name)), name
  results = json.load(open(os.path.join(workdir, 'results.json')))
  assert results['unroll_steps'] == 2 and results['steps'] == 6
  assert 0 <= results['modes_covered'] <= 8
  assert 0 <= results['hq_fraction'] <= 1
  assert [h['step'] for h in results['history']] == [3, 6]
  # Seeded values: the first logged objectives and the final sample metrics.
  first = [json.loads(l) for l in open(os.path.join(workdir,
                                                    'metrics.jsonl'))][0]
  pins.check('unrolled_ring:k5,smoke', {
      **{f'{k}@{first["step"]}': first[k]
         for k in ('loss_d', 'loss_g')},
      'hq_fraction': results['hq_fraction'],
      'mode_kl': results['mode_kl']})
  assert results['speed']['iterations_per_s'] > 0
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
  assert ckpt.all_steps() == [4, 6]  # run.checkpoint_every, then the end
  ckpt.close()
  table = ring_report.compare(str(tmp_path / 'cmp'), [workdir])
  assert '| 2 | 6 |' in table
  assert os.path.exists(tmp_path / 'cmp' / 'samples.png')
  # Snapshot picks always include the final samples.
  assert ring_report.snapshot_panels(workdir, 1)[0][0] == 'step 6'


def test_resume_after_a_kill_gives_the_same_parameters(tmp_path, monkeypatch):
  config = _smoke()
  full, _, _ = ring_run.train(config, _start(config, tmp_path / 'full'))
  killed_dir = _start(config, tmp_path / 'killed')
  real_step = steps.train_step_jit
  calls = []

  def dying_step(*args, **kwargs):
    calls.append(1)
    if len(calls) == 6:  # after the checkpoint at step 4
      raise KeyboardInterrupt
    return real_step(*args, **kwargs)

  monkeypatch.setattr(steps, 'train_step_jit', dying_step)
  with pytest.raises(KeyboardInterrupt):
    ring_run.train(config, killed_dir)
  monkeypatch.setattr(steps, 'train_step_jit', real_step)
  ckpt = checkpoint_lib.Checkpointer(os.path.join(killed_dir, 'checkpoints'))
  assert ckpt.latest_step() == 4
  ckpt.close()
  resumed, _, _ = ring_run.train(config, killed_dir)
  # The whole state (both players' parameters and optimiser states, step).
  chex.assert_trees_all_close(jax.device_get(full), jax.device_get(resumed),
                              atol=1e-6)
  steps_logged = [json.loads(l)['step'] for l in
                  open(os.path.join(killed_dir, 'metrics.jsonl'))]
  assert steps_logged == sorted(set(steps_logged))


def test_same_seed_same_result_other_seed_differs():
  def params_after(seed, num_steps):
    config = _smoke()
    config.seed = seed
    statics = steps.make_statics(config)
    state = steps.init_state(statics)
    for _ in range(num_steps):
      state, _ = steps.train_step_jit(state, statics=statics)
    return jax.device_get(state.params)

  chex.assert_trees_all_equal(params_after(0, 3), params_after(0, 3))
  # Another seed starts elsewhere (steps would only cost a compilation).
  a, c = params_after(0, 0), params_after(1, 0)
  assert not np.allclose(a['gen']['Dense_0']['kernel'],
                         c['gen']['Dense_0']['kernel'])


def test_nan_stops_with_one_line_and_keeps_no_done(tmp_path):
  config = _smoke('k0,smoke')
  config.ring.gen_lr = 1e36  # Adam steps of ~lr: the samples overflow at once
  config.ring.dis_lr = 1e36
  workdir = _start(config, tmp_path / 'nan')
  with pytest.raises(NonFiniteError) as info:
    ring_run.run(config, workdir)
  assert '\n' not in str(info.value)
  assert not workdir_lib.is_done(workdir)


def test_killed_after_its_final_checkpoint_finishes_with_whole_run_timing(
    tmp_path):
  """A kill between the last checkpoint and done.json: the rerun writes its
  report, with the speed and training time of the whole run (kept in the
  checkpoint), not of its own empty segment."""
  config = _smoke('k0,smoke')
  workdir = _start(config, tmp_path / 'run')
  ring_run.run(config, workdir)
  first = json.load(open(os.path.join(workdir, 'results.json')))['speed']
  os.remove(os.path.join(workdir, workdir_lib.DONE_FILE))
  ring_run.run(config, workdir)
  assert workdir_lib.is_done(workdir)
  again = json.load(open(os.path.join(workdir, 'results.json')))['speed']
  assert again['iterations_per_s'] == pytest.approx(first['iterations_per_s'])
  assert again['train_wall_s'] >= 0.5 * first['train_wall_s']
  assert (first['train_segments'], again['train_segments']) == (1, 2)
  assert 'in 2 resumed segments' in open(
      os.path.join(workdir, 'report.md')).read()
