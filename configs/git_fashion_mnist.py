r"""The GIT study on Fashion-MNIST with the Kuzushiji-49 protocol.

    python launch.py --config configs/git_fashion_mnist.py:bg \
        --config.data.path=/tmp/gitjax-data/fashion_mnist.npz \
        --workdir runs/git_fashion_bg
    python launch.py --config configs/git_fashion_mnist.py:dil \
        --workdir runs/git_fashion_dil          # TFDS 'fashion_mnist'

Argument: TRANSFORM[,cpu|smoke], TRANSFORM bg (default) or dil. Everything as
configs/git_mnist.py (Zipf tail 4800 ... 48, 3 instances, MUNIT at GIT's
sizes for 10k iterations, ResNet-20 for 50 epochs; CE, CE+DRS, CE+DRS+GIT,
Oracle). Fashion-MNIST's garments have large dark backgrounds, so BG
replaces much of the image; DIL thickens or thins the whole silhouette.
Run time: as git_mnist (a ~13 h CPU job for 3 instances; use an accelerator).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import git_mnist  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config_base  # pylint: disable=g-import-not-at-top,wrong-import-position

_TRANSFORMS = ('bg', 'dil')


def get_config(arg='bg'):
  transform, variant = config_base.transform_arg(arg, 'bg', _TRANSFORMS,
                                                 git_mnist.VARIANTS)
  config = config_base.get_base('git')
  config.methods = ('ce', 'ce_drs', 'ce_drs_git', 'oracle')
  config.num_instances = 3
  config_base.mnist_k49(config.data, transform)
  config.data.name = 'fashion_mnist'
  return git_mnist.k49_recipe(config, variant)
