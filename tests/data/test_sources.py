"""Data sources: embedded digits, local .npz files and TFDS offline."""
import time

import numpy as np
import pytest

from gitjax.data import sources
from gitjax.errors import DataError


def test_digits_is_mnist_shaped():
  data = sources.load_digits()
  assert data.x_train.shape[1:] == (28, 28, 1)
  assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int64
  assert len(data.y_train) + len(data.y_test) == 1797
  assert data.num_classes == 10
  # MNIST layout: an exactly-zero frame around the digit.
  assert data.x_train[:, :4].max() == 0 and data.x_train[:, 24:].max() == 0
  assert data.x_train.max() > 200
  # The split is fixed, whatever else happens.
  np.testing.assert_array_equal(data.y_test, sources.load_digits().y_test)


def _write(path, **arrays):
  np.savez(path, **arrays)
  return str(path)


def _good():
  rng = np.random.default_rng(0)
  return dict(x_train=rng.integers(0, 255, (20, 8, 8, 1), dtype=np.uint8),
              y_train=np.arange(20) % 4,
              x_test=rng.integers(0, 255, (8, 8, 8, 1), dtype=np.uint8),
              y_test=np.arange(8) % 4)


def test_npz_loads(tmp_path):
  path = _write(tmp_path / 'toy.npz', **_good(),
                class_names=np.array(['a', 'b', 'c', 'd']))
  data = sources.load_npz(path)
  assert data.name == 'toy' and data.class_names == ('a', 'b', 'c', 'd')
  assert data.x_train.shape == (20, 8, 8, 1)


@pytest.mark.parametrize('change, message', [
    (dict(y_test=None), 'lacks y_test'),
    (dict(x_train=np.zeros((20, 8, 8, 1), np.float32)), 'expected uint8'),
    (dict(x_train=np.zeros((20, 8, 8), np.uint8)), 'expected uint8'),
    (dict(y_train=np.zeros(19, np.int64)), 'integer labels of shape'),
    (dict(x_test=np.zeros((8, 9, 9, 1), np.uint8)), 'differ'),
    (dict(x_train=np.zeros((0, 8, 8, 1), np.uint8),
          y_train=np.zeros(0, np.int64)), 'x_train holds no images'),
])
def test_npz_errors(tmp_path, change, message):
  arrays = _good()
  for key, value in change.items():
    if value is None:
      del arrays[key]
    else:
      arrays[key] = value
  path = _write(tmp_path / 'bad.npz', **arrays)
  with pytest.raises(DataError, match=message):
    sources.load_npz(path)


def test_npz_missing_file():
  with pytest.raises(DataError, match='does not exist'):
    sources.load_npz('/nonexistent/data.npz')


def test_tfds_not_prepared_fails_fast(tmp_path):
  start = time.time()
  with pytest.raises(DataError, match="'mnist' is not prepared.*data.path"):
    sources.load_tfds('mnist', data_dir=str(tmp_path), download=False)
  assert time.time() - start < 10


def test_tfds_download_without_network_fails_fast(tmp_path, monkeypatch):
  # An unroutable address stands in for a machine without internet, so the
  # test behaves the same online and offline.
  monkeypatch.setattr(sources, '_NETWORK_PROBE', ('192.0.2.1', 9))
  monkeypatch.setattr(sources, '_NETWORK_TIMEOUT_S', 2.0)
  start = time.time()
  with pytest.raises(DataError, match='no network'):
    sources.load_tfds('mnist', data_dir=str(tmp_path), download=True)
  assert time.time() - start < 10


def test_tfds_unknown_name(tmp_path):
  with pytest.raises(DataError, match='no data set'):
    sources.load_tfds('no_such_dataset_xyz', data_dir=str(tmp_path))
