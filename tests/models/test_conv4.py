"""Tests for gitjax.models.conv4."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax.models import conv4 as conv4_lib


def _num_params(model, shape):
  variables = jax.eval_shape(
      lambda k: model.init(k, jnp.zeros(shape), train=False),
      jax.random.key(0))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      variables['params']))


def test_exact_parameter_count_omniglot():
  # conv1: 9*1*64 + 64, conv2-4: 9*64*64 + 64, 4 BNs: 2*64, head: 64*5 + 5.
  expected = (576 + 64) + 3 * (36864 + 64) + 4 * 128 + (320 + 5)
  assert expected == 112_261
  assert _num_params(conv4_lib.conv4_omniglot(5), (1, 28, 28, 1)) == expected


def test_parameter_count_miniimagenet():
  # 84 -> 42 -> 21 -> 10 -> 5: the head sees 5 * 5 * 32 = 800 features.
  expected = (27 * 32 + 32) + 3 * (9 * 32 * 32 + 32) + 4 * 64 + (800 * 5 + 5)
  assert _num_params(conv4_lib.conv4_miniimagenet(5),
                     (1, 84, 84, 3)) == expected


@pytest.mark.parametrize('shape, downsample, flatten, feat_dim', [
    ((2, 28, 28, 1), 'stride', False, 8),  # 28->14->7->4->2, mean.
    ((2, 32, 32, 3), 'stride', False, 8),
    ((2, 28, 28, 1), 'maxpool', True, 8),  # 28->14->7->3->1, flatten.
    ((2, 32, 32, 3), 'maxpool', True, 2 * 2 * 8),  # 32->16->8->4->2.
])
def test_output_shapes(shape, downsample, flatten, feat_dim):
  model = conv4_lib.Conv4(num_classes=5, filters=8, downsample=downsample,
                          flatten=flatten)
  x = jax.random.normal(jax.random.key(1), shape)
  variables = model.init(jax.random.key(0), x, train=False)
  logits, feats = model.apply(variables, x, train=False,
                              return_features=True)
  assert logits.shape == (2, 5)
  assert feats.shape == (2, feat_dim)
  assert np.all(np.isfinite(logits))


def test_stride_variant_spatial_sizes():
  model = conv4_lib.Conv4(num_classes=5, filters=8)
  x = jnp.zeros((2, 28, 28, 1))
  variables = model.init(jax.random.key(0), x, train=False)
  _, state = model.apply(variables, x, train=False,
                         capture_intermediates=True, mutable=['intermediates'])
  sizes = [state['intermediates'][f'conv{i}']['__call__'][0].shape[1]
           for i in range(1, 5)]
  assert sizes == [14, 7, 4, 2]


def test_bad_downsample_raises():
  model = conv4_lib.Conv4(num_classes=5, downsample='avgpool')
  with pytest.raises(ValueError, match='downsample'):
    model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False)


def _batches():
  a = jax.random.normal(jax.random.key(2), (3, 12, 12, 1))
  b = jax.random.normal(jax.random.key(3), (3, 12, 12, 1)) * 4.0 + 2.0
  return jnp.concatenate([a[:1], a[1:]]), jnp.concatenate([a[:1], b])


def test_train_updates_batch_stats():
  model = conv4_lib.Conv4(num_classes=5, filters=8)
  x = jax.random.normal(jax.random.key(1), (4, 12, 12, 1)) + 2.0
  variables = model.init(jax.random.key(0), x, train=False)
  _, updates = model.apply(variables, x, train=True, mutable=['batch_stats'])
  assert not np.allclose(variables['batch_stats']['bn1']['mean'],
                         updates['batch_stats']['bn1']['mean'])
  assert not np.allclose(variables['batch_stats']['bn1']['var'],
                         updates['batch_stats']['bn1']['var'])


def test_transductive_eval_uses_batch_stats_without_mutation():
  # MAML default: eval normalises with the batch, and needs no mutable
  # collection because it never writes the running averages.
  model = conv4_lib.Conv4(num_classes=5, filters=8)
  batch1, batch2 = _batches()
  variables = model.init(jax.random.key(0), batch1, train=False)
  out1 = model.apply(variables, batch1, train=False)
  out2 = model.apply(variables, batch2, train=False)
  assert not np.allclose(out1[0], out2[0], atol=1e-4)
  # Even with a mutable collection, eval leaves the running stats alone.
  _, state = model.apply(variables, batch1, train=False,
                         mutable=['batch_stats'])
  jax.tree.map(np.testing.assert_array_equal, state['batch_stats'],
               variables['batch_stats'])


def test_running_stats_eval_is_per_example():
  model = conv4_lib.Conv4(num_classes=5, filters=8, use_batch_stats=False)
  batch1, batch2 = _batches()
  variables = model.init(jax.random.key(0), batch1, train=False)
  _, updates = model.apply(variables, batch2, train=True,
                           mutable=['batch_stats'])
  variables = {'params': variables['params'], **updates}
  out1 = model.apply(variables, batch1, train=False)
  out2 = model.apply(variables, batch2, train=False)
  np.testing.assert_allclose(out1[0], out2[0], rtol=1e-5, atol=1e-5)


def test_batch_norm_matches_numpy():
  bn = conv4_lib.TransductiveBatchNorm()
  x = jax.random.normal(jax.random.key(0), (4, 3, 3, 2)) * 2.0 + 1.0
  variables = bn.init(jax.random.key(1), x, use_batch_stats=True,
                      update_stats=False)
  y, state = bn.apply(variables, x, use_batch_stats=True, update_stats=True,
                      mutable=['batch_stats'])
  xn = np.asarray(x)
  mean, var = xn.mean(axis=(0, 1, 2)), xn.var(axis=(0, 1, 2))
  np.testing.assert_allclose(y, (xn - mean) / np.sqrt(var + 1e-5),
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(state['batch_stats']['mean'], 0.1 * mean,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(state['batch_stats']['var'], 0.9 + 0.1 * var,
                             rtol=1e-5)
