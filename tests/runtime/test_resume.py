"""resume.start on a tiny state: where a killed run starts, what it restores
and what it keeps of the interrupted run's metrics."""
import os

import chex
import jax
import jax.numpy as jnp

from gitjax.runtime import checkpoint
from gitjax.runtime import metrics
from gitjax.runtime import resume


def _state(offset):
  return {'params': {'w': jnp.arange(6.0).reshape(2, 3) + offset},
          'batch_stats': {'mean': jnp.full((3,), offset)},
          'opt': (jnp.array(offset * 2.0), jnp.array(int(offset), jnp.int32)),
          'rng': jax.random.key_data(jax.random.key(int(offset)))}


def test_a_fresh_run_starts_at_0_with_its_own_state(tmp_path, capsys):
  fresh = _state(0.0)
  ckpt, writer, state, first = resume.start(str(tmp_path), fresh, keep=2)
  assert first == 0 and state is fresh
  assert ckpt.directory == os.path.join(str(tmp_path), 'checkpoints')
  writer.write(1, {'loss': 1.0})
  writer.close()
  ckpt.close()
  assert [r['step'] for r in metrics.read(str(tmp_path))] == [1]
  assert 'resuming' not in capsys.readouterr().out


def test_a_killed_run_resumes_from_its_latest_checkpoint(tmp_path, capsys):
  workdir = str(tmp_path)
  saved = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'),
                                  keep=5)
  saved.save(3, _state(3.0))
  saved.save(5, _state(5.0))
  saved.close()
  writer = metrics.MetricWriter(workdir)
  for step in range(1, 9):  # logged up to 8, killed before the next save
    writer.write(step, {'loss': float(step)})
  writer.close()

  ckpt, writer, state, first = resume.start(workdir, _state(0.0), keep=1,
                                            unit='epoch')
  assert first == 5 and isinstance(first, int)
  # Every part: params, batch statistics, optimiser state, random stream.
  chex.assert_trees_all_equal(state, _state(5.0))
  assert 'resuming from the checkpoint at epoch 5' in capsys.readouterr().out
  # Steps after the checkpoint are dropped, so each step is logged once.
  assert [r['step'] for r in metrics.read(workdir)] == [1, 2, 3, 4, 5]
  writer.write(6, {'loss': 60.0})
  writer.close()
  assert [r['loss'] for r in metrics.read(workdir)][-2:] == [5.0, 60.0]
  # keep reaches the checkpointer: one more save leaves one checkpoint.
  ckpt.save(7, _state(7.0))
  assert ckpt.all_steps() == [7]
  ckpt.close()


def test_the_resuming_run_tidies_interrupted_saves(tmp_path):
  """The run that holds the workdir owns its checkpoints: the temp folder
  of a save killed half-way is removed, not restored or kept."""
  workdir = str(tmp_path)
  saved = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'))
  saved.save(2, _state(2.0))
  saved.close()
  tmp = os.path.join(workdir, 'checkpoints', '4.orbax-checkpoint-tmp-123')
  os.makedirs(tmp)
  ckpt, writer, state, first = resume.start(workdir, _state(0.0), keep=2)
  assert first == 2
  chex.assert_trees_all_equal(state, _state(2.0))
  assert not os.path.exists(tmp)
  writer.close()
  ckpt.close()
