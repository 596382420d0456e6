r"""Invariance transfer of a meta-learner: MNIST digits 0-4 under rotation -> 5-9.

    python ../shared/data/make_npz.py /tmp/gitjax-data mnist
    python launch.py --config configs/maml_mnist_rot.py \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/maml_rot

Plain MAML as cbfinn/maml runs it (gitjax/experiments/maml/variants.py:
fixed inner rate 0.4, 1 inner step, second order, inner loss = sum of CE / K,
transductive BN offset-only with eps 1e-3, N(0, 1) head; Conv-4 with 32
filters, 5-way 1-shot) meta-trains on digits 0-4, every task image rotated
by U(-180, 180) degrees (the nuisance under study, not cbfinn's per-class
quarter turns); meta-test classes are 5-9. Differs from cbfinn: 15 queries
per class (the study measures invariance on the query images), no meta-val,
meta-batch 8, 800 meta-steps. Then the invariance-transfer study
(`gitjax/experiments/maml/transfer.py`): on meta-test tasks with CLEAN
1/5/10-shot support sets, per-class eKLD of the adapted model between clean
query images and 16 rotated copies, for MAML, for the same Conv-4 trained as
a plain 5-way classifier on rotated digits 0-4 and fine-tuned on the support
set (10 SGD steps), and for the Conv-4 fine-tuned from scratch. Writes
transfer.json and figures/invariance_transfer.png. Without the .npz it reads
TFDS 'mnist'.

Measured before the plain-MAML defaults (learned inner rates, mean inner
loss, BN with scale, Glorot head; to be re-measured; seed 0, shared 2-core
CPU, ~10 min in all): meta-test accuracy
40.29% +- 1.02 (200 rotated tasks). eKLD on 5-9 at K = 1 / 5 / 10 shots:
MAML 0.311 / 0.193 / 0.180, fine-tuned plain CNN 0.732 / 0.839 / 0.901,
CNN from scratch 0.515 / 0.631 / 0.708; accuracy on rotated queries MAML
39.8 / 48.8 / 49.7%, plain CNN 30.7 / 40.5 / 42.5% (README: the full table).
`:smoke` is a seconds-long variant.
"""
from gitjax import config_base


def get_config(arg=''):
  if arg not in ('', None, 'smoke'):
    raise ValueError(f'maml_mnist_rot config argument {arg!r}: use nothing '
                     'or smoke (MAML++ needs a meta-val split, ANIL does not '
                     'run the transfer study)')
  config = config_base.get_base('maml')
  config.data.source = 'tfds'
  config.data.name = 'mnist'
  config.data.transform = 'rot'
  m = config.maml
  m.split = 'classes'
  m.train_classes = (0, 1, 2, 3, 4)
  m.test_classes = (5, 6, 7, 8, 9)
  m.max_images_per_class = 1000
  m.filters = 32
  m.meta_batch = 8
  m.meta_steps = 800
  m.eval_every = 0
  m.test_tasks = 200
  m.transfer = True
  m.transfer_shots = (1, 5, 10)
  m.transfer_tasks = 16
  m.transfer_draws = 16
  m.pretrain_steps = 800
  m.pretrain_batch_size = 64
  config.run.log_every = 50
  config.run.checkpoint_every = 200
  if arg == 'smoke':
    config_base.maml_smoke(config)
  return config
