r"""GIT's MUNIT on MNIST made long-tailed by the K49 protocol (full sizes).

    python launch.py --config configs/munit_mnist.py:rot \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/munit_mnist_rot
    python launch.py --config configs/munit_mnist.py:bg \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/munit_mnist_bg

Argument: TRANSFORM[,smoke] with TRANSFORM one of rot (default), bg, dil;
`,smoke` is a seconds-long variant (tiny tail and networks).
The recipe of GIT (Zhou et al. 2022) for K49: Zipf tail (alpha 2, n_max
4800, n_min 5: 7,437 MNIST images), both domains class-balanced draws from
it with horizontal flips, MUNIT at its published sizes (generator
15,007,369 parameters, one 1-scale discriminator 2,755,009; two of each),
LSGAN, Adam 1e-4 (0.5, 0.999), weight decay 1e-4, batch 1, 10,000
iterations. Then transform recovery on 50 clean test images per class x 10
styles and label preservation with an oracle ResNet-20 probe (1,000 steps).
Without the .npz it reads TFDS 'mnist' (needs a prepared TFDS data_dir, or
--config.data.download=True with internet).

rot uses the style that also rotates the image (munit.warp='rotation',
gitjax/models/munit_warp.py; not measured at these sizes yet, see
configs/munit_digits.py:rot for the reduced sizes).
Measured with --config.munit.warp=none (GIT's AdaIN-only MUNIT; seed 0,
2-core CPU, the first command): 1.29 iterations/s, 6,284 s training, 1,426 s
evaluation. The styles change stroke thickness and texture but do not
rotate: rotation recovery TV 0.944 (true rotations 0.038), labels kept 0.900
(probe on real rotated images 0.972). Use an accelerator for bg/dil.
"""
from gitjax import config_base


def get_config(arg='rot'):
  transform, _, variant = (arg or 'rot').partition(',')
  if variant not in ('', 'smoke'):
    raise ValueError(f'munit_mnist config argument {arg!r}: use TRANSFORM or '
                     'TRANSFORM,smoke with TRANSFORM rot (default), bg or dil')
  config = config_base.get_base('munit')
  config_base.mnist_k49(config.data, transform or 'rot')
  m = config.munit  # the base defaults are GIT's recipe; figures and probe:
  m.sample_every = 1000
  m.eval_images_per_class = 50
  m.eval_styles = 10
  m.probe_steps = 1000
  m.probe_batch_size = 128
  m.probe_depth = 20
  if config.data.transform == 'rot':  # AdaIN cannot move pixels
    m.warp = 'rotation'
  config.run.log_every = 100
  config.run.checkpoint_every = 1000
  if variant == 'smoke':
    config_base.munit_smoke(config, n_max=40)
  return config
