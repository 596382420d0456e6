r"""MAML / MAML++ 5-way 1-shot on Omniglot-small (background small1 + small2), CPU-sized.

    python ../shared/data/make_npz.py /tmp/gitjax-data omniglot_small
    python launch.py --config configs/maml_omniglot_small.py \
        --config.data.path=/tmp/gitjax-data/omniglot_small.npz \
        --workdir /tmp/maml_omniglot_small
    python launch.py --config configs/maml_omniglot_small.py:maml++ \
        --config.data.path=/tmp/gitjax-data/omniglot_small.npz \
        --workdir /tmp/mamlpp_omniglot_small

Argument: nothing (plain MAML), `maml++` or `anil`, optionally followed by
`,smoke` (a seconds-long variant). The npz holds 136 background characters
(meta-train) and 106 characters of other alphabets (meta-test), 20 drawers
each, 28x28 (Lanczos), strokes bright.

Plain MAML (default) is cbfinn/maml's Omniglot recipe
(gitjax/experiments/maml/variants.py): fixed inner rate 0.4, 1 inner step,
second order, inner loss = sum of CE / K (N x mean), queries per class =
K = 1, every task class turned by a random multiple of 90 degrees (per task,
meta-train and meta-test), transductive BN offset-only with eps 1e-3, N(0, 1)
head, Conv-4 64 stride-2 filters, Adam 1e-3; 600 meta-test tasks. Differs
from it: the source's own class split (not a random character split), no
meta-val, meta-batch 8 instead of 32 and 1,000 meta-steps instead of 60,000
(8,000 tasks instead of 1.9M).

`maml++` is HowToTrainYourMAMLPytorch's Omniglot recipe: 5 inner steps with
learned per-layer per-step rates from 0.1, the multi-step loss (annealed
over 2 epochs, then the last step), per-step BN with scale (eps 1e-5),
Glorot head, mean inner loss, cosine outer rate 1e-3 -> 1e-5, second order
throughout (its Omniglot configs do not anneal the derivative order), and
the meta-parameters of the best meta-val accuracy (evaluated every epoch)
are tested. Differs from it: an epoch is 50 meta-steps, 20 epochs (it runs
250 x 500), meta-batch 8 (16), the last 16 meta-train characters are
meta-val, a single best checkpoint (it ensembles the top 5).

Measured (seed 0, 2-core CPU shared with one other training job; README,
Meta-learning): plain MAML 59.17% +- 1.82 (600 tasks, after its 1 step;
62.43% after 10), 29 tasks/s, 5.5 min of training; `maml++` 89.53% +-
1.18 after its 5 steps, 9.0 tasks/s, 17.5 min. (Measured before, a
MAML++-ish variant with learned rates, 15 queries and rotated copies as
classes: 86.79% +- 0.70 after 1 step, 7.1 tasks/s.) Published MAML on full Omniglot: 98.7%; MAML++
99.47%.
"""
from gitjax import config_base
from gitjax import config_maml


def get_config(arg=''):
  _, variant, smoke = config_maml.maml_args(arg, 'maml_omniglot_small')
  config = config_base.get_base('maml')
  config.data.source = 'npz'
  config.data.name = 'omniglot_small'
  m = config.maml
  m.split = 'source'
  m.task_rotations = ('train', 'test')
  m.queries = m.shots
  m.meta_batch = 8
  m.meta_steps = 1000
  m.checkpoint_inner = False  # 1 inner step: memory is no issue, skip recompute
  m.eval_every = 0
  config.run.log_every = 50
  config.run.checkpoint_every = 250
  if variant == 'maml++':
    m.num_val_classes = 16
    m.task_rotations = ('train', 'val', 'test')
    m.epoch_steps = 50
    m.msl_epochs = 2
    m.checkpoint_inner = True  # 5 inner steps
  if smoke:
    m.num_val_classes = 5   # exercises meta-val (of the 10+ classes of a test file)
    m.task_rotations = ('train', 'val', 'test')
  return config_maml.maml_apply(config, variant, smoke)
