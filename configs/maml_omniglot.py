r"""MAML on full Omniglot through TFDS: the published 5-way and 20-way 1-shot recipes.

    python launch.py --config configs/maml_omniglot.py:5w1s --workdir /tmp/o5
    python launch.py --config configs/maml_omniglot.py:20w1s --workdir /tmp/o20

Argument: 5w1s (default), 20w1s, 5w5s or 20w5s, with `,smoke` for a
seconds-long variant. TFDS 'omniglot' (background alphabets: 964 meta-train
characters, evaluation alphabets: 659 meta-test characters) resized to 28x28
grayscale with Lanczos and inverted (strokes bright), 90-degree rotations as
extra meta-train classes, Conv-4 with 64 stride-2 filters, transductive BN,
Adam 1e-3, 60,000 meta-steps, 600 meta-test tasks (Finn et al. 2017):
5-way: meta-batch 32, 1 inner step at lr 0.4; 20-way: meta-batch 16, 5 inner
steps at lr 0.1. Inner rates are learned per layer and step (MAML++).

Needs TFDS 'omniglot' prepared in the TFDS data_dir (or
--config.data.download=True with internet) and an accelerator: 60k meta-steps
are hours on a GPU. Expected: about 98.7% (5w1s) and 95.8% (20w1s).
"""
import re

from gitjax import config_base


def get_config(arg='5w1s'):
  setting, _, variant = (arg or '5w1s').partition(',')
  match = re.fullmatch(r'(5|20)w(1|5)s', setting)
  if not match or variant not in ('', 'smoke'):
    raise ValueError(f'maml_omniglot config argument {arg!r}: use 5w1s, '
                     '20w1s, 5w5s or 20w5s, optionally followed by ,smoke')
  config = config_base.get_base('maml')
  config.data.source = 'tfds'
  config.data.name = 'omniglot'
  m = config.maml
  m.ways, m.shots = int(match.group(1)), int(match.group(2))
  m.split = 'source'
  m.rotations = True
  m.image_size = 28
  m.invert = True
  m.meta_steps = 60000
  if m.ways == 5:
    m.meta_batch, m.inner_steps, m.inner_lr = 32, 1, 0.4
  else:
    m.meta_batch, m.inner_steps, m.inner_lr = 16, 5, 0.1
  m.num_val_classes = 64
  m.eval_every = 2000
  config.run.log_every = 100
  config.run.checkpoint_every = 2000
  if variant == 'smoke':
    config_base.maml_smoke(config)
    m.ways = min(m.ways, 5)
    m.num_val_classes = 5   # of the 10+ classes a smoke-test file has
  return config
