"""The long-tailed, transformed data set built from a config."""
import numpy as np

from gitjax import config_base
from gitjax.data import build
from gitjax.data import sources

_SOURCE = sources.load_digits()


def _config(**changes):
  config = config_base.get_base('dataset')
  config.data.n_max = 60
  config.data.alpha = 1.0
  for key, value in changes.items():
    setattr(config.data, key, value)
  return config


def _build(seed=0, **changes):
  return build.build(_config(**changes).data, seed, source=_SOURCE)


def test_sizes_follow_the_ranks():
  data = _build()
  assert data.class_sizes[data.class_order].tolist() == [
      60, 30, 20, 15, 12, 10, 8, 7, 6, 6]
  np.testing.assert_array_equal(
      np.bincount(data.y_train, minlength=10), data.class_sizes)
  # Balanced test set, as many per class as the rarest test class has.
  counts = np.bincount(data.y_test, minlength=10)
  assert len(set(counts.tolist())) == 1


def test_same_seed_same_data_set_other_seed_other():
  a, b, c = _build(0, transform='rot'), _build(0, transform='rot'), _build(
      1, transform='rot')
  np.testing.assert_array_equal(a.x_train, b.x_train)
  np.testing.assert_array_equal(a.class_order, b.class_order)
  assert not np.array_equal(a.class_order, c.class_order)
  assert a.x_train.shape != c.x_train.shape or not np.array_equal(
      a.x_train, c.x_train)


def test_transform_applies_to_train_and_test_not_clean_copies():
  data = _build(transform='bg')
  assert (data.x_train_clean == 0).any()
  assert data.x_train.shape == data.x_train_clean.shape
  assert not np.array_equal(data.x_train, data.x_train_clean)
  assert not np.array_equal(data.x_test, data.x_test_clean)
  untouched = _build(transform='bg', transform_test=False)
  np.testing.assert_array_equal(untouched.x_test, untouched.x_test_clean)


def test_validation_split_is_held_out():
  data = _build(val_per_class=5)
  assert np.bincount(data.y_val).tolist() == [5] * 10
  train_rows = {r.tobytes() for r in data.x_train_clean}
  assert not any(r.tobytes() in train_rows for r in data.x_val_clean)


def test_full_test_split_and_summary():
  data = _build(test_split='full')
  assert len(data.y_test) == len(_SOURCE.y_test)
  summary = data.summary()
  assert summary['train_total'] == int(data.class_sizes.sum())
  assert summary['class_sizes_by_rank'][0] == 60
  assert summary['transform'] == ['none']


def test_cifar_lt_keeps_class_index_as_rank():
  data = _build(longtail='exp', n_max=100, imbalance_ratio=10.0)
  np.testing.assert_array_equal(data.class_order, np.arange(10))
  assert data.class_sizes[0] == 100 and data.class_sizes[9] == 10
