r"""GIT's MUNIT on CIFAR-10-LT (for accelerators).

    python launch.py --config configs/munit_cifar10_lt.py \
        --workdir /tmp/munit_cifar                    # TFDS 'cifar10'
    python launch.py --config configs/munit_cifar10_lt.py \
        --config.data.path=/tmp/gitjax-data/cifar10.npz --workdir /tmp/munit_c

Argument: TRANSFORM[,smoke]; TRANSFORM 'none' (default: CIFAR-10-LT as GIT
uses it, whose nuisance variation is natural) or e.g. 'rot', 'scale',
'brightness_contrast'. Exponential tail with imbalance ratio 100 (5000 ...
50, 12,406 images, 32x32x3), both domains class-balanced draws with
horizontal flips, MUNIT at its published sizes (generator 15,026,187
parameters, discriminator 2,757,057; two of each), LSGAN, Adam 1e-4 (0.5,
0.999), weight decay 1e-4, lr halved every 100k iterations. GIT used its
140k-iteration checkpoint at batch 1; here batch 8 for accelerator
efficiency and 140k iterations. Label preservation with a ResNet-20 probe
on clean balanced CIFAR-10 (no transform recovery for 'none').
Time: benchmarks/munit.py gives iterations/s on 32x32x3 at batch 8.
"""
from gitjax import config_base


def get_config(arg='none'):
  transform, _, variant = (arg or 'none').partition(',')
  if variant not in ('', 'smoke'):
    raise ValueError(f'munit_cifar10_lt config argument {arg!r}: use '
                     'TRANSFORM or TRANSFORM,smoke with TRANSFORM none '
                     '(default), rot, scale, brightness_contrast, ...')
  config = config_base.get_base('munit')
  config_base.cifar10_lt(config.data, transform or 'none')
  m = config.munit
  m.iterations = 140000
  m.batch_size = 8
  m.flip = True
  m.sample_every = 5000
  m.eval_images_per_class = 100
  m.eval_styles = 10
  m.probe_steps = 10000
  m.probe_batch_size = 128
  m.probe_depth = 20
  config.run.log_every = 500
  config.run.checkpoint_every = 5000
  if variant == 'smoke':
    config_base.munit_smoke(config, n_max=200)  # smallest class: 2
    config.data.test_split = 'balanced'
  return config
