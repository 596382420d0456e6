r"""The PyTorch anchor of benchmarks/maml.py, to time both on one machine.

    pip install torch learn2learn==0.2.0     # not a gitjax dependency
    python benchmarks/maml_torch.py          # 1 and 5 inner steps
    python benchmarks/maml_torch.py --steps 1 --iters 5 --json /tmp/l2l.json

The work of benchmarks/maml.py's `maxpool` rows, in learn2learn 0.2.0's MAML
as its users write it (a Python loop over tasks, `clone()` and `adapt()`):
the GIT repo's `FourConv` (4 x [3x3 conv stride 1, 64 filters, BN, ReLU,
2x2 max-pool], 28 -> 14 -> 7 -> 3 -> 1, a 5-way linear head: 112,261
parameters), 5-way 1-shot, 15 queries per class, meta-batch 32, fixed
inner rate 0.4, second order (first_order=False), BN on batch statistics
(train mode, transductive), Adam 1e-3 on the summed query losses / 32,
random 28x28 images. Per inner-step count: seconds per meta-step after a
warm-up, tasks/s, and the process's peak resident memory. Not a test.

learn2learn 0.2.0's sdist ships C files that Python 3.11 cannot compile; to
build it there, install `cython<3`, delete learn2learn/data/*.c from the
unpacked sdist, set `use_cython = True` in its setup.py and
`pip install --no-build-isolation .`.
"""
import argparse
import importlib.util
import json
import resource
import sys
import time


def four_conv(torch, ways):
  """The GIT repo's FourConv: stride-1 convs + 2x2 max-pool."""
  nn = torch.nn
  layers, channels = [], 1
  for _ in range(4):
    layers += [nn.Conv2d(channels, 64, 3, padding=1), nn.BatchNorm2d(64),
               nn.ReLU(), nn.MaxPool2d(2)]
    channels = 64
  return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64, ways))


def time_meta_steps(steps, iters, tasks=32, ways=5, shots=1, queries=15,
                    inner_lr=0.4, seed=0):
  import learn2learn as l2l  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  model = four_conv(torch, ways)
  assert sum(p.numel() for p in model.parameters()) == 112_261
  maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=False)
  opt = torch.optim.Adam(maml.parameters(), 1e-3)
  loss_fn = torch.nn.CrossEntropyLoss()
  gen = torch.Generator().manual_seed(seed)
  xs = torch.rand(tasks, ways * shots, 1, 28, 28, generator=gen)
  xq = torch.rand(tasks, ways * queries, 1, 28, 28, generator=gen)
  ys = torch.arange(ways).repeat_interleave(shots)
  yq = torch.arange(ways).repeat_interleave(queries)

  def meta_step():
    opt.zero_grad()
    total = 0.0
    for t in range(tasks):
      learner = maml.clone()
      for _ in range(steps):
        learner.adapt(loss_fn(learner(xs[t]), ys))
      loss = loss_fn(learner(xq[t]), yq) / tasks
      loss.backward()
      total += loss.detach().item()
    opt.step()
    return total

  meta_step()  # warm-up
  times = []
  for _ in range(iters):
    t0 = time.perf_counter()
    meta_step()
    times.append(time.perf_counter() - t0)
  median = sorted(times)[len(times) // 2]
  return {'inner_steps': steps, 's_per_step': median,
          'tasks_per_s': tasks / median, 'times': times,
          'torch': torch.__version__, 'threads': torch.get_num_threads(),
          'learn2learn': l2l.__version__,
          'host_peak_mib': resource.getrusage(
              resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', default='1,5',
                      help='inner step counts, comma-separated')
  parser.add_argument('--iters', type=int, default=3,
                      help='timed meta-steps per row (median)')
  parser.add_argument('--json', help='also write the rows to this file')
  args = parser.parse_args(argv)
  if importlib.util.find_spec('learn2learn') is None:
    print('benchmarks/maml_torch.py needs torch and learn2learn==0.2.0 '
          '(pip install torch learn2learn==0.2.0; see the docstring for '
          'Python 3.11)', file=sys.stderr)
    return 2
  rows = [time_meta_steps(int(k), args.iters) for k in args.steps.split(',')]
  print('| inner steps | s / meta-step | tasks/s | host peak MiB | torch |')
  print('|---|---|---|---|---|')
  for r in rows:
    print(f"| {r['inner_steps']} | {r['s_per_step']:.2f} | "
          f"{r['tasks_per_s']:.2f} | {r['host_peak_mib']:,.0f} | "
          f"{r['torch']} ({r['threads']} threads) |")
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(rows, f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
