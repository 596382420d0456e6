"""Image-classification data sources, all returning numpy arrays.

- `digits`: scikit-learn's embedded handwritten digits (1,797 images, 10
  classes), resized to MNIST's 28x28 layout. No download: the default of the
  quick-start configs and of the tests.
- `npz`: a local file with x_train, y_train, x_test, y_test (uint8 NHWC,
  integer labels), e.g. as shared data's make_npz.py writes.
- `tfds`: any TFDS image-classification data set by name. Without network it
  fails within seconds with a message that says how to provide the data; it
  never waits on a download.
"""
import dataclasses
import os
import socket
import threading

import numpy as np

from gitjax import rngs
from gitjax.errors import DataError

# Host TFDS downloads from; only reached when the user sets download=True.
_NETWORK_PROBE = ('storage.googleapis.com', 443)
_NETWORK_TIMEOUT_S = 4.0


@dataclasses.dataclass(frozen=True)
class ImageData:
  """A class-balanced source data set before any long tail is applied."""
  name: str
  x_train: np.ndarray  # uint8 [N, H, W, C]
  y_train: np.ndarray  # int64 [N]
  x_test: np.ndarray   # uint8 [M, H, W, C]
  y_test: np.ndarray   # int64 [M]
  class_names: tuple

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def image_shape(self):
    return tuple(self.x_train.shape[1:])


def load(data_config):
  """Loads the source a data config names (`path` wins over TFDS)."""
  if data_config.path:
    return load_npz(data_config.path, name=data_config.name or None)
  if data_config.source == 'digits':
    return load_digits()
  if data_config.source == 'tfds':
    return load_tfds(data_config.name, data_config.data_dir,
                     data_config.download)
  raise DataError(f'data.source={data_config.source!r} needs data.path')


def load_digits(test_fraction=0.3):
  """scikit-learn's 8x8 digits, as 28x28x1 uint8 images (MNIST layout).

  Each digit is upsampled to 20x20 (bicubic) and centred in a 28x28 frame,
  strokes bright on an exactly-zero background like MNIST, so ROT, BG and DIL
  act on it as on MNIST. The train/test split is fixed (stratified, seed 0),
  like a canonical split, whatever the run's seed.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  small = np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255)
  images = np.zeros((len(small), 28, 28, 1), np.uint8)
  for i, img in enumerate(small.astype(np.uint8)):
    big = Image.fromarray(img).resize((20, 20), Image.BICUBIC)
    images[i, 4:24, 4:24, 0] = np.asarray(big)
  labels = digits.target.astype(np.int64)
  rng = rngs.numpy_rng(0, 'digits-split')  # fixed: part of the data set
  test = np.zeros(len(labels), bool)
  for c in range(10):
    idx = rng.permutation(np.flatnonzero(labels == c))
    test[idx[:int(round(test_fraction * len(idx)))]] = True
  return ImageData('digits', images[~test], labels[~test], images[test],
                   labels[test], tuple(str(c) for c in range(10)))


_NPZ_KEYS = ('x_train', 'y_train', 'x_test', 'y_test')


def load_npz(path, name=None):
  """Reads a local .npz data set and checks its keys, dtypes and shapes."""
  path = os.path.expanduser(path)
  if not os.path.exists(path):
    raise DataError(f'data file {path} does not exist; give an .npz with '
                    f'{", ".join(_NPZ_KEYS)} (uint8 NHWC images, int labels)')
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {k: f[k] for k in f.files}
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f'cannot read {path} as .npz: {e}') from e
  missing = [k for k in _NPZ_KEYS if k not in arrays]
  if missing:
    raise DataError(f'{path} lacks {", ".join(missing)}; it needs '
                    f'{", ".join(_NPZ_KEYS)}')
  for split in ('train', 'test'):
    x, y = arrays[f'x_{split}'], arrays[f'y_{split}']
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
      raise DataError(f'{path}: x_{split} is {x.dtype} {x.shape}; expected '
                      'uint8 [N, H, W, C] with C = 1 or 3')
    if not np.issubdtype(y.dtype, np.integer) or y.shape != (len(x),):
      raise DataError(f'{path}: y_{split} is {y.dtype} {y.shape}; expected '
                      f'integer labels of shape ({len(x)},)')
    if not len(x):
      raise DataError(f'{path}: x_{split} holds no images; give at least one '
                      f'{split} image per class')
  if arrays['x_train'].shape[1:] != arrays['x_test'].shape[1:]:
    raise DataError(f'{path}: train images {arrays["x_train"].shape[1:]} '
                    f'and test images {arrays["x_test"].shape[1:]} differ')
  y_train = arrays['y_train'].astype(np.int64)
  y_test = arrays['y_test'].astype(np.int64)
  num_classes = int(max(y_train.max(), y_test.max())) + 1
  if y_train.min() < 0 or y_test.min() < 0:
    raise DataError(f'{path}: labels must be 0..C-1, found negative labels')
  if 'class_names' in arrays and len(arrays['class_names']) == num_classes:
    class_names = tuple(str(n) for n in arrays['class_names'])
  else:
    class_names = tuple(str(c) for c in range(num_classes))
  name = name or os.path.splitext(os.path.basename(path))[0]
  return ImageData(name, arrays['x_train'], y_train, arrays['x_test'], y_test,
                   class_names)


def _network_reachable():
  """True if a TCP connection to TFDS's host opens within a few seconds."""
  address, timeout = _NETWORK_PROBE, _NETWORK_TIMEOUT_S
  result = []

  def probe():
    try:
      socket.create_connection(address, timeout=timeout).close()
      result.append(True)
    except OSError:
      result.append(False)

  # DNS lookups ignore socket timeouts; a daemon thread bounds them too.
  thread = threading.Thread(target=probe, daemon=True)
  thread.start()
  thread.join(timeout)
  return bool(result and result[0])


def _offline_hint(name):
  return (f'prepare it where there is internet (python -c "import '
          f"tensorflow_datasets as tfds; tfds.builder('{name}')."
          f'download_and_prepare()"), or pass --config.data.path=FILE.npz')


def load_tfds(name, data_dir='', download=False):
  """Loads a TFDS image-classification data set as numpy arrays.

  Never waits on a download: a data set that is not prepared fails at once
  when download=False, and within a few seconds when there is no network.
  """
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError('tensorflow-datasets is not installed: pip install '
                    'tensorflow-datasets, or pass --config.data.path=FILE.npz'
                    ) from e
  try:
    builder = tfds.builder(name, data_dir=data_dir or None)
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f'TFDS has no data set {name!r} ({type(e).__name__}); '
                    'check config.data.name') from e
  where = data_dir or 'the TFDS data_dir'
  if not builder.is_prepared():
    if not download:
      raise DataError(f'TFDS data set {name!r} is not prepared in {where} and '
                      f'data.download=False; {_offline_hint(name)}')
    if not _network_reachable():
      raise DataError(f'TFDS data set {name!r} is not prepared in {where} and '
                      f'there is no network to download it; '
                      f'{_offline_hint(name)}')
    try:
      builder.download_and_prepare()
    except Exception as e:  # pylint: disable=broad-except
      raise DataError(f'TFDS could not prepare {name!r}: {e}'.splitlines()[0]
                      + ' (image builders need: pip install tensorflow)') from e
  features = builder.info.features
  if 'image' not in features or 'label' not in features:
    raise DataError(f'TFDS data set {name!r} has no image/label features; '
                    'gitjax needs an image-classification data set')
  label_feature = features['label']
  class_names = tuple(getattr(label_feature, 'names', None) or
                      [str(c) for c in range(label_feature.num_classes)])
  x_train, y_train = _read_split(builder, 'train')
  x_test, y_test = _read_split(builder, 'test')
  if x_train.ndim == 3:
    x_train, x_test = x_train[..., None], x_test[..., None]
  return ImageData(name, x_train, y_train, x_test, y_test, class_names)


def _read_split(builder, split):
  """All (image, label) pairs of a prepared split, without TensorFlow if
  the data set was prepared as array_record."""
  try:
    source = builder.as_data_source(split=split)
    records = source.__getitems__(list(range(len(source))))
  except Exception:  # pylint: disable=broad-except
    records = None
  if records is None:
    try:
      import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
      arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
      return (np.asarray(arrays['image'], np.uint8),
              np.asarray(arrays['label'], np.int64))
    except Exception as e:  # pylint: disable=broad-except
      raise DataError(f'cannot read split {split!r} of {builder.name}: {e}'
                      .splitlines()[0] + ' (tfrecord files need: pip install '
                      'tensorflow)') from e
  images = np.stack([np.asarray(r['image'], np.uint8) for r in records])
  labels = np.asarray([r['label'] for r in records], np.int64)
  return images, labels
