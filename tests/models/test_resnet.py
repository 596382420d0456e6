"""Tests for gitjax.models.resnet (and the cosine head)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax.models import heads
from gitjax.models import resnet as resnet_lib


def _num_params(model, shape):
  """Trainable parameter count via eval_shape (no FLOPs spent)."""
  variables = jax.eval_shape(
      lambda k: model.init(k, jnp.zeros(shape), train=False),
      jax.random.key(0))
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      variables['params']))


@pytest.mark.parametrize('depth, in_channels, num_classes, expected', [
    # Numbers of the PyTorch originals (BN scale/bias in, running stats out).
    (20, 1, 49, 271_969),
    (32, 3, 10, 464_154),
])
def test_exact_parameter_counts(depth, in_channels, num_classes, expected):
  model = resnet_lib.resnet(depth, num_classes)
  size = 28 if in_channels == 1 else 32
  assert _num_params(model, (1, size, size, in_channels)) == expected


def test_cosine_head_has_no_bias():
  # 64 * 10 weights, no bias: 10 fewer than the Dense head.
  model = resnet_lib.resnet(32, 10, cosine_head=True)
  assert _num_params(model, (1, 32, 32, 3)) == 464_154 - 10


@pytest.mark.parametrize('depth', [7, 10, 2, 33])
def test_invalid_depth_raises(depth):
  with pytest.raises(ValueError, match='6n \\+ 2'):
    resnet_lib.resnet(depth, 10)


# One small configuration shared by most tests, so that eagerly compiled ops
# are reused across tests (keeps the file at a few seconds on 2 CPU cores).
SMALL = resnet_lib.CifarResNet(depth=8, num_classes=5)


@pytest.mark.parametrize('shape', [(2, 28, 28, 1), (2, 32, 32, 3),
                                   (2, 9, 11, 3)])
def test_output_shapes_and_features(shape):
  model = SMALL
  x = jax.random.normal(jax.random.key(1), shape)
  variables = model.init(jax.random.key(0), x, train=False)
  logits, feats = model.apply(variables, x, train=False,
                              return_features=True)
  assert logits.shape == (2, 5)
  assert feats.shape == (2, 64)
  assert np.all(np.isfinite(logits)) and np.all(np.isfinite(feats))
  # Features are post-ReLU averages.
  assert np.all(feats >= 0)


def test_stride2_downsamples_like_pytorch_padding():
  # 32 -> 16 -> 8 with pad-1 convs; odd sizes round up (ceil(H / 2)).
  model = SMALL
  x = jnp.ones((1, 9, 9, 3))
  variables = model.init(jax.random.key(0), x, train=False)
  _, state = model.apply(variables, x, train=False,
                         capture_intermediates=True, mutable=['intermediates'])
  out = state['intermediates']['stage3_block1']['__call__'][0]
  assert out.shape == (1, 3, 3, 64)  # 9 -> 5 -> 3


def test_option_a_shortcut_is_parameter_free_and_zero_pads():
  x = jnp.arange(2 * 4 * 4 * 16, dtype=jnp.float32).reshape(2, 4, 4, 16)
  y = resnet_lib.option_a_shortcut(x, 32, stride=2)
  assert y.shape == (2, 2, 2, 32)
  # planes // 4 = 8 zero channels on each side, the subsampled input between.
  np.testing.assert_array_equal(y[..., :8], 0.0)
  np.testing.assert_array_equal(y[..., 24:], 0.0)
  np.testing.assert_array_equal(y[..., 8:24], x[:, ::2, ::2, :])
  # The downsampling blocks hold exactly two convs and two BNs.
  block = resnet_lib.BasicBlock(planes=32, stride=2)
  variables = jax.eval_shape(
      lambda k: block.init(k, jnp.zeros((1, 8, 8, 16)), train=False),
      jax.random.key(0))
  assert sorted(variables['params']) == ['BatchNorm_0', 'BatchNorm_1',
                                         'Conv_0', 'Conv_1']
  conv_sizes = [variables['params'][n]['kernel'].shape
                for n in ('Conv_0', 'Conv_1')]
  assert conv_sizes == [(3, 3, 16, 32), (3, 3, 32, 32)]


def test_conv_init_is_untruncated_kaiming_normal():
  variables = SMALL.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)),
                         train=False)
  # Largest conv: 3 * 3 * 64 * 64 = 36864 draws, std sqrt(2 / 576).
  k = np.asarray(variables['params']['stage3_block1']['Conv_1']['kernel'])
  std = np.sqrt(2.0 / (9 * 64))
  assert abs(k.std() / std - 1) < 0.03
  # A 2-sigma truncated normal would have no sample beyond 2 std.
  assert np.abs(k).max() > 3 * std


def test_batch_stats_update_in_train_and_unused_in_eval():
  model = SMALL
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3)) * 3.0 + 1.0
  variables = model.init(jax.random.key(0), x, train=False)
  _, updates = model.apply(variables, x, train=True, mutable=['batch_stats'])
  before = variables['batch_stats']['stem_bn']['mean']
  after = updates['batch_stats']['stem_bn']['mean']
  assert not np.allclose(before, after)
  # Eval: each example's output is independent of its batch mates.
  variables = {'params': variables['params'],
               'batch_stats': updates['batch_stats']}
  a = jax.random.normal(jax.random.key(2), (3, 8, 8, 3))
  b = jax.random.normal(jax.random.key(3), (3, 8, 8, 3)) * 5.0
  batch1 = jnp.concatenate([a[:1], a[1:]])
  batch2 = jnp.concatenate([a[:1], b])
  out1 = model.apply(variables, batch1, train=False)
  out2 = model.apply(variables, batch2, train=False)
  np.testing.assert_allclose(out1[0], out2[0], rtol=1e-5, atol=1e-5)
  # Sanity check of the test: in train mode the batch matters.
  t1, _ = model.apply(variables, batch1, train=True, mutable=['batch_stats'])
  t2, _ = model.apply(variables, batch2, train=True, mutable=['batch_stats'])
  assert not np.allclose(t1[0], t2[0], atol=1e-4)


def test_bn_momentum_matches_pytorch_default():
  model = SMALL
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
  variables = model.init(jax.random.key(0), x, train=False)
  _, state = model.apply(variables, x, train=True,
                         mutable=['batch_stats', 'intermediates'],
                         capture_intermediates=True)
  conv_out = state['intermediates']['stem_conv']['__call__'][0]
  batch_mean = conv_out.mean(axis=(0, 1, 2))
  np.testing.assert_allclose(state['batch_stats']['stem_bn']['mean'],
                             0.1 * batch_mean, rtol=1e-5, atol=1e-6)


def test_cosine_head_logits_in_unit_interval():
  model = resnet_lib.resnet(8, 5, cosine_head=True)
  x = jax.random.normal(jax.random.key(1), (3, 8, 8, 3)) * 10.0
  variables = model.init(jax.random.key(0), x, train=False)
  logits = model.apply(variables, x, train=False)
  assert logits.shape == (3, 5)
  assert np.all(np.abs(logits) <= 1.0)
  # The head is scale-invariant in both features and weights.
  head = heads.CosineClassifier(6)
  f = jax.random.normal(jax.random.key(4), (3, 64))
  hv = head.init(jax.random.key(5), f)
  np.testing.assert_allclose(head.apply(hv, 7.0 * f), head.apply(hv, f),
                             rtol=1e-5, atol=1e-6)
  scaled = jax.tree.map(lambda w: 3.0 * w, hv)
  np.testing.assert_allclose(head.apply(scaled, f), head.apply(hv, f),
                             rtol=1e-5, atol=1e-6)


def test_normed_linear_init_has_unit_columns():
  w = heads.normed_linear_init(jax.random.key(0), (64, 10))
  np.testing.assert_allclose(np.linalg.norm(w, axis=0), 1.0, rtol=1e-5)


def test_cosine_head_gradient_is_finite_for_zero_features():
  """An all-zero feature vector (ReLU can give one) must not give NaN."""
  head = heads.CosineClassifier(3)
  features = jnp.zeros((2, 4)).at[1].set(1.0)
  variables = head.init(jax.random.key(0), features)
  grads = jax.grad(lambda f: head.apply(variables, f).sum())(features)
  assert bool(jnp.all(jnp.isfinite(grads)))
  np.testing.assert_allclose(
      heads.l2_normalize(jnp.array([[3.0, 4.0]])), [[0.6, 0.8]], rtol=1e-6)
