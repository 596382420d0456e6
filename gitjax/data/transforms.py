"""Random nuisance transformations T(.|x) of images, offline and in JAX.

Two forms share one pixel kernel (`apply_params`), so they have the same
distribution by construction and differ only in the random source:

* `transform_offline`: parameters from a `numpy.random.Generator`, used once to
  build a stored training set (one fresh draw per stored copy);
* `transform_jax` / `transform_batch`: parameters from a `jax.random` key, under
  jit and vmap (invariance measurement, the "oracle" baseline).

The paper's transforms (K49, 28x28 grayscale): `rot` (PIL bicubic rotation by
U(-180, 180) degrees), `bg` (zero pixels become UniformInt{0..99}) and `dil`
(identity, erode 2x2, dilate 2x2/3x3/4x4, equally likely, OpenCV anchors).
Extras for colour images: `brightness_contrast`, `scale` and `translate`.

Pixels are float32 on the 0..255 scale. Every transform ends with
clip(round(x), 0, 255), so each step sees an image a uint8 array could hold, as
when the original code chained PIL / OpenCV calls on uint8 arrays (this matters
for e.g. 'rot+bg': a faint interpolation residue that rounds to 0 is
background).
"""

import dataclasses
import functools
import math
import numbers
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

from gitjax import errors

TRANSFORM_NAMES = ('rot', 'bg', 'dil', 'brightness_contrast', 'scale',
                   'translate')

# Pillow's Image.rotate / Image.transform use the BICUBIC macro of
# libImaging/Geometry.c, which is the Keys cubic with a = -1 (its polynomial
# v2 + d(v3 - v1) + d^2(2v1 - 2v2 + v3 - v4) + d^3(v2 - v1 + v4 - v3)). The
# a = -0.5 kernel is what Pillow's *resize* uses, not rotate; the paper's data
# went through rotate, so we follow it.
PIL_ROTATE_CUBIC_A = -1.0

# Order of the 'dil' outcomes: (op, kernel size); op None is the identity.
DIL_OUTCOMES = ((None, 1), ('erode', 2), ('dilate', 2), ('dilate', 3),
                ('dilate', 4))


def _fail(message: str) -> NoReturn:
  raise errors.ConfigError(message)


@dataclasses.dataclass(frozen=True)
class TransformSpec:
  """A composition of random transforms; hashable, so usable as a static arg.

  Attributes:
    names: transform names from TRANSFORM_NAMES, applied in order; () is the
      identity.
    rot_degrees: rotation angle ~ U(-rot_degrees, rot_degrees) degrees.
    bg_max: background value ~ UniformInt{0..bg_max} (inclusive).
    brightness: additive shift ~ U(-brightness, brightness) * 255.
    contrast_min: lower bound of the contrast factor.
    contrast_max: upper bound of the contrast factor.
    scale_min: lower bound of the zoom factor.
    scale_max: upper bound of the zoom factor.
    translate: shift in pixels, each axis ~ U(-translate, translate).
  """
  names: tuple[str, ...] = ()
  rot_degrees: float = 180.0
  bg_max: int = 99
  brightness: float = 0.25
  contrast_min: float = 0.5
  contrast_max: float = 1.5
  scale_min: float = 0.7
  scale_max: float = 1.3
  translate: float = 4.0

  def __post_init__(self):
    # A list would make the spec unhashable (and unusable as a static arg).
    names = self.names
    if isinstance(names, str):
      _fail(f'TransformSpec.names must be a tuple of names, got the string '
            f'{names!r}; use parse_transform({names!r}) for "a+b" strings')
    object.__setattr__(self, 'names', tuple(names))
    for name in self.names:
      if name not in TRANSFORM_NAMES:
        _fail(f'unknown transform {name!r}; allowed: '
              f'{", ".join(TRANSFORM_NAMES)}')
    if len(set(self.names)) != len(self.names):
      _fail(f'transform names must not repeat, got {"+".join(self.names)}')
    floats = ('rot_degrees', 'brightness', 'contrast_min', 'contrast_max',
              'scale_min', 'scale_max', 'translate')
    for field in floats:
      value = getattr(self, field)
      if not isinstance(value, numbers.Real) or not math.isfinite(value):
        _fail(f'{field} must be a finite number, got {value!r}')
      # Plain Python numbers keep dataclasses.asdict(spec) JSON-serializable.
      object.__setattr__(self, field, float(value))
    if (isinstance(self.bg_max, bool) or
        not isinstance(self.bg_max, (int, np.integer)) or
        not 0 <= self.bg_max <= 255):
      _fail(f'bg_max must be an integer in 0..255, got {self.bg_max!r}')
    object.__setattr__(self, 'bg_max', int(self.bg_max))
    if self.rot_degrees < 0:
      _fail(f'rot_degrees must be >= 0, got {self.rot_degrees}')
    if self.brightness < 0:
      _fail(f'brightness must be >= 0, got {self.brightness}')
    if not 0 <= self.contrast_min <= self.contrast_max:
      _fail(f'need 0 <= contrast_min <= contrast_max, got '
            f'{self.contrast_min}, {self.contrast_max}')
    if not 0 < self.scale_min <= self.scale_max:
      _fail(f'need 0 < scale_min <= scale_max, got '
            f'{self.scale_min}, {self.scale_max}')
    if self.translate < 0:
      _fail(f'translate must be >= 0, got {self.translate}')


def parse_transform(name: str, **fields) -> TransformSpec:
  """Parses 'none', '', 'rot' or 'rot+bg' into a TransformSpec.

  Args:
    name: transform names joined by '+', or 'none' / '' for the identity.
    **fields: overrides of TransformSpec's defaults (e.g. rot_degrees=90).

  Returns:
    The validated spec.

  Raises:
    errors.ConfigError (a ValueError): unknown name or field, bad value.
  """
  text = name.strip().lower()
  names = () if text in ('', 'none') else tuple(
      part.strip() for part in text.split('+'))
  allowed = [f.name for f in dataclasses.fields(TransformSpec)][1:]
  for field in fields:
    if field not in allowed:
      _fail(f'unknown transform option {field!r}; allowed: '
            f'{", ".join(allowed)}')
  return TransformSpec(names=names, **fields)


# ----------------------------------------------------------------------------
# Parameter sampling: the same distribution from a jax key or a numpy Generator.


def transform_spec(data) -> TransformSpec:
  """The TransformSpec a config's `data` section describes."""
  return parse_transform(
      data.transform, rot_degrees=data.rot_degrees, bg_max=data.bg_max,
      brightness=data.brightness, contrast_min=data.contrast_min,
      contrast_max=data.contrast_max, scale_min=data.scale_min,
      scale_max=data.scale_max, translate=data.translate)


def sample_params(key: jax.Array, spec: TransformSpec) -> dict[str, jax.Array]:
  """Samples the parameters of ONE image (vmap over keys for a batch)."""
  params = {}
  # One subkey per position in the spec, so adding a transform to the spec
  # does not change the draws of the others.
  keys = jax.random.split(key, max(len(spec.names), 1))
  for name, k in zip(spec.names, keys):
    if name == 'rot':
      params['rot_angle'] = jax.random.uniform(
          k, (), jnp.float32, -spec.rot_degrees, spec.rot_degrees)
    elif name == 'bg':
      params['bg_value'] = jax.random.randint(k, (), 0, spec.bg_max + 1,
                                              jnp.int32)
    elif name == 'dil':
      params['dil_outcome'] = jax.random.randint(k, (), 0, len(DIL_OUTCOMES),
                                                 jnp.int32)
    elif name == 'brightness_contrast':
      kc, kb = jax.random.split(k)
      params['contrast'] = jax.random.uniform(
          kc, (), jnp.float32, spec.contrast_min, spec.contrast_max)
      params['brightness'] = 255.0 * jax.random.uniform(
          kb, (), jnp.float32, -spec.brightness, spec.brightness)
    elif name == 'scale':
      params['scale'] = jax.random.uniform(k, (), jnp.float32, spec.scale_min,
                                           spec.scale_max)
    elif name == 'translate':
      params['translate'] = jax.random.uniform(k, (2,), jnp.float32,
                                               -spec.translate, spec.translate)
  return params


def sample_params_np(rng: np.random.Generator, spec: TransformSpec,
                     n: int) -> dict[str, np.ndarray]:
  """Samples parameters for n images with numpy; leading axis n."""
  params = {}
  for name in spec.names:
    if name == 'rot':
      params['rot_angle'] = rng.uniform(-spec.rot_degrees, spec.rot_degrees,
                                        n).astype(np.float32)
    elif name == 'bg':
      # integers() excludes the high end, hence + 1: bg_max is inclusive.
      params['bg_value'] = rng.integers(0, spec.bg_max + 1, n, dtype=np.int32)
    elif name == 'dil':
      params['dil_outcome'] = rng.integers(0, len(DIL_OUTCOMES), n,
                                           dtype=np.int32)
    elif name == 'brightness_contrast':
      params['contrast'] = rng.uniform(spec.contrast_min, spec.contrast_max,
                                       n).astype(np.float32)
      params['brightness'] = (255.0 * rng.uniform(
          -spec.brightness, spec.brightness, n)).astype(np.float32)
    elif name == 'scale':
      params['scale'] = rng.uniform(spec.scale_min, spec.scale_max,
                                    n).astype(np.float32)
    elif name == 'translate':
      params['translate'] = rng.uniform(-spec.translate, spec.translate,
                                        (n, 2)).astype(np.float32)
  return params


# ----------------------------------------------------------------------------
# Pixel kernels. All take and return ONE float32 image [H, W, C].


def _keys_cubic(x: jax.Array, a: float) -> jax.Array:
  """Keys' cubic convolution kernel with parameter a."""
  x = jnp.abs(x)
  near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
  far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
  return jnp.where(x <= 1.0, near, jnp.where(x < 2.0, far, 0.0))


def _sample(image: jax.Array, u: jax.Array, v: jax.Array, method: str,
            cubic_a: float = PIL_ROTATE_CUBIC_A) -> jax.Array:
  """Interpolates image at pixel-centre coordinates (u = column, v = row).

  As Pillow's Geometry.c filters: a point outside the image's area ([-0.5,
  W - 0.5) x [-0.5, H - 0.5) here) reads 0; a point inside reads taps clamped
  to the border, so border pixels are not darkened by phantom zero taps.

  Args:
    image: [H, W, C] float32.
    u: [...] column coordinates.
    v: [...] row coordinates (same shape as u).
    method: 'bilinear' (2x2 taps) or 'bicubic' (4x4 taps).
    cubic_a: Keys parameter for 'bicubic'.

  Returns:
    [..., C] float32.
  """
  h, w, c = image.shape
  if method == 'bilinear':
    offsets = jnp.arange(0, 2)

    def weights(t):  # t: [...] -> [..., 2]
      return jnp.stack([1.0 - t, t], axis=-1)
  elif method == 'bicubic':
    offsets = jnp.arange(-1, 3)

    def weights(t):  # taps at distances 1 + t, t, 1 - t, 2 - t
      return _keys_cubic(t[..., None] - offsets.astype(t.dtype), cubic_a)
  else:
    raise ValueError(f'method must be bilinear or bicubic, got {method!r}')
  u0, v0 = jnp.floor(u), jnp.floor(v)
  wx, wy = weights(u - u0), weights(v - v0)  # [..., T]
  cols = jnp.clip(u0.astype(jnp.int32)[..., None] + offsets, 0, w - 1)
  rows = jnp.clip(v0.astype(jnp.int32)[..., None] + offsets, 0, h - 1)
  flat = image.reshape(h * w, c)  # [H*W, C]
  taps = flat[rows[..., :, None] * w + cols[..., None, :]]  # [..., T, T, C]
  out = jnp.einsum('...i,...j,...ijc->...c', wy, wx, taps)
  inside = (u >= -0.5) & (u < w - 0.5) & (v >= -0.5) & (v < h - 0.5)
  return jnp.where(inside[..., None], out, 0.0)


def affine_resample(image: jax.Array, matrix: jax.Array,
                    method: str = 'bilinear',
                    cubic_a: float = PIL_ROTATE_CUBIC_A) -> jax.Array:
  """Resamples an image through an inverse affine map; fill 0.

  Args:
    image: [H, W, C] float32.
    matrix: [2, 3]; maps an OUTPUT pixel-centre coordinate (x, y, 1) (x =
      column, y = row, pixel (0, 0) at (0, 0)) to the INPUT coordinate read.
    method: 'bilinear' or 'bicubic'.
    cubic_a: Keys parameter for 'bicubic'.

  Returns:
    [H, W, C] float32 (not rounded).
  """
  h, w, _ = image.shape
  ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                        jnp.arange(w, dtype=jnp.float32), indexing='ij')
  grid = jnp.stack([xs, ys, jnp.ones_like(xs)], axis=-1)  # [H, W, 3]
  src = grid @ matrix.astype(jnp.float32).T  # [H, W, 2]
  return _sample(image, src[..., 0], src[..., 1], method, cubic_a)


def _about_centre(linear: jax.Array, h: int, w: int,
                  shift: jax.Array | None = None) -> jax.Array:
  """[2, 3] matrix for input = linear @ (out - centre) + centre - shift."""
  centre = jnp.array([(w - 1) / 2.0, (h - 1) / 2.0], jnp.float32)
  offset = centre - linear @ centre
  if shift is not None:
    offset = offset - linear @ shift
  return jnp.concatenate([linear, offset[:, None]], axis=1)


def _rotate(image: jax.Array, angle_deg: jax.Array) -> jax.Array:
  # PIL: a positive angle turns the content counter-clockwise on screen; with
  # rows growing downwards the inverse map is input = R(+theta) (out - c) + c.
  theta = jnp.deg2rad(angle_deg.astype(jnp.float32))
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  linear = jnp.stack([jnp.stack([cos, -sin]), jnp.stack([sin, cos])])
  h, w, _ = image.shape
  return affine_resample(image, _about_centre(linear, h, w), 'bicubic')


def _scale(image: jax.Array, s: jax.Array) -> jax.Array:
  # Zoom by s about the centre: s > 1 enlarges, so the inverse map shrinks.
  h, w, _ = image.shape
  linear = jnp.eye(2, dtype=jnp.float32) / s.astype(jnp.float32)
  return affine_resample(image, _about_centre(linear, h, w), 'bilinear')


def _translate(image: jax.Array, shift: jax.Array) -> jax.Array:
  # Content moves by +(dx, dy): dx to the right, dy downwards.
  h, w, _ = image.shape
  linear = jnp.eye(2, dtype=jnp.float32)
  matrix = _about_centre(linear, h, w, shift.astype(jnp.float32))
  return affine_resample(image, matrix, 'bilinear')


def _change_bg(image: jax.Array, value: jax.Array) -> jax.Array:
  # A pixel is background when it is 0 in every channel.
  is_bg = jnp.all(image == 0.0, axis=-1, keepdims=True)  # [H, W, 1]
  return jnp.where(is_bg, value.astype(jnp.float32), image)


def _morph(image: jax.Array, k: int, dilate: bool) -> jax.Array:
  """Square k x k grey dilation (max) or erosion (min), OpenCV anchor.

  OpenCV's default anchor puts the kernel's centre at k // 2, so the window of
  output pixel i covers input pixels i + range(-(k // 2), k - k // 2); pixels
  outside the image take no part (padding with -inf / +inf).
  """
  lo, hi = k // 2, k - k // 2 - 1
  fill = -jnp.inf if dilate else jnp.inf
  reduce = jnp.maximum if dilate else jnp.minimum
  h, w, _ = image.shape
  padded = jnp.pad(image, ((lo, hi), (lo, hi), (0, 0)), constant_values=fill)
  # Separable: a square max/min is a row pass followed by a column pass.
  rows = functools.reduce(reduce, [padded[i:i + h] for i in range(k)])
  return functools.reduce(reduce, [rows[:, j:j + w] for j in range(k)])


def _dilate_erode(image: jax.Array, outcome: jax.Array) -> jax.Array:
  # Under jit the outcome is traced: compute all five, then pick one.
  candidates = [
      image if op is None else _morph(image, k, op == 'dilate')
      for op, k in DIL_OUTCOMES
  ]
  return jnp.stack(candidates)[outcome]  # [5, H, W, C] -> [H, W, C]


def _brightness_contrast(image: jax.Array, contrast: jax.Array,
                         brightness: jax.Array) -> jax.Array:
  mean = jnp.mean(image)  # over all pixels and channels
  return (image - mean) * contrast + mean + brightness


def _quantize(image: jax.Array) -> jax.Array:
  return jnp.clip(jnp.round(image), 0.0, 255.0)


def apply_params(image: jax.Array, params: dict[str, Any],
                 spec: TransformSpec) -> jax.Array:
  """Applies the transforms of spec with the given parameters to ONE image.

  Args:
    image: [H, W, C] on the 0..255 scale (any real or integer dtype).
    params: as returned by sample_params for this spec (unbatched).
    spec: the transforms, applied in order.

  Returns:
    [H, W, C] float32 holding integers in 0..255.
  """
  x = jnp.asarray(image).astype(jnp.float32)  # [H, W, C]
  for name in spec.names:
    if name == 'rot':
      x = _rotate(x, jnp.asarray(params['rot_angle']))
    elif name == 'bg':
      x = _change_bg(x, jnp.asarray(params['bg_value']))
    elif name == 'dil':
      x = _dilate_erode(x, jnp.asarray(params['dil_outcome']))
    elif name == 'brightness_contrast':
      x = _brightness_contrast(x, jnp.asarray(params['contrast']),
                               jnp.asarray(params['brightness']))
    elif name == 'scale':
      x = _scale(x, jnp.asarray(params['scale']))
    elif name == 'translate':
      x = _translate(x, jnp.asarray(params['translate']))
    # Quantize after every step, as chained uint8 operations would.
    x = _quantize(x)
  return _quantize(x)


def transform_jax(key: jax.Array, image: jax.Array,
                  spec: TransformSpec) -> jax.Array:
  """Draws x' ~ T(.|x) for one image [H, W, C]; float32 output in 0..255.

  Pure; wrap in jax.jit with spec static (e.g. static_argnames='spec') and
  vmap over (key, image) as needed.
  """
  return apply_params(image, sample_params(key, spec), spec)


@functools.partial(jax.jit, static_argnames=('spec',))
def transform_batch(key: jax.Array, images: jax.Array,
                    spec: TransformSpec) -> jax.Array:
  """Draws one x' ~ T(.|x) per image of [B, H, W, C]; float32 [B, H, W, C]."""
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(lambda k, im: transform_jax(k, im, spec))(keys, images)


@functools.partial(jax.jit, static_argnames=('spec',))
def _apply_batch_uint8(images: jax.Array, params: dict[str, jax.Array],
                       spec: TransformSpec) -> jax.Array:
  # uint8 in and out keeps host <-> device transfers 4x smaller.
  out = jax.vmap(lambda im, p: apply_params(im, p, spec))(images, params)
  return out.astype(jnp.uint8)  # exact: values are integers in 0..255


def transform_offline(
    images: np.ndarray, spec: TransformSpec, rng: np.random.Generator,
    chunk: int = 2048) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Transforms a stored data set once, with parameters drawn from rng.

  Args:
    images: uint8 [N, H, W, C].
    spec: the transforms.
    rng: the only source of randomness; the result is a function of its state.
    chunk: images per call of the jitted kernel. The last chunk is padded to
      the same size so the kernel compiles once per (spec, image shape).

  Returns:
    (uint8 [N, H, W, C], params with leading axis N).
  """
  images = np.asarray(images)
  if images.ndim != 4 or images.dtype != np.uint8:
    raise errors.DataError(
        f'transform_offline needs uint8 [N, H, W, C] images, got '
        f'{images.dtype} {images.shape}')
  if chunk < 1:
    _fail(f'chunk must be >= 1, got {chunk}')
  n = images.shape[0]
  params = sample_params_np(rng, spec, n)
  if not spec.names or n == 0:
    return images.copy(), params
  size = min(chunk, n)
  out = np.empty_like(images)
  for start in range(0, n, size):
    stop = min(start + size, n)
    pad = size - (stop - start)
    # Pad with copies of the chunk's first image; their outputs are dropped.
    take = np.concatenate([np.arange(start, stop), np.full(pad, start)])
    part = _apply_batch_uint8(images[take],
                              {k: v[take] for k, v in params.items()}, spec)
    out[start:stop] = np.asarray(part)[:stop - start]
  return out, params
