"""Test set-up: eight fake CPU devices, set before JAX starts."""
import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# One persistent compilation cache per test session, shared by the pytest-xdist
# workers and every process a test launches (they inherit the environment):
# the same step compiled by another worker or a launched run is read back
# instead of compiled again. Set JAX_COMPILATION_CACHE_DIR to keep one across
# sessions.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  import tempfile  # pylint: disable=g-import-not-at-top
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(
      prefix='gitjax-test-jax-cache-')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.5')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position


def write_fake_npz(path, shape, per_class_train=200, per_class_test=20):
  """A tiny 10-class data set in the `npz` source's layout, at `path`.

  Class c is a bright 6x4 block at a place of its own on dim noise, so a
  small classifier learns it in a few steps. Returns the path as a string.
  """
  rng = np.random.default_rng(0)
  h, w, ch = shape

  def make(n):
    labels = np.repeat(np.arange(10), n)
    images = rng.integers(0, 40, (len(labels), h, w, ch)).astype(np.uint8)
    for i, c in enumerate(labels):
      r, col = 4 + (c // 5) * 10, 2 + (c % 5) * 5
      images[i, r:r + 6, col:col + 4] = 230
    return images, labels

  x_train, y_train = make(per_class_train)
  x_test, y_test = make(per_class_test)
  np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test,
           y_test=y_test)
  return str(path)


@pytest.fixture
def fake_npz(tmp_path):
  """`fake_npz(shape)` writes a fake data set under tmp_path, gives its path:
  it stands in for TFDS in the smoke runs of the MNIST and CIFAR configs."""
  return lambda shape: write_fake_npz(tmp_path / 'fake.npz', shape)
