"""Episodes: cbfinn/maml's per-task class rotations and the seeded random
character split."""
import jax
import numpy as np
import pytest

from gitjax.data import episodes
from gitjax.data import sources
from gitjax.errors import DataError


def test_task_rotations_turn_whole_classes_and_differ_between_tasks():
  # Asymmetric 6x6 images: pixel values tell class, image and orientation.
  rng = np.random.default_rng(0)
  pool = rng.integers(0, 256, (6, 5, 6, 6, 1), dtype=np.uint8)
  ways, shots, queries = 4, 2, 3
  tasks = jax.device_get(jax.jit(lambda k: episodes.sample_tasks(
      k, pool, 16, ways, shots, queries, rotate=True))(jax.random.key(1)))
  plain = jax.device_get(episodes.sample_tasks(jax.random.key(1), pool, 16,
                                               ways, shots, queries))
  # Rotation changes no draw of classes or images.
  np.testing.assert_array_equal(tasks['classes'], plain['classes'])
  assert not plain['turns'].any()
  for t in range(16):
    for n in range(ways):
      turn = int(tasks['turns'][t, n])
      images = np.concatenate([
          tasks['support'][t].reshape(ways, shots, 6, 6, 1)[n],
          tasks['query'][t].reshape(ways, queries, 6, 6, 1)[n]])
      originals = np.concatenate([
          plain['support'][t].reshape(ways, shots, 6, 6, 1)[n],
          plain['query'][t].reshape(ways, queries, 6, 6, 1)[n]])
      # Every image of the class (support and query) by the same turn.
      np.testing.assert_array_equal(
          images, np.rot90(originals, turn, axes=(1, 2)))
  turns = tasks['turns']
  assert set(np.unique(turns)) == {0, 1, 2, 3}
  # Different per task (and per class within a task).
  assert len({tuple(row) for row in turns}) > 8


def _data(num_classes=20):
  labels = np.repeat(np.arange(num_classes), 3)
  images = np.zeros((len(labels), 4, 4, 1), np.uint8)
  images[:, 0, 0, 0] = labels
  half = len(labels) // 2
  return sources.ImageData('toy', images[:half], labels[:half],
                           images[half:], labels[half:],
                           tuple(str(c) for c in range(num_classes)))


def test_random_character_split_is_disjoint_complete_and_seeded():
  ids = np.arange(1623)
  train, val, test = episodes.random_class_split(ids, (1100, 100, 423), 1)
  assert (len(train), len(val), len(test)) == (1100, 100, 423)
  assert not (set(train) & set(val) or set(train) & set(test)
              or set(val) & set(test))
  assert set(train) | set(val) | set(test) == set(ids.tolist())
  again = episodes.random_class_split(ids, (1100, 100, 423), 1)
  other = episodes.random_class_split(ids, (1100, 100, 423), 2)
  for a, b in zip((train, val, test), again):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(test, other[2])
  # Through build_splits: pooled from both source splits, as chosen.
  splits = episodes.build_splits(_data(), 'random', split_sizes=(10, 4, 6),
                                 split_seed=3)
  expect = episodes.random_class_split(np.arange(20), (10, 4, 6), 3)
  for s, want in zip(episodes.SPLITS, expect):
    assert splits.class_ids[s].tolist() == want.tolist()
    assert set(splits.pools[s][:, :, 0, 0, 0].ravel()) == set(want.tolist())
  with pytest.raises(DataError, match='asks for 21 classes'):
    episodes.build_splits(_data(), 'random', split_sizes=(10, 5, 6))
