"""A style that moves pixels: the pose part of a MUNIT style code and its warp.

MUNIT's style acts through AdaIN, which sets per-channel feature statistics
and cannot move pixels, so a spatial nuisance such as rotation stays in the
spatial content code. With `warp != 'none'` the FIRST `pose_dims(warp)`
entries of the style code are also a pose:

* the style encoder's code of an image x is read as x's own pose; the content
  encoder sees x warped back to the canonical pose (`to_canonical`), so the
  content code need not hold the pose;
* the decoder's output (a canonical image) is warped by the style's pose
  (`to_pose`), so a new style can turn the image.

Reconstruction (x -> its pose -> canonical -> decoded -> warped by the same
pose) and the style reconstruction (the pose of a re-styling is the pose it
was given) can then both be met, with MUNIT's own losses. The whole style,
pose entries included, still drives AdaIN, so the parameter tree is the one
of `warp='none'` and the appearance (background, strokes) is learned as before.

Pose of a style s (angles in transforms' convention: positive turns the
content counter-clockwise on screen):

* 'rotation': angle = atan2(s[1], s[0]). For s ~ N(0, I) the direction of
  (s[0], s[1]) is uniform, so random styles turn images by U(-180, 180)
  degrees exactly, with no seam in the code (a CDF map of one entry would
  need codes -> +-inf near 180 degrees); the length of (s[0], s[1]) is free
  for AdaIN. s = (r, 0, ...) with r > 0 is the identity.
* 'affine': the rotation above, then the linear deformation
  I + AFFINE_DEFORM tanh([[s2, s3], [s4, s5]]) (bounded, so it stays
  invertible: |entries| < 0.1) and the shift AFFINE_SHIFT (s6, s7) in units
  of half the image side. It needs style_dim >= 9.

Sampling is bilinear on pixel centres with taps outside the image reading
`fill` (-1: black in MUNIT's [-1, 1] scale, as transforms' rotation fills 0);
gradients reach the pose through the interpolation weights (no custom
gradient). Identity poses reproduce their input bit for bit.
"""
import jax
import jax.numpy as jnp

WARPS = ('none', 'rotation', 'affine')
_POSE_DIMS = {'none': 0, 'rotation': 2, 'affine': 8}
AFFINE_DEFORM = 0.1   # bound of the affine deformation's entries
AFFINE_SHIFT = 0.1    # shift per unit of style, in half image sides
MIN_SIDE = 8          # smallest image side a warp is applied to
FILL = -1.0           # what a tap outside the image reads


def pose_dims(warp: str) -> int:
  """How many leading style entries the warp reads as the pose."""
  if warp not in _POSE_DIMS:
    raise ValueError(f'unknown warp {warp!r}; use one of {WARPS}')
  return _POSE_DIMS[warp]


def rotation_matrix(angle: jax.Array) -> jax.Array:
  """[..., 2, 2] content motion turning by `angle` radians counter-clockwise
  on screen, in (column, row) coordinates with rows growing downwards."""
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  return jnp.stack([jnp.stack([cos, sin], -1),
                    jnp.stack([-sin, cos], -1)], -2)


def style_angle(style: jax.Array) -> jax.Array:
  """Angle in radians [B] of the pose part of styles [B, style_dim]."""
  return jnp.arctan2(style[:, 1], style[:, 0])


def pose_motion(style: jax.Array, warp: str, height: int, width: int):
  """(A [B, 2, 2], t [B, 2]): the content motion y = A (x - c) + c + t of
  the pose in `style` [B, style_dim], in (column, row) pixel coordinates."""
  if warp not in ('rotation', 'affine'):
    raise ValueError(f'no pose for warp {warp!r}; use one of {WARPS[1:]}')
  motion = rotation_matrix(style_angle(style))  # [B, 2, 2]
  shift = jnp.zeros((style.shape[0], 2), style.dtype)
  if warp == 'affine':
    deform = AFFINE_DEFORM * jnp.tanh(style[:, 2:6]).reshape(-1, 2, 2)
    motion = motion @ (jnp.eye(2, dtype=style.dtype) + deform)
    half = jnp.array([width / 2.0, height / 2.0], style.dtype)
    shift = AFFINE_SHIFT * style[:, 6:8] * half
  return motion, shift


def _inverse_2x2(m: jax.Array) -> jax.Array:
  """Inverse of [..., 2, 2] matrices (closed form)."""
  a, b, c, d = m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1]
  det = a * d - b * c
  return jnp.stack([jnp.stack([d, -b], -1), jnp.stack([-c, a], -1)],
                   -2) / det[..., None, None]


def _sample_one(image, matrix, fill):
  """Bilinear read of one image [H, W, C] at matrix @ (col, row, 1)."""
  h, w, c = image.shape
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=image.dtype),
                            jnp.arange(w, dtype=image.dtype), indexing='ij')
  grid = jnp.stack([cols, rows, jnp.ones_like(cols)], -1)  # [H, W, 3]
  src = grid @ matrix.T  # [H, W, 2]: (column, row) read
  u, v = src[..., 0], src[..., 1]
  u0, v0 = jnp.floor(u), jnp.floor(v)
  fu, fv = u - u0, v - v0
  u0, v0 = u0.astype(jnp.int32), v0.astype(jnp.int32)
  flat = image.reshape(h * w, c)

  def tap(du, dv):
    col, row = u0 + du, v0 + dv
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    value = flat[jnp.clip(row, 0, h - 1) * w + jnp.clip(col, 0, w - 1)]
    return jnp.where(inside[..., None], value, fill)  # [H, W, C]

  wu = (1.0 - fu)[..., None], fu[..., None]
  wv = (1.0 - fv)[..., None], fv[..., None]
  return (wv[0] * (wu[0] * tap(0, 0) + wu[1] * tap(1, 0)) +
          wv[1] * (wu[0] * tap(0, 1) + wu[1] * tap(1, 1)))


def sample(images: jax.Array, matrices: jax.Array,
           fill: float = FILL) -> jax.Array:
  """Bilinear resampling of images [B, H, W, C] through [B, 2, 3] maps from
  an output pixel centre (column, row, 1) to the input point read."""
  return jax.vmap(_sample_one, in_axes=(0, 0, None))(images, matrices, fill)


def _about_centre(linear, shift, height, width):
  """[B, 2, 3] maps x = linear (y - c) + c + shift."""
  centre = jnp.array([(width - 1) / 2.0, (height - 1) / 2.0], linear.dtype)
  offset = centre - linear @ centre + shift  # [B, 2]
  return jnp.concatenate([linear, offset[..., None]], -1)


def to_pose(images: jax.Array, style: jax.Array, warp: str) -> jax.Array:
  """Canonical images [B, H, W, C] moved to the pose of `style` [B, S]."""
  _, h, w, _ = images.shape
  motion, shift = pose_motion(style, warp, h, w)
  inverse = _inverse_2x2(motion)
  # Output y reads x = A^-1 (y - c - t) + c.
  return sample(images, _about_centre(inverse, -(inverse @ shift[..., None])
                                      [..., 0], h, w))


def to_canonical(images: jax.Array, style: jax.Array, warp: str) -> jax.Array:
  """Images [B, H, W, C] in the pose of `style` moved back to canonical."""
  _, h, w, _ = images.shape
  motion, shift = pose_motion(style, warp, h, w)
  # Output y reads x = A (y - c) + c + t.
  return sample(images, _about_centre(motion, shift, h, w))
