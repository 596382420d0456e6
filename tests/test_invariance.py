"""Tests for gitjax.invariance: per-pair KL, eKLD / consistency, Spearman.

Expected values are written out by hand or with numpy from the definitions.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax import invariance
from gitjax.data import transforms

LOG3 = math.log(3.0)


def _np_log_softmax(z):
  z = np.asarray(z, np.float64)
  z = z - z.max(axis=-1, keepdims=True)
  return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ----------------------------------------------------------------------------
# kl_and_agreement


def test_kl_matches_hand_computation():
  """KL(p(.|x) || p(.|x')) per transform, from p = [.5, .5], q = [.75, .25]."""
  clean = jnp.array([[0.0, 0.0]])
  transformed = jnp.array([[[0.0, 0.0], [LOG3, 0.0]]])
  kl, _ = invariance.kl_and_agreement(clean, transformed)
  expected = [0.0, 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)]
  assert kl.shape == (1, 2)
  np.testing.assert_allclose(np.asarray(kl), [expected], atol=1e-6)


def test_kl_is_forward_clean_first():
  """Swapping the arms gives KL(q || p), a different number."""
  forward, _ = invariance.kl_and_agreement(
      jnp.array([[0.0, 0.0]]), jnp.array([[[LOG3, 0.0]]]))
  backward, _ = invariance.kl_and_agreement(
      jnp.array([[LOG3, 0.0]]), jnp.array([[[0.0, 0.0]]]))
  # 0.5 log(4/3) = 0.1438 versus 0.75 log 1.5 + 0.25 log 0.5 = 0.1308.
  np.testing.assert_allclose(float(forward[0, 0]), 0.5 * math.log(4.0 / 3.0),
                             rtol=1e-5)
  np.testing.assert_allclose(
      float(backward[0, 0]),
      0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5), rtol=1e-5)
  assert abs(float(forward[0, 0]) - float(backward[0, 0])) > 1e-2


def test_kl_matches_numpy_on_several_images():
  """[M, K] clean against [M, T, K] transformed, each row its own image."""
  rng = np.random.default_rng(0)
  clean = rng.normal(size=(3, 4)).astype(np.float32)
  transformed = rng.normal(size=(3, 5, 4)).astype(np.float32)
  log_p = _np_log_softmax(clean)[:, None, :]
  log_q = _np_log_softmax(transformed)
  expected = (np.exp(log_p) * (log_p - log_q)).sum(-1)
  kl, agree = invariance.kl_and_agreement(clean, transformed)
  np.testing.assert_allclose(np.asarray(kl), expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(
      np.asarray(agree),
      (transformed.argmax(-1) == clean.argmax(-1)[:, None]).astype(np.float32))


def test_agreement_counts_argmax_matches():
  """1 where the transformed argmax equals the clean one, else 0."""
  clean = jnp.array([[0.0, 0.0], [0.0, 2.0]])  # argmax 0 (tie), 1.
  transformed = jnp.array([[[0.0, 0.0], [LOG3, 0.0], [0.0, 1.0]],
                           [[0.0, 1.0], [3.0, 0.0], [5.0, 5.1]]])
  _, agree = invariance.kl_and_agreement(clean, transformed)
  assert agree.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(agree),
                                [[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])


# ----------------------------------------------------------------------------
# measure. The logits functions are module-level: jit needs them hashable.


def _constant_logits(variables, images):
  """Logits that ignore the image."""
  return jnp.broadcast_to(variables['bias'], (images.shape[0], 2))


def _brightness_logits(variables, images):
  """Logits [(mean - 110) / 10, 0]: class 1 below mean 110, class 0 above."""
  del variables
  mean = images.reshape(images.shape[0], -1).mean(axis=1)
  return jnp.stack([(mean - 110.0) / 10.0, jnp.zeros_like(mean)], axis=-1)


def _half_background_image(fg=200):
  """4x4x1 uint8: left half background (0), right half `fg` (mean fg / 2)."""
  image = np.zeros((4, 4, 1), np.uint8)
  image[:, 2:] = fg
  return image


def _dataset():
  """Class 0: 5 images, class 1: 2 images, class 2: none; interleaved."""
  labels = np.array([0, 1, 0, 0, 1, 0, 0], np.int32)
  images = np.stack([_half_background_image()] * len(labels))
  return images, labels


BG = transforms.parse_transform('bg')


def test_measure_image_independent_logits_are_invariant():
  """Logits that ignore the image: eKLD exactly 0, consistency exactly 1."""
  images, labels = _dataset()
  out = invariance.measure(
      _constant_logits, {'bias': jnp.array([0.3, -0.2])}, images, labels, BG,
      jax.random.key(0), num_classes=2, images_per_class=4,
      transforms_per_image=8, images_per_batch=3)
  assert out['ekld'] == [0.0, 0.0]
  assert out['consistency'] == [1.0, 1.0]
  assert out['images'] == [4, 2]


def test_measure_counts_images_per_class():
  """'images' is min(images_per_class, class size); an empty class is NaN."""
  images, labels = _dataset()
  out = invariance.measure(
      _constant_logits, {'bias': jnp.array([1.0, 0.0])}, images, labels, BG,
      jax.random.key(1), num_classes=3, images_per_class=3,
      transforms_per_image=4, images_per_batch=2)
  assert out['images'] == [3, 2, 0]
  assert out['ekld'][:2] == [0.0, 0.0]
  assert math.isnan(out['ekld'][2])
  assert math.isnan(out['consistency'][2])
  assert all(isinstance(v, float) for v in out['ekld'] + out['consistency'])
  assert all(isinstance(v, int) for v in out['images'])


def test_measure_compares_the_same_image_in_both_arms():
  """Identity transform + image-dependent logits: eKLD 0, consistency 1.

  The images of a class differ in brightness (and in argmax), so pairing an
  image with another image's draws would give a positive eKLD.
  """
  labels = np.array([0, 0, 0, 1, 1], np.int32)
  images = np.stack([_half_background_image(fg) for fg in
                     (60, 200, 250, 100, 240)])
  out = invariance.measure(
      _brightness_logits, {}, images, labels,
      transforms.parse_transform('none'), jax.random.key(2), num_classes=2,
      images_per_class=10, transforms_per_image=3, images_per_batch=2)
  np.testing.assert_allclose(out['ekld'], [0.0, 0.0], atol=1e-6)
  assert out['consistency'] == [1.0, 1.0]
  assert out['images'] == [3, 2]


def test_measure_background_change_matches_expected_ekld():
  """'bg' changes the mean: eKLD and consistency near their expectations.

  The clean image has mean 100 (logits [-1, 0], argmax 1). A background
  value b ~ U{0..99} gives mean 100 + b / 2 and logits [b / 20 - 1, 0], so
  the argmax agrees iff b < 20 (consistency 0.2), and the forward eKLD is
  the average over b of KL(p(-1) || p(b / 20 - 1)) = 0.860 (the reverse KL
  averages 0.610). Draws are fixed by the key, so the test is deterministic;
  the tolerance is about 3 standard errors of the 200-300 draws per class.
  """
  images, labels = _dataset()
  key = jax.random.key(3)
  kwargs = dict(num_classes=2, images_per_class=3, transforms_per_image=100,
                images_per_batch=2)
  out = invariance.measure(_brightness_logits, {}, images, labels, BG, key,
                           **kwargs)
  b = np.arange(100)
  log_p = _np_log_softmax([-1.0, 0.0])
  log_q = _np_log_softmax(np.stack([b / 20 - 1, np.zeros(100)], -1))
  expected = float((np.exp(log_p) * (log_p - log_q)).sum(-1).mean())
  np.testing.assert_allclose(expected, 0.8602, atol=1e-3)
  assert out['images'] == [3, 2]
  for ekld, consistency in zip(out['ekld'], out['consistency']):
    assert ekld > 0.0
    assert abs(ekld - expected) < 0.15
    assert abs(consistency - 0.2) < 0.1
  again = invariance.measure(_brightness_logits, {}, images, labels, BG, key,
                             **kwargs)
  assert again == out
  other = invariance.measure(_brightness_logits, {}, images, labels, BG,
                             jax.random.key(4), **kwargs)
  assert other['ekld'] != out['ekld']


def test_measure_accepts_raw_keys():
  """A raw uint32[2] key gives the same numbers as the typed key it holds."""
  images, labels = _dataset()
  kwargs = dict(num_classes=2, images_per_class=3, transforms_per_image=4,
                images_per_batch=2)
  typed = jax.random.key(5)
  raw = jax.random.key_data(typed)
  out = invariance.measure(_brightness_logits, {}, images, labels, BG, typed,
                           **kwargs)
  assert out == invariance.measure(_brightness_logits, {}, images, labels,
                                   BG, raw, **kwargs)


# ----------------------------------------------------------------------------
# spearman


def test_spearman_perfectly_decreasing_is_minus_one():
  """Values falling as class size grows: rank correlation -1."""
  assert invariance.spearman([10, 20, 30, 40], [4.0, 3.0, 2.5, 0.1]) == (
      pytest.approx(-1.0))
  assert invariance.spearman([5, 1, 3], [1.0, 9.0, 4.0]) == pytest.approx(-1.0)


def test_spearman_ignores_nan_pairs():
  """A NaN value drops its (size, value) pair; the rest stay aligned.

  Kept sizes [1, 3, 4, 5], values [1, 3, 2, 4]: rank differences 0, 1, 1, 0,
  so rho = 1 - 6 * 2 / (4 * 15) = 0.8.
  """
  rho = invariance.spearman([1, 2, 3, 4, 5], [1.0, np.nan, 3.0, 2.0, 4.0])
  assert rho == pytest.approx(0.8)


def test_spearman_needs_three_finite_values():
  """Fewer than 3 finite values (or constant sizes) give NaN."""
  assert math.isnan(invariance.spearman([1, 2, 3], [1.0, np.nan, 2.0]))
  assert math.isnan(invariance.spearman([1, 2, 3, 4],
                                        [np.nan, np.inf, 2.0, 1.0]))
  assert math.isnan(invariance.spearman([7, 7, 7], [1.0, 2.0, 3.0]))
  assert not math.isnan(invariance.spearman([1, 2, 3], [1.0, 3.0, 2.0]))
