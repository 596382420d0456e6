"""Tests for gitjax.models.munit and gitjax.models.munit_layers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax.models import munit
from gitjax.models import munit_layers as layers


def _num_params(model, shape):
  """Parameter count via eval_shape (no FLOPs spent)."""
  variables = jax.eval_shape(lambda k: model.init(k, jnp.zeros(shape)),
                             jax.random.key(0))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      variables['params']))


@pytest.mark.parametrize('channels, size, expected', [
    # Numbers of the PyTorch AdaINGen with the GIT/MUNIT defaults.
    (1, 28, 15_007_369),
    (3, 32, 15_026_187),
])
def test_generator_parameter_count(channels, size, expected):
  model = munit.Generator(image_channels=channels)
  assert _num_params(model, (1, size, size, channels)) == expected


@pytest.mark.parametrize('channels, size, expected', [
    # PyTorch MsImageDis, num_scales 1, n_layer 4, norm none.
    (1, 28, 2_755_009),
    (3, 32, 2_757_057),
])
def test_discriminator_parameter_count(channels, size, expected):
  model = munit.Discriminator(n_scales=1)
  assert _num_params(model, (1, size, size, channels)) == expected


def test_num_adain_params_default():
  # 4 blocks x 2 AdaIN layers x (256 biases + 256 weights).
  assert munit.num_adain_params(256, 4) == 4096


def test_adain_hand_computed():
  # x [1, 2, 2, 2]; channel 0 holds 1, 2, 3, 4 and channel 1 holds 0, 0, 2, 2.
  x = np.zeros((1, 2, 2, 2), np.float32)
  x[0, :, :, 0] = [[1, 2], [3, 4]]
  x[0, :, :, 1] = [[0, 0], [2, 2]]
  weight = np.array([[2.0, 0.5]], np.float32)
  bias = np.array([[1.0, -1.0]], np.float32)
  out = np.asarray(layers.adain(jnp.asarray(x), weight, bias))
  # Channel 0: mean 2.5, biased var 1.25; channel 1: mean 1, biased var 1.
  s0 = np.sqrt(1.25 + 1e-5)
  s1 = np.sqrt(1.0 + 1e-5)
  expected0 = 2.0 * (np.array([[1, 2], [3, 4]]) - 2.5) / s0 + 1.0
  expected1 = 0.5 * (np.array([[0, 0], [2, 2]]) - 1.0) / s1 - 1.0
  np.testing.assert_allclose(out[0, :, :, 0], expected0, rtol=1e-6)
  np.testing.assert_allclose(out[0, :, :, 1], expected1, rtol=1e-6)
  # Readable sanity values: channel 1 is about [[-1.5, -1.5], [-0.5, -0.5]].
  np.testing.assert_allclose(out[0, :, :, 1], [[-1.5, -1.5], [-0.5, -0.5]],
                             atol=1e-5)


def test_instance_norm_matches_numpy():
  x = np.random.RandomState(0).randn(2, 3, 5, 4).astype(np.float32)
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)  # biased
  expected = (x - mean) / np.sqrt(var + 1e-5)
  np.testing.assert_allclose(layers.instance_norm(jnp.asarray(x)), expected,
                             rtol=1e-5, atol=1e-5)


def test_munit_layer_norm_matches_numpy_unbiased():
  rng = np.random.RandomState(1)
  x = (3.0 * rng.randn(2, 3, 3, 4) + 1.0).astype(np.float32)
  gamma = rng.rand(4).astype(np.float32)
  beta = rng.randn(4).astype(np.float32)
  out = layers.MunitLayerNorm().apply(
      {'params': {'gamma': gamma, 'beta': beta}}, jnp.asarray(x))
  flat = x.reshape(2, -1)
  mean = flat.mean(axis=1)[:, None, None, None]
  std = flat.std(axis=1, ddof=1)[:, None, None, None]  # n - 1 divisor
  expected = (x - mean) / (std + 1e-5) * gamma + beta
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
  # The biased std would give a measurably different answer.
  biased = (x - mean) / (flat.std(axis=1)[:, None, None, None] + 1e-5)
  assert not np.allclose(out, biased * gamma + beta, rtol=1e-4, atol=1e-4)


def test_munit_layer_norm_init():
  variables = layers.MunitLayerNorm().init(jax.random.key(3),
                                           jnp.zeros((1, 2, 2, 64)))
  gamma = np.asarray(variables['params']['gamma'])
  beta = np.asarray(variables['params']['beta'])
  assert gamma.shape == beta.shape == (64,)
  assert np.all(gamma >= 0.0) and np.all(gamma < 1.0)
  assert gamma.std() > 0.1  # really uniform, not a constant
  np.testing.assert_array_equal(beta, 0.0)


def test_norms_under_jit_and_vmap():
  rng = np.random.RandomState(2)
  x = jnp.asarray(rng.randn(3, 2, 4, 4, 5), jnp.float32)  # [N, B, H, W, C]
  w = jnp.asarray(rng.rand(3, 2, 5), jnp.float32)
  b = jnp.asarray(rng.randn(3, 2, 5), jnp.float32)
  ada = jax.jit(jax.vmap(layers.adain))(x, w, b)
  ln = jax.jit(jax.vmap(layers.munit_layer_norm))(x)
  for i in range(3):
    np.testing.assert_allclose(ada[i], layers.adain(x[i], w[i], b[i]),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ln[i], layers.munit_layer_norm(x[i]),
                               rtol=1e-5, atol=1e-5)


def test_split_adain_params_order():
  params = jnp.arange(16.0)[None, :]  # channels 2, n_res 2 -> 16 values
  blocks = munit.split_adain_params(params, channels=2, n_res=2)
  assert len(blocks) == 2
  (w00, b00), (w01, b01) = blocks[0]
  (w10, b10), _ = blocks[1]
  # Per layer: first C values are the mean (bias), next C the std (weight).
  np.testing.assert_array_equal(b00, [[0, 1]])
  np.testing.assert_array_equal(w00, [[2, 3]])
  np.testing.assert_array_equal(b01, [[4, 5]])
  np.testing.assert_array_equal(w01, [[6, 7]])
  np.testing.assert_array_equal(b10, [[8, 9]])
  np.testing.assert_array_equal(w10, [[10, 11]])
  with pytest.raises(ValueError, match='AdaIN parameters'):
    munit.split_adain_params(params, channels=2, n_res=3)


def test_upsample_and_downsample():
  x = jnp.arange(4.0).reshape(1, 2, 2, 1)
  up = layers.upsample_nearest(x)
  np.testing.assert_array_equal(up[0, :, :, 0], [[0, 0, 1, 1], [0, 0, 1, 1],
                                                 [2, 2, 3, 3], [2, 2, 3, 3]])
  # count_include_pad=False: the padded border does not dilute the average.
  ones = jnp.ones((1, 5, 5, 2))
  np.testing.assert_allclose(layers.downsample_avg(ones), 1.0)
  y = jnp.arange(16.0).reshape(1, 4, 4, 1)
  pooled = layers.downsample_avg(y)
  assert pooled.shape == (1, 2, 2, 1)
  # Top-left window covers rows/cols 0..1 only: mean of 0, 1, 4, 5.
  np.testing.assert_allclose(pooled[0, 0, 0, 0], 2.5)


def test_reflect_pad_rejects_too_small_inputs():
  with pytest.raises(ValueError, match='reflect padding'):
    layers.reflect_pad(jnp.zeros((1, 1, 1, 3)), 1)


# One tiny generator shared by the forward-pass tests, with jitted entry points
# so that each input shape compiles once (eager op-by-op dispatch and threefry
# initialisation are both several times slower on 2 CPU cores).
TINY = munit.Generator(image_channels=1, dim=8, mlp_dim=16, n_res=1)
_encode = jax.jit(functools.partial(TINY.apply, method=munit.Generator.encode))
_decode = jax.jit(functools.partial(TINY.apply, method=munit.Generator.decode))
_reconstruct = jax.jit(TINY.apply)


def _fast_key(seed):
  # The 'rbg' PRNG compiles much faster than threefry on CPU; the tests only
  # need statistically sound draws, not reproducibility across PRNGs.
  return jax.random.key(seed, impl='rbg')


@pytest.fixture(scope='module')
def tiny_vars():
  return jax.jit(TINY.init)(_fast_key(0), jnp.zeros((1, 16, 16, 1)))


def test_tiny_encode_decode_and_style_dependence(tiny_vars):
  x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 1), minval=-1.0,
                         maxval=1.0)
  content, style = _encode(tiny_vars, x)
  assert content.shape == (2, 4, 4, 32)
  assert style.shape == (2, 8)
  # Same content twice, under two different (random) styles.
  content = jnp.concatenate([content[:1], content[:1]])
  styles = jax.random.normal(jax.random.key(3), (2, 8))
  out = _decode(tiny_vars, content, styles)
  assert out.shape == (2, 16, 16, 1)
  assert np.all(np.isfinite(out))
  assert np.all(np.abs(out) <= 1.0)  # tanh
  assert float(jnp.max(jnp.abs(out[0] - out[1]))) > 1e-4


@pytest.mark.parametrize('size', [28, 32])
def test_tiny_round_trip_shapes(tiny_vars, size):
  # The parameters do not depend on the image size, so the same ones apply.
  x = jnp.zeros((2, size, size, 1)).at[:, ::3].set(0.5)
  out = _reconstruct(tiny_vars, x)
  assert out.shape == (2, size, size, 1)
  assert np.all(np.isfinite(out))


def test_generator_init_statistics(tiny_vars):
  params = tiny_vars['params']
  kernel = params['content_encoder']['res_0']['conv_0']['conv']['kernel']
  assert kernel.shape == (3, 3, 32, 32)
  expected_std = np.sqrt(2.0 / (3 * 3 * 32))  # kaiming normal, fan_in
  assert abs(float(jnp.std(kernel)) / expected_std - 1.0) < 0.1
  # Untruncated normal: some draws lie beyond 2 sigma.
  assert float(jnp.max(jnp.abs(kernel))) > 2.5 * expected_std
  n_biases = 0
  for leaf_path, leaf in jax.tree_util.tree_leaves_with_path(params):
    if leaf_path[-1].key == 'bias':
      np.testing.assert_array_equal(leaf, 0.0)
      n_biases += 1
  assert n_biases > 10


def test_discriminator_scales_and_init():
  model = munit.Discriminator(dim=4, n_scales=3)
  x = jax.random.normal(jax.random.key(4), (2, 64, 64, 3))
  variables = jax.jit(model.init)(_fast_key(0), x)
  outs = jax.jit(model.apply)(variables, x)
  assert isinstance(outs, list)
  assert [o.shape for o in outs] == [(2, 4, 4, 1), (2, 2, 2, 1), (2, 1, 1, 1)]
  assert all(np.all(np.isfinite(o)) for o in outs)
  # MUNIT re-initialises the discriminators with N(0, 0.02^2).
  kernel = variables['params']['scale_0']['conv_3']['conv']['kernel']
  assert kernel.shape == (4, 4, 16, 32)
  assert abs(float(jnp.std(kernel)) / 0.02 - 1.0) < 0.1
  # A one-scale discriminator is the first scale alone (GIT's setting).
  one = munit.Discriminator(dim=4, n_scales=1)
  one_vars = {'params': {'scale_0': variables['params']['scale_0']}}
  outs1 = jax.jit(one.apply)(one_vars, x)
  assert len(outs1) == 1
  np.testing.assert_allclose(outs1[0], outs[0], rtol=1e-5, atol=1e-6)


def test_discriminator_too_small_for_three_scales():
  # Like PyTorch's ReflectionPad2d, 32x32 cannot feed 3 scales of 4 layers.
  model = munit.Discriminator(dim=4, n_scales=3)
  with pytest.raises(ValueError, match='reflect padding'):
    jax.eval_shape(lambda k: model.init(k, jnp.zeros((1, 32, 32, 3))),
                   jax.random.key(0))
