"""Few-shot episodes: class splits and N-way K-shot Q-query tasks.

A split (meta-train, meta-val, meta-test) is a disjoint set of classes, held
as one uint8 array `pool` [C, M, H, W, Ch]: M images of each of its C
classes. Equal M per class lets a task be drawn inside a jitted step on the
device (`sample_tasks`), so the accelerator never waits for a host loader and
a task is a pure function of (seed, step): a resumed run sees the tasks an
uninterrupted one would.

Classes come from the source's own split (`split='source'`: meta-train =
the classes of the train split, e.g. Omniglot's background alphabets;
meta-test = those of the test split; meta-val = the last `num_val_classes`
meta-train classes) or from explicit class lists (`split='classes'`, all
images of a class from both source splits) or from a seeded random split of
all classes into given sizes (`split='random'`: cbfinn/maml's 1100 / 100 /
423 Omniglot characters). Rotations by 90, 180 and 270 degrees may be added
to meta-train as classes of their own (`rotations`: Santoro et al.'s recipe),
or every class of a task turned by its own random multiple of 90 degrees,
drawn per task on the device (`sample_tasks(rotate=True)`: cbfinn/maml's
code, at meta-train and meta-test).
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from gitjax import rngs
from gitjax.data import transforms
from gitjax.errors import ConfigError
from gitjax.errors import DataError

SPLITS = ('train', 'val', 'test')


@dataclasses.dataclass(frozen=True)
class EpisodeSplits:
  """Class pools of the three meta-splits.

  Attributes:
    pools: split name -> uint8 [C, M, H, W, Ch] (None for an empty meta-val).
    class_ids: split name -> source class ids [C] of the pool's rows (a
      rotated copy keeps the id of its source class).
    rotations: split name -> quarter turns [C] of each row (0 = as stored).
  """
  pools: dict
  class_ids: dict
  rotations: dict

  def num_classes(self, split):
    pool = self.pools[split]
    return 0 if pool is None else pool.shape[0]


def preprocess(images, size=0, invert=False):
  """uint8 [N, H, W, C] -> [N, size, size, 1] grayscale, resized with
  Lanczos (as Omniglot's 28x28 recipe), optionally inverted; unchanged
  when size is 0 and invert is False."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images = np.asarray(images)
  if size and images.shape[1:] != (size, size, 1):
    gray = images.mean(-1) if images.shape[-1] > 1 else images[..., 0]
    gray = np.clip(np.round(gray), 0, 255).astype(np.uint8)
    images = np.stack([
        np.asarray(Image.fromarray(g).resize((size, size), Image.LANCZOS))
        for g in gray])[..., None]
  return 255 - images if invert else images


def _by_class(images, labels, classes, cap):
  """uint8 [C, M, H, W, Ch]: the first M images of each class, M the
  smallest class count (capped at `cap` when cap > 0)."""
  counts = [int(np.sum(labels == c)) for c in classes]
  m = min(counts)
  if cap:
    m = min(m, cap)
  return np.stack([images[labels == c][:m] for c in classes]), m


def build_splits(data, split, train_classes=(), val_classes=(),
                 test_classes=(), num_val_classes=0, rotations=False,
                 max_images_per_class=0, image_size=0, invert=False,
                 split_sizes=(), split_seed=0):
  """The meta-train / meta-val / meta-test pools of a source.

  Args:
    data: a `sources.ImageData`.
    split: 'source' (the data set's own train/test classes), 'classes' or
      'random'.
    train_classes: meta-train class ids (split='classes').
    val_classes: meta-val class ids (split='classes'; may be empty).
    test_classes: meta-test class ids (split='classes').
    num_val_classes: split='source': meta-val takes this many of the last
      meta-train classes.
    rotations: add 90/180/270-degree rotations of meta-train classes as
      classes of their own.
    max_images_per_class: cap on M (0 = the smallest class count).
    image_size: resize to this square grayscale size (0 = as stored).
    invert: store 255 - x.
    split_sizes: split='random': (train, val, test) class counts.
    split_seed: split='random': seed of the class permutation.

  Returns:
    EpisodeSplits.

  Raises:
    ConfigError: a split names no class, an unknown class, or overlaps.
    DataError: split='random' asks for more classes than the source has.
  """
  if split == 'random':
    train_classes, val_classes, test_classes = random_class_split(
        np.unique(np.concatenate([data.y_train, data.y_test])), split_sizes,
        split_seed, data.name)
    split = 'classes'
  if split == 'source':
    train_ids = np.unique(data.y_train)
    test_ids = np.unique(data.y_test)
    if num_val_classes >= len(train_ids):
      raise ConfigError(
          f'config.maml.num_val_classes={num_val_classes} leaves no '
          f'meta-train class of the {len(train_ids)} in the train split')
    cut = len(train_ids) - num_val_classes
    ids = {'train': train_ids[:cut], 'val': train_ids[cut:],
           'test': test_ids}
    sources = {'train': (data.x_train, data.y_train),
               'val': (data.x_train, data.y_train),
               'test': (data.x_test, data.y_test)}
  else:
    ids = {'train': np.asarray(train_classes, np.int64),
           'val': np.asarray(val_classes, np.int64),
           'test': np.asarray(test_classes, np.int64)}
    pooled = (np.concatenate([data.x_train, data.x_test]),
              np.concatenate([data.y_train, data.y_test]))
    sources = {s: pooled for s in SPLITS}
    for s in SPLITS:
      unknown = sorted(set(ids[s].tolist()) - set(range(data.num_classes)))
      if unknown:
        raise ConfigError(f'config.maml.{s}_classes names classes {unknown} '
                          f'that {data.name} (classes 0..'
                          f'{data.num_classes - 1}) does not have')
    for a, b in (('train', 'val'), ('train', 'test'), ('val', 'test')):
      shared = sorted(set(ids[a].tolist()) & set(ids[b].tolist()))
      if shared:
        raise ConfigError(f'config.maml.{a}_classes and {b}_classes share '
                          f'classes {shared}; meta-splits must be disjoint')
  for s in ('train', 'test'):
    if len(ids[s]) == 0:
      raise ConfigError(f'the meta-{s} split names no class; set '
                        f'config.maml.{s}_classes')
  pools, class_ids, turns = {}, {}, {}
  for s in SPLITS:
    if len(ids[s]) == 0:
      pools[s], class_ids[s], turns[s] = None, np.zeros(0, np.int64), None
      continue
    pool, _ = _by_class(*sources[s], ids[s], max_images_per_class)
    c, m = pool.shape[:2]
    pool = preprocess(pool.reshape((c * m,) + pool.shape[2:]), image_size,
                      invert)
    pool = pool.reshape((c, m) + pool.shape[1:])
    rot = np.zeros(len(ids[s]), np.int64)
    cls = np.asarray(ids[s], np.int64)
    if rotations and s == 'train':
      pool = np.concatenate([np.rot90(pool, k, axes=(2, 3))
                             for k in range(4)])
      rot = np.repeat(np.arange(4), len(cls))
      cls = np.tile(cls, 4)
    pools[s], class_ids[s], turns[s] = np.ascontiguousarray(pool), cls, rot
  return EpisodeSplits(pools, class_ids, turns)


def random_class_split(class_ids, sizes, seed, name='the data'):
  """(train, val, test) class ids: a permutation of `class_ids` by `seed`,
  cut into `sizes` (classes beyond their sum are left out)."""
  sizes = tuple(int(n) for n in sizes)
  if len(sizes) != 3 or sum(sizes) > len(class_ids):
    raise DataError(f'config.maml.split_sizes={sizes} asks for {sum(sizes)} '
                    f'classes but {name} has {len(class_ids)}; lower them')
  order = rngs.numpy_rng(seed, 'maml-split').permutation(np.asarray(class_ids))
  cuts = np.cumsum(sizes)
  return (np.sort(order[:cuts[0]]), np.sort(order[cuts[0]:cuts[1]]),
          np.sort(order[cuts[1]:cuts[2]]))


def check_tasks(splits, ways, shots, queries, needed=('train', 'test')):
  """Raises DataError (one line) if a split cannot hold an N-way K+Q task."""
  for s in needed:
    pool = splits.pools[s]
    if pool is None:
      continue
    if ways > pool.shape[0]:
      raise DataError(f'{ways}-way tasks need {ways} classes but meta-{s} has '
                      f'{pool.shape[0]}; lower config.maml.ways or move '
                      'classes into that split')
    if shots + queries > pool.shape[1]:
      raise DataError(f'{shots} shots + {queries} queries need {shots + queries}'
                      f' images per class but meta-{s} classes have '
                      f'{pool.shape[1]}; lower config.maml.shots or queries')


def rotate_classes(key, images):
  """Turns all images of each class by one random multiple of 90 degrees.

  Args:
    key: PRNG key.
    images: [N, M, H, W, Ch] with H == W (M images of each of N classes).

  Returns:
    (rotated images, quarter turns [N] int32 counter-clockwise).
  """
  turns = jax.random.randint(key, (images.shape[0],), 0, 4)  # [N]
  rotations = jnp.stack([jnp.rot90(images, k, axes=(2, 3))
                         for k in range(4)])  # [4, N, M, H, W, Ch]
  picked = rotations[turns, jnp.arange(images.shape[0])]
  return picked, turns.astype(jnp.int32)


def sample_task(key, pool, ways, shots, queries, rotate=False):
  """One N-way K-shot Q-query task drawn from `pool` [C, M, H, W, Ch].

  N classes without replacement, then K + Q distinct images of each. Labels
  are 0..N-1 in the order the classes were drawn. With `rotate`, each of
  the N classes is turned as a whole by its own random multiple of 90
  degrees (`rotate_classes`, cbfinn/maml's Omniglot tasks).

  Returns:
    dict with 'support' [N*K, H, W, Ch], 'support_label' [N*K] (class-major),
    'query' [N*Q, H, W, Ch], 'query_label' [N*Q], 'classes' [N] (rows of
    the pool) and 'turns' [N] (quarter turns, 0 without rotate).
  """
  rng_classes, rng_images = jax.random.split(key)
  rng_turns = jax.random.fold_in(key, 1)  # tasks without rotate unchanged
  num_classes, per_class = pool.shape[:2]
  classes = jax.random.choice(rng_classes, num_classes, (ways,),
                              replace=False)  # [N]
  order = jnp.argsort(jax.random.uniform(rng_images, (ways, per_class)),
                      axis=1)[:, :shots + queries]  # [N, K+Q]
  images = pool[classes[:, None], order]  # [N, K+Q, H, W, Ch]
  turns = jnp.zeros((ways,), jnp.int32)
  if rotate:
    images, turns = rotate_classes(rng_turns, images)
  shape = images.shape[2:]
  labels = jnp.arange(ways, dtype=jnp.int32)
  return {
      'support': images[:, :shots].reshape((ways * shots,) + shape),
      'support_label': jnp.repeat(labels, shots),
      'query': images[:, shots:].reshape((ways * queries,) + shape),
      'query_label': jnp.repeat(labels, queries),
      'classes': classes.astype(jnp.int32),
      'turns': turns,
  }


def transform_images(key, images, spec):
  """One draw of the nuisance transform per image; float32 0..255."""
  if not spec.names:
    return images.astype(jnp.float32)
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(transforms.transform_jax, in_axes=(0, 0, None))(
      keys, images, spec)


def sample_tasks(key, pool, num_tasks, ways, shots, queries, spec=None,
                 transform_support=True, transform_query=True, rotate=False):
  """`num_tasks` tasks (leading axis T), images float32 on the 0..255 scale.

  Args:
    key: PRNG key; the tasks are a pure function of it.
    pool: uint8 [C, M, H, W, Ch] (a device array: sampling runs under jit).
    num_tasks: T.
    ways: N.
    shots: K.
    queries: Q.
    spec: a transforms.TransformSpec applied independently to every image
      (None or the identity: no transform).
    transform_support: apply `spec` to support images.
    transform_query: apply `spec` to query images.
    rotate: turn each task's classes by random multiples of 90 degrees
      (before `spec`).

  Returns:
    dict of sample_task's arrays with a leading task axis T.
  """
  spec = spec or transforms.TransformSpec()
  pool = jnp.asarray(pool)

  def one(k):
    rng_task, rng_support, rng_query = jax.random.split(k, 3)
    task = sample_task(rng_task, pool, ways, shots, queries, rotate)
    for name, rng, on in (('support', rng_support, transform_support),
                          ('query', rng_query, transform_query)):
      task[name] = (transform_images(rng, task[name], spec) if on
                    else task[name].astype(jnp.float32))
    return task

  return jax.vmap(one)(jax.random.split(key, num_tasks))
