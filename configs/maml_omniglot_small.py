r"""MAML 5-way 1-shot on Omniglot-small (background small1 + small2), CPU-sized.

    python ../shared/data/make_npz.py /tmp/gitjax-data omniglot_small
    python launch.py --config configs/maml_omniglot_small.py \
        --config.data.path=/tmp/gitjax-data/omniglot_small.npz \
        --workdir /tmp/maml_omniglot_small

The npz holds 136 background characters (meta-train) and 106 characters of
other alphabets (meta-test), 20 drawers each, 28x28 (Lanczos), strokes bright.
MAML's Omniglot recipe otherwise: 90/180/270-degree rotations as extra
meta-train classes (544), Conv-4 with 64 stride-2 filters, transductive BN,
1 inner step at lr 0.4 (learned per layer, MAML++), second order, Adam 1e-3,
15 queries; 600 meta-test tasks. CPU-sized: meta-batch 8 instead of 32 and
1,000 meta-steps instead of 60,000 (8,000 tasks instead of 1.9M).

Measured (seed 0, 2-core CPU shared with two other jobs): 5-way 1-shot
meta-test accuracy 86.79% +- 0.70 (95% CI, 600 tasks) after the trained
1 step, 86.90% after 10; 7.1 tasks/s, 20 min training + 4 min evaluation.
Published MAML on full Omniglot: 98.7% (964 background characters, 60k
meta-steps of 32 tasks). `:smoke` is a seconds-long variant.
"""
from gitjax import config_base


def get_config(arg=''):
  if arg not in ('', None, 'smoke'):
    raise ValueError(f'maml_omniglot_small config argument {arg!r}: use '
                     'nothing or smoke')
  config = config_base.get_base('maml')
  config.data.source = 'npz'
  config.data.name = 'omniglot_small'
  m = config.maml
  m.split = 'source'
  m.rotations = True
  m.meta_batch = 8
  m.meta_steps = 1000
  m.checkpoint_inner = False  # 1 inner step: memory is no issue, skip recompute
  m.eval_every = 0
  config.run.log_every = 50
  config.run.checkpoint_every = 250
  if arg == 'smoke':
    config_base.maml_smoke(config)
    m.num_val_classes = 5   # exercises meta-val (of the 10+ classes of a test file)
  return config
