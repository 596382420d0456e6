r"""ResNet-20 on MNIST made long-tailed by the K49 protocol, plus a transform.

    python launch.py --config configs/classifier_mnist.py:rot,ce \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/mnist_ce
    python launch.py --config configs/classifier_mnist.py:rot,ce_drs \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/mnist_drs

Argument: TRANSFORM,METHOD[,smoke] (e.g. rot,ce; bg,ce_drs; dil,ldam_drw;
rot,oracle; rot,ce,smoke for a seconds-long variant).
The recipe of Zhou et al. (2022) for K49-style data: Zipf tail (alpha 2,
n_max 4800, n_min 5: 7,437 images), ResNet-20, SGD 0.1 with momentum 0.9,
weight decay 2e-4, batch 128, 5 warm-up epochs, lr x0.01 at epoch 30 and
x0.0001 at 40 of 50; last model evaluated on the transformed balanced test
set (892 per class); eKLD with 40 images x 100 transforms per class.
Without the .npz it reads TFDS 'mnist' (needs a prepared TFDS data_dir, or
--config.data.download=True with internet).
"""
from gitjax import config_base


def get_config(arg='rot,ce'):
  parts = (arg or 'rot,ce').split(',')
  if len(parts) > 3 or (len(parts) == 3 and parts[2] != 'smoke'):
    raise ValueError(f'config argument {arg!r}: use TRANSFORM,METHOD or '
                     'TRANSFORM,METHOD,smoke (e.g. rot,ce_drs)')
  transform, method, variant = (parts + ['', ''])[:3]
  config = config_base.get_base('classifier')
  config.method = method or 'ce'
  config_base.mnist_k49(config.data, transform or 'rot')
  config.model.arch = 'resnet'
  config.model.depth = 20
  config.train.epochs = 50
  config.train.batch_size = 128
  config.train.warmup_epochs = 5
  config.train.decay_epochs = (30, 40)
  config.train.decay_factors = (0.01, 0.0001)
  config.train.eval_every_epochs = 10
  config.run.log_every = 50
  config.run.checkpoint_every = 500
  if variant == 'smoke':
    config_base.classifier_smoke(config, n_max=40)
    config.data.test_per_class = 10
  return config

