"""The Conv-4 backbone of MAML (Finn et al., 2017).

Four blocks of [3x3 conv (with bias), BatchNorm, ReLU, downsample]:

* Omniglot: 64 filters, the downsample is a stride-2 conv with TF 'SAME'
  padding (28 -> 14 -> 7 -> 4 -> 2), then a mean over the spatial dims and a
  Dense layer. 28x28x1, 5-way: 112,261 trainable parameters.
* miniImageNet: 32 filters, stride-1 convs followed by 2x2 max-pooling
  ('VALID', 84 -> 42 -> 21 -> 10 -> 5), flattened, then Dense.

MAML normalises with the statistics of the current batch also at test time
(transductive BN); `use_batch_stats=True` reproduces that. Flax's BatchNorm
always writes its running averages when it computes batch statistics, which
would make every transductive evaluation require a mutable 'batch_stats'
collection, so this file has a small BN that only writes them when training.

Initialisation follows the MAML TF code: Glorot-uniform convolution
kernels, zero biases; the Dense head is Glorot-uniform or, with
`head_init='normal'`, N(0, 1) as cbfinn/maml's Omniglot head. `bn_scale=False`
drops BN's scale (cbfinn/maml: `tf.contrib.layers.batch_norm` defaults, offset
only; 4 x filters fewer parameters).
"""

from typing import Optional, Tuple, Union

import flax.linen as nn
import jax
import jax.numpy as jnp


class TransductiveBatchNorm(nn.Module):
  """BatchNorm over all but the last axis, with separate use/update switches.

  Variables have flax's names: params 'scale', 'bias'; batch_stats 'mean',
  'var' (biased variance, as in flax).

  Attributes:
    momentum: running-average decay (flax convention; PyTorch's 0.1 == 0.9).
    epsilon: added to the variance.
    axis_name: optional mapped axis over which batch statistics are averaged.
    use_scale: learn a scale (False: offset only, as
      `tf.contrib.layers.batch_norm`'s default that cbfinn/maml uses).
  """
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: Optional[str] = None
  use_scale: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, *, use_batch_stats: bool,
               update_stats: bool) -> jax.Array:
    """Normalises x [..., C].

    Args:
      x: activations [..., C].
      use_batch_stats: normalise with this batch's statistics (else running).
      update_stats: fold the batch statistics into the running averages;
        requires a mutable 'batch_stats' collection. Ignored when
        `use_batch_stats` is False.

    Returns:
      The normalised, scaled and shifted activations, shape of x.
    """
    features = x.shape[-1]
    scale = (self.param('scale', nn.initializers.ones, (features,))
             if self.use_scale else 1.0)
    bias = self.param('bias', nn.initializers.zeros, (features,))
    ra_mean = self.variable('batch_stats', 'mean', jnp.zeros, (features,),
                            jnp.float32)
    ra_var = self.variable('batch_stats', 'var', jnp.ones, (features,),
                           jnp.float32)
    if use_batch_stats:
      axes = tuple(range(x.ndim - 1))
      sync = self.axis_name is not None and not self.is_initializing()
      mean = jnp.mean(x, axis=axes)  # [C]
      if sync:
        mean = jax.lax.pmean(mean, self.axis_name)
      # Two-pass variance: no cancellation for large-mean activations.
      var = jnp.mean(jnp.square(x - mean), axis=axes)  # [C]
      if sync:
        var = jax.lax.pmean(var, self.axis_name)
      if update_stats and not self.is_initializing():
        ra_mean.value = (self.momentum * ra_mean.value
                         + (1.0 - self.momentum) * mean)
        ra_var.value = (self.momentum * ra_var.value
                        + (1.0 - self.momentum) * var)
    else:
      mean, var = ra_mean.value, ra_var.value
    y = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
    return y * scale + bias


def im2col_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """A 3x3 TF-'SAME' convolution as patches @ kernel.

  Args:
    x: [B, H, W, Cin].
    kernel: [3, 3, Cin, Cout].
    stride: 1 or 2.

  Returns:
    [B, ceil(H / stride), ceil(W / stride), Cout], equal to
    `lax.conv_general_dilated(x, kernel, (stride, stride), 'SAME')`.
  """
  _, h, w, _ = x.shape
  kh, kw = kernel.shape[:2]
  oh, ow = -(-h // stride), -(-w // stride)
  pad_h = max((oh - 1) * stride + kh - h, 0)
  pad_w = max((ow - 1) * stride + kw - w, 0)
  x = jnp.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                  (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
  cols = [x[:, i:i + (oh - 1) * stride + 1:stride,
            j:j + (ow - 1) * stride + 1:stride, :]
          for i in range(kh) for j in range(kw)]
  patches = jnp.concatenate(cols, axis=-1)  # [B, oh, ow, kh * kw * Cin]
  return patches @ kernel.reshape(-1, kernel.shape[-1])


class Im2colConv(nn.Module):
  """nn.Conv(features, (3, 3), strides, 'SAME', use_bias=True) with the same
  variables ('kernel' [3, 3, Cin, Cout], 'bias'), computed by `im2col_conv`.

  Under `vmap` with per-example weights (MAML's tasks, each with its own
  adapted kernel) XLA turns a convolution into a grouped convolution, which
  its CPU backend runs about 30x slower than one convolution of the same
  size; patches @ kernel becomes a batched matmul instead (within 1.3x).
  """
  features: int
  strides: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', nn.initializers.glorot_uniform(),
                        (3, 3, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return im2col_conv(x, kernel, self.strides) + bias


class Conv4(nn.Module):
  """MAML's four-block convolutional network.

  Attributes:
    num_classes: number of logits (N ways).
    filters: channels of every conv (64 Omniglot, 32 miniImageNet).
    downsample: 'stride' (stride-2 convs) or 'maxpool' (2x2 max-pool).
    flatten: flatten the final feature map; False averages it spatially.
    use_batch_stats: normalise with batch statistics at evaluation too
      (MAML's transductive setting). The running averages are only updated
      when `train=True`.
    bn_momentum: BN running-average decay, flax convention.
    bn_epsilon: BN epsilon.
    bn_axis_name: optional mapped axis name for cross-device BN statistics.
    im2col: convolutions as patches @ kernel (`Im2colConv`: same variables
      and outputs; fast when vmapped over per-task weights, as in MAML).
    bn_scale: BN learns a scale (False: offset only, cbfinn/maml).
    head_init: 'glorot' (Glorot-uniform head kernel) or 'normal' (N(0, 1),
      cbfinn/maml's Omniglot head).
  """
  num_classes: int
  filters: int = 64
  downsample: str = 'stride'
  flatten: bool = False
  use_batch_stats: bool = True
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  bn_axis_name: Optional[str] = None
  im2col: bool = False
  bn_scale: bool = True
  head_init: str = 'glorot'

  @nn.compact
  def __call__(
      self, x: jax.Array, *, train: bool, return_features: bool = False
  ) -> Union[jax.Array, Tuple[jax.Array, jax.Array]]:
    """Runs the network.

    Args:
      x: normalised images [B, H, W, C].
      train: training mode; uses batch statistics and updates the running
        averages (needs mutable 'batch_stats').
      return_features: also return the features fed to the classifier.

    Returns:
      logits [B, num_classes], or (logits, features [B, D]) when
      `return_features` is True.
    """
    if self.downsample not in ('stride', 'maxpool'):
      raise ValueError(f"downsample must be 'stride' or 'maxpool', got "
                       f'{self.downsample!r}.')
    strided = self.downsample == 'stride'
    use_batch_stats = train or self.use_batch_stats
    for i in range(4):
      if self.im2col:
        x = Im2colConv(self.filters, strides=2 if strided else 1,
                       name=f'conv{i + 1}')(x)
      else:
        x = nn.Conv(self.filters, (3, 3),
                    strides=(2, 2) if strided else (1, 1),
                    padding='SAME',  # TF 'SAME', as the MAML code.
                    use_bias=True,
                    kernel_init=nn.initializers.glorot_uniform(),
                    name=f'conv{i + 1}')(x)
      x = TransductiveBatchNorm(momentum=self.bn_momentum,
                                epsilon=self.bn_epsilon,
                                axis_name=self.bn_axis_name,
                                use_scale=self.bn_scale,
                                name=f'bn{i + 1}')(
                                    x, use_batch_stats=use_batch_stats,
                                    update_stats=train)
      x = nn.relu(x)
      if not strided:
        x = nn.max_pool(x, (2, 2), strides=(2, 2), padding='VALID')
    # x: [B, h, w, filters]
    if self.flatten:
      features = x.reshape((x.shape[0], -1))  # [B, h * w * filters]
    else:
      features = jnp.mean(x, axis=(1, 2))  # [B, filters]
    if self.head_init not in ('glorot', 'normal'):
      raise ValueError(f"head_init must be 'glorot' or 'normal', got "
                       f'{self.head_init!r}.')
    head_init = (nn.initializers.normal(1.0) if self.head_init == 'normal'
                 else nn.initializers.glorot_uniform())
    logits = nn.Dense(self.num_classes, kernel_init=head_init,
                      name='head')(features)  # [B, num_classes]
    if return_features:
      return logits, features
    return logits


def conv4_omniglot(num_classes: int) -> Conv4:
  """Omniglot Conv-4: 64 filters, strided convs, spatial mean."""
  return Conv4(num_classes=num_classes, filters=64, downsample='stride',
               flatten=False)


def conv4_miniimagenet(num_classes: int) -> Conv4:
  """miniImageNet Conv-4: 32 filters, max-pooling, flattened features."""
  return Conv4(num_classes=num_classes, filters=32, downsample='maxpool',
               flatten=True)
