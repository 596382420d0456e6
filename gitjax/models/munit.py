"""MUNIT (Huang et al., ECCV 2018) generator and discriminator, as used by GIT.

GIT (Zhou et al., ICLR 2022) trains MUNIT's `AdaINGen` on a long-tailed data
set so that its style code captures the nuisance transformation, then
re-styles images of the small classes. This module reproduces the PyTorch
networks layer by layer (NHWC instead of NCHW):

* `ContentEncoder`: 7x7 conv -> `n_downsample` 4x4 stride-2 convs (doubling
  the width) -> `n_res` residual blocks, each conv followed by instance norm
  without affine parameters and ReLU.
* `StyleEncoder`: 7x7 conv -> two width-doubling 4x4 stride-2 convs -> more
  4x4 stride-2 convs at constant width (`n_downsample` in all), ReLU, no norm
  -> global average pool -> linear (== 1x1 conv with bias) to `style_dim`.
* `MLP`: style code -> AdaIN parameters of every decoder residual block.
* `Decoder`: AdaIN residual blocks -> (nearest x2, 5x5 conv, MUNIT layer
  norm, ReLU) per upsampling step -> 7x7 conv -> tanh.
* `Discriminator`: MUNIT's `MsImageDis` with `norm: none`, LeakyReLU 0.2,
  reflect padding; GIT uses a single scale.

Parameter counts equal the PyTorch originals with the GIT/MUNIT defaults:
generator 15,007,369 (1 image channel) / 15,026,187 (3 channels);
one-scale discriminator 2,755,009 / 2,757,057.

Initialisation follows MUNIT's `weights_init` as the GIT trainer applies it
(`init: kaiming` in all GIT MUNIT configs): generator conv/linear weights
~ N(0, 2 / fan_in) (untruncated), discriminator weights ~ N(0, 0.02^2) (the
trainer re-initialises `dis_a`/`dis_b` with 'gaussian' after the kaiming
pass), all biases 0, layer-norm gamma ~ U[0, 1) and beta 0. See
`munit_layers` for details.
"""

from typing import List, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gitjax.models import munit_warp
from gitjax.models.munit_layers import (Initializer, MunitLayerNorm,
                                        ReflectConv, ResBlock, downsample_avg,
                                        gaussian_002, instance_norm,
                                        kaiming_normal, upsample_nearest)


def num_adain_params(channels: int, n_res: int) -> int:
  """Number of MLP outputs the decoder consumes.

  Each of the `n_res` residual blocks has two AdaIN layers, and each AdaIN
  layer needs a bias and a weight per channel.

  Args:
    channels: width of the content code (and of the residual blocks).
    n_res: number of AdaIN residual blocks.

  Returns:
    n_res * 2 * 2 * channels (4096 for MUNIT's defaults).
  """
  return n_res * 2 * 2 * channels


def split_adain_params(
    params: jax.Array, channels: int,
    n_res: int) -> List[Tuple[Tuple[jax.Array, jax.Array], ...]]:
  """Slices the flat MLP output into per-layer (weight, bias) pairs.

  Keeps the original order: layers are consumed front to back (block 0
  conv 0, block 0 conv 1, block 1 conv 0, ...), and within one layer's
  2 * channels values the first half is the mean (= AdaIN bias) and the
  second half the std (= AdaIN weight).

  Args:
    params: MLP output [B, num_adain_params(channels, n_res)].
    channels: width of the residual blocks.
    n_res: number of residual blocks.

  Returns:
    A list of n_res tuples, each ((weight, bias), (weight, bias)) for the
    block's two AdaIN layers, every array [B, channels].
  """
  expected = num_adain_params(channels, n_res)
  if params.shape[-1] != expected:
    raise ValueError(f'expected {expected} AdaIN parameters, '
                     f'got {params.shape[-1]}.')
  blocks = []
  offset = 0
  for _ in range(n_res):
    layers = []
    for _ in range(2):
      bias = params[:, offset:offset + channels]  # [B, C]
      weight = params[:, offset + channels:offset + 2 * channels]  # [B, C]
      offset += 2 * channels
      layers.append((weight, bias))
    blocks.append(tuple(layers))
  return blocks


class ContentEncoder(nn.Module):
  """MUNIT content encoder; maps [B, H, W, C] to [B, H/4, W/4, 4 dim].

  Attributes:
    dim: width of the first conv; doubles at every downsampling conv.
    n_downsample: number of 4x4 stride-2 convs.
    n_res: number of residual blocks at the final width.
    kernel_init: conv weight initialiser.
  """
  dim: int = 64
  n_downsample: int = 2
  n_res: int = 4
  kernel_init: Initializer = kaiming_normal

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Encodes images [B, H, W, C] into content codes."""
    conv_in = ReflectConv(self.dim, 7, padding=3,
                          kernel_init=self.kernel_init, name='conv_in')
    x = nn.relu(instance_norm(conv_in(x)))  # [B, H, W, dim]
    width = self.dim
    for i in range(self.n_downsample):
      width *= 2
      x = ReflectConv(width, 4, stride=2, padding=1,
                      kernel_init=self.kernel_init, name=f'down_{i}')(x)
      x = nn.relu(instance_norm(x))
    for i in range(self.n_res):
      x = ResBlock(kernel_init=self.kernel_init, name=f'res_{i}')(x)
    return x  # [B, H / 2^n, W / 2^n, dim 2^n]


class StyleEncoder(nn.Module):
  """MUNIT style encoder; maps [B, H, W, C] to [B, style_dim].

  Attributes:
    dim: width of the first conv.
    n_downsample: number of 4x4 stride-2 convs; the first two double the
      width, the rest keep it (MUNIT uses 4: 64 -> 128 -> 256 -> 256 -> 256).
    style_dim: length of the style code.
    kernel_init: conv / linear weight initialiser.
  """
  dim: int = 64
  n_downsample: int = 4
  style_dim: int = 8
  kernel_init: Initializer = kaiming_normal

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Encodes images [B, H, W, C] into style codes [B, style_dim]."""
    x = nn.relu(ReflectConv(self.dim, 7, padding=3,
                            kernel_init=self.kernel_init, name='conv_in')(x))
    width = self.dim
    for i in range(self.n_downsample):
      if i < 2:
        width *= 2
      x = ReflectConv(width, 4, stride=2, padding=1,
                      kernel_init=self.kernel_init, name=f'down_{i}')(x)
      x = nn.relu(x)
    x = jnp.mean(x, axis=(1, 2))  # [B, width], AdaptiveAvgPool2d(1)
    # The original's 1x1 conv with bias on a 1x1 map is exactly a dense
    # layer, with the same fan_in for the kaiming init.
    return nn.Dense(self.style_dim, kernel_init=self.kernel_init,
                    bias_init=nn.initializers.zeros, name='to_style')(x)


class MLP(nn.Module):
  """Style code -> AdaIN parameters: dense layers with ReLU in between.

  Attributes:
    features: width of the hidden layers.
    out_features: number of outputs (all AdaIN parameters of the decoder).
    n_layers: number of dense layers (>= 2); no activation after the last.
    kernel_init: weight initialiser.
  """
  features: int = 256
  out_features: int = 4096
  n_layers: int = 3
  kernel_init: Initializer = kaiming_normal

  @nn.compact
  def __call__(self, s: jax.Array) -> jax.Array:
    """Maps style codes [B, style_dim] to [B, out_features]."""
    if self.n_layers < 2:
      raise ValueError(f'MUNIT MLP needs n_layers >= 2, got {self.n_layers}.')
    dense = lambda n, name: nn.Dense(n, kernel_init=self.kernel_init,
                                     bias_init=nn.initializers.zeros,
                                     name=name)
    h = s.reshape(s.shape[0], -1)  # [B, style_dim], like x.view(B, -1)
    for i in range(self.n_layers - 1):
      h = nn.relu(dense(self.features, f'dense_{i}')(h))
    return dense(self.out_features, f'dense_{self.n_layers - 1}')(h)


class Decoder(nn.Module):
  """MUNIT decoder; content [B, h, w, C_c] + AdaIN params -> image.

  Attributes:
    out_channels: image channels.
    n_upsample: number of (nearest x2, 5x5 conv, layer norm, ReLU) steps;
      each halves the width.
    n_res: number of AdaIN residual blocks.
    kernel_init: conv weight initialiser.
  """
  out_channels: int
  n_upsample: int = 2
  n_res: int = 4
  kernel_init: Initializer = kaiming_normal

  @nn.compact
  def __call__(self, content: jax.Array, adain_params: jax.Array) -> jax.Array:
    """Decodes content codes.

    Args:
      content: [B, h, w, C_c].
      adain_params: [B, num_adain_params(C_c, n_res)], as produced by `MLP`.

    Returns:
      Images [B, h 2^n_upsample, w 2^n_upsample, out_channels] in [-1, 1].
    """
    width = content.shape[-1]
    blocks = split_adain_params(adain_params, width, self.n_res)
    x = content
    for i, block_params in enumerate(blocks):
      x = ResBlock(kernel_init=self.kernel_init, name=f'res_{i}')(
          x, block_params)
    for i in range(self.n_upsample):
      width //= 2
      x = upsample_nearest(x)  # [B, 2h, 2w, C]
      x = ReflectConv(width, 5, padding=2, kernel_init=self.kernel_init,
                      name=f'up_{i}')(x)
      x = nn.relu(MunitLayerNorm(name=f'up_norm_{i}')(x))
    x = ReflectConv(self.out_channels, 7, padding=3,
                    kernel_init=self.kernel_init, name='conv_out')(x)
    return jnp.tanh(x)


class Generator(nn.Module):
  """MUNIT's `AdaINGen`: content + style encoders, MLP and AdaIN decoder.

  Use `encode` / `decode` through `apply(..., method=Generator.encode)`;
  `__call__` is the within-domain reconstruction and also initialises all
  parameters.

  Attributes:
    image_channels: channels of the images (and of the decoder output).
    dim: width of the first conv of both encoders.
    style_dim: length of the style code.
    n_downsample: downsampling convs of the content encoder (= upsampling
      steps of the decoder).
    n_res: residual blocks of the content encoder and of the decoder.
    n_style_downsample: stride-2 convs of the style encoder.
    mlp_dim: hidden width of the MLP.
    n_mlp: dense layers of the MLP.
    kernel_init: conv / dense weight initialiser (MUNIT 'kaiming').
    warp: 'none' (MUNIT), or 'rotation' / 'affine': the leading style
      entries are also a pose that warps the decoder's output, and the
      content encoder sees the image warped back from its own pose (see
      `munit_warp`; no extra parameters).
    pose_in_adain: with a warp, whether the pose entries also feed the
      AdaIN MLP (True: the whole style does, as in MUNIT); False zeroes them
      at the MLP's input, so the pose acts only through the warp and cannot
      carry appearance or shape (same parameters either way).
  """
  image_channels: int
  dim: int = 64
  style_dim: int = 8
  n_downsample: int = 2
  n_res: int = 4
  n_style_downsample: int = 4
  mlp_dim: int = 256
  n_mlp: int = 3
  kernel_init: Initializer = kaiming_normal
  warp: str = 'none'
  pose_in_adain: bool = True

  @property
  def content_dim(self) -> int:
    """Channels of the content code."""
    return self.dim * 2**self.n_downsample

  def setup(self):
    if munit_warp.pose_dims(self.warp) >= self.style_dim:
      raise ValueError(
          f'warp {self.warp!r} reads {munit_warp.pose_dims(self.warp)} style '
          f'entries as its pose; style_dim={self.style_dim} is too short')
    self.style_encoder = StyleEncoder(
        dim=self.dim, n_downsample=self.n_style_downsample,
        style_dim=self.style_dim, kernel_init=self.kernel_init)
    self.content_encoder = ContentEncoder(
        dim=self.dim, n_downsample=self.n_downsample, n_res=self.n_res,
        kernel_init=self.kernel_init)
    self.decoder = Decoder(
        out_channels=self.image_channels, n_upsample=self.n_downsample,
        n_res=self.n_res, kernel_init=self.kernel_init)
    self.mlp = MLP(
        features=self.mlp_dim,
        out_features=num_adain_params(self.content_dim, self.n_res),
        n_layers=self.n_mlp, kernel_init=self.kernel_init)

  def encode(self, x: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """Encodes images into (content, style) codes.

    Args:
      x: images [B, H, W, image_channels], in [-1, 1] like MUNIT's data.

    Returns:
      content [B, H / 2^n_downsample, W / 2^n_downsample, content_dim] and
      style [B, style_dim].
    """
    # Same call order as the original (style first); irrelevant to the maths.
    style = self.style_encoder(x)
    if self.warp != 'none':
      x = munit_warp.to_canonical(x, style, self.warp)
    content = self.content_encoder(x)
    return content, style

  def decode(self, content: jax.Array, style: jax.Array) -> jax.Array:
    """Decodes a content code under a style code.

    Args:
      content: [B, h, w, content_dim].
      style: [B, style_dim] (e.g. N(0, I) samples for random re-styling).

    Returns:
      Images [B, h 2^n_downsample, w 2^n_downsample, image_channels] in
      [-1, 1].
    """
    appearance = style
    if self.warp != 'none' and not self.pose_in_adain:
      appearance = style.at[:, :munit_warp.pose_dims(self.warp)].set(0.0)
    image = self.decoder(content, self.mlp(appearance))
    if self.warp != 'none':
      image = munit_warp.to_pose(image, style, self.warp)
    return image

  def __call__(self, x: jax.Array) -> jax.Array:
    """Reconstructs images from their own content and style codes."""
    content, style = self.encode(x)
    return self.decode(content, style)


class PatchDiscriminator(nn.Module):
  """One scale of MUNIT's discriminator: strided convs -> 1-channel map.

  Attributes:
    dim: width of the first conv; doubles at every later conv.
    n_layers: number of 4x4 stride-2 convs (each with LeakyReLU 0.2).
    kernel_init: conv weight initialiser.
  """
  dim: int = 64
  n_layers: int = 4
  kernel_init: Initializer = gaussian_002

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps images [B, H, W, C] to real/fake scores [B, H/16, W/16, 1]."""
    width = self.dim
    for i in range(self.n_layers):
      # `norm: none` in every MUNIT/GIT config, so no norm on any layer.
      x = ReflectConv(width, 4, stride=2, padding=1,
                      kernel_init=self.kernel_init, name=f'conv_{i}')(x)
      x = nn.leaky_relu(x, negative_slope=0.2)
      width *= 2
    return nn.Conv(1, (1, 1), padding='VALID', kernel_init=self.kernel_init,
                   bias_init=nn.initializers.zeros, name='conv_out')(x)


class Discriminator(nn.Module):
  """MUNIT's multi-scale discriminator `MsImageDis` (LSGAN outputs).

  Scale k sees the input average-pooled k times (3x3, stride 2, padding 1,
  padding excluded from the average).

  Attributes:
    dim: width of the first conv of every scale.
    n_layers: stride-2 convs per scale.
    n_scales: number of scales (1 for GIT, 3 in MUNIT).
    kernel_init: conv weight initialiser (MUNIT 'gaussian', std 0.02).
  """
  dim: int = 64
  n_layers: int = 4
  n_scales: int = 1
  kernel_init: Initializer = gaussian_002

  @nn.compact
  def __call__(self, x: jax.Array) -> List[jax.Array]:
    """Scores images [B, H, W, C]; returns one [B, h_k, w_k, 1] per scale."""
    outputs = []
    for k in range(self.n_scales):
      outputs.append(PatchDiscriminator(
          dim=self.dim, n_layers=self.n_layers, kernel_init=self.kernel_init,
          name=f'scale_{k}')(x))
      if k + 1 < self.n_scales:
        # The original also pools after the last scale and discards it.
        x = downsample_avg(x)  # [B, ceil(H/2), ceil(W/2), C]
    return outputs
