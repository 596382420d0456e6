"""Building blocks of MUNIT (Huang et al., ECCV 2018), NHWC.

Functional normalisations (instance norm, AdaIN, MUNIT's layer norm), the
reflect-padded convolution every MUNIT conv uses, nearest-neighbour upsampling
and the multi-scale discriminator's average pooling, plus the small flax
modules built from them. They follow the PyTorch reference
(`networks.py` of NVlabs/MUNIT, as vendored by the GIT code base) exactly,
including its slightly unusual layer norm.

Initialisation (checked against MUNIT's `weights_init` and the GIT configs,
which all say `init: kaiming`): every `Conv*`/`Linear` weight of the
generator is drawn from `kaiming_normal_(a=0, mode='fan_in')`, i.e. an
untruncated N(0, 2 / fan_in), and every bias is set to 0. The trainer then
re-initialises the discriminators with `weights_init('gaussian')`, i.e.
N(0, 0.02^2) weights and zero biases, which is why the two networks take
their kernel initialiser as a field. MUNIT's layer-norm affine is not touched
by `weights_init` and keeps its own init: gamma ~ U[0, 1), beta = 0.
"""

from typing import Callable, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

# PyTorch's `kaiming_normal_` draws from an untruncated normal; jax's
# `he_normal` truncates at 2 sigma, so spell the initializer out.
kaiming_normal = nn.initializers.variance_scaling(2.0, 'fan_in', 'normal')
# MUNIT's `weights_init('gaussian')`, used for the discriminators.
gaussian_002 = nn.initializers.normal(stddev=0.02)

Initializer = Callable[..., jax.Array]

# Epsilon of PyTorch's InstanceNorm2d / batch_norm and of MUNIT's LayerNorm.
_EPS = 1e-5


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
  """Reflection-pads H and W of `x` [B, H, W, C] by `pad` on every side.

  Like `nn.ReflectionPad2d`, this refuses pads >= the spatial size: numpy's
  'reflect' silently degrades to edge replication there, which would make the
  network differ from the original instead of failing like it does.

  Args:
    x: input [B, H, W, C].
    pad: padding on each side of H and W.

  Returns:
    [B, H + 2 pad, W + 2 pad, C].
  """
  if pad == 0:
    return x
  height, width = x.shape[1], x.shape[2]
  if pad >= height or pad >= width:
    raise ValueError(f'reflect padding {pad} needs spatial sizes > {pad}, '
                     f'got {height}x{width}; the input image is too small '
                     'for this many stride-2 layers.')
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


def instance_norm(x: jax.Array, eps: float = _EPS) -> jax.Array:
  """Per-sample, per-channel normalisation over H, W (no affine).

  Matches `nn.InstanceNorm2d(affine=False)`: biased variance, eps inside the
  square root.

  Args:
    x: input [B, H, W, C].
    eps: added to the variance.

  Returns:
    The normalised array, same shape as `x`.
  """
  mean = jnp.mean(x, axis=(1, 2), keepdims=True)  # [B, 1, 1, C]
  var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + eps)


def adain(x: jax.Array, weight: jax.Array, bias: jax.Array,
          eps: float = _EPS) -> jax.Array:
  """Adaptive instance norm: `weight * instance_norm(x) + bias`.

  The original reshapes [B, C, H, W] to [1, B*C, H, W] and calls
  `F.batch_norm(training=True)`, which is instance norm with biased variance
  and a per-(sample, channel) affine taken from the style MLP.

  Args:
    x: input [B, H, W, C].
    weight: per-sample scales [B, C] (the "std" half of the MLP output).
    bias: per-sample shifts [B, C] (the "mean" half of the MLP output).
    eps: added to the variance.

  Returns:
    [B, H, W, C].
  """
  x_norm = instance_norm(x, eps)
  return (weight[:, None, None, :] * x_norm +
          bias[:, None, None, :])  # [B, H, W, C]


def munit_layer_norm(x: jax.Array, eps: float = _EPS) -> jax.Array:
  """MUNIT's layer norm without the affine part.

  Unlike `nn.LayerNorm`, MUNIT normalises each sample over (C, H, W) jointly
  by its UNBIASED standard deviation (`Tensor.std`, divisor n - 1), with eps
  added to the std rather than to the variance.

  Args:
    x: input [B, H, W, C].
    eps: added to the standard deviation.

  Returns:
    (x - mean) / (std + eps), same shape as `x`.
  """
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)  # [B, 1, 1, 1]
  std = jnp.std(x, axis=(1, 2, 3), keepdims=True, ddof=1)  # [B, 1, 1, 1]
  return (x - mean) / (std + eps)


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
  """`nn.Upsample(scale_factor=factor)` (nearest) on [B, H, W, C]."""
  x = jnp.repeat(x, factor, axis=1)
  return jnp.repeat(x, factor, axis=2)  # [B, factor H, factor W, C]


def downsample_avg(x: jax.Array) -> jax.Array:
  """The discriminator's 3x3 / stride-2 average pooling between scales.

  Matches `nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`.

  Args:
    x: input [B, H, W, C].

  Returns:
    [B, ceil(H / 2), ceil(W / 2), C]; border windows average only the real
    pixels they cover.
  """
  return nn.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def uniform_01(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
  """`Tensor.uniform_()`: U[0, 1), MUNIT's layer-norm gamma init."""
  return jax.random.uniform(key, shape, dtype, 0.0, 1.0)


class ReflectConv(nn.Module):
  """Reflection padding followed by a VALID convolution with bias.

  Attributes:
    features: output channels.
    kernel_size: square kernel size.
    stride: square stride.
    padding: reflection padding on each side of H and W.
    kernel_init: weight initialiser (biases start at 0).
  """
  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  kernel_init: Initializer = kaiming_normal

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps [B, H, W, C_in] to [B, H', W', features]."""
    x = reflect_pad(x, self.padding)
    return nn.Conv(self.features, (self.kernel_size, self.kernel_size),
                   strides=(self.stride, self.stride), padding='VALID',
                   use_bias=True, kernel_init=self.kernel_init,
                   bias_init=nn.initializers.zeros, name='conv')(x)


class MunitLayerNorm(nn.Module):
  """MUNIT's `LayerNorm`: `munit_layer_norm` plus a per-channel affine.

  Attributes:
    eps: added to the (unbiased) standard deviation.
  """
  eps: float = _EPS

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Normalises [B, H, W, C]; same shape out."""
    channels = x.shape[-1]
    gamma = self.param('gamma', uniform_01, (channels,))
    beta = self.param('beta', nn.initializers.zeros, (channels,))
    return munit_layer_norm(x, self.eps) * gamma + beta


class ResBlock(nn.Module):
  """[3x3 conv, IN, ReLU] -> [3x3 conv, IN] + skip, reflect padding 1.

  With `adain_params` the instance norms become AdaIN; otherwise they are
  plain instance norms without affine parameters (the content encoder).

  Attributes:
    kernel_init: conv weight initialiser.
  """
  kernel_init: Initializer = kaiming_normal

  @nn.compact
  def __call__(
      self, x: jax.Array,
      adain_params: Tuple[Tuple[jax.Array, jax.Array], ...] = ()
  ) -> jax.Array:
    """Runs the block.

    Args:
      x: input [B, H, W, C].
      adain_params: empty for instance norm, or ((weight, bias), (weight,
        bias)) for the two AdaIN layers, each [B, C].

    Returns:
      [B, H, W, C].
    """
    channels = x.shape[-1]
    y = x
    for i in range(2):
      y = ReflectConv(channels, 3, padding=1, kernel_init=self.kernel_init,
                      name=f'conv_{i}')(y)
      if adain_params:
        weight, bias = adain_params[i]
        y = adain(y, weight, bias)
      else:
        y = instance_norm(y)
      if i == 0:
        y = nn.relu(y)
    return x + y  # [B, H, W, C]
