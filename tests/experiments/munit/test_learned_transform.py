"""Transform recovery on synthetic 'generators' with a known answer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax.experiments.munit import learned_transform as lt
from gitjax.data import transforms


def _shapes(n=4, size=20):
  """Asymmetric bright shapes on an exactly-0 background, [N, H, W, 1]."""
  images = np.zeros((n, size, size, 1), np.uint8)
  for i in range(n):
    top, left = 3 + i % 2, 4 + i // 2
    images[i, top:top + 12, left:left + 3] = 200      # vertical bar
    images[i, top + 9:top + 12, left:left + 9] = 255  # foot: an 'L'
    images[i, top, left + 3:left + 6] = 120           # a tick breaks symmetry
  return images


def _apply(images, params, spec):
  """The true transform with given parameters, [N, 1, H, W, C] float."""
  out = jax.vmap(lambda x, p: transforms.apply_params(x, p, spec))(
      jnp.asarray(images), params)
  return out[:, None]


def test_rotation_with_a_known_angle_is_recovered():
  images = _shapes()
  spec = transforms.TransformSpec(names=('rot',))
  angles = jnp.array([30.0, -135.0, 90.0, 175.0])
  outputs = _apply(images, {'rot_angle': angles}, spec)
  rec = lt.recover(images, outputs, names=('rot',), angle_step=5.0)
  np.testing.assert_array_equal(np.asarray(rec['rot'])[:, 0], angles)
  assert np.all(np.asarray(rec['rot_match']) > 0.99)


def test_background_value_is_recovered():
  images = _shapes()
  spec = transforms.TransformSpec(names=('bg',))
  values = jnp.array([0, 17, 64, 99])
  outputs = _apply(images, {'bg_value': values}, spec)
  rec = lt.recover(images, outputs, names=('bg',))
  np.testing.assert_array_equal(np.asarray(rec['bg'])[:, 0], values)


def test_dilation_outcome_is_recovered():
  images = _shapes()
  spec = transforms.TransformSpec(names=('dil',))
  outcomes = jnp.array([0, 1, 3, 4])
  outputs = _apply(images, {'dil_outcome': outcomes}, spec)
  rec = lt.recover(images, outputs, names=('dil',))
  np.testing.assert_array_equal(np.asarray(rec['dil'])[:, 0], outcomes)


def test_compare_by_hand():
  spec = transforms.TransformSpec(names=('rot', 'bg', 'dil'))
  # Every 10-degree bin hit once: exactly the target, TV 0.
  uniform = lt.compare('rot', np.arange(-175.0, 180.0, 10.0), spec)
  assert uniform['tv_distance'] == pytest.approx(0.0, abs=1e-12)
  assert uniform['frac_abs_gt_45'] == pytest.approx(26 / 36)
  # Everything at 0 degrees: one bin of 1/36 mass holds all, TV 35/36.
  point = lt.compare('rot', np.zeros(50), spec)
  assert point['tv_distance'] == pytest.approx(35 / 36)
  assert point['frac_abs_gt_45'] == 0.0
  assert point['frac_abs_gt_45_target'] == pytest.approx(0.75)
  # Background 0..99 in bins of 10: 10 bins of 0.1; all at 5 -> TV 0.9.
  bg = lt.compare('bg', np.full(20, 5.0), spec)
  assert bg['tv_distance'] == pytest.approx(0.9)
  assert bg['mean'] == 5.0 and bg['mean_target'] == 49.5
  dil = lt.compare('dil', np.array([0, 1, 2, 3, 4, 4]), spec)
  np.testing.assert_allclose(dil['frequencies'], [1 / 6] * 4 + [1 / 3])
  assert dil['tv_distance'] == pytest.approx(0.5 * (4 * (0.2 - 1 / 6) +
                                                    (1 / 3 - 0.2)))


def test_measure_recovery_tells_a_perfect_generator_from_a_copier():
  images = _shapes(n=6)
  spec = transforms.TransformSpec(names=('rot',))
  perfect = lambda key, x: transforms.transform_batch(key, jnp.asarray(x),
                                                      spec)
  copier = lambda key, x: jnp.asarray(x, jnp.float32)
  key = jax.random.key(0)
  good = lt.measure_recovery(perfect, images, spec, key, styles_per_image=12,
                             chunk=6)
  bad = lt.measure_recovery(copier, images, spec, key, styles_per_image=12,
                            chunk=6)
  # A generator that draws true rotations scores like the true transform ...
  assert abs(good['rot']['learned']['tv_distance'] -
             good['rot']['true']['tv_distance']) < 0.15
  assert good['rot']['learned']['frac_abs_gt_45'] > 0.6
  # ... one that returns its input is a point mass at 0 degrees.
  assert bad['rot']['learned']['tv_distance'] == pytest.approx(35 / 36)
  assert bad['rot']['learned']['frac_abs_gt_45'] == 0.0
  assert len(bad['rot']['learned']['values']) == 6 * 12
  assert lt.measure_recovery(copier, images, transforms.TransformSpec(),
                             key) is None


def test_measure_recovery_per_class():
  # Classes 0 and 1 get true rotations, class 2 a copy of its input: only
  # class 2 is a point mass (TV 35/36); a class without images gives NaN.
  images = _shapes(n=6)
  labels = np.array([0, 0, 1, 1, 2, 2])
  spec = transforms.TransformSpec(names=('rot',))

  def half_copier(key, x):
    rotated = transforms.transform_batch(key, jnp.asarray(x), spec)
    copy = np.repeat(labels == 2, len(x) // len(labels))
    return jnp.where(copy[:, None, None, None], jnp.asarray(x, jnp.float32),
                     rotated)

  out = lt.measure_recovery(half_copier, images, spec, jax.random.key(1),
                            labels=labels, num_classes=4,
                            styles_per_image=12, chunk=6)
  per_class = out['rot']['learned']['per_class']
  assert per_class['n'] == [24, 24, 24, 0]
  assert per_class['tv_distance'][2] == pytest.approx(35 / 36)
  assert max(per_class['tv_distance'][:2]) < 0.8
  assert np.isnan(per_class['tv_distance'][3])
  assert out['rot']['true']['per_class']['n'] == [24, 24, 24, 0]
