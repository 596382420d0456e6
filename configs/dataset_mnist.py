r"""MNIST made long-tailed with the Kuzushiji-49 protocol, plus a transform.

    python launch.py --config configs/dataset_mnist.py:rot --workdir /tmp/m
    # offline, from a local copy (see README, "Bring your own data"):
    python launch.py --config configs/dataset_mnist.py:rot \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/m

Zipf tail alpha 2, n_max 4800, n_min 5 (Zhou et al. 2022): class sizes by
rank 4800, 1200, 533, 300, 192, 133, 97, 75, 59, 48 (7,437 images); the
rank-to-class order comes from the seed. Balanced test set (892 per class),
transformed the same way. Argument: rot (default), bg, dil, none, rot+bg, ...
"""
from gitjax import config_base


def get_config(arg='rot'):
  if arg and ',' in arg:
    raise ValueError(f'dataset_mnist config argument {arg!r}: '
                     'use one transform such as rot, bg, dil, none or rot+bg '
                     '(no variants)')
  config = config_base.get_base('dataset')
  config_base.mnist_k49(config.data, arg or 'rot')
  return config
