"""The unrolled-GAN ring's pure parts: the 2-D data, the two MLPs, the
jitted train step (D step, then the G step through K unrolled D steps) and the
mode-coverage criterion (see run.py for the experiment)."""
import dataclasses
import functools
import json
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct

from gitjax import bilevel
from gitjax import rngs
from gitjax import losses

_GEN_LOSSES = {'nonsaturating': losses.nonsaturating_g,
               'minimax': losses.minimax_g}


class MLP(nn.Module):
  """`input_scale * x` -> hidden_layers x [Dense(hidden), ReLU] -> Dense(out)."""
  hidden: int
  hidden_layers: int
  out: int
  input_scale: float = 1.0
  init_scale: float = 0.8     # gain of the orthogonal kernels (Metz et al.)

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.orthogonal(self.init_scale)
    x = x * self.input_scale
    for _ in range(self.hidden_layers):
      x = nn.relu(nn.Dense(self.hidden, kernel_init=init)(x))
    return nn.Dense(self.out, kernel_init=init)(x)


def mode_centres(num_modes, radius):
  """[M, 2] float32 centres, evenly spaced on the circle, the first at (r, 0)."""
  angles = 2 * np.pi * np.arange(num_modes) / num_modes
  return (radius * np.stack([np.cos(angles), np.sin(angles)], -1)).astype(
      np.float32)


def sample_ring(rng, n, centres, std):
  """[n, 2] samples of the equal-weight mixture of Gaussians at `centres`."""
  rng_mode, rng_noise = jax.random.split(rng)
  centres = jnp.asarray(centres, jnp.float32)
  modes = jax.random.randint(rng_mode, (n,), 0, centres.shape[0])
  return centres[modes] + std * jax.random.normal(rng_noise, (n, 2))


@struct.dataclass
class RingState:
  step: jax.Array          # int32 scalar: iterations done
  params: Any              # {'gen': ..., 'dis': ...}
  opt_state: Any           # {'gen': ..., 'dis': ...}


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity
class Statics:
  """Everything about a step that is fixed for a run."""
  gen: nn.Module
  dis: nn.Module
  gen_tx: Any              # optax.GradientTransformation
  dis_tx: Any              # differentiable Adam (eps_root > 0)
  unroll_steps: int
  unroll_checkpoint: bool
  gen_loss: str            # a key of _GEN_LOSSES
  batch_size: int
  latent_dim: int
  centres: tuple           # ((x, y), ...) mode centres
  std: float
  seed: int


def make_statics(config):
  """Networks, optimisers and step constants from a config.

  The same settings give the same (cached) object, so the jitted step, which
  is keyed on it, compiles once per process even across runs (tests, resume).
  """
  return _cached_statics(json.dumps(config.ring.to_dict(), sort_keys=True),
                         config.seed)


@functools.lru_cache(maxsize=16)
def _cached_statics(ring_json, seed):
  r = ml_collections.ConfigDict(json.loads(ring_json))
  return Statics(
      gen=MLP(r.gen_hidden, r.gen_layers, 2, init_scale=r.init_scale),
      dis=MLP(r.dis_hidden, r.dis_layers, 1, input_scale=r.dis_input_scale,
              init_scale=r.init_scale),
      gen_tx=optax.adam(r.gen_lr, b1=r.beta1, b2=r.beta2),
      dis_tx=bilevel.adam(r.dis_lr, b1=r.beta1, b2=r.beta2,
                          eps_root=r.eps_root),
      unroll_steps=r.unroll_steps, unroll_checkpoint=r.unroll_checkpoint,
      gen_loss=r.gen_loss, batch_size=r.batch_size, latent_dim=r.latent_dim,
      centres=tuple(map(tuple, mode_centres(r.num_modes, r.radius).tolist())),
      std=r.std, seed=seed)


def init_state(statics):
  """Fresh parameters and optimiser states of both players."""
  rng_init = rngs.jax_key(statics.seed, 'ring-init')
  rng_gen, rng_dis = jax.random.split(rng_init)
  gen = statics.gen.init(rng_gen, jnp.zeros((1, statics.latent_dim)))['params']
  dis = statics.dis.init(rng_dis, jnp.zeros((1, 2)))['params']
  return RingState(step=jnp.zeros((), jnp.int32),
                   params={'gen': gen, 'dis': dis},
                   opt_state={'gen': statics.gen_tx.init(gen),
                              'dis': statics.dis_tx.init(dis)})


def eval_latents(statics, n):
  """The fixed z of every evaluation, so snapshots show the same points."""
  rng_eval = rngs.jax_key(statics.seed, 'ring-eval')
  return jax.random.normal(rng_eval, (n, statics.latent_dim))


def train_step(state, *, statics):
  """One iteration: a D step, then a G step through K unrolled D steps."""
  s = statics
  rng = rngs.jax_key(s.seed, 'ring-train', state.step)
  rng_real_d, rng_z_d, rng_real_g, rng_z_g = jax.random.split(rng, 4)
  shape_z = (s.batch_size, s.latent_dim)

  def dis_loss(dis_params, real, fake):
    logits = s.dis.apply({'params': dis_params},
                         jnp.concatenate([real, fake]))  # [2B, 1]
    return losses.nonsaturating_d(logits[:s.batch_size],
                                  logits[s.batch_size:])

  gen, dis = state.params['gen'], state.params['dis']
  real = sample_ring(rng_real_d, s.batch_size, s.centres, s.std)
  fake = s.gen.apply({'params': gen}, jax.random.normal(rng_z_d, shape_z))
  loss_d, grads_d = jax.value_and_grad(dis_loss)(
      dis, real, jax.lax.stop_gradient(fake))
  updates, dis_opt = s.dis_tx.update(grads_d, state.opt_state['dis'], dis)
  dis = optax.apply_updates(dis, updates)

  # The generator is scored against the discriminator's future: K more steps
  # of D's own optimiser on this batch, which depend on the generated points,
  # so the gradient also says how D would react to a move of G (K = 0: the
  # plain GAN gradient).
  real_g = sample_ring(rng_real_g, s.batch_size, s.centres, s.std)
  z_g = jax.random.normal(rng_z_g, shape_z)

  def gen_loss(gen_params):
    fake = s.gen.apply({'params': gen_params}, z_g)  # [B, 2]
    dis_k, _ = bilevel.unroll(
        dis, dis_opt, lambda d, _: dis_loss(d, real_g, fake), s.dis_tx,
        s.unroll_steps, checkpoint=s.unroll_checkpoint)
    return _GEN_LOSSES[s.gen_loss](s.dis.apply({'params': dis_k}, fake))

  loss_g, grads_g = jax.value_and_grad(gen_loss)(gen)
  updates, gen_opt = s.gen_tx.update(grads_g, state.opt_state['gen'], gen)
  gen = optax.apply_updates(gen, updates)
  metrics = {'loss_d': loss_d, 'loss_g': loss_g,
             'grad_norm_d': optax.tree.norm(grads_d),
             'grad_norm_g': optax.tree.norm(grads_g)}
  return RingState(step=state.step + 1, params={'gen': gen, 'dis': dis},
                   opt_state={'gen': gen_opt, 'dis': dis_opt}), metrics


# Jitted once for the process; `statics` is hashed by identity.
train_step_jit = jax.jit(train_step, static_argnames='statics',
                         donate_argnames='state')


@functools.partial(jax.jit, static_argnames='statics')
def generate(gen_params, z, *, statics):
  """Generated points [N, 2] for latents z [N, latent_dim]."""
  return statics.gen.apply({'params': gen_params}, z)


def ring_metrics(samples, centres, std, quality_stds=3.0, min_samples=20):
  """Mode coverage of [N, 2] samples (numpy); see the module docstring."""
  samples = np.asarray(samples, np.float64)
  centres = np.asarray(centres, np.float64)
  dist = np.linalg.norm(samples[:, None] - centres[None], axis=-1)  # [N, M]
  nearest = np.argmin(np.nan_to_num(dist, nan=np.inf), axis=1)
  high_quality = dist[np.arange(len(samples)), nearest] <= quality_stds * std
  counts = np.bincount(nearest[high_quality], minlength=len(centres))
  if counts.sum():
    p = counts[counts > 0] / counts.sum()
    kl = float(np.sum(p * np.log(p * len(centres))))
  else:
    kl = math.log(len(centres))
  return {'modes_covered': int(np.sum(counts >= min_samples)),
          'hq_fraction': float(high_quality.mean()) if len(samples) else 0.0,
          'mode_kl': kl, 'mode_counts': counts.tolist()}
