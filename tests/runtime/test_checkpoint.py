"""Tests for gitjax.runtime.checkpoint: keep-N, resume, restore shardings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gitjax.data import pipeline
from gitjax.runtime import checkpoint


def _state(offset=0.0, step=0):
  """A small training-state-like pytree."""
  return {
      'params': {'w': jnp.arange(6.0).reshape(2, 3) + offset,
                 'b': jnp.array([offset, -offset], jnp.float32)},
      'step': jnp.array(step, jnp.int32),
  }


@pytest.fixture
def ckpt(tmp_path):
  checkpointer = checkpoint.Checkpointer(tmp_path / 'checkpoints', keep=2)
  yield checkpointer
  checkpointer.close()


def test_keeps_the_newest_two(ckpt):
  """keep=2: after saving steps 1, 2, 3 only 2 and 3 remain."""
  assert ckpt.latest_step() is None
  for step in (1, 2, 3):
    ckpt.save(step, _state(step, step), {'epoch': step})
  assert ckpt.latest_step() == 3
  assert sorted(ckpt.all_steps()) == [2, 3]


def test_restore_returns_state_and_meta(ckpt):
  """The latest checkpoint comes back equal, with its meta and 'step'."""
  ckpt.save(1, _state(1.0, 1), {'epoch': 0})
  ckpt.save(2, _state(2.0, 2), {'epoch': 1, 'note': 'x'})
  state, meta = ckpt.restore(_state())
  expected = _state(2.0, 2)
  assert jax.tree.structure(state) == jax.tree.structure(expected)
  for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(expected)):
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  assert meta == {'epoch': 1, 'note': 'x', 'step': 2}


def test_restore_a_given_step(ckpt):
  """restore(step=S) reads S, not the latest."""
  ckpt.save(1, _state(1.0, 1))
  ckpt.save(2, _state(2.0, 2))
  state, meta = ckpt.restore(_state(), step=1)
  np.testing.assert_array_equal(np.asarray(state['params']['b']), [1.0, -1.0])
  assert int(state['step']) == 1
  assert meta == {'step': 1}


def test_restore_without_checkpoint(ckpt):
  """No checkpoint yet: (None, None)."""
  assert ckpt.restore(_state()) == (None, None)


def test_saving_a_step_twice_keeps_the_first(ckpt):
  """A second save of the same step neither raises nor overwrites."""
  ckpt.save(5, _state(1.0, 5), {'epoch': 1})
  ckpt.save(5, _state(9.0, 5), {'epoch': 9})
  assert ckpt.all_steps() == [5]
  state, meta = ckpt.restore(_state())
  np.testing.assert_array_equal(np.asarray(state['params']['b']), [1.0, -1.0])
  assert meta['epoch'] == 1


def test_resume_with_a_new_checkpointer(tmp_path):
  """A new Checkpointer on the same folder sees the earlier steps."""
  first = checkpoint.Checkpointer(tmp_path / 'ckpt', keep=3)
  first.save(4, _state(4.0, 4))
  first.close()
  second = checkpoint.Checkpointer(tmp_path / 'ckpt', keep=3)
  try:
    assert second.latest_step() == 4
    state, meta = second.restore(_state())
    assert int(state['step']) == 4
    assert meta == {'step': 4}
  finally:
    second.close()


def test_restore_keeps_target_shardings(ckpt):
  """Arrays come back on the target's shardings (replicated and split)."""
  mesh = pipeline.make_mesh()
  assert mesh.devices.size == 8
  replicated = NamedSharding(mesh, P())
  split = NamedSharding(mesh, P('data'))
  values = {'rep': np.arange(6.0, dtype=np.float32).reshape(2, 3),
            'split': np.arange(16, dtype=np.int32).reshape(8, 2)}
  ckpt.save(1, {'rep': jax.device_put(values['rep'], replicated),
                'split': jax.device_put(values['split'], split)})
  target = {'rep': jax.device_put(np.zeros((2, 3), np.float32), replicated),
            'split': jax.device_put(np.zeros((8, 2), np.int32), split)}
  state, _ = ckpt.restore(target)
  for name in ('rep', 'split'):
    assert state[name].sharding.is_equivalent_to(target[name].sharding, 2)
    np.testing.assert_array_equal(np.asarray(state[name]), values[name])
  assert len(state['split'].addressable_shards) == 8
  assert state['split'].addressable_shards[0].data.shape == (1, 2)
  assert state['rep'].addressable_shards[0].data.shape == (2, 3)


# --- refused saves and unreadable checkpoints (issue 11)

def test_a_save_below_the_latest_step_raises(ckpt):
  """orbax skips such a save silently; the Checkpointer says so."""
  ckpt.save(5, _state(5.0, 5))
  with pytest.raises(checkpoint.RefusedSaveError, match='step 3 not written'):
    ckpt.save(3, _state(3.0, 3))
  assert ckpt.all_steps() == [5]
  ckpt.delete_after(2)
  assert ckpt.all_steps() == []
  ckpt.save(3, _state(3.0, 3))
  assert ckpt.all_steps() == [3]


def _damage(directory, step):
  """Empties every file of a step's state: a partial copy, a disk fault."""
  import glob  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  for path in glob.glob(f'{directory}/{step}/state/**', recursive=True):
    if os.path.isfile(path):
      open(path, 'wb').close()


def test_an_unreadable_latest_checkpoint_falls_back_and_is_set_aside(
    tmp_path, capsys):
  directory = tmp_path / 'checkpoints'
  first = checkpoint.Checkpointer(directory, keep=2)
  first.save(1, _state(1.0, 1))
  first.save(2, _state(2.0, 2))
  first.close()
  _damage(directory, 2)
  (directory / '3.orbax-checkpoint-tmp-1234').mkdir()  # a killed save
  owner = checkpoint.Checkpointer(directory, keep=2, owner=True)
  try:
    assert not (directory / '3.orbax-checkpoint-tmp-1234').exists()
    state, meta = owner.restore(_state())
    assert meta['step'] == 1 and owner.restored_meta == meta
    np.testing.assert_array_equal(np.asarray(state['params']['b']),
                                  [1.0, -1.0])
    out = capsys.readouterr().out
    assert 'step 2' in out and 'cannot be read' in out and 'using step 1' in out
    assert owner.all_steps() == [1]
    assert (tmp_path / 'checkpoints_unreadable' / '2').is_dir()
    owner.save(2, _state(2.0, 2))  # the resumed run can save step 2 again
    assert owner.all_steps() == [1, 2]
  finally:
    owner.close()


def test_no_readable_checkpoint_is_one_line(tmp_path):
  directory = tmp_path / 'checkpoints'
  ckpt = checkpoint.Checkpointer(directory, keep=2)
  try:
    ckpt.save(1, _state(1.0, 1))
    _damage(directory, 1)
    with pytest.raises(checkpoint.UnreadableCheckpointError) as info:
      ckpt.restore(_state())
    assert '\n' not in str(info.value) and 'step 1' in str(info.value)
  finally:
    ckpt.close()


def test_train_clock_carries_on_from_checkpoint_meta(ckpt):
  from gitjax.runtime import progress  # pylint: disable=g-import-not-at-top
  clock = progress.TrainClock(None)
  clock.add(10, 2.0)
  saved = clock.meta()
  ckpt.save(10, _state(), saved)
  ckpt.restore(_state())
  resumed = progress.TrainClock(ckpt.restored_meta)
  resumed.add(10, 3.0)
  assert resumed.rate == pytest.approx(20 / 5.0)
  assert resumed.segments == 2
  assert resumed.wall_s >= saved['train_wall_s'] > 0
