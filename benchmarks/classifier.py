r"""Training speed of the classifier step: images/s, compile time, memory.

    python benchmarks/classifier.py            # both settings, ~2 min on CPU
    python benchmarks/classifier.py --steps 50 # longer timing window

Settings: ResNet-32 at batch 128 on 32x32x3 (CIFAR-10-LT recipe, crop+flip)
and ResNet-20 at batch 128 on 28x28x1 (K49 recipe), cross-entropy, SGD with
momentum, the real jitted, sharded `train_step` over all devices. Prints a
Markdown table. Not a test.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from benchmarks import common  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments import classifier_steps as steps  # pylint: disable=g-import-not-at-top,wrong-import-position

SETTINGS = (
    ('ResNet-32, 32x32x3, batch 128, crop+flip', 32, (32, 32, 3), 10, True),
    ('ResNet-20, 28x28x1, batch 128', 20, (28, 28, 1), 10, False),
)


def bench(depth, shape, num_classes, crop_flip, batch_size, num_steps):
  mesh = pipeline.make_mesh()
  model = steps.build_model('resnet', depth, num_classes, False)
  tx = steps.make_optimizer(steps.lr_schedule(0.1, 100, 5, (160,), (0.01,)),
                            0.9, 2e-4)
  statics = steps.Statics(model=model, tx=tx, loss='ce', ldam_scale=30.0,
                          focal_gamma=1.0, mean=(120.0,) * shape[-1],
                          std=(60.0,) * shape[-1], crop_flip=crop_flip)
  replicated = pipeline.replicated(mesh)
  state = jax.device_put(
      steps.init_state(model, tx, shape, jax.random.key(0)), replicated)
  rng = np.random.default_rng(0)
  batch = pipeline.shard_batch(
      {'image': rng.integers(0, 255, (batch_size,) + shape, dtype=np.uint8),
       'label': rng.integers(0, num_classes, batch_size)}, mesh)
  loss_params = jax.device_put(
      {'class_weights': np.ones(num_classes, np.float32),
       'margins': np.zeros(num_classes, np.float32)}, replicated)
  step_fn = steps.jit_train_step(statics, replicated,
                                 pipeline.batch_sharding(mesh))
  compile_s, compiled = common.compile_seconds(step_fn, state, batch,
                                               loss_params)
  seconds, _ = common.time_steps(compiled, state, (batch, loss_params),
                                 num_steps)
  return batch_size / seconds, compile_s


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--batch_size', type=int, default=128)
  args = parser.parse_args()
  rows = []
  for name, depth, shape, classes, crop_flip in SETTINGS:
    images_per_s, compile_s = bench(depth, shape, classes, crop_flip,
                                    args.batch_size, args.steps)
    device = common.device_peak_mib()
    rows.append((name, f'{images_per_s:,.0f}', f'{compile_s:.1f}',
                 'n/a' if device is None else f'{device:,.0f}',
                 f'{common.host_peak_mib():,.0f}'))
    print(f'{name}: {images_per_s:.0f} images/s', flush=True)
  print(f'\nclassifier train step on {common.machine()}, {args.steps} timed '
        'steps after 2 warm-up steps\n')
  print(common.table(('setting', 'train images/s', 'compile s',
                      'device peak MiB', 'host peak MiB (process)'), rows))


if __name__ == '__main__':
  main()
