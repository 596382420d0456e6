"""The differentiable inner loop (gitjax.bilevel) and the GAN losses.

Reference values come from closed forms, finite differences in float64, a
plain Python loop of optimiser steps, or numpy by hand.
"""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gitjax import bilevel
from gitjax import losses


def _quadratic_unroll(optimizer, num_steps, checkpoint=True):
  """Outer loss 0.5 |theta_K|^2 after K steps on 0.5 a |theta - w|^2."""
  a = 2.0

  def outer(w, theta0):
    inner = lambda theta, _: 0.5 * a * jnp.sum((theta - w) ** 2)
    theta_k, _ = bilevel.unroll(theta0, optimizer.init(theta0), inner,
                                optimizer, num_steps, checkpoint=checkpoint)
    return 0.5 * jnp.sum(theta_k ** 2)
  return outer


@pytest.mark.parametrize('num_steps', [1, 3])
def test_sgd_meta_gradient_matches_the_closed_form(num_steps):
  # theta_K = w + r^K (theta_0 - w) with r = 1 - alpha * a, so
  # d/dw 0.5 theta_K^2 = theta_K (1 - r^K), d/dtheta_0 = theta_K r^K.
  alpha, a = 0.1, 2.0
  w = jnp.array([0.5, -1.0, 2.0])
  theta0 = jnp.array([1.0, 0.0, -3.0])
  outer = _quadratic_unroll(optax.sgd(alpha), num_steps)
  grad_w, grad_theta0 = jax.grad(outer, argnums=(0, 1))(w, theta0)
  r = (1 - alpha * a) ** num_steps
  theta_k = w + r * (theta0 - w)
  np.testing.assert_allclose(grad_w, theta_k * (1 - r), rtol=1e-6)
  np.testing.assert_allclose(grad_theta0, theta_k * r, rtol=1e-6)


def test_adam_meta_gradient_matches_finite_differences_in_float64():
  with jax.enable_x64(True):
    w = jnp.array([0.5, -1.0, 2.0], jnp.float64)
    theta0 = jnp.array([1.0, 0.3, -3.0], jnp.float64)
    for num_steps in (1, 4):
      outer = _quadratic_unroll(bilevel.adam(0.1), num_steps)
      grad = jax.grad(outer)(w, theta0)
      h = 1e-6
      fd = [(outer(w.at[i].add(h), theta0) - outer(w.at[i].add(-h), theta0))
            / (2 * h) for i in range(3)]
      np.testing.assert_allclose(grad, np.array(fd), rtol=1e-5, atol=1e-8)


def test_unroll_equals_a_python_loop_of_steps_with_step_dependent_batches():
  # Adam state carried, step_index picks the batch: values and gradients
  # must equal the same steps written as a Python loop.
  batches = jnp.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]])
  tx = bilevel.adam(0.05, b1=0.5)

  def inner(theta, w, i):
    return jnp.sum((theta * w - batches[i]) ** 2)

  def via_unroll(w, theta):
    theta_k, _ = bilevel.unroll(theta, tx.init(theta),
                                lambda t, i: inner(t, w, i), tx, 3)
    return jnp.sum(theta_k ** 3)

  def via_loop(w, theta):
    state = tx.init(theta)
    for i in range(3):
      updates, state = tx.update(jax.grad(inner)(theta, w, i), state, theta)
      theta = optax.apply_updates(theta, updates)
    return jnp.sum(theta ** 3)

  w, theta = jnp.array([0.7, 1.3]), jnp.array([0.2, -0.4])
  np.testing.assert_allclose(via_unroll(w, theta), via_loop(w, theta),
                             rtol=1e-5)
  chex.assert_trees_all_close(jax.grad(via_unroll, (0, 1))(w, theta),
                              jax.grad(via_loop, (0, 1))(w, theta), rtol=1e-4)


def _masked_meta_gradient(optimizer):
  # The second parameter's inner gradient is exactly zero (mask 0), so
  # Adam's second moment stays 0 there.
  mask = jnp.array([1.0, 0.0])

  def outer(w):
    inner = lambda theta, _: jnp.sum(w * mask * theta)
    theta0 = jnp.ones(2)
    theta_k, _ = bilevel.unroll(theta0, None, inner, optimizer, 2)
    return jnp.sum(theta_k ** 2)
  return jax.grad(outer)(jnp.array([0.5, 0.5]))


def test_adam_with_eps_root_has_finite_meta_gradients_at_zero_gradients():
  # The pitfall: optax's default eps_root = 0 differentiates sqrt at 0.
  assert np.isnan(np.asarray(_masked_meta_gradient(optax.adam(0.1)))).any()
  grad = _masked_meta_gradient(bilevel.adam(0.1))
  assert np.isfinite(np.asarray(grad)).all()
  np.testing.assert_allclose(grad[1], 0.0, atol=1e-6)
  with pytest.raises(ValueError, match='eps_root'):
    bilevel.adam(0.1, eps_root=0.0)


def test_zero_steps_is_the_identity():
  params = {'a': jnp.arange(3.0), 'b': jnp.ones((2, 2))}
  tx = bilevel.adam(0.1)
  state = tx.init(params)
  out_params, out_state = bilevel.unroll(
      params, state, lambda p, _: jnp.sum(p['a'] ** 2), tx, 0)
  chex.assert_trees_all_equal((out_params, out_state), (params, state))
  # Identity for gradients too: d theta_0 / d theta_0 = I.
  grad = jax.grad(lambda p: jnp.sum(bilevel.unroll(
      p, None, lambda q, _: jnp.sum(q ** 2), optax.sgd(0.1), 0)[0] * 3.0))(
          jnp.ones(2))
  np.testing.assert_allclose(grad, 3.0 * np.ones(2))
  with pytest.raises(ValueError, match='num_steps'):
    bilevel.unroll(params, state, lambda p, _: 0.0, tx, -1)


def test_sgd_per_step_uses_each_step_and_tensor_rate_by_hand():
  # f(theta) = 0.5 * (a^2 + 3 b^2): gradients (a, 3 b). Rates: a [0.1, 0.2],
  # b [0.5] (one rate for every step).
  rates = {'a': jnp.array([0.1, 0.2]), 'b': jnp.array([0.5])}
  loss = lambda p, _: 0.5 * (p['a'] ** 2 + 3.0 * p['b'] ** 2)
  theta = {'a': jnp.float32(1.0), 'b': jnp.float32(2.0)}
  tx = bilevel.sgd_per_step(rates)
  out, count = bilevel.unroll(theta, tx.init(theta), loss, tx, 3)
  # a: 1 -> 0.9 -> 0.72 -> 0.576 (steps 1 and 2 reuse the last rate, 0.2);
  # b: 2 -> 2 (1 - 1.5) = -1 -> 0.5 -> -0.25.
  np.testing.assert_allclose(out['a'], 0.576, rtol=1e-6)
  np.testing.assert_allclose(out['b'], -0.25, rtol=1e-6)
  assert int(count) == 3

  # d a_1 / d rate_a0 = -grad = -1; second order: d a_1 / d a_0 = 1 - 0.1;
  # first order keeps the rates' gradient and drops the inner Hessian.
  def a_after_one(r, a0, first_order):
    one = bilevel.sgd_per_step({'a': r}, first_order=first_order)
    return bilevel.unroll({'a': a0}, one.init(None),
                          lambda p, _: 0.5 * p['a'] ** 2, one, 1)[0]['a']
  for first_order, d_a0 in ((False, 0.9), (True, 1.0)):
    g_r, g_a = jax.grad(a_after_one, (0, 1))(jnp.array([0.1]),
                                             jnp.float32(1.0), first_order)
    np.testing.assert_allclose(g_r, [-1.0], rtol=1e-6)
    np.testing.assert_allclose(g_a, d_a0, rtol=1e-6)


@pytest.mark.parametrize('make_tx', [lambda: optax.sgd(0.1),
                                     lambda: bilevel.adam(0.1)])
def test_checkpoint_does_not_change_values_or_gradients(make_tx):
  w = jnp.array([0.5, -1.0, 2.0])
  theta0 = jnp.array([1.0, 0.3, -3.0])
  results = []
  for checkpoint in (True, False):
    outer = jax.jit(_quadratic_unroll(make_tx(), 5, checkpoint=checkpoint))
    results.append((outer(w, theta0), jax.grad(outer, (0, 1))(w, theta0)))
  # Rematerialised float32 arithmetic may fuse differently: ~1e-5 relative.
  chex.assert_trees_all_close(results[0], results[1], rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------------------
# GAN losses
# ---------------------------------------------------------------------------
REAL = np.array([2.0, -1.0, 0.5], np.float32)
FAKE = np.array([[0.0, 1.0], [-2.0, 3.0]], np.float32)  # any shape


def _softplus(x):
  return np.log1p(np.exp(x))


def test_lsgan_losses_by_hand():
  # D: mean((2-1)^2, (-1-1)^2, (0.5-1)^2) = (1 + 4 + 0.25)/3 = 1.75;
  #    mean(0, 1, 4, 9) = 3.5.
  np.testing.assert_allclose(losses.lsgan_d(REAL, FAKE), 1.75 + 3.5,
                             rtol=1e-6)
  # G: mean(1, 0, 9, 4) = 3.5.
  np.testing.assert_allclose(losses.lsgan_g(FAKE), 3.5, rtol=1e-6)


def test_hinge_losses_by_hand():
  # D: mean(relu(1-2), relu(2), relu(0.5)) = 2.5/3;
  #    mean(relu(1), relu(2), relu(-1), relu(4)) = 7/4.
  np.testing.assert_allclose(losses.hinge_d(REAL, FAKE), 2.5 / 3 + 1.75,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_g(FAKE), -0.5, rtol=1e-6)


def test_nonsaturating_losses_by_hand():
  d = np.mean(_softplus(-REAL)) + np.mean(_softplus(FAKE))
  np.testing.assert_allclose(losses.nonsaturating_d(REAL, FAKE), d, rtol=1e-6)
  # -log sigmoid(0) = log 2.
  np.testing.assert_allclose(losses.nonsaturating_g(np.zeros(4)), np.log(2.0),
                             rtol=1e-6)
  np.testing.assert_allclose(losses.nonsaturating_g(FAKE),
                             np.mean(_softplus(-FAKE)), rtol=1e-6)
  np.testing.assert_allclose(losses.minimax_g(FAKE), -np.mean(_softplus(FAKE)),
                             rtol=1e-6)
  # Softplus form stays finite where log(sigmoid) would underflow.
  assert np.isfinite(float(losses.nonsaturating_d(np.array([-200.0]),
                                                  np.array([200.0]))))


@pytest.mark.parametrize('d_fn, g_fn', [
    (losses.lsgan_d, losses.lsgan_g),
    (losses.hinge_d, losses.hinge_g),
    (losses.nonsaturating_d, losses.nonsaturating_g)])
def test_multi_scale_losses_sum_over_scales(d_fn, g_fn):
  real2 = REAL[:2] * 0.5
  fake2 = FAKE[0] - 1.0
  np.testing.assert_allclose(d_fn([REAL, real2], [FAKE, fake2]),
                             d_fn(REAL, FAKE) + d_fn(real2, fake2), rtol=1e-6)
  np.testing.assert_allclose(g_fn([FAKE, fake2]),
                             g_fn(FAKE) + g_fn(fake2), rtol=1e-6)
  with pytest.raises(ValueError, match='scales'):
    d_fn([REAL, real2], [FAKE])
