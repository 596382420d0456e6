"""Samplers, mesh sharding and prefetching."""
import jax
import numpy as np
import pytest

from gitjax.data import pipeline


def test_uniform_sampler_visits_every_example_once_per_epoch():
  sampler = pipeline.UniformSampler(num_examples=10, batch_size=4, seed=3)
  stream = np.concatenate([sampler.indices(s) for s in range(5)])  # 2 epochs
  assert sorted(stream[:10].tolist()) == list(range(10))
  assert sorted(stream[10:20].tolist()) == list(range(10))
  assert not np.array_equal(stream[:10], stream[10:20])
  np.testing.assert_array_equal(
      sampler.indices(3),
      pipeline.UniformSampler(10, 4, seed=3).indices(3))  # a pure function
  assert sampler.epoch(5) == 2.0


def test_class_balanced_sampler_frequencies():
  labels = np.concatenate([np.zeros(1000), np.ones(50), np.full(5, 2)])
  labels = labels.astype(np.int64)
  sampler = pipeline.ClassBalancedSampler(labels, batch_size=256, seed=0)
  drawn = np.concatenate([sampler.indices(s) for s in range(60)])
  freq = np.bincount(labels[drawn], minlength=3) / len(drawn)
  np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.02)
  # Within the rare class every image is used (with replacement).
  rare = drawn[labels[drawn] == 2]
  assert set(rare.tolist()) == set(range(1050, 1055))


def test_sharded_batches_on_eight_devices():
  assert jax.device_count() == 8, 'tests/conftest.py fakes 8 CPU devices'
  mesh = pipeline.make_mesh()
  images = np.arange(16 * 4 * 4 * 1, dtype=np.uint8).reshape(16, 4, 4, 1)
  batch = pipeline.shard_batch({'image': images, 'label': np.arange(16)}, mesh)
  assert batch['image'].sharding.spec == jax.sharding.PartitionSpec('data')
  assert len(batch['image'].addressable_shards) == 8
  assert batch['image'].addressable_shards[0].data.shape == (2, 4, 4, 1)
  np.testing.assert_array_equal(np.asarray(batch['image']), images)


@pytest.mark.parametrize('prefetch', [0, 2])
def test_prefetcher_yields_the_sampler_batches_in_order(prefetch):
  mesh = pipeline.make_mesh()
  arrays = {'image': np.arange(40, dtype=np.float32)[:, None],
            'label': np.arange(40)}
  sampler = pipeline.UniformSampler(40, 8, seed=0)
  make = lambda step: pipeline.take(arrays, sampler.indices(step))
  with pipeline.Prefetcher(make, mesh, start_step=3, prefetch=prefetch) as it:
    got = [np.asarray(next(it)['label']) for _ in range(4)]
  for i, labels in enumerate(got):
    np.testing.assert_array_equal(labels, sampler.indices(3 + i))


def test_prefetcher_reports_errors_of_the_batch_maker():
  def broken(step):
    raise ValueError(f'bad step {step}')
  with pipeline.Prefetcher(broken, pipeline.make_mesh(), prefetch=2) as it:
    with pytest.raises(ValueError, match='bad step 0'):
      next(it)


def test_one_process_holds_every_row_of_a_global_batch_replicated_state():
  # Several processes each take their rows (tests/runtime/test_processes.py);
  # one process takes the whole batch, in order, and replicated placement
  # puts a whole copy on every device.
  mesh = pipeline.make_mesh()
  indices = np.array([7, 3, 3, 9, 0, 5, 2, 8])
  np.testing.assert_array_equal(pipeline.local_indices(indices, mesh),
                                indices)
  sharding = pipeline.replicated(mesh)
  assert sharding.is_fully_replicated and sharding.mesh == mesh
  x = jax.device_put(np.arange(6.0), sharding)
  assert len(x.addressable_shards) == jax.device_count()
  for shard in x.addressable_shards:
    np.testing.assert_array_equal(shard.data, np.arange(6.0))
