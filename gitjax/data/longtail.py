"""Long-tailed class sizes and the seeded choice of images.

Two profiles, as the paper builds its data sets (REFERENCE section 1):
- Zipf / Kuzushiji-49 style: rank k (1-based) gets max(int(n_max k^-alpha), n_min).
- Exponential / CIFAR-LT style: class c (0-based) gets int(n_max rho^(-c/(C-1))).
Sizes are given by rank; a seeded permutation assigns ranks to classes (the
original forgot to seed it), and a seeded shuffle picks each class's images.
"""
import math

import numpy as np

from gitjax.errors import DataError


def zipf_sizes(num_classes, n_max, alpha, n_min):
  """Class sizes by rank: max(int(n_max * k^-alpha), n_min), k = 1..C."""
  ranks = np.arange(1, num_classes + 1, dtype=np.float64)
  sizes = np.floor(n_max * ranks ** (-alpha)).astype(np.int64)
  return np.maximum(sizes, n_min)


def exponential_sizes(num_classes, n_max, imbalance_ratio):
  """Class sizes by rank: int(n_max * rho^(-c / (C - 1))), c = 0..C-1."""
  if num_classes == 1:
    return np.array([n_max], np.int64)
  c = np.arange(num_classes, dtype=np.float64)
  sizes = n_max * imbalance_ratio ** (-c / (num_classes - 1))
  # A hair of slack so that exact powers (e.g. 5000 * 100^-1 = 50) are not
  # floored to 49 by rounding error.
  return np.floor(sizes + 1e-9).astype(np.int64)


def rank_sizes(data_config, num_classes, available):
  """Sizes by rank for the profile a data config names.

  Args:
    data_config: the `data` section of a config.
    num_classes: number of classes.
    available: images per class in the source (np.ndarray [C]).
  """
  if data_config.longtail == 'zipf':
    return zipf_sizes(num_classes, data_config.n_max, data_config.alpha,
                      data_config.n_min)
  if data_config.longtail == 'exp':
    sizes = exponential_sizes(num_classes, data_config.n_max,
                              data_config.imbalance_ratio)
    if sizes.min() < 1:
      raise DataError(
          f'data.n_max={data_config.n_max} with imbalance_ratio='
          f'{data_config.imbalance_ratio:g} leaves the smallest class with 0 '
          f'images; raise n_max to at least '
          f'{math.ceil(data_config.imbalance_ratio)} or lower the ratio')
    return sizes
  # 'none': the balanced set, capped at n_max per class.
  return np.full(num_classes, min(int(available.min()), data_config.n_max),
                 np.int64)


def assign_ranks(num_classes, rng):
  """class_order[k] = the class of rank k (0 = largest), a seeded permutation."""
  return rng.permutation(num_classes)


def choose_images(labels, sizes_by_class, rng, exclude=None):
  """Indices of a seeded random subset with sizes_by_class[c] images of c.

  Args:
    labels: int [N] labels of the pool.
    sizes_by_class: int [C] images wanted per class.
    rng: numpy Generator.
    exclude: optional bool [N]; True marks images that may not be chosen.

  Returns:
    Sorted-by-class int64 indices into the pool.
  """
  chosen = []
  for c, n in enumerate(sizes_by_class):
    pool = np.flatnonzero(labels == c)
    if exclude is not None:
      pool = pool[~exclude[pool]]
    if n > len(pool):
      raise DataError(f'class {c} needs {n} images but the source has '
                      f'{len(pool)} left; lower data.n_max or the '
                      'validation/test sizes')
    chosen.append(rng.permutation(pool)[:n])
  return np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, np.int64)
