r"""Speed and memory of one MAML meta-step, layout against layout.

    python benchmarks/maml.py                      # the default rows, 2 rounds
    python benchmarks/maml.py --rows maxpool:1:vmap:1:im2col,maxpool:1:unrolled:1:lax
    python benchmarks/maml.py --rounds 3 --iters 3 --orders second,first
    python benchmarks/maml.py --rounds 1 --rows maxpool:1:host_loop:4:lax --profile /tmp/maml_prof

Setting: the PyTorch anchor's work (learn2learn 0.2.0 MAML on the GIT repo's
`FourConv`: stride-1 3x3 convs + 2x2 max-pool, 64 filters, 28 -> 14 -> 7 ->
3 -> 1; our `Conv4(downsample='maxpool')`, 112,261 parameters): Omniglot
5-way 1-shot, 15 queries, meta-batch 32, fixed inner rate 0.4, second order,
1 and 5 inner steps, transductive BN; the stride-2 Omniglot Conv-4 as
separate rows. The real jitted `gitjax.experiments.maml.steps.train_step`
(tasks drawn on the device; `host_loop.train_step` for that layout). A
row is `net:K:layout:chunk:conv` (network
'maxpool' or 'stride', inner steps, `maml.task_layout`, `maml.task_chunk`,
`maml.conv_impl`; see gitjax/experiments/maml/layouts.py). Images: random
28x28 in a pool of Omniglot-small's shape (speed does not depend on pixel
values; --data reads the npz instead).

Each row runs in its own process (so its host peak memory, maxrss, is its
own, compilation included). Rows run back to back, `--rounds` times
interleaved (A B C A B C), so that a shared, loaded CPU affects all rows
alike; each round's tasks/s is also given as a ratio to the round's first
row of the same network and K (the baseline), and the summary gives the
median over rounds. Per row: compile s (lower().compile()), tasks/s (after
one warm-up step), host peak MiB, XLA's cost analysis of the compiled step
(GFLOP per meta-step, hence achieved GFLOP/s: where the time goes).
The PyTorch anchor: `--anchor PYTHON` times benchmarks/maml_torch.py
(learn2learn 0.2.0 on FourConv, the same work) with that interpreter, back
to back with the rows, one process per K, and "vs anchor" divides by it;
without it the column uses the issue's figures from another machine (idle
2-core AMD EPYC: 9.9 tasks/s with 1 inner step, 4.5 with 5, ~0.6 GiB),
labelled so. `--profile DIR` also traces each row's steps with
jax.profiler and prints where the time goes per XLA op (XLA:CPU names
each executed thunk after its HLO instruction; convolutions are split into
forward and backward by the `transpose` JAX's autodiff leaves in their
metadata). Prints Markdown tables. Not a test.
"""
import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# learn2learn 0.2.0 MAML on FourConv, second order, idle 2-core AMD EPYC
# (the figures: another machine; --anchor times it on this one).
ANCHOR_TASKS_PER_S = {1: 9.9, 5: 4.5}
ANCHOR_HOST_MIB = {1: 600, 5: 600}  # the issue's ~0.6 GiB at both K
DEFAULT_ROWS = ('maxpool:1:vmap:1:im2col,maxpool:1:host_loop:1:lax,'
                'maxpool:1:host_loop:1:im2col,maxpool:5:vmap:1:im2col,'
                'maxpool:5:host_loop:1:lax,stride:1:vmap:1:im2col,'
                'stride:1:host_loop:1:lax')


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


def measure(row, order, iters, data_path, meta_batch, profile=''):
  """One row, in a fresh process; returns a dict. `profile`: a folder for
  a jax.profiler trace of `iters` more steps, summarised per XLA op."""
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  from gitjax import config_base  # pylint: disable=g-import-not-at-top
  from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top
  from gitjax.experiments.maml import host_loop  # pylint: disable=g-import-not-at-top
  from gitjax.experiments.maml import steps  # pylint: disable=g-import-not-at-top

  net, k, layout, chunk, conv = row.split(':')
  config = config_base.get_base('maml')
  m = config.maml
  m.downsample, m.inner_steps = net, int(k)
  m.task_layout, m.task_chunk, m.conv_impl = layout, int(chunk), conv
  m.first_order = order == 'first'
  m.meta_batch = meta_batch
  m.checkpoint_inner = int(k) > 1  # K = 1: nothing to save memory on
  statics = steps.make_statics(config)
  pool, images = _pool(data_path)
  pool = jax.device_put(pool, pipeline.replicated(statics.mesh))
  state = steps.init_state(statics, pool.shape[2:])
  if layout == 'host_loop':  # compile s = first step - a later step
    step = functools.partial(host_loop.train_step, statics=statics)
    start = time.perf_counter()
    state = jax.block_until_ready(step(state, pool)[0])
    first_s = time.perf_counter() - start
    tasks, weights, _ = host_loop.draw(state.step, pool, statics=statics)
    compiled = host_loop.task_gradient.lower(
        state.params, tasks, jax.numpy.int32(0), weights, statics=statics,
        first_order=m.first_order).compile()
    cost, scale = compiled.cost_analysis(), meta_batch // int(chunk)
  else:
    start = time.perf_counter()
    step = steps.train_step_jit.lower(state, pool, statics=statics).compile()
    compile_s = time.perf_counter() - start
    compiled = step
    cost, scale = step.cost_analysis(), 1
  cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
  seconds, state = common.time_steps(step, state, (pool,), iters,
                                     warmup=0 if layout == 'host_loop' else 1)
  if layout == 'host_loop':
    compile_s = first_s - seconds
  gflop = scale * cost.get('flops', 0.0) / 1e9
  ops = None
  if profile:
    categories, top, total = common.op_profile(
        lambda: common.time_steps(step, state, (pool,), iters, warmup=0),
        [compiled.as_text()], os.path.join(profile, row.replace(':', '_')),
        iters)
    ops = {'categories': categories, 'matched_ms': total,
           'top': [list(t) for t in top[:10]]}
  return {'ops': ops, 'row': row, 'order': order, 'images': images,
          'meta_batch': meta_batch, 'compile_s': compile_s,
          'tasks_per_s': meta_batch / seconds, 'step_ms': 1000 * seconds,
          'gflop': gflop, 'gflop_per_s': gflop / seconds,
          'gbytes': scale * cost.get('bytes accessed', 0.0) / 1e9,
          'host_peak_mib': common.host_peak_mib(),
          'machine': common.machine(), 'load': os.getloadavg()[0]}


def _child(args, row, order):
  result = subprocess.run(
      [sys.executable, os.path.abspath(__file__), '--iters', str(args.iters),
       '--meta-batch', str(args.meta_batch), '--data', args.data,
       '--profile', args.profile, '--one', f'{row}@{order}'],
      capture_output=True, text=True, check=False)
  if result.returncode:
    print(result.stderr[-2000:], file=sys.stderr)
    raise SystemExit(f'{row} {order} order failed')
  return json.loads(result.stdout.strip().splitlines()[-1])


def _baseline(rows, row):
  net, k = row.split(':')[:2]
  return next(r for r in rows if r.split(':')[:2] == [net, k])


def _time_anchor(python, rows):
  """({K: learn2learn tasks/s}, {K: its host peak MiB}) for the K of the
  maxpool rows, each K timed by benchmarks/maml_torch.py in its own
  process."""
  script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'maml_torch.py')
  out, mib = {}, {}
  for k in sorted({int(r.split(':')[1]) for r in rows
                   if r.startswith('maxpool:')}):
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, 'anchor.json')
      subprocess.run([python, script, '--steps', str(k), '--json', path],
                     check=True, stdout=subprocess.DEVNULL)
      with open(path) as f:
        row, = json.load(f)
    out[k] = row['tasks_per_s']
    mib[k] = row['host_peak_mib']
    print(f'anchor: learn2learn {row["learn2learn"]} (torch {row["torch"]}), '
          f'K={k}: {row["tasks_per_s"]:.2f} tasks/s, '
          f'{row["host_peak_mib"]:.0f} MiB', flush=True)
  return out, mib


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--iters', type=int, default=2,
                      help='timed meta-steps per row (after 1 warm-up)')
  parser.add_argument('--rounds', type=int, default=2,
                      help='interleaved repetitions of all rows')
  parser.add_argument('--rows', default=DEFAULT_ROWS,
                      help='comma-separated net:K:layout:chunk:conv')
  parser.add_argument('--orders', default='second')
  parser.add_argument('--meta-batch', type=int, default=32)
  parser.add_argument('--data', default='',
                      help='Omniglot-small npz (random images if empty)')
  parser.add_argument('--json', default='', help='also write all rows here')
  parser.add_argument('--anchor', default='',
                      help='a Python with torch + learn2learn 0.2.0: time '
                      'benchmarks/maml_torch.py with it, back to back')
  parser.add_argument('--profile', default='',
                      help='a folder: also trace --iters steps of each row '
                      'with jax.profiler and print where the time goes, per '
                      'XLA op (convolutions forward / backward, fusions...)')
  parser.add_argument('--one', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:  # child process: one row as JSON on the last line
    row, order = args.one.split('@')
    print(json.dumps(measure(row, order, args.iters, args.data,
                             args.meta_batch, args.profile)))
    return
  rows = args.rows.split(',')
  anchor_tps, anchor_mib = dict(ANCHOR_TASKS_PER_S), dict(ANCHOR_HOST_MIB)
  anchor_label = 'issue, AMD EPYC'
  if args.anchor:
    (anchor_tps, anchor_mib), anchor_label = (_time_anchor(args.anchor, rows),
                                              'this machine')
  results = []  # (round, row, order, result)
  for rnd in range(args.rounds):
    for order in args.orders.split(','):
      for row in rows:
        res = _child(args, row, order)
        base = next(r for (q, b, o, r) in results if q == rnd and o == order
                    and b == _baseline(rows, row)) if row != _baseline(
                        rows, row) else res
        res['ratio'] = res['tasks_per_s'] / base['tasks_per_s']
        results.append((rnd, row, order, res))
        print(f'round {rnd + 1} {row} {order}: {res["tasks_per_s"]:.2f} '
              f'tasks/s ({res["ratio"]:.2f}x baseline), compile '
              f'{res["compile_s"]:.1f} s, {res["host_peak_mib"]:.0f} MiB, '
              f'load {res["load"]:.1f}', flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump([dict(r, round=q) for q, _, _, r in results], f, indent=1)
  first = results[0][3]
  print(f'\nMAML 5-way 1-shot, 15 queries, Conv-4 64, meta-batch '
        f'{args.meta_batch} ({first["images"]} images) on '
        f'{first["machine"]}; {args.iters} timed meta-steps after 1 warm-up, '
        f'{args.rounds} interleaved rounds (median; [min-max])\n')
  print('| net | K | layout | chunk | conv | order | compile s | tasks/s | '
        f'x baseline | vs anchor ({anchor_label}) | GFLOP/step | GFLOP/s | '
        'host peak MiB | memory vs anchor |')
  print('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for order in args.orders.split(','):
    for row in rows:
      rs = [r for _, b, o, r in results if b == row and o == order]
      tps = [r['tasks_per_s'] for r in rs]
      ratio = [r['ratio'] for r in rs]
      net, k = row.split(':')[:2]
      anchor = anchor_tps.get(int(k))
      like = net == 'maxpool' and order == 'second'  # the anchor's work
      vs = f'{statistics.median(tps) / anchor:.2f}x' if anchor and like else '-'
      peak = max(r['host_peak_mib'] for r in rs)
      mem = (f'{peak / anchor_mib[int(k)]:.1f}x'
             if like and int(k) in anchor_mib else '-')
      print(f'| {" | ".join(row.split(":"))} | {order} | '
            f'{rs[0]["compile_s"]:.1f} | {statistics.median(tps):.2f} '
            f'[{min(tps):.2f}-{max(tps):.2f}] | '
            f'{statistics.median(ratio):.2f} [{min(ratio):.2f}-'
            f'{max(ratio):.2f}] | {vs} | {rs[0]["gflop"]:.1f} | '
            f'{statistics.median(r["gflop_per_s"] for r in rs):.1f} | '
            f'{peak:.0f} | {mem} |')

  if args.profile:
    _print_profiles(results)


def _print_profiles(results):
  """Per row (its last round): ms per meta-step by op category, and the
  costliest instructions."""
  from benchmarks import common  # pylint: disable=g-import-not-at-top
  for _, row, order, res in results[-len({(b, o) for _, b, o, _ in results}):]:
    ops = res['ops']
    step_ms = res['step_ms']
    total = ops['matched_ms']
    print(f'\n{row} {order} order: {step_ms:.0f} ms per meta-step (wall); '
          f'{total:.0f} ms of XLA op time summed over threads')
    print('| op kind | pass | ms per step | share of op time |\n|---|---|---|---|')
    for cat, ms in sorted(ops['categories'].items(), key=lambda kv: -kv[1]):
      if ms >= 0.005 * total:
        kind, direction = cat.rsplit(', ', 1)
        print(f'| {kind} | {direction} | {ms:.0f} | {ms / total:.1%} |')
    print('| instruction | kind | pass | shape | ms per step |\n'
          '|---|---|---|---|---|')
    for ms, name, kind, shape, backward in ops['top']:
      print(f'| {name} | {kind} | {common.PASS[backward]} | {shape} | '
            f'{ms:.0f} |')


if __name__ == '__main__':
  main()
