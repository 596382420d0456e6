r"""Experiment `unrolled_ring`: an unrolled GAN on a ring of Gaussians.

The 2-D toy of Metz et al. (2016, appendix A): 8 Gaussians (std 0.02) on a
circle of radius 2; generator MLP 256 -> 128 -> 128 -> 2 (ReLU), discriminator
MLP that scales its input by 1/4, then 128 ReLU units -> 1 logit; orthogonal
initialisation with gain 0.8; Adam with b1 = 0.5; batch 512. With
`unroll_steps = K > 0` the generator's loss is evaluated at the discriminator
that K further steps of the discriminator's own Adam (state carried) would
reach from its current parameters on the current batch (`bilevel.unroll`),
and the generator's gradient flows through those K steps. The unrolled
steps reuse one batch (real points and the generated points being scored),
as Poole's public demo of the paper does. The real discriminator takes one
ordinary step per iteration, on its own fresh batch, before the G step.

Evaluation (VEEGAN / PacGAN criterion) on `eval_samples` generated points:
a sample is *high quality* if it lies within `quality_stds` (3) std of its
nearest mode centre; a mode is *covered* if at least `mode_min_samples` (20)
high-quality samples fall on it (20 of 2500 is 6.4% of a uniform share); the
mode KL is KL(histogram of high-quality samples over modes || uniform),
0 for a perfect spread, log(8) = 2.08 when one mode takes all (also when there
is no high-quality sample).

Writes into the workdir: metrics.jsonl (losses; modes_covered, hq_fraction,
mode_kl every `eval_every` steps), checkpoints/, snapshots/step_*.npy (the
evaluation samples, same z each time), results.json, figures/samples.png,
report.md, done.json. To compare finished runs:

    python -m gitjax.experiments.unrolled_ring OUT_DIR WORKDIR [WORKDIR ...]
"""
import dataclasses
import functools
import glob
import json
import math
import os
import sys
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct

from gitjax import bilevel
from gitjax import losses
from gitjax import report
from gitjax import rngs
from gitjax.runtime import metrics as metrics_lib
from gitjax.runtime import progress as progress_lib
from gitjax.runtime import provenance
from gitjax.runtime import resume
from gitjax.runtime import workdir as workdir_lib

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


def evaluate(config, statics, gen_params, z):
  """Samples for the fixed z and their ring_metrics."""
  samples = np.asarray(generate(gen_params, z, statics=statics))
  r = config.ring
  return samples, ring_metrics(samples, statics.centres, r.std,
                               r.quality_stds, r.mode_min_samples)


def train(config, workdir):
  """Trains (resuming from a checkpoint); returns (state, statics, speed)."""
  statics = make_statics(config)
  state = init_state(statics)
  total = config.ring.steps
  checkpointer, writer, state, start = resume.start(
      workdir, state, config.run.keep_checkpoints)
  progress = progress_lib.Progress(total, 1, start, unit='it/s')
  clock = progress_lib.TrainClock(checkpointer.restored_meta)
  z_eval = eval_latents(statics, config.ring.eval_samples)
  snapshots = workdir_lib.subdir(workdir, 'snapshots')
  eval_every = config.ring.eval_every
  step_fn = train_step_jit
  speed = {'compile_and_first_step_s': None, 'iterations_per_s': None}
  window = []
  last_log = time.time()
  try:
    for step in range(start, total):
      t0 = time.time()
      state, metrics = step_fn(state, statics=statics)
      if step == start:
        jax.block_until_ready(state)
        speed['compile_and_first_step_s'] = time.time() - t0
        last_log = time.time()
      window.append(metrics)
      done = step + 1
      log_now = done % config.run.log_every == 0 or done == total
      save_now = done % config.run.checkpoint_every == 0 or done == total
      eval_now = (eval_every and done % eval_every == 0) or done == total
      if log_now or save_now or eval_now:
        fetched = jax.device_get(window)  # also waits for the device
        scalars = {k: float(np.mean([m[k] for m in fetched]))
                   for k in fetched[0]}
        now = time.time()
        if step > start:
          clock.add(len(window), now - last_log)
        window = []
        metrics_lib.check_finite(done, scalars, checkpointer.latest_step(),
                                 checkpointer.directory)
        if eval_now:
          samples, ev = evaluate(config, statics, state.params['gen'], z_eval)
          np.save(os.path.join(snapshots, f'step_{done:07d}.npy'), samples)
          scalars.update({k: v for k, v in ev.items() if k != 'mode_counts'})
        writer.write(done, scalars)
        if log_now or eval_now:
          progress.report(done, {k: scalars[k] for k in (
              'loss_d', 'loss_g', 'modes_covered', 'hq_fraction')
                                 if k in scalars})
        if save_now:
          checkpointer.save(done, state, clock.meta())
        last_log = time.time()  # evaluation and saving are not training time
  finally:
    writer.close()
    checkpointer.close()
  # Over the whole run, all resumed segments included.
  speed.update(iterations_per_s=clock.rate, train_wall_s=clock.wall_s,
               train_segments=clock.segments)
  return state, statics, speed


def run(config, workdir):
  """Trains, evaluates mode coverage and writes results, figure and report."""
  if workdir_lib.is_done(workdir):
    print(f'{workdir} already holds this finished run; nothing to do')
    return
  r = config.ring
  print(f'ring of {r.num_modes} Gaussians, K = {r.unroll_steps} unrolled D '
        f'steps, {r.steps} iterations', flush=True)
  state, statics, speed = train(config, workdir)
  _, final = evaluate(config, statics, state.params['gen'],
                      eval_latents(statics, r.eval_samples))
  history = [{'step': rec['step'], 'modes_covered': int(rec['modes_covered']),
              'hq_fraction': rec['hq_fraction'], 'mode_kl': rec['mode_kl']}
             for rec in metrics_lib.read(workdir) if 'modes_covered' in rec]
  criterion = {'eval_samples': r.eval_samples, 'quality_stds': r.quality_stds,
               'mode_min_samples': r.mode_min_samples}
  results = dict(final, criterion=criterion, unroll_steps=r.unroll_steps,
                 steps=r.steps, seed=config.seed, gen_loss=r.gen_loss, gen_lr=r.gen_lr,
                 dis_lr=r.dis_lr, speed=speed, history=history,
                 devices=f'{jax.device_count()} x {jax.devices()[0].device_kind}',
                 command=workdir_lib.command_line())
  workdir_lib.write_json(os.path.join(workdir, 'results.json'), results)
  panels = _snapshot_panels(workdir, max_panels=6)
  report.ring_samples_figure(
      os.path.join(workdir_lib.subdir(workdir, 'figures'), 'samples.png'),
      panels, statics.centres, r.std * r.quality_stds,
      title=f'K = {r.unroll_steps} unrolled D steps')
  _write_markdown(workdir, results)
  workdir_lib.mark_done(workdir, {'experiment': 'unrolled_ring',
                                  'modes_covered': final['modes_covered'],
                                  'hq_fraction': final['hq_fraction']})
  print(f'K = {r.unroll_steps}: {final["modes_covered"]}/{r.num_modes} modes '
        f'covered, {100 * final["hq_fraction"]:.1f}% high-quality samples, '
        f'mode KL {final["mode_kl"]:.3f}; outputs in {workdir}', flush=True)


def _snapshot_panels(workdir, max_panels):
  """[(label, samples)] of up to max_panels evaluations, the last included."""
  paths = sorted(glob.glob(os.path.join(workdir, 'snapshots', 'step_*.npy')))
  if len(paths) > max_panels:  # evenly spaced, counted back from the last
    picks = np.linspace(len(paths) - 1, 0, max_panels).round().astype(int)
    paths = [paths[i] for i in sorted(set(picks))]
  return [(f'step {int(os.path.basename(p)[5:12])}', np.load(p))
          for p in paths]


def _write_markdown(workdir, results):
  speed, crit = results['speed'], results['criterion']
  rate, first = speed['iterations_per_s'], speed['compile_and_first_step_s']
  segments = speed.get('train_segments', 1)
  rows = [[h['step'], h['modes_covered'], f'{100 * h["hq_fraction"]:.1f}%',
           f'{h["mode_kl"]:.3f}'] for h in results['history']]
  lines = [
      f'# Unrolled GAN on a ring of Gaussians, K = {results["unroll_steps"]}',
      '', f'Command: `{results["command"]}`', '',
      f'- {results["steps"]} iterations, seed {results["seed"]}, generator '
      f'loss {results["gen_loss"]}, Adam lr G {results["gen_lr"]} / D '
      f'{results["dis_lr"]}, on {results["devices"]}',
      f'- modes covered: **{results["modes_covered"]}** of '
      f'{len(results["mode_counts"])}; high-quality samples: '
      f'**{100 * results["hq_fraction"]:.1f}%**; mode KL vs uniform '
      f'{results["mode_kl"]:.3f}',
      f'- high-quality samples per mode: {results["mode_counts"]}',
      f'- speed: {rate:.1f} it/s' if rate else '- speed: n/a',
      '  (' + (f'first step incl. compilation {first:.1f} s, '
               if first is not None else '') +
      f'training {speed["train_wall_s"]:.0f} s'
      + (f' in {segments} resumed segments' if segments > 1 else '') + ')',
      '',
      f'A sample is high quality within {crit["quality_stds"]} std of its '
      f'nearest centre; a mode is covered with at least '
      f'{crit["mode_min_samples"]} such samples of {crit["eval_samples"]}.',
      '',
      '![generated samples](figures/samples.png)', '',
      report.markdown_table(['step', 'modes', 'high quality', 'mode KL'],
                            rows), ''] + provenance.provenance_markdown(workdir)
  with open(os.path.join(workdir, 'report.md'), 'w') as f:
    f.write('\n'.join(lines))


def compare(out_dir, workdirs):
  """Table (compare.md) and final-sample figure of finished runs."""
  rows, panels, centres, radius = [], [], None, None
  for w in workdirs:
    res = json.load(open(os.path.join(w, 'results.json')))
    cfg = json.load(open(os.path.join(w, 'config.json')))['ring']
    rate = res['speed']['iterations_per_s']
    rows.append([res['unroll_steps'], res['steps'], res['modes_covered'],
                 f'{100 * res["hq_fraction"]:.1f}%', f'{res["mode_kl"]:.3f}',
                 f'{res["speed"]["train_wall_s"]:.0f}',
                 f'{rate:.1f}' if rate else 'n/a', w])
    panels.append((f'K = {res["unroll_steps"]}',
                   _snapshot_panels(w, 1)[-1][1]))
    centres = mode_centres(cfg['num_modes'], cfg['radius'])
    radius = cfg['std'] * cfg['quality_stds']
  table = report.markdown_table(
      ['K', 'iterations', 'modes covered', 'high quality', 'mode KL',
       'wall s', 'it/s', 'workdir'], rows)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'compare.md'), 'w') as f:
    f.write(table + '\n\n![final samples](samples.png)\n')
  report.ring_samples_figure(os.path.join(out_dir, 'samples.png'), panels,
                             centres, radius, title='final samples')
  return table


if __name__ == '__main__':
  if len(sys.argv) < 3:
    sys.exit('usage: python -m gitjax.experiments.unrolled_ring OUT_DIR '
             'WORKDIR [WORKDIR ...]')
  print(compare(sys.argv[1], sys.argv[2:]))
