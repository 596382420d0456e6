"""Class sizes of the paper's long tails, and the seeded image choice."""
import numpy as np
import pytest

from gitjax.data import longtail
from gitjax.errors import DataError


def test_k49_zipf_sizes():
  sizes = longtail.zipf_sizes(49, n_max=4800, alpha=2.0, n_min=5)
  assert sizes.sum() == 7822
  assert (sizes == 5).sum() == 21
  assert sizes[:4].tolist() == [4800, 1200, 533, 300]


def test_mnist_k49_protocol_sizes():
  sizes = longtail.zipf_sizes(10, n_max=4800, alpha=2.0, n_min=5)
  assert sizes.tolist() == [4800, 1200, 533, 300, 192, 133, 97, 75, 59, 48]


def test_cifar10_lt_sizes():
  sizes = longtail.exponential_sizes(10, n_max=5000, imbalance_ratio=100)
  assert sizes.tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
  assert sizes.sum() == 12406


def test_cifar100_lt_ends():
  sizes = longtail.exponential_sizes(100, n_max=500, imbalance_ratio=100)
  assert sizes[0] == 500 and sizes[-1] == 5


def test_choose_images_sizes_and_exclusion():
  labels = np.repeat(np.arange(3), 10)
  exclude = np.zeros(30, bool)
  exclude[:5] = True
  idx = longtail.choose_images(labels, np.array([5, 3, 1]),
                               np.random.default_rng(0), exclude=exclude)
  assert np.bincount(labels[idx], minlength=3).tolist() == [5, 3, 1]
  assert not exclude[idx].any()
  again = longtail.choose_images(labels, np.array([5, 3, 1]),
                                 np.random.default_rng(0), exclude=exclude)
  np.testing.assert_array_equal(idx, again)


def test_choose_images_too_many_is_a_clear_error():
  labels = np.repeat(np.arange(2), 4)
  with pytest.raises(DataError, match='class 1 needs 9 images'):
    longtail.choose_images(labels, np.array([1, 9]), np.random.default_rng(0))


def test_empty_classes_are_a_clear_error():
  import ml_collections  # pylint: disable=g-import-not-at-top
  data = ml_collections.ConfigDict(dict(longtail='exp', n_max=40,
                                        imbalance_ratio=100.0))
  with pytest.raises(DataError, match='smallest class with 0 images; raise '
                     'n_max to at least 100'):
    longtail.rank_sizes(data, 10, np.full(10, 5000))
