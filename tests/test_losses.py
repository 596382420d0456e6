"""Tests for the classification losses in gitjax.losses.

Reference values are written out with numpy, from the definitions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax import losses

LOGITS = np.array([[2.0, 1.0, 0.1],
                   [0.5, 2.5, -1.0],
                   [0.0, 0.0, 3.0]], np.float32)
LABELS = np.array([0, 2, 2], np.int32)
WEIGHTS = np.array([1.0, 2.0, 0.5], np.float32)


def _np_ce(logits, labels):
  """Per-example CE with a numpy log-softmax."""
  z = logits - logits.max(axis=1, keepdims=True)
  log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
  return -log_probs[np.arange(len(labels)), labels]


def test_cross_entropy_matches_numpy():
  ce = _np_ce(LOGITS, LABELS)
  # Example 0 by hand: log(e^2 + e^1 + e^0.1) - 2.
  np.testing.assert_allclose(
      ce[0], np.log(np.exp(2.0) + np.exp(1.0) + np.exp(0.1)) - 2.0, rtol=1e-6)
  np.testing.assert_allclose(losses.cross_entropy(LOGITS, LABELS),
                             ce.mean(), rtol=1e-6)


def test_weighted_cross_entropy_is_pytorch_weighted_mean():
  ce = _np_ce(LOGITS, LABELS)
  w = WEIGHTS[LABELS]  # [1.0, 0.5, 0.5]
  expected = (1.0 * ce[0] + 0.5 * ce[1] + 0.5 * ce[2]) / (1.0 + 0.5 + 0.5)
  np.testing.assert_allclose(losses.cross_entropy(LOGITS, LABELS, WEIGHTS),
                             expected, rtol=1e-6)
  np.testing.assert_allclose(expected, (w * ce).sum() / w.sum(), rtol=1e-6)
  # Invariant to the overall scale of the weights.
  np.testing.assert_allclose(
      losses.cross_entropy(LOGITS, LABELS, 10.0 * WEIGHTS), expected,
      rtol=1e-6)


def test_ldam_margins_by_hand():
  # n^-1/4 = [100^-0.25, 10^-0.25, 1] = [0.316228, 0.562341, 1.0];
  # rescaled by 0.5 / 1.0 (the rarest class gets the max margin).
  expected = 0.5 * np.array([100 ** -0.25, 10 ** -0.25, 1.0])
  np.testing.assert_allclose(expected, [0.158114, 0.281171, 0.5], rtol=1e-5)
  np.testing.assert_allclose(losses.ldam_margins([100, 10, 1]), expected,
                             rtol=1e-6)
  np.testing.assert_allclose(
      losses.ldam_margins([100, 10, 1], max_margin=1.0), 2 * expected,
      rtol=1e-6)


def test_ldam_loss_by_hand():
  cos = np.array([[0.8, 0.1, -0.2],
                  [0.3, 0.4, 0.5]], np.float32)
  labels = np.array([0, 2])
  margins = np.array([0.1, 0.2, 0.5], np.float32)
  s = 30.0
  # Example 0: true class 0, logit 0.8 - 0.1 = 0.7 -> s * [0.7, 0.1, -0.2].
  z0 = s * np.array([0.7, 0.1, -0.2])
  # Example 1: true class 2, logit 0.5 - 0.5 = 0.0 -> s * [0.3, 0.4, 0.0].
  z1 = s * np.array([0.3, 0.4, 0.0])
  l0 = np.log(np.exp(z0).sum()) - z0[0]
  l1 = np.log(np.exp(z1).sum()) - z1[2]
  np.testing.assert_allclose(losses.ldam_loss(cos, labels, margins, s),
                             (l0 + l1) / 2, rtol=1e-5)
  w = np.array([1.0, 1.0, 3.0], np.float32)
  np.testing.assert_allclose(
      losses.ldam_loss(cos, labels, margins, s, weights=w),
      (1.0 * l0 + 3.0 * l1) / 4.0, rtol=1e-5)
  # Zero margins reduce to scaled cross-entropy.
  np.testing.assert_allclose(
      losses.ldam_loss(cos, labels, np.zeros(3), s),
      losses.cross_entropy(s * cos, labels), rtol=1e-6)


def test_focal_gamma0_is_cross_entropy():
  np.testing.assert_allclose(losses.focal_loss(LOGITS, LABELS, gamma=0.0),
                             losses.cross_entropy(LOGITS, LABELS), rtol=1e-6)


def test_focal_gamma1_by_hand():
  ce = _np_ce(LOGITS, LABELS)
  p = np.exp(-ce)  # Probability of the true class.
  expected = np.mean((1 - p) * ce)
  np.testing.assert_allclose(losses.focal_loss(LOGITS, LABELS, gamma=1.0),
                             expected, rtol=1e-5)
  np.testing.assert_allclose(losses.focal_loss(LOGITS, LABELS, gamma=2.0),
                             np.mean((1 - p) ** 2 * ce), rtol=1e-5)


def test_focal_weighted_follows_ldam_repo():
  # The repo: ce_w = w_y * ce (reduction='none'), p = exp(-ce_w),
  # loss = mean((1 - p)^gamma * ce_w), plain mean.
  ce_w = WEIGHTS[LABELS] * _np_ce(LOGITS, LABELS)
  expected = np.mean((1 - np.exp(-ce_w)) * ce_w)
  np.testing.assert_allclose(
      losses.focal_loss(LOGITS, LABELS, gamma=1.0, weights=WEIGHTS),
      expected, rtol=1e-5)


@pytest.mark.parametrize('gamma', [0.0, 0.5, 1.0, 2.0])
def test_focal_gradient_finite_when_perfectly_classified(gamma):
  logits = jnp.array([[100.0, -100.0, -100.0]])
  grad = jax.grad(losses.focal_loss)(logits, jnp.array([0]), gamma)
  assert np.all(np.isfinite(grad))


def test_effective_number_weights_by_hand():
  sizes = [1000, 10]
  for beta in (0.99, 0.9999):
    raw = np.array([(1 - beta) / (1 - beta ** 1000),
                    (1 - beta) / (1 - beta ** 10)])
    expected = raw / raw.sum() * 2
    got = losses.effective_number_weights(sizes, beta)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(np.sum(got), 2.0, rtol=1e-6)
  # beta = 0.99: 1 - 0.99^1000 ~ 1 and 1 - 0.99^10 = 0.095618, so the rare
  # class weighs ~10.46x more: 2 * [1.000043, 10.45828] / 11.45832.
  np.testing.assert_allclose(losses.effective_number_weights(sizes, 0.99),
                             [0.174553, 1.825447], rtol=1e-5)
  # beta = 0: uniform weights.
  np.testing.assert_allclose(losses.effective_number_weights(sizes, 0.0),
                             [1.0, 1.0])


def test_effective_number_weights_rejects_bad_beta():
  with pytest.raises(ValueError):
    losses.effective_number_weights([10, 1], beta=1.0)


def test_all_losses_jit():
  margins = losses.ldam_margins([100, 10, 1])
  weights = losses.effective_number_weights([100, 10, 1], 0.999)
  cos = jnp.clip(jnp.asarray(LOGITS) / 4.0, -1.0, 1.0)
  cases = [
      (jax.jit(losses.cross_entropy), (LOGITS, LABELS, WEIGHTS),
       losses.cross_entropy(LOGITS, LABELS, WEIGHTS)),
      (jax.jit(losses.ldam_loss), (cos, LABELS, margins, 30.0, weights),
       losses.ldam_loss(cos, LABELS, margins, 30.0, weights)),
      (jax.jit(losses.focal_loss), (LOGITS, LABELS, 1.5, WEIGHTS),
       losses.focal_loss(LOGITS, LABELS, 1.5, WEIGHTS)),
      (jax.jit(losses.ldam_margins), ([100.0, 10.0, 1.0],), margins),
      (jax.jit(losses.effective_number_weights), ([100, 10, 1], 0.999),
       weights),
  ]
  for fn, args, expected in cases:
    np.testing.assert_allclose(fn(*args), expected, rtol=1e-5)
