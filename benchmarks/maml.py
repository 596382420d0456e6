r"""Speed and memory of one MAML meta-step (Omniglot 5-way 1-shot, Conv-4 64).

    python benchmarks/maml.py                       # 1 and 5 steps, 2nd and 1st order
    python benchmarks/maml.py --steps 1 --orders second --iters 5
    python benchmarks/maml.py --data /tmp/gitjax-data/omniglot_small.npz

Setting: MAML's Omniglot 5-way 1-shot recipe, 15 queries, meta-batch 32,
Conv-4 with 64 stride-2 filters, transductive BN, learned inner rates, the
real jitted `gitjax.experiments.maml.steps.train_step` (tasks drawn on the device from the
meta-train pool, 90-degree rotations as classes, meta-batch sharded over all
devices). Images: Omniglot-small's background characters when --data names
its npz, otherwise random 28x28 images in a pool of the same shape (speed
does not depend on pixel values). Reported per row: compile time
(lower().compile()), meta-steps/s and tasks/s (timed after one warm-up step),
the time the task sampler alone takes per meta-batch (to show it does not
starve the step), peak host memory (maxrss) and peak device memory where the
backend reports it. Each row runs in its own process. The PyTorch anchor
(learn2learn MAML, same setting, second order, 2-core CPU): 6.6 tasks/s with
1 inner step, 4.2 with 5. Prints a Markdown table. Not a test.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ANCHOR_TASKS_PER_S = {1: 6.6, 5: 4.2}  # learn2learn, second order, 2-core CPU


def _pool(data_path):
  """uint8 [544, 20, 28, 28, 1]: 136 characters x 4 rotations x 20 images."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from gitjax.data import episodes  # pylint: disable=g-import-not-at-top
  from gitjax.data import sources  # pylint: disable=g-import-not-at-top
  if data_path and os.path.exists(data_path):
    splits = episodes.build_splits(sources.load_npz(data_path), 'source',
                                   rotations=True)
    return splits.pools['train'], 'omniglot_small'
  rng = np.random.default_rng(0)
  return rng.integers(0, 256, (544, 20, 28, 28, 1), dtype=np.uint8), 'random'


def measure(inner_steps, order, iters, data_path, meta_batch):
  """One row, in a fresh process; returns a dict."""
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  from gitjax import config_base  # pylint: disable=g-import-not-at-top
  from gitjax.data import episodes  # pylint: disable=g-import-not-at-top
  from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top
  from gitjax.experiments.maml import steps  # pylint: disable=g-import-not-at-top

  config = config_base.get_base('maml')
  m = config.maml
  m.inner_steps = inner_steps
  m.first_order = order == 'first'
  m.meta_batch = meta_batch
  m.checkpoint_inner = inner_steps > 1  # K = 1: nothing to save memory on
  statics = steps.make_statics(config)
  pool, images = _pool(data_path)
  pool = jax.device_put(pool, pipeline.replicated(statics.mesh))
  state = steps.init_state(statics, pool.shape[2:])
  compile_s, compiled = _compile(steps, state, pool, statics)
  seconds, state = common.time_steps(compiled, state, (pool,), iters,
                                     warmup=1)
  sample = jax.jit(lambda key, p: episodes.sample_tasks(
      key, p, meta_batch, m.ways, m.shots, m.queries))
  jax.block_until_ready(sample(jax.random.key(0), pool))
  start = time.perf_counter()
  for i in range(iters):
    out = sample(jax.random.key(i + 1), pool)
  jax.block_until_ready(out)
  sample_s = (time.perf_counter() - start) / iters
  return {'inner_steps': inner_steps, 'order': order, 'images': images,
          'meta_batch': meta_batch, 'compile_s': compile_s,
          'meta_steps_per_s': 1.0 / seconds,
          'tasks_per_s': meta_batch / seconds,
          'sample_ms': 1000 * sample_s, 'step_ms': 1000 * seconds,
          'host_peak_mib': common.host_peak_mib(),
          'device_peak_mib': common.device_peak_mib(),
          'machine': common.machine()}


def _compile(steps, state, pool, statics):
  start = time.perf_counter()
  compiled = steps.train_step_jit.lower(state, pool, statics=statics).compile()
  return time.perf_counter() - start, compiled


def _fmt(value, digits):
  return 'n/a' if value is None else f'{value:,.{digits}f}'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--iters', type=int, default=3,
                      help='timed meta-steps per row (after 1 warm-up)')
  parser.add_argument('--steps', default='1,5', help='inner steps K')
  parser.add_argument('--orders', default='second,first')
  parser.add_argument('--meta-batch', type=int, default=32)
  parser.add_argument('--data', default='/tmp/gitjax-data/omniglot_small.npz',
                      help='Omniglot-small npz (random images if absent)')
  parser.add_argument('--one', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:  # child process: one row as JSON on the last line
    k, order = args.one.split(':')
    print(json.dumps(measure(int(k), order, args.iters, args.data,
                             args.meta_batch)))
    return
  rows = []
  for k in args.steps.split(','):
    for order in args.orders.split(','):
      result = subprocess.run(
          [sys.executable, os.path.abspath(__file__), '--iters',
           str(args.iters), '--meta-batch', str(args.meta_batch), '--data',
           args.data, '--one', f'{k}:{order}'],
          capture_output=True, text=True, check=False)
      if result.returncode:
        print(result.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f'K={k} {order} order failed')
      row = json.loads(result.stdout.strip().splitlines()[-1])
      print(f'K={k} {order} order: {row["tasks_per_s"]:.1f} tasks/s, '
            f'compile {row["compile_s"]:.1f} s', flush=True)
      rows.append(row)
  print(f'\nMAML Omniglot 5-way 1-shot, 15 queries, Conv-4 64, meta-batch '
        f'{args.meta_batch} ({rows[0]["images"]} images) on '
        f'{rows[0]["machine"]}; {args.iters} timed meta-steps after 1 '
        'warm-up\n')
  print('| inner steps | order | compile s | meta-steps/s | tasks/s | vs '
        'PyTorch anchor | sampling ms / step ms | host peak MiB | '
        'device peak MiB |')
  print('|---|---|---|---|---|---|---|---|---|')
  for r in rows:
    anchor = ANCHOR_TASKS_PER_S.get(r['inner_steps'])
    ratio = (f'{r["tasks_per_s"] / anchor:.1f}x' if anchor and
             r['order'] == 'second' else '-')
    print(f'| {r["inner_steps"]} | {r["order"]} | {_fmt(r["compile_s"], 1)} '
          f'| {_fmt(r["meta_steps_per_s"], 3)} | {_fmt(r["tasks_per_s"], 1)} '
          f'| {ratio} | {_fmt(r["sample_ms"], 0)} / {_fmt(r["step_ms"], 0)} '
          f'| {_fmt(r["host_peak_mib"], 0)} | '
          f'{_fmt(r["device_peak_mib"], 0)} |')


if __name__ == '__main__':
  main()
