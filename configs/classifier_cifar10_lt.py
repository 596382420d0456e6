r"""The paper's CIFAR-10-LT recipe: ResNet-32, 200 epochs (for accelerators).

    python launch.py --config configs/classifier_cifar10_lt.py:ce_drs \
        --workdir /tmp/cifar_drs                       # TFDS 'cifar10'
    python launch.py --config configs/classifier_cifar10_lt.py:ce_drs \
        --config.data.path=/tmp/gitjax-data/cifar10.npz --workdir /tmp/cifar

Exponential tail with imbalance ratio 100 (5000 ... 50, 12,406 images), no
nuisance transform by default (set --config.data.transform=... to add one),
random crop (pad 4) + flip, SGD 0.1, momentum 0.9, weight decay 2e-4, batch
128, 5 warm-up epochs, lr x0.01 at epoch 160 and x0.0001 at 180; last model
on the full test set. Published CE+DRS+GIT accuracy: 78.76%.
Argument: METHOD[,smoke] (ce, ce_drs, ldam_drw, focal, ...; ce_drs,smoke is a
seconds-long variant).
"""
from gitjax import config_base


def get_config(arg='ce_drs'):
  method, _, variant = (arg or 'ce_drs').partition(',')
  if variant not in ('', 'smoke'):
    raise ValueError(f'config argument {arg!r}: use METHOD or METHOD,smoke')
  config = config_base.get_base('classifier')
  config.method = method
  config_base.cifar10_lt(config.data, 'none')
  config.model.arch = 'resnet'
  config.model.depth = 32
  config.train.epochs = 200
  config.train.batch_size = 128
  config.train.warmup_epochs = 5
  config.train.decay_epochs = (160, 180)
  config.train.decay_factors = (0.01, 0.0001)
  config.train.crop_flip = True
  config.train.eval_every_epochs = 20
  config.invariance.enabled = False
  config.run.log_every = 100
  config.run.checkpoint_every = 1000
  if variant == 'smoke':
    config_base.classifier_smoke(config, n_max=200)  # smallest class: 2
  return config

