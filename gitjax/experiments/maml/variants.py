"""What distinguishes plain MAML, MAML++ and ANIL, as pure functions.

`config.maml.variant` names the algorithm:

* 'maml' (default): Finn et al. 2017 as cbfinn/maml runs it: fixed inner
  rates, the inner loss summed over the support set and divided by K
  (`inner_loss='cbfinn_sum'`: N x the mean cross-entropy), one BN
  offset set shared by all steps, second order, constant Adam. The switches
  `learn_inner_lr`, `multi_step_loss` and `per_step_bn` add single MAML++
  components to it (ablations).
* 'maml++': Antoniou et al. 2019 as HowToTrainYourMAMLPytorch runs it:
  learned per-layer per-step inner rates (LSLR), the multi-step loss with its
  epoch staircase (`msl_weights`), per-step BN (scale/offset and, with
  `bn_mode='running'`, running statistics per step), derivative-order
  annealing (first order for the first `first_order_epochs` epochs), a
  cosine outer learning rate down to `min_outer_lr`, and the test run on the
  meta-parameters with the best meta-val accuracy.
* 'anil': Raghu et al. 2020: MAML whose inner loop adapts only the head; the
  body is meta-learned in the outer loop only.

An epoch is `epoch_steps` meta-steps (HowToTrain: 500 iterations).
"""
import dataclasses

import jax
import jax.numpy as jnp
import optax

VARIANTS = ('maml', 'maml++', 'anil')
BN_MODES = ('transductive', 'running')
INNER_LOSSES = ('cbfinn_sum', 'mean')
# Running-statistics decay (flax convention; PyTorch's momentum 0.1, as
# HowToTrain's BN layers).
RUNNING_MOMENTUM = 0.9
# HowToTrain's floor of a non-final step's multi-step-loss weight, times K.
MSL_FLOOR = 0.03


@dataclasses.dataclass(frozen=True)
class Features:
  """The algorithm components a config turns on (see the module doc)."""
  learn_inner_lr: bool
  multi_step_loss: bool
  per_step_bn: bool
  head_only: bool          # ANIL: the inner loop adapts only the head
  cosine_lr: bool
  select_best: bool
  first_order_epochs: int  # derivative-order annealing (0 = off)


def features(m):
  """Features of a maml config section."""
  plus = m.variant == 'maml++'
  return Features(
      learn_inner_lr=plus or m.learn_inner_lr,
      multi_step_loss=plus or m.multi_step_loss,
      per_step_bn=plus or m.per_step_bn,
      head_only=m.variant == 'anil',
      cosine_lr=plus, select_best=plus,
      first_order_epochs=m.first_order_epochs if plus else 0)


def epoch_of(step, epoch_steps):
  """The epoch (int) that meta-step `step` (0-based) belongs to."""
  return step // epoch_steps


def msl_weights(epoch, num_steps, msl_epochs):
  """MAML++ multi-step loss weights [K] of an epoch (HowToTrain's staircase).

  Epoch 0: uniform 1/K. Each epoch every non-final weight falls by
  1 / K / msl_epochs down to a floor of 0.03 / K, and the final one grows by
  (K - 1) times that, capped at 1 - (K - 1) x floor. From epoch `msl_epochs`
  on, the final step only (weight 1).
  """
  k = max(num_steps, 1)
  epoch = jnp.asarray(epoch, jnp.float32)
  decay = 1.0 / k / msl_epochs
  floor = MSL_FLOOR / k
  non_final = jnp.maximum(1.0 / k - epoch * decay, floor)
  final = jnp.minimum(1.0 / k + epoch * (k - 1) * decay, 1.0 - (k - 1) * floor)
  annealed = jnp.concatenate([jnp.full((k - 1,), non_final), final[None]])
  return jnp.where(epoch < msl_epochs, annealed, jax.nn.one_hot(k - 1, k))


def first_order_at(epoch, first_order_epochs):
  """Derivative-order annealing: first order while epoch < N (bool)."""
  return epoch < first_order_epochs


def inner_loss_scale(inner_loss, ways):
  """Factor on the mean support cross-entropy: cbfinn/maml divides each
  example's loss by K and sums over the N x K support images (N x mean)."""
  return float(ways) if inner_loss == 'cbfinn_sum' else 1.0


def outer_lr(outer_lr_value, min_outer_lr, meta_steps, cosine):
  """The outer learning rate: a constant, or (MAML++) a cosine decay from
  `outer_lr_value` to `min_outer_lr` over `meta_steps` (per meta-step;
  HowToTrain steps it per epoch)."""
  if not cosine:
    return outer_lr_value
  return optax.cosine_decay_schedule(outer_lr_value, meta_steps,
                                     alpha=min_outer_lr / outer_lr_value)


def inner_split(fast, head_only):
  """(adapted, frozen) parts of the fast weights: ANIL adapts the head."""
  if not head_only:
    return fast, {}
  return ({k: v for k, v in fast.items() if k == 'head'},
          {k: v for k, v in fast.items() if k != 'head'})


def init_running_stats(slow, per_step_bn, num_steps):
  """BN running statistics {'bnI': {'mean', 'var'}}, leaves [C] or, with
  per-step BN, [K + 1, C] (set k used after k inner steps)."""
  def one(p):
    shape = p['bias'].shape[-1:]
    if per_step_bn:
      shape = (num_steps + 1,) + shape
    return {'mean': jnp.zeros(shape, jnp.float32),
            'var': jnp.ones(shape, jnp.float32)}
  return {name: one(p) for name, p in slow.items()}


def update_running_stats(running, batch_stats, per_step_bn):
  """Folds a meta-step's batch statistics (leaves [K + 1, C], per step) into
  the running averages; without per-step BN the steps are averaged."""
  if not per_step_bn:
    batch_stats = jax.tree.map(lambda x: x.mean(0), batch_stats)
  return jax.tree.map(
      lambda r, b: RUNNING_MOMENTUM * r + (1.0 - RUNNING_MOMENTUM) * b,
      running, jax.lax.stop_gradient(batch_stats))
