"""CIFAR-style ResNets (He et al., 2016) as used by the long-tail literature.

This is the `resnet_cifar` family of the LDAM-DRW code base: a 3x3 stem with
16 channels, three stages of BasicBlocks (widths 16/32/64, strides 1/2/2,
n blocks each, depth = 6n + 2), parameter-free "option A" shortcuts, global
average pooling and a linear (or cosine, for LDAM) classifier.

Exact trainable-parameter counts (BN scale/bias included, running statistics
excluded) match the PyTorch originals, e.g. ResNet-32 on 32x32x3 with 10
classes has 464,154 parameters.
"""

import functools
from typing import Optional, Sequence, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp

from gitjax.models.heads import CosineClassifier

# PyTorch's `kaiming_normal_` (fan_in, gain sqrt(2)) draws from an
# UNtruncated normal; jax's `he_normal` would truncate at 2 sigma and shrink
# the variance, so spell the initializer out.
kaiming_normal = nn.initializers.variance_scaling(2.0, 'fan_in', 'normal')

# PyTorch BN: momentum 0.1 on the *new* statistic == flax momentum 0.9 on the
# running one; same epsilon.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5

# Explicit symmetric padding instead of 'SAME': for stride 2 on even inputs,
# 'SAME' pads (0, 1) and samples pixels 1, 3, 5, ... whereas PyTorch's pad=1
# samples 0, 2, 4, ..., which is what the x[:, ::2, ::2] shortcut assumes.
_PAD1 = ((1, 1), (1, 1))


def torch_linear_bias_init(fan_in: int):
  """PyTorch's default `nn.Linear` bias init, U(-1/sqrt(fan_in), +...)."""
  bound = 1.0 / float(fan_in) ** 0.5

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def option_a_shortcut(x: jax.Array, out_channels: int,
                      stride: int) -> jax.Array:
  """Parameter-free shortcut: subsample spatially, zero-pad the channels.

  This is the original `LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], ...,
  planes // 4, planes // 4))`. For the standard doubling of channels the
  padding is `planes // 4` on each side; in general the extra channels are
  split as evenly as possible (extra one at the end).

  Args:
    x: input [B, H, W, C_in].
    out_channels: channels of the residual branch, >= C_in.
    stride: spatial stride of the residual branch.

  Returns:
    [B, ceil(H / stride), ceil(W / stride), out_channels].
  """
  in_channels = x.shape[-1]
  if out_channels < in_channels:
    raise ValueError(f'option-A shortcut cannot reduce channels '
                     f'({in_channels} -> {out_channels}).')
  x = x[:, ::stride, ::stride, :]  # [B, H', W', C_in]
  extra = out_channels - in_channels
  before = extra // 2
  return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (before, extra - before)))


class BasicBlock(nn.Module):
  """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus option-A shortcut, then ReLU.

  Attributes:
    planes: output channels.
    stride: stride of the first conv (and of the shortcut).
    bn_axis_name: optional mapped axis name for cross-device BN statistics.
  """
  planes: int
  stride: int = 1
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    conv = functools.partial(nn.Conv, features=self.planes,
                             kernel_size=(3, 3), padding=_PAD1,
                             use_bias=False, kernel_init=kaiming_normal)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON,
                             axis_name=self.bn_axis_name)
    y = conv(strides=(self.stride, self.stride))(x)  # [B, H', W', planes]
    y = nn.relu(norm()(y))
    y = conv(strides=(1, 1))(y)
    y = norm()(y)
    if self.stride != 1 or x.shape[-1] != self.planes:
      shortcut = option_a_shortcut(x, self.planes, self.stride)
    else:
      shortcut = x
    return nn.relu(y + shortcut)  # [B, H', W', planes]


def blocks_per_stage(depth: int) -> int:
  """Returns n for depth = 6n + 2, raising ValueError for invalid depths."""
  if depth < 8 or (depth - 2) % 6 != 0:
    raise ValueError(f'CIFAR ResNet depth must be 6n + 2 with n >= 1 '
                     f'(8, 14, 20, 32, 44, 56, 110, ...); got {depth}.')
  return (depth - 2) // 6


class CifarResNet(nn.Module):
  """CIFAR ResNet-(6n+2) with option-A shortcuts.

  Attributes:
    depth: 6n + 2 (20, 32, 44, 56, ...).
    num_classes: number of logits.
    cosine_head: use LDAM's normed (cosine) classifier, logits in [-1, 1],
      instead of a Dense layer with bias.
    widths: channels of the three stages (the stem uses widths[0]).
    bn_axis_name: optional mapped axis name (pmap / shard_map) over which BN
      batch statistics are averaged; None for per-device (or jit/GSPMD)
      statistics.
  """
  depth: int = 32
  num_classes: int = 10
  cosine_head: bool = False
  widths: Sequence[int] = (16, 32, 64)
  bn_axis_name: Optional[str] = None

  @nn.compact
  def __call__(
      self, x: jax.Array, *, train: bool, return_features: bool = False
  ) -> Union[jax.Array, Tuple[jax.Array, jax.Array]]:
    """Runs the network.

    Args:
      x: normalised images [B, H, W, C], any H, W, C.
      train: use (and update) BN batch statistics; otherwise use the running
        averages, so each example's output is independent of the batch.
      return_features: also return the pooled features.

    Returns:
      logits [B, num_classes], or (logits, features [B, widths[-1]]) when
      `return_features` is True.
    """
    n = blocks_per_stage(self.depth)
    if len(self.widths) != 3:
      raise ValueError(f'widths must have 3 entries (one per stage), got '
                       f'{tuple(self.widths)}.')
    x = nn.Conv(self.widths[0], (3, 3), padding=_PAD1, use_bias=False,
                kernel_init=kaiming_normal, name='stem_conv')(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                     epsilon=_BN_EPSILON, axis_name=self.bn_axis_name,
                     name='stem_bn')(x)
    x = nn.relu(x)  # [B, H, W, w0]
    for stage, (width, stride) in enumerate(zip(self.widths, (1, 2, 2))):
      for block in range(n):
        x = BasicBlock(planes=width, stride=stride if block == 0 else 1,
                       bn_axis_name=self.bn_axis_name,
                       name=f'stage{stage + 1}_block{block + 1}')(x,
                                                                  train=train)
    # [B, H/4, W/4, w2] -> global average pool.
    features = jnp.mean(x, axis=(1, 2))  # [B, w2]
    if self.cosine_head:
      logits = CosineClassifier(self.num_classes, name='head')(features)
    else:
      logits = nn.Dense(self.num_classes, kernel_init=kaiming_normal,
                        bias_init=torch_linear_bias_init(features.shape[-1]),
                        name='head')(features)
    if return_features:
      return logits, features
    return logits  # [B, num_classes]


def resnet(depth: int, num_classes: int,
           cosine_head: bool = False) -> CifarResNet:
  """Builds a CIFAR ResNet, validating `depth` eagerly.

  Args:
    depth: 6n + 2, e.g. 20 or 32.
    num_classes: number of logits.
    cosine_head: LDAM's normed classifier instead of Dense.

  Returns:
    An unbound `CifarResNet`.

  Raises:
    ValueError: if depth is not of the form 6n + 2 with n >= 1.
  """
  blocks_per_stage(depth)
  return CifarResNet(depth=depth, num_classes=num_classes,
                     cosine_head=cosine_head)
