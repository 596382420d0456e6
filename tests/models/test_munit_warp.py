"""The warp of a style that moves pixels (models/munit_warp) and the MUNIT
generator with it: identity, known rotations, gradients, bad input."""
import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax import config as config_lib
from gitjax.data import transforms
from gitjax.errors import ConfigError
from gitjax.experiments.munit import run as munit_run
from gitjax.models import munit
from gitjax.models import munit_warp

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), 'configs'))
import munit_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

_TINY = dict(image_channels=1, dim=4, style_dim=8, n_downsample=1, n_res=1,
             n_style_downsample=1, mlp_dim=8, n_mlp=2)


def _images(n=2, side=12):
  return jnp.sin(jnp.arange(n * side * side, dtype=jnp.float32) *
                 0.37).reshape(n, side, side, 1)


def _digit(side=28):
  """A bright, asymmetric stroke pattern on black, 0..255 [side, side, 1]."""
  image = np.zeros((side, side, 1), np.float32)
  image[6:22, 12:15] = 255.0   # vertical bar
  image[6:9, 12:21] = 200.0    # flag at the top, to the right
  image[19:22, 8:12] = 120.0   # foot to the left
  return image


def _style_at(angle_deg, n=1, style_dim=8):
  """Styles whose pose is `angle_deg` (rotation warp), appearance 0."""
  theta = np.deg2rad(angle_deg)
  style = np.zeros((n, style_dim), np.float32)
  style[:, 0], style[:, 1] = 1.3 * np.cos(theta), 1.3 * np.sin(theta)
  return jnp.asarray(style)


@pytest.fixture(scope='module')
def tiny_params():
  x = _images()
  return jax.jit(munit.Generator(**_TINY).init)(jax.random.key(0), x)[
      'params']


def _munit_without_warp(module, x):
  """MUNIT's AdaINGen reconstruction, composed from the parts by hand."""
  adain = module.mlp(module.style_encoder(x))
  return module.decoder(module.content_encoder(x), adain)


def test_warp_none_is_todays_generator_bit_for_bit(tiny_params):
  g = munit.Generator(**_TINY, warp='none')
  x = _images()
  y = jax.jit(g.apply)({'params': tiny_params}, x)
  np.testing.assert_array_equal(y, jax.jit(functools.partial(
      g.apply, method=_munit_without_warp))({'params': tiny_params}, x))
  # Values of the generator before the warp existed (65a96ff, in a plain
  # process; XLA's CPU code may change the last bits with other settings).
  np.testing.assert_allclose(float(jnp.sum(y)), 15.243871688842773, rtol=1e-5)
  np.testing.assert_allclose(float(jnp.sum(jnp.abs(y))), 75.72854614257812,
                             rtol=1e-5)
  np.testing.assert_allclose(y[0, 0, :3, 0], [-0.3204805, 0.0659847,
                                              -0.0104367], atol=1e-5)


def test_identity_pose_reproduces_the_generator_exactly(tiny_params):
  x = _images()
  plain = munit.Generator(**_TINY)
  warped = munit.Generator(**_TINY, warp='rotation')
  # The warp adds no parameters: the same tree serves both.
  assert (jax.tree.structure(tiny_params) == jax.tree.structure(
      jax.eval_shape(warped.init, jax.random.key(0), x)['params']))
  content, _ = jax.jit(functools.partial(
      plain.apply, method=munit.Generator.encode))({'params': tiny_params}, x)
  style = jnp.asarray(np.random.default_rng(0).normal(size=(2, 10)),
                      jnp.float32)
  style = style.at[:, 0].set(jnp.abs(style[:, 0]) + 0.1).at[:, 1].set(0.0)
  decode = lambda g: jax.jit(functools.partial(
      g.apply, method=munit.Generator.decode))(
          {'params': tiny_params}, content, style[:, :8])
  np.testing.assert_array_equal(decode(warped), decode(plain))
  identity = style.at[:, 2:8].set(0.0)  # affine: no deformation, no shift
  for warp in ('rotation', 'affine'):
    np.testing.assert_array_equal(munit_warp.to_pose(x, identity, warp), x)
    np.testing.assert_array_equal(munit_warp.to_canonical(x, identity, warp),
                                  x)


def test_pose_out_of_adain_acts_only_through_the_warp(tiny_params):
  """pose_in_adain=False: the MLP reads the style with its pose entries
  zeroed. Two styles that differ only in the pose's length (same angle 0,
  an identity warp) then decode to the same image, and to the decoding of
  the zeroed style by the warp-free generator; with the pose in AdaIN
  (the default) they differ."""
  x = _images()
  plain = munit.Generator(**_TINY)
  content, _ = jax.jit(functools.partial(
      plain.apply, method=munit.Generator.encode))({'params': tiny_params}, x)
  appearance = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6)),
                           jnp.float32)
  short = jnp.concatenate([jnp.full((2, 1), 0.5), jnp.zeros((2, 1)),
                           appearance], axis=1)
  long = short.at[:, 0].set(2.0)
  decode = lambda g, s: jax.jit(functools.partial(
      g.apply, method=munit.Generator.decode))({'params': tiny_params},
                                               content, s)
  apart = munit.Generator(**_TINY, warp='rotation', pose_in_adain=False)
  np.testing.assert_array_equal(decode(apart, short), decode(apart, long))
  np.testing.assert_array_equal(decode(apart, short),
                                decode(plain, short.at[:, :2].set(0.0)))
  together = munit.Generator(**_TINY, warp='rotation')
  assert not np.allclose(decode(together, short), decode(together, long))


def test_a_known_pose_rotates_like_data_transforms():
  image = _digit()
  unit = jnp.asarray(image[None] / 127.5 - 1.0)
  angles = (-120.0, -30.0, 45.0, 90.0, 170.0)
  for angle in angles:
    out = munit_warp.to_pose(unit, _style_at(angle), 'rotation')
    pixels = np.asarray((out[0] + 1.0) * 127.5)
    truth = np.asarray(transforms.apply_params(
        jnp.asarray(image), {'rot_angle': jnp.float32(angle)},
        transforms.TransformSpec(names=('rot',))))
    corr = np.corrcoef(pixels.ravel(), truth.ravel())[0, 1]
    # Bilinear here, Pillow's bicubic there: nearly, not exactly, equal.
    assert corr > 0.97, (angle, corr)
    assert np.mean(np.abs(pixels - truth)) < 8.0, angle
    wrong = np.asarray(transforms.apply_params(
        jnp.asarray(image), {'rot_angle': jnp.float32(angle + 20.0)},
        transforms.TransformSpec(names=('rot',))))
    assert corr > np.corrcoef(pixels.ravel(), wrong.ravel())[0, 1] + 0.1
  # Back to canonical undoes the pose (inside the image, up to resampling).
  style = _style_at(60.0)
  back = munit_warp.to_canonical(munit_warp.to_pose(unit, style, 'rotation'),
                                 style, 'rotation')
  assert np.corrcoef(np.asarray(back).ravel(),
                     np.asarray(unit).ravel())[0, 1] > 0.97


def test_random_styles_give_uniform_angles():
  styles = jax.random.normal(jax.random.key(3), (20000, 8))
  angles = np.rad2deg(np.asarray(munit_warp.style_angle(styles)))
  counts, _ = np.histogram(angles, bins=12, range=(-180, 180))
  assert counts.min() > 0.9 * 20000 / 12 and counts.max() < 1.1 * 20000 / 12


@pytest.mark.parametrize('warp, pose', [('rotation', 2), ('affine', 8)])
def test_gradients_reach_the_pose(warp, pose):
  x = jnp.asarray(_digit()[None] / 127.5 - 1.0)
  target = jnp.roll(x, 3, axis=2)
  style = jnp.asarray(np.random.default_rng(1).normal(size=(1, 10)),
                      jnp.float32)

  def loss(s, fn):
    return jnp.sum(jnp.abs(fn(x, s, warp) - target))

  for fn in (munit_warp.to_pose, munit_warp.to_canonical):
    grad = np.asarray(jax.grad(loss)(style, fn))
    assert np.all(np.isfinite(grad))
    assert np.all(np.abs(grad[0, :pose]) > 0), (fn, grad)
    assert np.all(grad[0, pose:] == 0)


def test_gradients_reach_the_pose_through_the_generator(tiny_params):
  x = _images()
  g = munit.Generator(**_TINY, warp='rotation')
  recon = lambda p: jnp.mean(jnp.abs(g.apply({'params': p}, x) - x))
  grads = jax.jit(jax.grad(recon))(tiny_params)
  assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(grads))
  # x -> its pose -> canonical -> decoded -> warped back: the style
  # encoder's pose rows are trained by the reconstruction.
  kernel = np.asarray(grads['style_encoder']['to_style']['kernel'])
  assert np.all(np.abs(kernel[:, :2]).sum(0) > 0)


def test_bad_warp_options_are_one_line_config_errors():
  config = munit_digits.get_config('rot')
  assert config.munit.warp == 'rotation'
  assert munit_digits.get_config('bg').munit.warp == 'none'
  config.munit.warp = 'spiral'
  with pytest.raises(ConfigError, match="munit.warp='spiral'"):
    config_lib.validate(config)
  config.munit.warp = 'affine'
  with pytest.raises(ConfigError, match='style_dim >= 9'):
    config_lib.validate(config)
  config.munit.style_dim = 9
  config_lib.validate(config)
  statics = munit_run.make_statics(config.munit, 1, 0)
  with pytest.raises(ConfigError, match='at least 8x8'):
    munit_run.check_image_shape(statics, (4, 4, 1))
  config.munit.pose_in_adain = False
  assert munit_run.make_statics(config.munit, 1, 0).generator(
  ).pose_in_adain is False
  # A run folder from before the warp (and pose_in_adain) reads as a 'none'
  # run with the pose in AdaIN.
  old = {k: v for k, v in config.munit.to_dict().items()
         if k not in ('warp', 'pose_in_adain')}
  statics = munit_run.make_statics(old, 1, 0)
  assert (statics.warp, statics.pose_in_adain) == ('none', True)
