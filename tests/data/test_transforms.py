"""Tests for gitjax.data.transforms.

Statistical tests use fixed seeds, so each is deterministic: they cannot flake,
and the p-value thresholds (1e-4) are loose enough that a correct sampler
passes for essentially any seed.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gitjax import errors
from gitjax.data import transforms as T

N_STATS = 20_000
P_MIN = 1e-4
ALL = T.TransformSpec(names=T.TRANSFORM_NAMES)


def _jax_params(spec, n=N_STATS, seed=0):
  keys = jax.random.split(jax.random.key(seed), n)
  sample = jax.jit(jax.vmap(lambda k: T.sample_params(k, spec)))
  return {k: np.asarray(v) for k, v in sample(keys).items()}


@pytest.fixture(scope='module')
def param_sets():
  """Parameters for all transforms from both random sources."""
  return {
      'jax': _jax_params(ALL),
      'np': T.sample_params_np(np.random.default_rng(0), ALL, N_STATS),
  }


def _digit(h=28, w=28):
  """An asymmetric MNIST-like image: bright 'L' and a dot on 0, [H, W, 1]."""
  img = np.zeros((h, w, 1), np.uint8)
  img[5:21, 8:12] = 255
  img[17:21, 8:20] = 180
  img[6:8, 18:20] = 90
  return img


def _smooth(h=28, w=28):
  """A smooth grayscale image [H, W] with no flat zero areas."""
  yy, xx = np.mgrid[0:h, 0:w]
  return (127 + 100 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.uint8)


_apply_jit = jax.jit(T.apply_params, static_argnames='spec')


def _apply(image, spec, **params):
  """apply_params on one image; params given as keyword arguments."""
  params = {k: jnp.asarray(v) for k, v in params.items()}
  return np.asarray(_apply_jit(jnp.asarray(image), params, spec=spec))


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize('source', ['jax', 'np'])
def test_param_distributions(param_sets, source):
  p = param_sets[source]
  assert set(p) == {'rot_angle', 'bg_value', 'dil_outcome', 'contrast',
                    'brightness', 'scale', 'translate'}
  assert all(v.shape[0] == N_STATS for v in p.values())
  assert p['translate'].shape == (N_STATS, 2)

  angle = p['rot_angle']
  assert angle.dtype == np.float32
  assert -180 <= angle.min() and angle.max() <= 180
  assert angle.min() < -179 and angle.max() > 179  # covers the whole range
  assert stats.kstest(angle, 'uniform', args=(-180, 360)).pvalue > P_MIN

  bg = p['bg_value']
  assert bg.dtype == np.int32
  assert set(np.unique(bg).tolist()) == set(range(100))  # 0..99 inclusive
  assert stats.chisquare(np.bincount(bg, minlength=100)).pvalue > P_MIN

  dil = p['dil_outcome']
  assert set(np.unique(dil).tolist()) == set(range(5))
  assert stats.chisquare(np.bincount(dil, minlength=5)).pvalue > P_MIN

  for key, lo, hi in [('contrast', 0.5, 1.5), ('brightness', -63.75, 63.75),
                      ('scale', 0.7, 1.3)]:
    assert stats.kstest(p[key], 'uniform',
                        args=(lo, hi - lo)).pvalue > P_MIN, key
  for axis in range(2):
    assert stats.kstest(p['translate'][:, axis], 'uniform',
                        args=(-4, 8)).pvalue > P_MIN


def test_param_sources_agree(param_sets):
  """The numpy and JAX samplers draw from the same distribution."""
  a, b = param_sets['jax'], param_sets['np']
  for key in ['rot_angle', 'contrast', 'brightness', 'scale']:
    assert stats.ks_2samp(a[key], b[key]).pvalue > P_MIN, key
  for key, bins in [('bg_value', 100), ('dil_outcome', 5)]:
    table = [np.bincount(a[key], minlength=bins),
             np.bincount(b[key], minlength=bins)]
    assert stats.chi2_contingency(table).pvalue > P_MIN, key


def test_params_only_for_named_transforms():
  spec = T.parse_transform('bg+dil', bg_max=3)
  p = T.sample_params(jax.random.key(1), spec)
  assert set(p) == {'bg_value', 'dil_outcome'}
  assert p['bg_value'].shape == () and p['bg_value'].dtype == jnp.int32
  assert set(T.sample_params_np(np.random.default_rng(0), spec, 5)) == set(p)
  assert not T.sample_params(jax.random.key(1), T.TransformSpec())
  values = T.sample_params_np(np.random.default_rng(0), spec, 2000)['bg_value']
  assert set(np.unique(values).tolist()) == {0, 1, 2, 3}


# ------------------------------------------------------------ pixel kernels


def test_bg_fills_exactly_the_zero_pixels():
  img = _digit()
  out = _apply(img, T.parse_transform('bg'), bg_value=37)
  zero = img == 0
  np.testing.assert_array_equal(out[zero], 37)
  np.testing.assert_array_equal(out[~zero], img[~zero])
  # Colour: a pixel is background only when 0 in every channel.
  rgb = np.zeros((4, 4, 3), np.uint8)
  rgb[0, 0] = (0, 5, 0)
  rgb[1, 1] = (9, 9, 9)
  out = _apply(rgb, T.parse_transform('bg'), bg_value=99)
  np.testing.assert_array_equal(out[0, 0], (0, 5, 0))
  np.testing.assert_array_equal(out[1, 1], (9, 9, 9))
  np.testing.assert_array_equal(out[2, 2], (99, 99, 99))


def _bright(out):
  return {tuple(ij) for ij in np.argwhere(out[..., 0] > 0).tolist()}


def test_dil_outcomes_and_opencv_anchor():
  spec = T.parse_transform('dil')
  dot = np.zeros((28, 28, 1), np.uint8)
  dot[10, 10] = 200
  box = lambda r, c: {(i, j) for i in r for j in c}  # pylint: disable=g-long-lambda
  want = [{(10, 10)}, set(), box(range(10, 12), range(10, 12)),
          box(range(9, 12), range(9, 12)), box(range(9, 13), range(9, 13))]
  for outcome, pixels in enumerate(want):
    out = _apply(dot, spec, dil_outcome=outcome)
    assert _bright(out) == pixels, outcome
    assert set(np.unique(out).tolist()) <= {0, 200}
  # Erosion 2x2 of a 2x2 block keeps only its bottom-right pixel: the window
  # of pixel i is i + {-1, 0} (OpenCV's anchor at k // 2).
  block = np.zeros((28, 28, 1), np.uint8)
  block[10:12, 10:12] = 255
  assert _bright(_apply(block, spec, dil_outcome=1)) == {(11, 11)}
  # Pixels outside the image take no part: a corner dot dilates inwards only,
  # and eroding a full white image keeps it white (no border shrinking).
  corner = np.zeros((6, 6, 1), np.uint8)
  corner[0, 0] = 255
  assert _bright(_apply(corner, spec, dil_outcome=3)) == box(range(2),
                                                             range(2))
  white = np.full((6, 6, 1), 255, np.uint8)
  np.testing.assert_array_equal(_apply(white, spec, dil_outcome=1), white)


def test_rot_zero_is_identity_and_90_matches_rot90():
  spec = T.parse_transform('rot')
  img = _digit()
  noise = np.random.default_rng(0).integers(0, 256, (28, 28, 3), np.uint8)
  np.testing.assert_array_equal(_apply(img, spec, rot_angle=0.0), img)
  np.testing.assert_array_equal(_apply(noise, spec, rot_angle=0.0), noise)
  # PIL convention: +90 turns the content counter-clockwise, like np.rot90.
  # cos(90 deg) is not exactly 0 in float32, so allow 1 grey level.
  for angle, k in [(90.0, 1), (-90.0, -1), (180.0, 2)]:
    out = _apply(img, spec, rot_angle=angle)
    np.testing.assert_allclose(out, np.rot90(img, k), atol=1, err_msg=angle)


def test_rot_matches_pil_bicubic():
  image_mod = pytest.importorskip('PIL.Image')
  spec = T.parse_transform('rot')
  rng = np.random.default_rng(0)
  noise = rng.integers(0, 256, (28, 28), np.uint8)
  for img in [_smooth(), _digit()[..., 0], noise]:
    for angle in [30.0, -77.3]:
      pil = np.asarray(image_mod.fromarray(img).rotate(
          angle, resample=image_mod.BICUBIC)).astype(np.float32)
      ours = _apply(img[..., None], spec, rot_angle=angle)[..., 0]
      # Same kernel (a = -1), centre, direction and edge rule as Pillow, so
      # the only difference is the final quantization: Pillow truncates to
      # uint8, we round. Hence ours - pil is 0 or 1 (0.5 on average).
      diff = ours - pil
      assert diff.min() >= 0 and diff.max() <= 1, (angle, diff.min(),
                                                   diff.max())
      assert diff.mean() < 0.75


def test_affine_resample_matches_pil_float_mode():
  """Before quantization, the bicubic resampler equals Pillow's to ~1e-3."""
  image_mod = pytest.importorskip('PIL.Image')
  img = np.random.default_rng(1).uniform(0, 255, (20, 24)).astype(np.float32)
  angle = 41.0
  pil = np.asarray(image_mod.fromarray(img, mode='F').rotate(
      angle, resample=image_mod.BICUBIC))
  t = np.deg2rad(angle)
  linear = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
  centre = np.array([(24 - 1) / 2, (20 - 1) / 2])
  matrix = np.concatenate([linear, (centre - linear @ centre)[:, None]], 1)
  ours = T.affine_resample(jnp.asarray(img[..., None]), jnp.asarray(matrix),
                           'bicubic')
  np.testing.assert_allclose(np.asarray(ours)[..., 0], pil, atol=5e-3)


def test_translate_scale_brightness_contrast():
  img = _digit()
  out = _apply(img, T.parse_transform('translate'), translate=[3.0, -2.0])
  want = np.zeros_like(img)
  want[:-2, 3:] = img[2:, :-3]  # content moves right 3, up 2; fill 0
  np.testing.assert_array_equal(out, want)
  np.testing.assert_array_equal(
      _apply(img, T.parse_transform('scale'), scale=1.0), img)
  # Zoom 2x about the centre: the centre pixel stays, content spreads out.
  zoom = _apply(img, T.parse_transform('scale'), scale=2.0)
  assert (zoom > 0).sum() > 2 * (img > 0).sum()
  spec = T.parse_transform('brightness_contrast')
  np.testing.assert_array_equal(
      _apply(img, spec, contrast=1.0, brightness=0.0), img)
  flat = _apply(img, spec, contrast=0.0, brightness=10.0)
  np.testing.assert_array_equal(flat, np.round(img.mean() + 10.0))
  bright = _apply(img, spec, contrast=1.0, brightness=100.0)
  np.testing.assert_array_equal(bright, np.minimum(img.astype(int) + 100, 255))


# ---------------------------------------------------------------- JAX form


def test_jax_form_under_jit_and_vmap_per_key():
  # (The name must not end in "vmap": chex spots jitted functions by "vmap."
  # in their qualified name.)
  spec = T.parse_transform('rot+bg+dil')
  images = jnp.asarray(np.stack([_digit()] * 6))  # [6, 28, 28, 1] uint8

  @jax.jit
  @chex.assert_max_traces(n=1)
  def batch(key, images):
    keys = jax.random.split(key, images.shape[0])
    return jax.vmap(lambda k, x: T.transform_jax(k, x, spec))(keys, images)

  a = batch(jax.random.key(0), images)
  b = batch(jax.random.key(0), images)
  c = batch(jax.random.key(1), images)  # no retrace
  chex.assert_shape(a, (6, 28, 28, 1))
  assert a.dtype == jnp.float32
  a = np.asarray(a)
  np.testing.assert_array_equal(a, np.round(a))
  assert a.min() >= 0 and a.max() <= 255
  np.testing.assert_array_equal(a, np.asarray(b))
  assert not np.array_equal(a, np.asarray(c))
  assert not np.array_equal(a[0], a[1])  # each image gets its own draw
  # The convenience wrapper agrees with the hand-written vmap.
  np.testing.assert_array_equal(
      np.asarray(T.transform_batch(jax.random.key(0), images, spec)), a)


def test_identity_spec_jax():
  img = _digit()
  out = T.transform_jax(jax.random.key(0), jnp.asarray(img), T.TransformSpec())
  assert out.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(out), img)


# ------------------------------------------------------------ offline form


def test_offline_deterministic_and_composed():
  images = np.stack([_digit(), np.rot90(_digit())] * 5)  # [10, 28, 28, 1]
  spec = T.parse_transform('rot+bg')
  out1, p1 = T.transform_offline(images, spec, np.random.default_rng(3),
                                 chunk=4)  # 3 chunks, the last one padded
  out2, p2 = T.transform_offline(images, spec, np.random.default_rng(3),
                                 chunk=16)
  out3, _ = T.transform_offline(images, spec, np.random.default_rng(4))
  assert out1.dtype == np.uint8 and out1.shape == images.shape
  np.testing.assert_array_equal(out1, out2)
  for key in p1:
    np.testing.assert_array_equal(p1[key], p2[key])
    assert p1[key].shape[0] == 10
  assert not np.array_equal(out1, out3)
  # Each stored image is the shared kernel applied with its own params.
  for i in [0, 9]:
    want = _apply(images[i], spec, **{k: v[i] for k, v in p1.items()})
    np.testing.assert_array_equal(out1[i], want)
  # After 'bg' nothing is 0 unless the drawn background value was 0.
  for i in range(10):
    assert (out1[i] == 0).any() == (p1['bg_value'][i] == 0)


def test_offline_colour_images():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (5, 32, 32, 3), np.uint8)
  spec = T.parse_transform('brightness_contrast+scale+translate')
  out, params = T.transform_offline(images, spec, np.random.default_rng(0))
  assert out.dtype == np.uint8 and out.shape == (5, 32, 32, 3)
  assert set(params) == {'contrast', 'brightness', 'scale', 'translate'}
  assert not np.array_equal(out, images)


def test_offline_identity_and_bad_input():
  images = np.stack([_digit()] * 3)
  out, params = T.transform_offline(images, T.parse_transform('none'),
                                    np.random.default_rng(0))
  np.testing.assert_array_equal(out, images)
  assert out is not images and params == {}
  with pytest.raises(errors.DataError, match='uint8'):
    T.transform_offline(images.astype(np.float32), T.parse_transform('bg'),
                        np.random.default_rng(0))


def test_offline_and_jax_forms_same_distribution():
  """Outputs of one image under both forms: same pixel-statistic law."""
  n = 1500
  img = _digit()
  spec = T.parse_transform('rot+dil')
  offline, _ = T.transform_offline(np.stack([img] * n), spec,
                                   np.random.default_rng(0))
  online = np.asarray(T.transform_batch(jax.random.key(0),
                                        jnp.asarray(np.stack([img] * n)),
                                        spec))
  for stat in [lambda x: x.mean(axis=(1, 2, 3)),
               lambda x: x[:, 8:20, 8:20].mean(axis=(1, 2, 3))]:
    assert stats.ks_2samp(stat(offline.astype(np.float32)),
                          stat(online)).pvalue > P_MIN


# ------------------------------------------------------------------ parsing


def test_parse_transform():
  assert T.parse_transform('none') == T.TransformSpec()
  assert T.parse_transform('').names == ()
  assert T.parse_transform('rot').names == ('rot',)
  assert T.parse_transform(' Rot + BG ').names == ('rot', 'bg')
  spec = T.parse_transform('rot+bg', rot_degrees=90, bg_max=10)
  assert spec.rot_degrees == 90 and spec.bg_max == 10
  assert hash(spec) == hash(T.parse_transform('rot+bg', rot_degrees=90,
                                              bg_max=10))
  assert T.TransformSpec(names=['rot']).names == ('rot',)  # list -> tuple
  # numpy scalars (e.g. from a config) become plain, JSON-friendly numbers.
  spec = T.TransformSpec(rot_degrees=np.float32(45), bg_max=np.int64(7))
  assert type(spec.rot_degrees) is float and type(spec.bg_max) is int


@pytest.mark.parametrize('name, fields, match', [
    ('rotate', {}, "unknown transform 'rotate'.*rot, bg, dil"),
    ('rot+rot', {}, 'must not repeat'),
    ('rot', {'colour': 1}, "unknown transform option 'colour'"),
    ('rot', {'rot_degrees': -1.0}, 'rot_degrees must be >= 0'),
    ('bg', {'bg_max': 256}, r'bg_max must be an integer in 0\.\.255'),
    ('bg', {'bg_max': 2.5}, 'bg_max must be an integer'),
    ('brightness_contrast', {'contrast_min': 2.0}, 'contrast_min <= '),
    ('scale', {'scale_min': 0.0}, '0 < scale_min'),
    ('translate', {'translate': float('nan')}, 'finite'),
])
def test_parse_transform_errors(name, fields, match):
  with pytest.raises(ValueError, match=match) as info:
    T.parse_transform(name, **fields)
  assert '\n' not in str(info.value)
