"""Builds the paper's long-tailed, nuisance-transformed data set from a config.

Every random choice comes from the config seed through its own numpy stream
(rank assignment, validation split, training images, test images, and the
transform draws of each split), so the same seed gives the same data set and
changing one part does not reshuffle the others.
"""
import dataclasses

import numpy as np

from gitjax import rngs
from gitjax.data import longtail
from gitjax.data import sources
from gitjax.data import transforms



def _rng(seed, purpose):
  """One independent numpy stream per purpose ('data-' + purpose)."""
  return rngs.numpy_rng(seed, f'data-{purpose}')


@dataclasses.dataclass(frozen=True)
class LongTailedData:
  """A long-tailed training set, a test set and an optional validation set.

  `x_*` hold the transformed images (what the paper trains and tests on),
  `x_*_clean` the same images untransformed (for the oracle and eKLD).
  """
  name: str
  class_names: tuple
  class_order: np.ndarray   # int [C]: class of rank k (0 = largest)
  class_sizes: np.ndarray   # int [C]: training images of class c
  x_train: np.ndarray       # uint8 [N, H, W, C]
  x_train_clean: np.ndarray
  y_train: np.ndarray       # int64 [N]
  x_test: np.ndarray
  x_test_clean: np.ndarray
  y_test: np.ndarray
  x_val: np.ndarray
  x_val_clean: np.ndarray
  y_val: np.ndarray
  transform: transforms.TransformSpec
  seed: int

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def image_shape(self):
    return tuple(self.x_train.shape[1:])

  def summary(self):
    """What was built, as saved in summary.json."""
    return {
        'name': self.name,
        'seed': self.seed,
        'image_shape': list(self.image_shape),
        'num_classes': self.num_classes,
        'class_names': list(self.class_names),
        'class_order': self.class_order.tolist(),
        'class_sizes': self.class_sizes.tolist(),
        'class_sizes_by_rank': self.class_sizes[self.class_order].tolist(),
        'train_total': int(len(self.y_train)),
        'classes_at_min_size': int(np.sum(
            self.class_sizes == self.class_sizes.min())),
        'test_total': int(len(self.y_test)),
        'test_per_class': np.bincount(self.y_test,
                                      minlength=self.num_classes).tolist(),
        'val_total': int(len(self.y_val)),
        'transform': list(self.transform.names) or ['none'],
        'transform_spec': dataclasses.asdict(self.transform),
    }


def _transform(images, spec, rng):
  if not spec.names:
    return images.copy()
  out, _ = transforms.transform_offline(images, spec, rng)
  return out


def build(data_config, seed, source=None):
  """The long-tailed, transformed data set a `data` config section describes.

  Args:
    data_config: the `data` section of a validated config.
    seed: the config's root seed.
    source: an already loaded `sources.ImageData` (else it is loaded).
  """
  source = source or sources.load(data_config)
  num_classes = source.num_classes
  spec = transforms.transform_spec(data_config)

  # Validation images come out of the balanced training pool first, so the
  # long tail is drawn from what is left and the two never overlap.
  available = np.bincount(source.y_train, minlength=num_classes)
  val_idx = longtail.choose_images(
      source.y_train, np.full(num_classes, data_config.val_per_class),
      _rng(seed, 'val'))
  taken = np.zeros(len(source.y_train), bool)
  taken[val_idx] = True

  sizes_by_rank = longtail.rank_sizes(
      data_config, num_classes, available - data_config.val_per_class)
  # CIFAR-LT convention: class c is rank c (airplane largest, truck
  # smallest), so results compare with the literature. The Zipf (K49)
  # protocol assigns ranks by a seeded permutation, saved with the run.
  class_order = (np.arange(num_classes) if data_config.longtail == 'exp' else
                 longtail.assign_ranks(num_classes, _rng(seed, 'ranks')))
  class_sizes = np.zeros(num_classes, np.int64)
  class_sizes[class_order] = sizes_by_rank
  train_idx = longtail.choose_images(source.y_train, class_sizes,
                                     _rng(seed, 'train'), exclude=taken)

  if data_config.test_split == 'full':
    test_idx = np.arange(len(source.y_test))
  else:
    test_counts = np.bincount(source.y_test, minlength=num_classes)
    per_class = data_config.test_per_class or int(test_counts.min())
    test_idx = longtail.choose_images(
        source.y_test, np.full(num_classes, per_class), _rng(seed, 'test'))

  x_train_clean = source.x_train[train_idx]
  x_val_clean = source.x_train[val_idx]
  x_test_clean = source.x_test[test_idx]
  test_spec = spec if data_config.transform_test else transforms.TransformSpec()
  return LongTailedData(
      name=source.name,
      class_names=source.class_names,
      class_order=class_order,
      class_sizes=class_sizes,
      x_train=_transform(x_train_clean, spec, _rng(seed, 'transform-train')),
      x_train_clean=x_train_clean,
      y_train=source.y_train[train_idx],
      x_test=_transform(x_test_clean, test_spec, _rng(seed, 'transform-test')),
      x_test_clean=x_test_clean,
      y_test=source.y_test[test_idx],
      x_val=_transform(x_val_clean, test_spec, _rng(seed, 'transform-val')),
      x_val_clean=x_val_clean,
      y_val=source.y_train[val_idx],
      transform=spec,
      seed=seed,
  )
