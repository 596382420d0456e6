r"""Speed and memory of one MUNIT iteration and of re-styling (GIT sizes).

    python benchmarks/munit.py                 # all settings, K = 0 and 5
    python benchmarks/munit.py --iters 5 --unroll 0
    python benchmarks/munit.py --settings mnist
    python benchmarks/munit.py --settings mnist,digits --unroll 0 \
        --warp none,rotation             # what the style's warp costs
    python benchmarks/munit.py --settings digits,mnist --paired-warp rotation \
        --rounds 20 --iters 5            # the same, interleaved in one process

Settings: MUNIT at the published sizes (two generators of 15.0M parameters
and two 1-scale discriminators, LSGAN, Adam + coupled L2), the real jitted,
sharded `train_step`, on 28x28x1 at batch 1 (GIT's K49 recipe) and on
32x32x3 at batch 8 (CIFAR); for each, K = 0 (MUNIT) and K = 5 unrolled
discriminator steps; `digits` is configs/munit_digits.py's reduced MUNIT
(width 16, one shared G and D, batch 8). `--warp` adds rows for
`munit.warp` (gitjax/models/munit_warp.py). Reported: compile time (lower().compile()), iterations
and translated images per second (timed after one warm-up iteration), peak
host memory (maxrss) and peak device memory where the backend reports it,
and generation speed (encode + decode with a random style) at batch 64.
Each row runs in its own process, so its memory peaks are its own. Prints
a Markdown table. Not a test.

`--paired-warp WARP` measures what the warp costs on a machine that other
jobs share: both steps (warp none and WARP, same setting and batch) are
compiled in one process and timed in alternating rounds of --iters
iterations (the order flips every round), so both see the same load; it
reports the median seconds per iteration of each and the warp's cost as
the geometric mean of the per-round time ratios with a 95% t interval
(over rounds, on the log scale).
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SETTINGS = {  # image shape, batch per domain, Statics that differ
    'mnist': ((28, 28, 1), 1, {}),
    'cifar': ((32, 32, 3), 8, {}),
    'digits': ((28, 28, 1), 8, dict(dim=16, n_res=2, mlp_dim=64, dis_dim=16,
                                    shared=True, lr=2e-4)),
}
GENERATION_BATCH = 64


def measure(setting, unroll, iters, warp='none'):
  """One row: runs in a fresh process, returns a dict."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top
  from gitjax.experiments.munit import steps  # pylint: disable=g-import-not-at-top

  shape, batch_size, sizes = SETTINGS[setting]
  mesh = pipeline.make_mesh()
  batch_size = max(batch_size, jax.device_count())
  statics = steps.Statics(image_channels=shape[-1], unroll_steps=unroll,
                          warp=warp, **sizes)
  start = time.perf_counter()
  state = jax.device_put(steps.init_state(statics, shape, steps.init_key(0)),
                         pipeline.replicated(mesh))
  jax.block_until_ready(state)
  init_s = time.perf_counter() - start
  rng = np.random.default_rng(0)
  batch = pipeline.shard_batch(
      {d: rng.integers(0, 256, (batch_size,) + shape, dtype=np.uint8)
       for d in ('a', 'b')}, mesh)
  compile_s, compiled = common.compile_seconds(
      steps.jit_train_step(statics, mesh), state, batch)
  seconds, state = common.time_steps(compiled, state, (batch,), iters,
                                     warmup=1)
  row = {'setting': setting, 'batch': batch_size, 'unroll': unroll,
         'warp': warp, 'nets': len(statics.nets),
         'init_s': init_s, 'compile_s': compile_s,
         'iterations_per_s': 1.0 / seconds,
         'images_per_s': batch_size * len(statics.directions) / seconds}
  if unroll == 0:  # generation does not depend on K
    restyle = steps.jit_restyle_random(statics)
    images = rng.integers(0, 256, (GENERATION_BATCH,) + shape, dtype=np.uint8)
    gen_params = state.params['gen']
    jax.block_until_ready(restyle(gen_params, jax.random.key(0), images))
    start = time.perf_counter()
    for i in range(iters):
      out = restyle(gen_params, jax.random.key(i), images)
    jax.block_until_ready(out)
    row['generation_images_per_s'] = (GENERATION_BATCH * iters /
                                      (time.perf_counter() - start))
  row['host_peak_mib'] = common.host_peak_mib()
  row['device_peak_mib'] = common.device_peak_mib()
  row['machine'] = common.machine()
  return row


def _compiled_step(setting, warp, mesh):
  """(compiled train step, state, batch) of one setting and warp."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top
  from gitjax.experiments.munit import steps  # pylint: disable=g-import-not-at-top

  shape, batch_size, sizes = SETTINGS[setting]
  batch_size = max(batch_size, jax.device_count())
  statics = steps.Statics(image_channels=shape[-1], unroll_steps=0,
                          warp=warp, **sizes)
  state = jax.device_put(steps.init_state(statics, shape, steps.init_key(0)),
                         pipeline.replicated(mesh))
  rng = np.random.default_rng(0)
  batch = pipeline.shard_batch(
      {d: rng.integers(0, 256, (batch_size,) + shape, dtype=np.uint8)
       for d in ('a', 'b')}, mesh)
  _, compiled = common.compile_seconds(
      steps.jit_train_step(statics, mesh), state, batch)
  return compiled, state, batch, batch_size


def paired_warp(setting, warp, rounds, iters):
  """The warp's cost per MUNIT iteration, interleaved with warp 'none'."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top

  mesh = pipeline.make_mesh()
  runs = {w: list(_compiled_step(setting, w, mesh)) for w in ('none', warp)}
  for w, run in runs.items():  # warm-up
    _, run[1] = common.time_steps(run[0], run[1], (run[2],), 1, warmup=1)
  seconds = {w: [] for w in runs}
  for r in range(rounds):
    for w in (('none', warp) if r % 2 == 0 else (warp, 'none')):
      run = runs[w]
      t, run[1] = common.time_steps(run[0], run[1], (run[2],), iters,
                                    warmup=0)
      seconds[w].append(t)
  log_ratio = np.log(np.asarray(seconds[warp]) / np.asarray(seconds['none']))
  half = (stats.t.ppf(0.975, rounds - 1) * log_ratio.std(ddof=1)
          / np.sqrt(rounds)) if rounds > 1 else float('nan')
  mean = log_ratio.mean()
  return {'setting': setting, 'warp': warp, 'batch': runs['none'][3],
          'rounds': rounds, 'iters': iters,
          'seconds_none': float(np.median(seconds['none'])),
          'seconds_warp': float(np.median(seconds[warp])),
          'cost': float(np.exp(mean) - 1),
          'cost_ci95': [float(np.exp(mean - half) - 1),
                        float(np.exp(mean + half) - 1)],
          'machine': common.machine()}


def _fmt(value, digits):
  return 'n/a' if value is None else f'{value:,.{digits}f}'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--iters', type=int, default=3,
                      help='timed iterations per row (after 1 warm-up)')
  parser.add_argument('--settings', default='mnist,cifar')
  parser.add_argument('--unroll', default='0,5', help='values of K')
  parser.add_argument('--warp', default='none',
                      help="values of munit.warp, e.g. none,rotation")
  parser.add_argument('--paired-warp', default='',
                      help='interleave warp none with this warp in one '
                      'process per setting: the warp\'s cost with an interval')
  parser.add_argument('--rounds', type=int, default=20,
                      help='--paired-warp: alternating rounds of --iters')
  parser.add_argument('--one', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.paired_warp:
    print('| setting | warp | batch | s/iteration, none | s/iteration, warp | '
          'warp cost (95% interval) | rounds x iterations |')
    print('|---|---|---|---|---|---|---|')
    for setting in args.settings.split(','):
      r = paired_warp(setting, args.paired_warp, args.rounds, args.iters)
      lo, hi = r['cost_ci95']
      print(f'| {setting} | {r["warp"]} | {r["batch"]} | '
            f'{r["seconds_none"]:.4f} | {r["seconds_warp"]:.4f} | '
            f'{r["cost"]:+.1%} [{lo:+.1%}, {hi:+.1%}] | '
            f'{r["rounds"]} x {r["iters"]} |', flush=True)
    print(f'\n{r["machine"]}; median seconds per iteration; cost: geometric '
          'mean of the per-round ratios warp / none - 1')
    return
  if args.one:  # child process: one row as JSON on the last line
    setting, unroll, warp = args.one.split(':')
    print(json.dumps(measure(setting, int(unroll), args.iters, warp)))
    return
  rows = []
  for setting in args.settings.split(','):
    for unroll in args.unroll.split(','):
      for warp in args.warp.split(','):
        result = subprocess.run(
            [sys.executable, os.path.abspath(__file__), '--iters',
             str(args.iters), '--one', f'{setting}:{unroll}:{warp}'],
            capture_output=True, text=True, check=False)
        if result.returncode:
          print(result.stderr[-2000:], file=sys.stderr)
          raise SystemExit(f'{setting} K={unroll} warp={warp} failed')
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(f'{setting} K={unroll} warp={warp}: '
              f'{row["iterations_per_s"]:.3f} it/s, '
              f'compile {row["compile_s"]:.1f} s', flush=True)
        rows.append(row)
  shape = {s: 'x'.join(map(str, SETTINGS[s][0])) for s in SETTINGS}
  table = [(f'{r["setting"]} {shape[r["setting"]]}, batch {r["batch"]}, '
            f'{r["nets"]} G + {r["nets"]} D', r['warp'], r['unroll'],
            _fmt(r['compile_s'], 1), _fmt(r['iterations_per_s'], 3),
            _fmt(r['images_per_s'], 2),
            _fmt(r.get('generation_images_per_s'), 1),
            _fmt(r['host_peak_mib'], 0), _fmt(r['device_peak_mib'], 0))
           for r in rows]
  print(f'\nMUNIT on {rows[0]["machine"]}; '
        f'{args.iters} timed iterations after 1 warm-up\n')
  print('| setting | warp | K | compile s | iterations/s | translated images/s | '
        f'generation images/s (batch {GENERATION_BATCH}) | host peak MiB | '
        'device peak MiB |')
  print('|---|---|---|---|---|---|---|---|---|')
  for row in table:
    print('| ' + ' | '.join(str(c) for c in row) + ' |')


if __name__ == '__main__':
  main()
