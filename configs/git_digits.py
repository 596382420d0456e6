r"""The whole GIT study on embedded data: the README's main command.

    python launch.py --config configs/git_digits.py --workdir runs/git_digits
    python launch.py --config configs/git_digits.py:dil --workdir runs/git_dil
    python launch.py --config configs/git_digits.py:bg,smoke --workdir /tmp/s

Argument: TRANSFORM[,smoke], TRANSFORM one of bg (default), dil or rot (rot
trains the MUNIT whose style also rotates the image, munit.warp='rotation',
and GIT's own AdaIN-only MUNIT, which does not learn rotation (see
configs/munit_digits.py), for the row ce_drs_git_adain beside ce_drs_git:
config.compare_adain; --config.munit.warp=none --config.compare_adain=False
gives GIT's alone). On scikit-learn's 8x8 digits (upsampled to
28x28, no download) with a Zipf tail of 351 images (120 ... 12 per class),
transformed once per stored image: MUNIT (reduced sizes, one shared G and D,
1,000 iterations) learns the transformation, then ResNet-20 classifiers
train with CE, CE+DRS, CE+DRS+GIT (half the batch re-styled from one epoch
after the first lr drop) and the Oracle (true transformation on the fly),
each followed by balanced test accuracy and per-class eKLD (40 clean test
images x 50 transformations per class). report.md has the table (balanced
accuracy, mean eKLD over all classes and over the two smallest classes) and
figures/ekld_vs_size.png.

Measured (2026-12-02, seed 0, bg, as instance 0 of
`--config.num_instances=3`, independent random streams; 2-core CPU shared
with other jobs, so 20-35 min instead of about 10 on an idle one):
balanced accuracy / mean eKLD of the two smallest classes: CE 0.950 / 0.079,
CE+DRS 0.912 / 0.074, CE+DRS+GIT 0.906 / 0.078, Oracle 0.948 / 0.027.
Over 3 instances, CE+DRS+GIT minus CE+DRS (paired): balanced accuracy
-0.0019 [-0.0146, +0.0107], tail eKLD -0.004 [-0.021, +0.014]: no effect
detected on this 10x tail (README, Results).
rot, 3 instances (2026-12-03, seeds 0-2, 38 min on a shared CPU):
balanced accuracy CE+DRS 0.456, CE+DRS+GIT (warp) 0.560, CE+DRS+GIT
(AdaIN only) 0.506, Oracle 0.807; GIT (warp) minus CE+DRS (paired)
+0.104 [+0.025, +0.183], tail eKLD -0.482 [-1.402, +0.439]; the warp
MUNIT keeps 44% of its labels (README, Results; docs/results/git_rot).
The smoke variant runs in about a minute.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import classifier_digits  # pylint: disable=g-import-not-at-top,wrong-import-position
import munit_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config_base  # pylint: disable=g-import-not-at-top,wrong-import-position

_TRANSFORMS = ('bg', 'dil', 'rot')


def get_config(arg='bg'):
  transform, variant = config_base.transform_arg(arg, 'bg',
                                                 _TRANSFORMS)
  config = config_base.get_base('git')
  config.methods = ('ce', 'ce_drs', 'ce_drs_git', 'oracle')
  config.num_instances = 1
  # Data and MUNIT as configs/munit_digits.py, with a shorter training and
  # evaluation; classifiers as configs/classifier_digits.py (K49 schedule).
  recipe = munit_digits.get_config(transform)
  config.data = recipe.data
  config.munit = munit_recipe(transform)
  # rot: the warp MUNIT's GIT beside GIT's AdaIN-only one (ce_drs_git_adain).
  config.compare_adain = transform == 'rot'
  classifier = classifier_digits.get_config('ce')
  config.model = classifier.model
  config.train = classifier.train
  config.invariance.images_per_class = 40
  config.invariance.transforms_per_image = 50
  config.git.mode = 'half_batch'
  config.run.log_every = 50
  config.run.checkpoint_every = 100
  if variant == 'smoke':
    config_base.git_smoke(config)
    config.data.test_per_class = 0
  return config


def munit_recipe(transform):
  """configs/munit_digits.py's MUNIT (reduced sizes, one shared G and D) with
  a shorter training (1,000 iterations) and evaluation; also the MUNIT of
  configs/git_mnist.py's `,cpu` variant."""
  m = munit_digits.get_config(transform).munit
  m.iterations = 1000
  m.sample_every = 500
  m.eval_images_per_class = 20
  m.eval_styles = 8
  m.probe_steps = 300
  return m
