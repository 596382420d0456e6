r"""The GIT study on MNIST with the paper's Kuzushiji-49 protocol.

    python launch.py --config configs/git_mnist.py:bg \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir runs/git_mnist_bg
    python launch.py --config configs/git_mnist.py:dil --workdir runs/git_dil
                                                   # TFDS 'mnist'

Argument: TRANSFORM[,cpu|smoke], TRANSFORM one of bg (default), dil, rot. Zipf
tail (alpha 2, 4800 ... 48 images per class, 7,437 images), each image
transformed once; 3 long-tailed instances (seeds 0, 1, 2). Per instance:
MUNIT at GIT's sizes (two generators of 15,007,369 parameters and two 1-scale
discriminators, batch 1, 10k iterations, LSGAN, Adam 1e-4), then ResNet-20
classifiers with the K49 recipe (SGD 0.1, batch 128, 50 epochs, lr x0.01 at
30 and x0.0001 at 40) for CE, CE+DRS, CE+DRS+GIT (GIT from epoch 31, half of
each batch re-styled a -> a) and the Oracle, each with per-class eKLD (40
test images x 100 transformations). The report gives balanced accuracy and
the mean eKLD of the smallest fifth of the classes, mean +- std over the
instances; the paper's claim is that CE+DRS+GIT lowers the tail eKLD and
raises balanced accuracy over CE+DRS on BG and DIL. GIT's code has no MUNIT
for rot (its AdaIN style code does not learn rotation: configs/munit_mnist.py);
here rot trains the MUNIT whose style also rotates the image
(munit.warp='rotation'), and each GIT method runs again with GIT's
AdaIN-only MUNIT as METHOD_adain (config.compare_adain; --config.munit.warp=none
--config.compare_adain=False gives GIT's alone).

Run time: on a 2-core CPU each MUNIT takes about 2.2 h and each classifier
about 30 min (CE+DRS and CE+DRS+GIT start from CE's state at the switch,
so they train 20 of the 50 epochs), so the 3-instance study is a ~11 h CPU
job (use an accelerator); `--config.num_instances=1` for one instance.

`,cpu` (e.g. `configs/git_mnist.py:dil,cpu`): the same data, ResNet-20 and
GIT, with git_digits' MUNIT (reduced sizes, 1,000 iterations) and 10 epochs
(lr drops at 6 and 8). Measured (seeds 0, 1, 2; bg and dil side by side on
the 2-core CPU, 2 h each), balanced accuracy / mean eKLD of the smallest
fifth, mean +- std:
  bg:  CE 0.953 / 0.012, CE+DRS 0.959 / 0.011, CE+DRS+GIT 0.962 / 0.009,
       Oracle 0.953 / 0.012
  dil: CE 0.933 / 0.110, CE+DRS 0.946 / 0.088, CE+DRS+GIT 0.952 / 0.079,
       Oracle 0.939 / 0.081
(README, Results, for the stds and per-instance figures.)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import git_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config_base  # pylint: disable=g-import-not-at-top,wrong-import-position

_TRANSFORMS = ('bg', 'dil', 'rot')
VARIANTS = ('cpu', 'smoke')


def get_config(arg='bg'):
  transform, variant = config_base.transform_arg(arg, 'bg', _TRANSFORMS,
                                                 VARIANTS)
  config = config_base.get_base('git')
  config.methods = ('ce', 'ce_drs', 'ce_drs_git', 'oracle')
  config.num_instances = 3
  config_base.mnist_k49(config.data, transform)
  config = k49_recipe(config, variant)
  if transform == 'rot':  # AdaIN cannot move pixels: a style that rotates
    config.munit.warp = 'rotation'
    config.compare_adain = True  # and GIT's AdaIN-only MUNIT beside it
  return config


def k49_recipe(config, variant=''):
  """MUNIT and classifier settings of GIT's K49 experiments (shared with
  configs/git_fashion_mnist.py); variant 'cpu' is the CPU-sized recipe and
  'smoke' the seconds-long one."""
  m = config.munit  # the base defaults are GIT's MUNIT recipe
  m.sample_every = 2000
  m.eval_images_per_class = 50
  m.eval_styles = 10
  m.probe_steps = 1000
  m.probe_batch_size = 128
  m.probe_depth = 20
  config.model.arch = 'resnet'
  config.model.depth = 20
  t = config.train
  t.epochs = 50
  t.batch_size = 128
  t.warmup_epochs = 5
  t.decay_epochs = (30, 40)
  t.decay_factors = (0.01, 0.0001)
  t.eval_every_epochs = 0
  config.git.mode = 'half_batch'
  config.run.log_every = 100
  config.run.checkpoint_every = 1000
  if variant == 'cpu':
    cpu_recipe(config)
  if variant == 'smoke':
    config.data.n_max = 40
    config_base.git_smoke(config)
    config.num_instances = 2
  return config


def cpu_recipe(config):
  """The `,cpu` variant: the same data (K49 tail, 3 instances) and ResNet-20,
  with configs/git_digits.py's MUNIT (munit_digits sizes, one shared G and D,
  1,000 iterations) and a 10-epoch schedule instead of 50 (lr drops at 6 and
  8, GIT from epoch 7), so that the 3-instance study of one transformation
  takes about 2 h on a 2-core CPU."""
  config.munit = git_digits.munit_recipe(config.data.transform)
  t = config.train
  t.epochs = 10
  t.warmup_epochs = 1
  t.decay_epochs = (6, 8)
  config.invariance.images_per_class = 40
  config.invariance.transforms_per_image = 50
  config.run.log_every = 50
  config.run.checkpoint_every = 200
