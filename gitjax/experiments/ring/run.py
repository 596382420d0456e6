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

    python -m gitjax.experiments.ring.report OUT_DIR WORKDIR [WORKDIR ...]
"""
import os
import time

import jax
import numpy as np

from gitjax import report
from gitjax.data import pipeline
from gitjax.experiments.ring import report as ring_report
from gitjax.experiments.ring import steps
from gitjax.runtime import metrics as metrics_lib
from gitjax.runtime import processes
from gitjax.runtime import progress as progress_lib
from gitjax.runtime import resume
from gitjax.runtime import workdir as workdir_lib


def _replicated():
  """Every process's first device holds the whole state: one process runs
  as before (one device), several hold one global array, as orbax saves."""
  return pipeline.replicated(pipeline.make_mesh(
      [jax.local_devices(process_index=p)[0]
       for p in range(jax.process_count())]))


def _latents(statics, n):
  """The fixed evaluation latents, placed as the parameters are."""
  return jax.device_put(np.asarray(steps.eval_latents(statics, n)),
                        _replicated())


def evaluate(config, statics, gen_params, z):
  """Samples for the fixed z and their steps.ring_metrics."""
  samples = processes.fetch(steps.generate(gen_params, z, statics=statics))
  r = config.ring
  return samples, steps.ring_metrics(samples, statics.centres, r.std,
                               r.quality_stds, r.mode_min_samples)


def train(config, workdir):
  """Trains (resuming from a checkpoint); returns (state, statics, speed)."""
  statics = steps.make_statics(config)
  # The tiny step runs whole on one device per process (_replicated).
  state = jax.device_put(steps.init_state(statics), _replicated())
  total = config.ring.steps
  checkpointer, writer, state, start = resume.start(
      workdir, state, config.run.keep_checkpoints)
  progress = progress_lib.Progress(total, 1, start, unit='it/s')
  clock = progress_lib.TrainClock(checkpointer.restored_meta)
  z_eval = _latents(statics, config.ring.eval_samples)
  snapshots = workdir_lib.subdir(workdir, 'snapshots')
  eval_every = config.ring.eval_every
  step_fn = steps.train_step_jit
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
        fetched = processes.fetch(window)  # also waits for the device
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
          workdir_lib.write_bytes(
              os.path.join(snapshots, f'step_{done:07d}.npy'),
              ring_report.npy_bytes(samples))
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
  if workdir_lib.finished(workdir):
    return
  r = config.ring
  print(f'ring of {r.num_modes} Gaussians, K = {r.unroll_steps} unrolled D '
        f'steps, {r.steps} iterations', flush=True)
  state, statics, speed = train(config, workdir)
  _, final = evaluate(config, statics, state.params['gen'],
                      _latents(statics, r.eval_samples))
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
  panels = ring_report.snapshot_panels(workdir, max_panels=6)
  report.ring_samples_figure(
      os.path.join(workdir_lib.subdir(workdir, 'figures'), 'samples.png'),
      panels, statics.centres, r.std * r.quality_stds,
      title=f'K = {r.unroll_steps} unrolled D steps')
  ring_report.write_markdown(workdir, results)
  workdir_lib.mark_done(workdir, {'experiment': 'unrolled_ring',
                                  'modes_covered': final['modes_covered'],
                                  'hq_fraction': final['hq_fraction']})
  print(f'K = {r.unroll_steps}: {final["modes_covered"]}/{r.num_modes} modes '
        f'covered, {100 * final["hq_fraction"]:.1f}% high-quality samples, '
        f'mode KL {final["mode_kl"]:.3f}; outputs in {workdir}', flush=True)
