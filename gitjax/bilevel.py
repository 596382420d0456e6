"""Differentiable inner optimisation, written once for every bilevel problem.

A GAN with an unrolled discriminator (Metz et al. 2016) and MAML (Finn et al.
2017) share one shape: outer parameters w are scored at inner parameters
theta_K(w) reached by K optimiser steps on an inner loss that depends on w.
`unroll` runs those K steps so that `jax.grad` of anything computed from
theta_K reaches w (through the inner loss's closure) and theta_0:

    # Unrolled GAN: generator (outer) against K discriminator steps (inner).
    dis_k, _ = unroll(dis, dis_opt_state,
                      lambda d, i: d_loss(d, generate(gen, z)), adam(1e-4), K)
    # MAML: task adaptation with plain SGD.
    theta_k, _ = unroll(theta, None, task_loss, optax.sgd(alpha), K)

Any optax optimiser works; its state is carried through the steps (Adam's
moments included), so the unrolled trajectory is the one the real optimiser
would take. Differentiating through Adam needs `eps_root > 0`: use `adam`.
"""
import jax
import jax.numpy as jnp
import optax


def scan_steps(body, carry, num_steps, *, unrolled=False):
  """`lax.scan(body, carry, arange(num_steps))`, or the same steps as a
  Python loop (`unrolled`): one copy of the body per step in the graph. On
  XLA's CPU backend the gradient of a convolution inside a scan (or map)
  body runs ~30x slower than the same convolutions unrolled (jax 0.10.2), so
  small K with plain convolutions is unrolled. Returns (carry, stacked
  outputs or None)."""
  if not unrolled:
    return jax.lax.scan(body, carry, jnp.arange(num_steps, dtype=jnp.int32))
  outs = []
  for step in range(num_steps):
    carry, out = body(carry, jnp.int32(step))
    outs.append(out)
  if not outs or outs[0] is None:
    return carry, None
  return carry, jax.tree.map(lambda *xs: jnp.stack(xs), *outs)


def unroll(inner_params, inner_opt_state, inner_loss_fn, optimizer,
           num_steps, *, checkpoint=True, unrolled=False):
  """`num_steps` differentiable optimiser steps on `inner_loss_fn`.

  The steps are one `lax.scan` (one compiled body, whatever `num_steps`;
  `unrolled`: a Python loop).
  Reverse-mode differentiation keeps the carry of every step; with
  `checkpoint` the body is wrapped in `jax.checkpoint`, so only the carries
  are kept and each body's intermediates are recomputed on the way back
  (REFERENCE: 10 unrolled discriminator steps need ~5x less memory for ~7%
  more time).

  Args:
    inner_params: pytree theta_0 of the inner player.
    inner_opt_state: `optimizer`'s state for `inner_params`, or None to start
      from `optimizer.init(inner_params)` (MAML, plain SGD).
    inner_loss_fn: `(params, step_index) -> scalar`. Outer parameters enter
      through its closure; gradients flow to them. `step_index` (int32 scalar
      0..num_steps-1) lets a caller vary the batch per step.
    optimizer: an `optax.GradientTransformation`.
    num_steps: Python int >= 0, the number of steps K (static).
    checkpoint: rematerialise each step in the backward pass.
    unrolled: a Python loop instead of the scan (`scan_steps`).

  Returns:
    (params_K, opt_state_K). With num_steps == 0 the inputs come back
    unchanged (the opt state initialised if it was None).
  """
  if not isinstance(num_steps, int) or num_steps < 0:
    raise ValueError(f'num_steps must be a Python int >= 0, got {num_steps!r}')
  if inner_opt_state is None:
    inner_opt_state = optimizer.init(inner_params)
  if num_steps == 0:
    return inner_params, inner_opt_state

  def body(carry, step_index):
    params, opt_state = carry
    grads = jax.grad(inner_loss_fn)(params, step_index)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  if checkpoint:
    body = jax.checkpoint(body)
  (params, opt_state), _ = scan_steps(
      body, (inner_params, inner_opt_state), num_steps, unrolled=unrolled)
  return params, opt_state


def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=1e-8):
  """`optax.adam` that can be differentiated through.

  Adam divides by sqrt(v_hat + eps_root). With optax's default eps_root = 0,
  a gradient entry that is exactly zero (a dead ReLU, an unused parameter)
  keeps v = 0 there, and the derivative of sqrt at 0 is infinite: the
  backward pass multiplies inf by a zero cotangent and the meta-gradient
  becomes NaN everywhere it reaches. eps_root > 0 keeps sqrt away from 0; the
  forward update changes by a negligible amount.

  Args:
    learning_rate: float or optax schedule.
    b1: first-moment decay.
    b2: second-moment decay.
    eps: added to sqrt(v_hat) (as in optax.adam).
    eps_root: added to v_hat inside the sqrt; must be > 0 to differentiate.

  Returns:
    An optax.GradientTransformation.
  """
  if not eps_root > 0:
    raise ValueError(f'eps_root must be > 0 to differentiate through Adam, '
                     f'got {eps_root}')
  return optax.adam(learning_rate, b1=b1, b2=b2, eps=eps, eps_root=eps_root)


def sgd_per_step(learning_rates, *, first_order=False):
  """Plain SGD whose step size depends on the step and the parameter tensor.

  MAML++ / Meta-SGD learn one inner learning rate per layer and per step:
  `learning_rates` has the structure of the parameters, each leaf a vector
  [S] of rates for steps 0..S-1 (steps beyond S-1 reuse the last rate, so an
  evaluation may adapt for longer than training did). The rates enter the
  update through this closure, so `jax.grad` of anything computed from
  `unroll`'s result reaches them.

  Args:
    learning_rates: pytree matching the parameters, leaves float [S], S >= 1.
    first_order: treat each inner gradient as a constant (first-order MAML):
      d theta_{k+1} / d theta_k = I, and the rates still get gradients.

  Returns:
    An optax.GradientTransformation whose state is the step count.
  """

  def init(params):
    del params
    return jnp.zeros((), jnp.int32)

  def update(grads, count, params=None):
    del params
    if first_order:
      grads = jax.lax.stop_gradient(grads)

    def scaled(rates, grad):
      rate = rates[jnp.minimum(count, rates.shape[0] - 1)]
      return -rate.astype(grad.dtype) * grad

    return jax.tree.map(scaled, learning_rates, grads), count + 1

  return optax.GradientTransformation(init, update)
