r"""ResNet-20 on long-tailed, rotated digits (embedded data), then eKLD.

    python launch.py --config configs/classifier_digits.py --workdir /tmp/c

Trains CE (the argument picks the method: :ce_drs, :ldam_drw, :oracle, ...;
add ,smoke for a seconds-long variant, e.g. :ce_drs,smoke) with the paper's
K49 schedule (50 epochs, lr drops at 30 and 40, batch 64) on 351 images
(Zipf tail 120..12), evaluates the last model on the rotated
test set, and measures per-class eKLD (40 test images x 100 rotations per
class). Writes figures/ekld_vs_size.png, per_class.json and report.md.
A few minutes on a 2-core CPU.
"""
from gitjax import config_base


def get_config(arg='ce'):
  method, _, variant = (arg or 'ce').partition(',')
  if variant not in ('', 'smoke'):
    raise ValueError(f'config argument {arg!r}: use METHOD or METHOD,smoke')
  config = config_base.get_base('classifier')
  config.method = method
  config.data.source = 'digits'
  config.data.longtail = 'zipf'
  config.data.n_max = 120
  config.data.alpha = 1.0
  config.data.transform = 'rot'
  config.model.arch = 'resnet'
  config.model.depth = 20
  config.train.epochs = 50
  config.train.batch_size = 64
  config.train.warmup_epochs = 5
  config.train.decay_epochs = (30, 40)
  config.train.eval_every_epochs = 0
  config.run.log_every = 20
  config.run.checkpoint_every = 100
  if variant == 'smoke':
    config_base.classifier_smoke(config, n_max=120)
    config.train.eval_every_epochs = 0
  return config
