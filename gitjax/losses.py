"""Losses, organised by section.

Classification losses of the long-tail baselines the paper compares (CE, CE
with re-weighting, LDAM, focal) and the class re-weighting used by DRW.
All functions are pure jnp, jittable, take integer labels [B] and logits
[B, K], and return a scalar mean unless documented otherwise. Reductions
mirror the PyTorch reference code (LDAM-DRW, Cao et al. 2019), so that loss
values and learning dynamics are comparable.
"""

import math
from typing import Optional

import jax
import jax.numpy as jnp

# ---------------------------------------------------------------------------
# Classification: helpers
# ---------------------------------------------------------------------------


def per_example_cross_entropy(logits: jax.Array,
                              labels: jax.Array) -> jax.Array:
  """Unreduced cross-entropy -log softmax(logits)[label].

  Args:
    logits: [B, K].
    labels: integer labels [B].

  Returns:
    [B] per-example losses.
  """
  log_probs = jax.nn.log_softmax(logits, axis=-1)  # [B, K]
  return -jnp.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]


def _example_weights(labels: jax.Array,
                     weights: Optional[jax.Array]) -> Optional[jax.Array]:
  """Per-class weights [K] gathered per example [B], or None."""
  if weights is None:
    return None
  return jnp.asarray(weights)[labels]


# ---------------------------------------------------------------------------
# Classification losses
# ---------------------------------------------------------------------------


def cross_entropy(logits: jax.Array, labels: jax.Array,
                  weights: Optional[jax.Array] = None) -> jax.Array:
  """Mean cross-entropy, optionally class-weighted like PyTorch.

  With per-class `weights` [K] this is `F.cross_entropy(weight=weights)`:
  sum_i(w_{y_i} * ce_i) / sum_i(w_{y_i}), a weighted *mean*, so the loss
  scale does not change with the weights' overall scale.

  Args:
    logits: [B, K].
    labels: integer labels [B].
    weights: optional per-class weights [K].

  Returns:
    Scalar loss.
  """
  ce = per_example_cross_entropy(logits, labels)  # [B]
  w = _example_weights(labels, weights)
  if w is None:
    return jnp.mean(ce)
  return jnp.sum(w * ce) / jnp.sum(w)


def ldam_margins(class_sizes, max_margin: float = 0.5) -> jax.Array:
  """LDAM per-class margins m_c proportional to n_c^(-1/4) (Cao et al. 2019).

  Rescaled so that the largest margin (that of the rarest class) equals
  `max_margin`.

  Args:
    class_sizes: [K] positive training counts per class.
    max_margin: the largest margin (C in the paper's m_c = C / n_c^(1/4)).

  Returns:
    [K] float32 margins.
  """
  n = jnp.asarray(class_sizes, jnp.float32)
  m = n ** -0.25  # [K]
  return m * (max_margin / jnp.max(m))


def ldam_loss(logits: jax.Array, labels: jax.Array, margins: jax.Array,
              scale: float = 30.0,
              weights: Optional[jax.Array] = None) -> jax.Array:
  """Label-Distribution-Aware Margin loss.

  The margin of the true class is subtracted from its logit (a cosine from
  the normed head), all logits are multiplied by `scale` and the
  (class-weighted, as `cross_entropy`) cross-entropy is taken. DRW passes the
  effective-number weights as `weights` in the second training phase.

  Args:
    logits: [B, K] cosine logits.
    labels: integer labels [B].
    margins: [K] per-class margins, e.g. from `ldam_margins`.
    scale: the `s` multiplier applied after the margin.
    weights: optional per-class weights [K].

  Returns:
    Scalar loss.
  """
  num_classes = logits.shape[-1]
  one_hot = jax.nn.one_hot(labels, num_classes, dtype=logits.dtype)  # [B, K]
  batch_margins = jnp.asarray(margins, logits.dtype)[labels]  # [B]
  shifted = logits - one_hot * batch_margins[:, None]  # [B, K]
  return cross_entropy(scale * shifted, labels, weights)


def focal_loss(logits: jax.Array, labels: jax.Array, gamma: float = 1.0,
               weights: Optional[jax.Array] = None) -> jax.Array:
  """Focal loss exactly as the LDAM-DRW repository computes it.

  That code does `ce = F.cross_entropy(logits, y, weight=w,
  reduction='none')` (i.e. ce_i = w_{y_i} * CE_i), `p = exp(-ce)` and
  returns `mean((1 - p)^gamma * ce)`. So, deliberately reproduced here:

  * the reduction is a plain mean over the batch, NOT divided by the sum of
    the weights (unlike `cross_entropy`);
  * with weights, p is computed from the *weighted* CE, so it is not the
    model probability of the true class. Without weights it is.

  With gamma = 0 and no weights this equals `cross_entropy`.

  Args:
    logits: [B, K].
    labels: integer labels [B].
    gamma: focusing parameter >= 0.
    weights: optional per-class weights [K].

  Returns:
    Scalar loss.
  """
  ce = per_example_cross_entropy(logits, labels)  # [B]
  w = _example_weights(labels, weights)
  if w is not None:
    ce = w * ce
  # 1 - exp(-ce) via expm1 is accurate for small ce. The floor keeps the
  # gradient of x**gamma finite at x = 0 for gamma < 1 (0**-1 would give
  # 0 * inf = NaN for gamma = 0 on perfectly classified examples).
  one_minus_p = jnp.maximum(-jnp.expm1(-ce), jnp.finfo(ce.dtype).tiny)
  return jnp.mean(one_minus_p ** gamma * ce)


# ---------------------------------------------------------------------------
# Class re-weighting
# ---------------------------------------------------------------------------


def effective_number_weights(class_sizes, beta: float = 0.9999) -> jax.Array:
  """Class-balanced weights (1 - beta) / (1 - beta^n_c), summing to K.

  Cui et al. (2019); the normalisation to sum K is the one of the LDAM-DRW
  code. Since the (1 - beta) factor cancels in the normalisation, the weights
  are computed as K * u_c / sum(u) with u_c = 1 / (1 - beta^n_c), and
  1 - beta^n as -expm1(n * log(beta)): this avoids float32 cancellation for
  beta close to 1 (1 - 0.9999 in float32 is off by ~2e-4 relative).

  Args:
    class_sizes: [K] positive counts.
    beta: in [0, 1). beta -> 1 tends to inverse-frequency weights, beta = 0
      gives uniform weights.

  Returns:
    [K] float32 weights summing to K.
  """
  n = jnp.asarray(class_sizes, jnp.float32)
  if isinstance(beta, (int, float)):
    if not 0.0 <= beta < 1.0:
      raise ValueError(f'beta must be in [0, 1), got {beta}.')
    # Python float64 log, then float32: precise even for beta = 0.9999.
    log_beta = math.log(beta) if beta > 0 else -math.inf
  else:
    log_beta = jnp.log(jnp.asarray(beta, jnp.float32))
  inv_effective = 1.0 / -jnp.expm1(n * log_beta)  # [K]
  return inv_effective * (n.shape[0] / jnp.sum(inv_effective))


# ---------------------------------------------------------------------------
# GAN losses
# ---------------------------------------------------------------------------
# Each takes discriminator logits: one array, or a list with one array per
# scale of a multi-scale discriminator (MUNIT); per-scale losses are means
# over all entries of that scale's array, summed over the scales, as the
# multi-scale MUNIT code does. Discriminator losses take the real and the
# fake logits with the same number of scales.


def _scales(logits):
  """One array or a list/tuple of per-scale arrays -> list of arrays."""
  if isinstance(logits, (list, tuple)):
    return list(logits)
  return [logits]


def _paired_scales(real_logits, fake_logits):
  real, fake = _scales(real_logits), _scales(fake_logits)
  if len(real) != len(fake):
    raise ValueError(f'{len(real)} real but {len(fake)} fake logit scales')
  return zip(real, fake)


def lsgan_d(real_logits, fake_logits) -> jax.Array:
  """Least-squares D loss (MUNIT): mean((real - 1)^2) + mean(fake^2)."""
  return sum(jnp.mean((r - 1.0) ** 2) + jnp.mean(f ** 2)
             for r, f in _paired_scales(real_logits, fake_logits))


def lsgan_g(fake_logits) -> jax.Array:
  """Least-squares G loss (MUNIT): mean((fake - 1)^2)."""
  return sum(jnp.mean((f - 1.0) ** 2) for f in _scales(fake_logits))


def hinge_d(real_logits, fake_logits) -> jax.Array:
  """Hinge D loss: mean(relu(1 - real)) + mean(relu(1 + fake))."""
  return sum(jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))
             for r, f in _paired_scales(real_logits, fake_logits))


def hinge_g(fake_logits) -> jax.Array:
  """Hinge G loss: -mean(fake)."""
  return sum(-jnp.mean(f) for f in _scales(fake_logits))


def nonsaturating_d(real_logits, fake_logits) -> jax.Array:
  """Standard GAN D loss, -log D(x) - log(1 - D(G(z))) with D = sigmoid.

  In softplus form, -log sigmoid(l) = softplus(-l) and
  -log(1 - sigmoid(l)) = softplus(l), which is exact for large |l| where
  log(sigmoid) would underflow.
  """
  return sum(jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(f))
             for r, f in _paired_scales(real_logits, fake_logits))


def nonsaturating_g(fake_logits) -> jax.Array:
  """Non-saturating G loss, -log D(G(z)) = mean(softplus(-fake))."""
  return sum(jnp.mean(jax.nn.softplus(-f)) for f in _scales(fake_logits))


def minimax_g(fake_logits) -> jax.Array:
  """Saturating (minimax) G loss, log(1 - D(G(z))) = -mean(softplus(fake)).

  The generator half of the zero-sum game whose D half is
  `nonsaturating_d`; its gradient vanishes where D confidently rejects the
  fakes, which is why `nonsaturating_g` is the usual choice.
  """
  return sum(-jnp.mean(jax.nn.softplus(f)) for f in _scales(fake_logits))
