r"""Long-tailed, rotated digits from scikit-learn's embedded set (no download).

    python launch.py --config configs/dataset_digits.py --workdir /tmp/d

Writes figures/preview.png, figures/class_sizes.png and summary.json in a few
seconds: 10 classes, Zipf tail (alpha 1, n_max 120, so 120, 60, 40, ..., 12),
every training and test image rotated by U(-180, 180) degrees. The argument
picks the transform: configs/dataset_digits.py:bg, :dil, :none, :rot+bg.
"""
from gitjax import config_base


def get_config(arg='rot'):
  if arg and ',' in arg:
    raise ValueError(f'dataset_digits config argument {arg!r}: '
                     'use one transform such as rot, bg, dil, none or rot+bg '
                     '(no variants)')
  config = config_base.get_base('dataset')
  config.data.source = 'digits'
  config.data.longtail = 'zipf'
  config.data.n_max = 120
  config.data.alpha = 1.0
  config.data.n_min = 5
  config.data.transform = arg or 'rot'
  return config
