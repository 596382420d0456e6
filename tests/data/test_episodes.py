"""Episodes: class splits and N-way K-shot Q-query task sampling."""
import jax
import numpy as np
import pytest

from gitjax.data import episodes
from gitjax.data import sources
from gitjax.errors import ConfigError
from gitjax.errors import DataError


def _data(num_classes=6, per_class=7):
  """ImageData whose pixel (0, 0) is the class and (0, 1) the image's rank
  within its class, so a task's images tell where they came from."""
  def make(offset):
    labels = np.repeat(np.arange(num_classes), per_class)
    images = np.zeros((len(labels), 4, 4, 1), np.uint8)
    images[:, 0, 0, 0] = labels
    images[:, 0, 1, 0] = np.tile(np.arange(per_class), num_classes) + offset
    return images, labels
  (xa, ya), (xb, yb) = make(0), make(100)
  return sources.ImageData('toy', xa, ya, xb, yb,
                           tuple(str(c) for c in range(num_classes)))


def test_class_splits_are_disjoint_and_pooled():
  splits = episodes.build_splits(_data(), 'classes', train_classes=(0, 1, 2),
                                 val_classes=(3,), test_classes=(4, 5))
  ids = {s: set(splits.class_ids[s].tolist()) for s in episodes.SPLITS}
  assert ids == {'train': {0, 1, 2}, 'val': {3}, 'test': {4, 5}}
  # 'classes' pools both source splits: 7 + 7 images per class.
  assert splits.pools['test'].shape == (2, 14, 4, 4, 1)
  assert set(splits.pools['test'][:, :, 0, 0, 0].ravel()) == {4, 5}
  source = episodes.build_splits(_data(), 'source', num_val_classes=2,
                                 rotations=True)
  assert source.class_ids['val'].tolist() == [4, 5]
  assert not set(source.class_ids['train']) & set(source.class_ids['val'])
  # Rotations: 4 x the meta-train classes, each rotated copy a class.
  assert source.pools['train'].shape[0] == 16
  assert source.rotations['train'].tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [
      3] * 4
  np.testing.assert_array_equal(source.pools['train'][4, 0, ..., 0],
                                np.rot90(source.pools['train'][0, 0, ..., 0]))
  # meta-test comes from the test split only (ranks offset by 100).
  assert source.pools['test'][:, :, 0, 1, 0].min() >= 100


def test_bad_splits_fail_with_one_line():
  data = _data()
  cases = [
      (ConfigError, dict(split='classes', train_classes=(0, 1),
                         test_classes=())),
      (ConfigError, dict(split='classes', train_classes=(0, 1),
                         test_classes=(1, 2))),
      (ConfigError, dict(split='classes', train_classes=(0, 9),
                         test_classes=(1,))),
      (ConfigError, dict(split='source', num_val_classes=6)),
  ]
  for error, kwargs in cases:
    with pytest.raises(error) as info:
      episodes.build_splits(data, **kwargs)
    assert '\n' not in str(info.value)
  splits = episodes.build_splits(data, 'classes', train_classes=(0, 1, 2),
                                 test_classes=(3, 4))
  with pytest.raises(DataError, match='3-way tasks need 3 classes'):
    episodes.check_tasks(splits, ways=3, shots=1, queries=1)
  with pytest.raises(DataError, match='need 15 images per class'):
    episodes.check_tasks(splits, ways=2, shots=5, queries=10)
  episodes.check_tasks(splits, ways=2, shots=4, queries=10)


def test_tasks_have_exact_counts_distinct_classes_and_images():
  splits = episodes.build_splits(_data(num_classes=8), 'source')
  pool = splits.pools['train']  # [8, 7, 4, 4, 1]
  ways, shots, queries, num_tasks = 5, 2, 3, 6
  sample = jax.jit(episodes.sample_tasks, static_argnums=(2, 3, 4, 5))
  tasks = jax.device_get(sample(jax.random.key(0), pool, num_tasks, ways,
                                shots, queries))
  assert tasks['support'].shape == (num_tasks, ways * shots, 4, 4, 1)
  assert tasks['query'].shape == (num_tasks, ways * queries, 4, 4, 1)
  for t in range(num_tasks):
    classes = tasks['classes'][t]
    assert len(set(classes.tolist())) == ways
    for part, per in (('support', shots), ('query', queries)):
      labels = tasks[f'{part}_label'][t]
      np.testing.assert_array_equal(labels, np.repeat(np.arange(ways), per))
      # Each image belongs to the class its label names.
      np.testing.assert_array_equal(tasks[part][t][:, 0, 0, 0],
                                    classes[labels])
    for n in range(ways):  # K + Q distinct images per class
      ranks = np.concatenate([
          tasks['support'][t][tasks['support_label'][t] == n][:, 0, 1, 0],
          tasks['query'][t][tasks['query_label'][t] == n][:, 0, 1, 0]])
      assert len(set(ranks.tolist())) == shots + queries
  again = jax.device_get(sample(jax.random.key(0), pool, num_tasks, ways,
                                shots, queries))  # seeded: the same tasks
  np.testing.assert_array_equal(again['query'], tasks['query'])


def test_preprocess_resizes_to_gray_and_inverts():
  rgb = np.full((2, 10, 10, 3), 200, np.uint8)
  out = episodes.preprocess(rgb, size=5, invert=True)
  assert out.shape == (2, 5, 5, 1) and out.dtype == np.uint8
  assert np.all(out == 55)
  same = np.arange(16, dtype=np.uint8).reshape(1, 4, 4, 1)
  np.testing.assert_array_equal(episodes.preprocess(same), same)
