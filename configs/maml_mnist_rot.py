r"""Invariance transfer with its controls: MNIST digits 0-4 under rotation -> 5-8.

    python ../shared/data/make_npz.py /tmp/gitjax-data mnist
    python launch.py --config configs/maml_mnist_rot.py \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/maml_rot

The study (`gitjax/experiments/maml/study.py`, learners in
`maml/learners.py`): six learners, all on the same Conv-4 (32 filters,
stride 2, transductive BN) and the same meta-train classes, digits 0-4,
every image rotated by U(-180, 180) degrees: plain MAML (cbfinn/maml's
recipe: 1 inner step at 0.4, second order), MAML++ (5 steps, learned
per-layer per-step rates, multi-step loss, per-step BN, cosine outer rate;
no best-val selection: no meta-val classes), ANIL (head-only inner loop),
and the Conv-4 trained as a plain classifier on rotated 0-4 (800 Adam steps)
then fine-tuned head-only or all layers (rate and steps picked from 3 x 3 on
meta-val classes 3, 4 held out of meta-train: a second plain CNN trained on
0-2 only, fine-tuned on 2-way tasks of 3, 4), and a nearest-centroid
classifier on its frozen features. Meta-test: digits 5, 6, 7, 8, 4-way
(9 is dropped: rotated by 180 degrees it is a 6; 6 is kept), so every task
is 4-way, meta-training too; CLEAN 1/5/10-shot support sets, 15 queries per
class, 16 rotated copies of each query; eKLD after per-learner temperature
scaling on the clean queries, consistency, accuracy clean and rotated, the
fraction of above-chance accuracy kept; seeds 0, 1, 2 with Student-t 95%
intervals over seeds. Writes transfer.json, figures/invariance_transfer.png
and report.md. Without the .npz it reads TFDS 'mnist'. `:smoke` is a
seconds-long variant (one seed).
"""
from gitjax import config_base


def get_config(arg=''):
  if arg not in ('', None, 'smoke'):
    raise ValueError(f'maml_mnist_rot config argument {arg!r}: use nothing '
                     'or smoke')
  config = config_base.get_base('maml')
  config.data.source = 'tfds'
  config.data.name = 'mnist'
  config.data.transform = 'rot'
  m = config.maml
  m.split = 'classes'
  m.ways = 4                 # meta-test 5, 6, 7, 8 (no 9: a turned 6)
  m.train_classes = (0, 1, 2, 3, 4)
  m.test_classes = (5, 6, 7, 8)
  m.max_images_per_class = 1000
  m.filters = 32
  m.meta_batch = 8
  m.meta_steps = 800
  m.eval_every = 0
  m.transfer = True
  m.transfer_seeds = (0, 1, 2)
  m.transfer_shots = (1, 5, 10)
  m.transfer_tasks = 16
  m.transfer_draws = 16
  m.tune_classes = (3, 4)
  m.tune_tasks = 16
  m.pretrain_steps = 800
  m.pretrain_batch_size = 64
  config.run.log_every = 50
  config.run.checkpoint_every = 200
  if arg == 'smoke':
    config_base.maml_smoke(config)
    m.transfer_seeds = (0,)
  return config
