"""Samplers, the device mesh and sharded, prefetched batches.

A sampler maps a step number to the indices of that step's batch, as a pure
function of (seed, step): a resumed run sees exactly the batches an
uninterrupted one would. Batches are dicts {'image', 'label'} of numpy arrays
on the host, placed on a mesh sharded along its batch axis 'data' by a
background thread that keeps `prefetch` batches ready.
"""
import functools
import queue
import threading

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gitjax import rngs
from gitjax.runtime import processes

DATA_AXIS = 'data'


class UniformSampler:
  """Uniform shuffling without replacement, epoch after epoch.

  The stream of indices is the concatenation of one seeded permutation per
  epoch; step s takes positions [s*B, (s+1)*B) of it. `purpose` (a word of
  gitjax/rngs.py) names the stream: samplers of different purposes are
  independent.
  """

  def __init__(self, num_examples, batch_size, seed,
               purpose='classifier-order'):
    if num_examples < 1:
      raise ValueError('UniformSampler needs at least one example')
    self.num_examples = num_examples
    self.batch_size = batch_size
    self.seed = seed
    self.purpose = purpose
    rngs.word(purpose)  # an unknown purpose fails here, not at step 0

  @functools.lru_cache(maxsize=4)
  def _permutation(self, epoch):
    return rngs.numpy_rng(self.seed, self.purpose, epoch).permutation(
        self.num_examples)

  def epoch(self, step):
    """Epochs completed (fractional) after `step` steps."""
    return step * self.batch_size / self.num_examples

  def indices(self, step):
    positions = step * self.batch_size + np.arange(self.batch_size)
    epochs, offsets = np.divmod(positions, self.num_examples)
    out = np.empty(self.batch_size, np.int64)
    for e in np.unique(epochs):
      mask = epochs == e
      out[mask] = self._permutation(int(e))[offsets[mask]]
    return out


class ClassBalancedSampler:
  """Class-balanced sampling with replacement: a class uniformly at random,
  then one of its images uniformly at random; `purpose` as UniformSampler's."""

  def __init__(self, labels, batch_size, seed, num_classes=None,
               purpose='classifier-balanced'):
    self.purpose = purpose
    rngs.word(purpose)
    num_classes = num_classes or int(labels.max()) + 1
    self.by_class = [np.flatnonzero(labels == c) for c in range(num_classes)]
    self.present = np.array([c for c in range(num_classes)
                             if len(self.by_class[c])])
    self.num_examples = len(labels)
    self.batch_size = batch_size
    self.seed = seed

  def epoch(self, step):
    return step * self.batch_size / self.num_examples

  def indices(self, step):
    rng = rngs.numpy_rng(self.seed, self.purpose, step)
    classes = self.present[rng.integers(len(self.present),
                                        size=self.batch_size)]
    out = np.empty(self.batch_size, np.int64)
    for c in np.unique(classes):
      mask = classes == c
      pool = self.by_class[c]
      out[mask] = pool[rng.integers(len(pool), size=int(mask.sum()))]
    return out


def make_mesh(devices=None):
  """A 1-D mesh over all devices (or `devices`), axis 'data'."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh):
  """Sharding of arrays whose leading axis is the batch."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh):
  """Sharding of arrays every device holds whole (params, optimiser state)."""
  return NamedSharding(mesh, P())


def shard_batch(batch, mesh, local=False):
  """Places a host batch on the mesh, split along the leading axis.

  `batch`: the global batch, the same on every process (each process
  places only its own rows, processes.process_rows); with `local`, only
  this process's rows of it (the global batch is then process_count times
  as long). On one process both are the whole batch.
  """
  sharding = batch_sharding(mesh)
  count = jax.process_count()

  def place(x):
    if local:
      shape = (x.shape[0] * count,) + x.shape[1:]
    else:
      shape = x.shape
      x = x[processes.process_rows(x.shape[0], sharding)]
    return jax.make_array_from_process_local_data(sharding, x, shape)
  return jax.tree.map(place, batch)


def local_indices(indices, mesh):
  """This process's part of a global batch's `indices` (all on one)."""
  return indices[processes.process_rows(len(indices), batch_sharding(mesh))]


def take(arrays, indices):
  """A host batch: the rows `indices` of every array in the dict `arrays`."""
  return {k: v[indices] for k, v in arrays.items()}


class Prefetcher:
  """Iterates sharded batches for steps start, start+1, ..., made ahead of
  time by a background thread so the accelerator does not wait."""

  def __init__(self, make_batch, mesh, start_step=0, prefetch=2,
               local=False):
    """`local`: make_batch returns this process's rows only (shard_batch)."""
    self._make_batch = make_batch
    self._local = local
    self._mesh = mesh
    self._step = start_step
    self._queue = queue.Queue(maxsize=max(1, prefetch))
    self._stop = threading.Event()
    self._thread = None
    if prefetch > 0:
      self._thread = threading.Thread(target=self._fill, daemon=True)
      self._thread.start()

  def _fill(self):
    step = self._step
    while not self._stop.is_set():
      try:
        item = shard_batch(self._make_batch(step), self._mesh,
                           self._local)
      except Exception as e:  # pylint: disable=broad-except
        item = e
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      if isinstance(item, Exception):
        return
      step += 1

  def __iter__(self):
    return self

  def __next__(self):
    if self._thread is None:
      batch = shard_batch(self._make_batch(self._step), self._mesh,
                          self._local)
    else:
      batch = self._queue.get()
      if isinstance(batch, Exception):
        raise batch
    self._step += 1
    return batch

  def close(self):
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=5)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
