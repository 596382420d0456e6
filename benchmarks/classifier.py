r"""Training speed of the classifier step: images/s, compile time, memory,
and what GIT's re-stylings add to it.

    python benchmarks/classifier.py            # all settings, ~5 min on CPU
    python benchmarks/classifier.py --steps 50 # longer timing window
    python benchmarks/classifier.py --no_git   # plain steps only

Settings: ResNet-32 at batch 128 on 32x32x3 (CIFAR-10-LT recipe, crop+flip)
and ResNet-20 at batch 128 on 28x28x1 (K49 recipe), cross-entropy, SGD with
momentum, the real jitted, sharded `train_step` over all devices. The GIT
rows time `git_train_step` at the same batch (B // 2 re-stylings by a
generator at GIT's MUNIT sizes, or at configs/git_digits.py's reduced
sizes) and give its cost relative to the plain step, beside the ratio of
XLA's FLOP counts of the two compiled steps (the arithmetic floor of that
cost). Prints a Markdown table. Not a test.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from benchmarks import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.munit import steps as munit_steps  # pylint: disable=g-import-not-at-top,wrong-import-position

SETTINGS = (
    ('ResNet-32, 32x32x3, batch 128, crop+flip', 32, (32, 32, 3), 10, True),
    ('ResNet-20, 28x28x1, batch 128', 20, (28, 28, 1), 10, False),
)


# Generators for the GIT rows: GIT's MUNIT sizes (the munit config defaults)
# and the reduced sizes of configs/git_digits.py.
GENERATORS = (
    ('GIT sizes', {}),
    ('digits sizes', dict(dim=16, n_res=2, mlp_dim=64, dis_dim=16)),
)


def _flops(compiled):
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  return (analysis or {}).get('flops')


def bench(depth, shape, num_classes, crop_flip, batch_size, num_steps,
          generator=None):
  """(images/s, compile s, FLOPs per step) of the plain step, or of the GIT
  step when `generator` holds munit_steps.Statics overrides."""
  mesh = pipeline.make_mesh()
  model = steps.build_model('resnet', depth, num_classes, False)
  tx = steps.make_optimizer(steps.lr_schedule(0.1, 100, 5, (160,), (0.01,)),
                            0.9, 2e-4)
  git_spec = None
  if generator is not None:
    gen_statics = munit_steps.Statics(image_channels=shape[-1], **generator)
    git_spec = steps.GitSpec(mode='half_batch', generator=gen_statics,
                             source_flip=crop_flip)
  statics = steps.Statics(model=model, tx=tx, loss='ce', ldam_scale=30.0,
                          focal_gamma=1.0, mean=(120.0,) * shape[-1],
                          std=(60.0,) * shape[-1], crop_flip=crop_flip,
                          git=git_spec)
  replicated = pipeline.replicated(mesh)
  state = jax.device_put(
      steps.init_state(model, tx, shape, jax.random.key(0)), replicated)
  rng = np.random.default_rng(0)
  host = {'image': rng.integers(0, 255, (batch_size,) + shape,
                               dtype=np.uint8),
          'label': rng.integers(0, num_classes, batch_size)}
  loss_params = jax.device_put(
      {'class_weights': np.ones(num_classes, np.float32),
       'margins': np.zeros(num_classes, np.float32)}, replicated)
  args = (loss_params,)
  if git_spec is None:
    step_fn = steps.jit_train_step(statics, replicated,
                                   pipeline.batch_sharding(mesh))
  else:
    half = batch_size // 2
    host['source_image'] = host['image'][:half]
    host['source_label'] = host['label'][:half]
    gen = munit_steps.init_state(gen_statics, shape,
                                 munit_steps.init_key(0)).params['gen']
    git_params = jax.device_put(
        {'gen': {n: gen[n] for n in munit_steps.restyle_nets(gen_statics)},
         'keep_prob': np.ones(num_classes, np.float32)}, replicated)
    args = (loss_params, git_params)
    step_fn = steps.jit_git_train_step(statics, replicated,
                                       pipeline.batch_sharding(mesh))
  batch = pipeline.shard_batch(host, mesh)
  compile_s, compiled = common.compile_seconds(step_fn, state, batch, *args)
  seconds, _ = common.time_steps(compiled, state, (batch,) + args, num_steps)
  return batch_size / seconds, compile_s, _flops(compiled)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--batch_size', type=int, default=128)
  parser.add_argument('--no_git', action='store_true',
                      help='time the plain steps only')
  args = parser.parse_args()
  rows = []
  for name, depth, shape, classes, crop_flip in SETTINGS:
    plain_ips, compile_s, plain_flops = bench(
        depth, shape, classes, crop_flip, args.batch_size, args.steps)
    variants = [(name, plain_ips, compile_s, plain_flops)]
    for gen_name, overrides in ([] if args.no_git else GENERATORS):
      ips, c_s, flops = bench(depth, shape, classes, crop_flip,
                              args.batch_size, args.steps, overrides)
      variants.append((f'{name} + GIT ({gen_name} generator)', ips, c_s,
                       flops))
    for label, ips, c_s, flops in variants:
      device = common.device_peak_mib()
      flop_ratio = (f'{flops / plain_flops:.2f}x' if flops and plain_flops
                    else 'n/a')
      rows.append((label, f'{ips:,.0f}', f'{plain_ips / ips:.2f}x',
                   flop_ratio, f'{c_s:.1f}',
                   'n/a' if device is None else f'{device:,.0f}',
                   f'{common.host_peak_mib():,.0f}'))
      print(f'{label}: {ips:.0f} images/s', flush=True)
  print(f'\nclassifier train step on {common.machine()}, {args.steps} timed '
        'steps after 2 warm-up steps\n')
  print(common.table(('setting', 'train images/s', 'time vs plain step',
                      'FLOPs vs plain step', 'compile s', 'device peak MiB',
                      'host peak MiB (process)'), rows))


if __name__ == '__main__':
  main()
