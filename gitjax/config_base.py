"""Declares every config key of gitjax once, with a one-line comment each.

Experiment files (`configs/<experiment>.py`) call
`config_base.get_base(kind)` and only set values. Keys are grouped in sections; each experiment kind gets the
sections it reads, so the resolved `config.json` of a run holds no key the
run ignores. `gitjax/config.py` checks every value before a run starts.
"""
import ml_collections

EXPERIMENTS = ('dataset', 'classifier', 'munit', 'unrolled_ring', 'git', 'maml')

# method -> (loss, sampling rule, oracle). Sampling rules: 'erm' (uniform
# shuffle), 'rs' (class-balanced resampling), 'rw' (effective-number
# reweighting), 'drs'/'drw' (ERM, then rs/rw from the first lr drop).
# 'oracle' trains on untransformed images with the true transform applied
# on the fly.
METHODS = {
    'ce': ('ce', 'erm', False),
    'ce_rs': ('ce', 'rs', False),
    'ce_rw': ('ce', 'rw', False),
    'ce_drs': ('ce', 'drs', False),
    'ce_drw': ('ce', 'drw', False),
    'focal': ('focal', 'erm', False),
    'focal_drw': ('focal', 'drw', False),
    'ldam': ('ldam', 'erm', False),
    'ldam_drw': ('ldam', 'drw', False),
    'ldam_drs': ('ldam', 'drs', False),
    'oracle': ('ce', 'erm', True),
    'oracle_drs': ('ce', 'drs', True),
}

# GIT (Zhou et al. 2022): METHOD + '_git' trains as METHOD and, from one
# epoch after the first lr drop, replaces part of each batch by re-stylings
# of a frozen MUNIT generator (config section `git`). Not for the oracle,
# which already sees the true transformation.
GIT_SUFFIX = '_git'
GIT_METHODS = tuple(name + GIT_SUFFIX for name, (_, _, oracle) in
                    METHODS.items() if not oracle)
ALL_METHODS = tuple(METHODS) + GIT_METHODS


def method_parts(method):
  """(loss, sampling rule, oracle, git) of a method name of ALL_METHODS."""
  git = method.endswith(GIT_SUFFIX)
  loss, rule, oracle = METHODS[method[:-len(GIT_SUFFIX)] if git else method]
  return loss, rule, oracle, git


def data():
  """Where the images come from and how the long-tailed set is built."""
  d = ml_collections.ConfigDict()
  d.source = 'digits'        # 'digits' (embedded, no download), 'tfds' or 'npz'
  d.name = ''                # TFDS data set name ('mnist', 'cifar10', ...)
  d.path = ''                # local .npz file; when set it replaces TFDS
  d.data_dir = ''            # TFDS data_dir ('' = TFDS default)
  d.download = False         # let TFDS download and prepare (needs internet)
  d.longtail = 'zipf'        # 'zipf' (Kuzushiji-49 style), 'exp' (CIFAR-LT), 'none'
  d.n_max = 4800             # images in the largest class
  d.alpha = 2.0              # zipf exponent: rank k gets n_max * k^-alpha
  d.n_min = 5                # zipf floor on class size
  d.imbalance_ratio = 100.0  # exp: largest / smallest class size
  d.test_split = 'balanced'  # 'balanced' (same count per class) or 'full'
  d.test_per_class = 0       # balanced test images per class (0 = largest possible)
  d.val_per_class = 0        # held-out validation images per class (0 = none)
  d.transform = 'none'       # nuisance transform(s): 'rot', 'bg', 'dil', 'rot+bg', ...
  d.transform_test = True    # apply the same transform to the test set
  d.rot_degrees = 180.0      # rot: angle ~ U(-rot_degrees, rot_degrees)
  d.bg_max = 99              # bg: background value ~ UniformInt{0..bg_max}
  d.brightness = 0.25        # brightness_contrast: shift ~ U(-b, b) * 255
  d.contrast_min = 0.5       # brightness_contrast: contrast factor range
  d.contrast_max = 1.5
  d.scale_min = 0.7          # scale: zoom factor range
  d.scale_max = 1.3
  d.translate = 4.0          # translate: shift ~ U(-t, t) pixels per axis
  return d


def run_options():
  """How a run reports and saves itself."""
  r = ml_collections.ConfigDict()
  r.log_every = 50           # steps between progress lines and metric writes
  r.checkpoint_every = 500   # steps between checkpoints (one more at the end)
  r.keep_checkpoints = 2     # checkpoints kept on disk
  r.prefetch = 2             # batches prepared ahead of the accelerator
  r.preview_per_class = 10   # samples per class in preview figures
  return r


def model():
  """The classifier network."""
  m = ml_collections.ConfigDict()
  m.arch = 'resnet'          # 'resnet' (CIFAR-style, option-A) or 'conv4'
  m.depth = 20               # resnet depth 6n+2: 20, 32, 44, 56
  m.conv4_filters = 64       # conv4 width
  return m


def train():
  """The classifier's training recipe (Zhou et al. 2022 / LDAM-DRW)."""
  t = ml_collections.ConfigDict()
  t.epochs = 50              # training epochs
  t.batch_size = 128         # global batch, split over all devices
  t.lr = 0.1                 # peak SGD learning rate
  t.momentum = 0.9           # SGD momentum
  t.weight_decay = 2e-4      # coupled L2 on all parameters (as PyTorch SGD)
  t.warmup_epochs = 5        # linear warm-up to lr
  t.decay_epochs = (30, 40)  # epochs of the lr drops
  t.decay_factors = (0.01, 0.0001)  # lr multiplier from each drop on
  t.crop_flip = False        # random crop (pad 4) + horizontal flip
  t.ldam_max_margin = 0.5    # LDAM: largest class margin
  t.ldam_scale = 30.0        # LDAM: logit scale
  t.focal_gamma = 1.0        # focal loss exponent
  t.cb_beta = 0.9999         # effective-number reweighting beta
  t.deferred_epoch = -1      # DRS/DRW switch epoch (-1 = first lr drop)
  t.eval_batch_size = 512    # evaluation batch (a multiple of the devices)
  t.eval_every_epochs = 10   # test (and val) evaluation cadence; 0 = only at the end, no best model
  t.branch_from = ''         # a sibling run (same data, seed, model, recipe, loss) to start from at the DRS/DRW switch; '' = step 0
  return t


def invariance():
  """Per-class invariance (eKLD) measurement."""
  i = ml_collections.ConfigDict()
  i.enabled = True           # measure eKLD after training (needs a transform)
  i.images_per_class = 40    # clean test images per class
  i.transforms_per_image = 100  # draws x' ~ T(.|x) per image
  i.images_per_batch = 10    # images whose transforms share one forward pass
  return i


def git():
  """GIT augmentation of the classifier (methods ending in '_git')."""
  g = ml_collections.ConfigDict()
  g.mode = 'half_batch'      # 'half_batch' (GIT's code) or 'threshold' (the paper's Algorithm 1)
  g.threshold_k = 500        # threshold: class of size n re-styled w.p. max((K - n) / (K - n_min), 0)
  g.start_epoch = -1         # first GIT epoch (-1 = one epoch after the first lr drop / deferred switch)
  g.munit_workdir = ''       # finished MUNIT run to re-style with ('' in a git run = train one per instance)
  g.munit_step = 0           # MUNIT iteration whose saved generator re-styles (0 = the run's last checkpoint)
  return g


def transform_arg(arg, default, transforms, variants=('smoke',)):
  """(transform, variant) of a 'TRANSFORM[,VARIANT]' config-file argument;
  variant is '' when none is given."""
  transform, _, variant = (arg or default).partition(',')
  if transform not in transforms or variant not in ('',) + tuple(variants):
    shown = '|'.join(variants)
    raise ValueError(f'config argument {arg!r}: use TRANSFORM or '
                     f'TRANSFORM,{shown} with TRANSFORM one of {transforms}')
  return transform, variant


def git_smoke(config):
  """Shrinks a git study to a seconds-long run per stage (the `,smoke`
  variants): MUNIT as munit_smoke, a ResNet-8 for three epochs (GIT in the
  third), a few eKLD draws."""
  munit_smoke(config, n_max=config.data.n_max)
  config.data.n_max = min(config.data.n_max, 120)
  config.data.test_per_class = 10
  config.data.test_split = 'balanced'
  config.model.depth = 8
  t = config.train
  t.epochs = 3
  t.batch_size = 32
  t.warmup_epochs = 1
  t.decay_epochs = (1,)
  t.decay_factors = (0.1,)
  t.eval_every_epochs = 0
  config.invariance.images_per_class = 4
  config.invariance.transforms_per_image = 8
  config.invariance.images_per_batch = 8
  config.run.log_every = 4
  config.run.checkpoint_every = 8
  return config


def mnist_k49(d, transform):
  """The paper's Kuzushiji-49 protocol applied to MNIST (TFDS 'mnist', or a
  local file through data.path): Zipf tail, alpha 2, n_max 4800, n_min 5."""
  d.source = 'tfds'
  d.name = 'mnist'
  d.longtail = 'zipf'
  d.n_max = 4800
  d.alpha = 2.0
  d.n_min = 5
  d.transform = transform


def cifar10_lt(d, transform):
  """CIFAR-10-LT: exponential tail, imbalance ratio 100 (5000 ... 50), full
  test set."""
  d.source = 'tfds'
  d.name = 'cifar10'
  d.longtail = 'exp'
  d.n_max = 5000
  d.imbalance_ratio = 100.0
  d.test_split = 'full'
  d.transform = transform


def classifier_smoke(config, n_max):
  """Shrinks a classifier config to a seconds-long run (the `,smoke`
  variants): a tiny tail and model, two epochs, a few eKLD draws."""
  config.data.n_max = n_max
  config.model.depth = 8
  # GIT starts one epoch after the lr drop at epoch 1: a third epoch for it.
  config.train.epochs = 3 if config.method.endswith(GIT_SUFFIX) else 2
  config.train.batch_size = 32
  config.train.warmup_epochs = 1
  config.train.decay_epochs = (1,)
  config.train.decay_factors = (0.1,)
  config.train.eval_every_epochs = 1
  config.invariance.images_per_class = 4
  config.invariance.transforms_per_image = 8
  config.invariance.images_per_batch = 8
  config.run.log_every = 2
  config.run.checkpoint_every = 4
  return config


# --- munit section: owned by the MUNIT trainer (gitjax/experiments/munit/)
def munit():
  """MUNIT generator training for GIT, and what the generator learned.

  Defaults are the GIT/MUNIT recipe (K49: batch 1, 10k iterations).
  """
  m = ml_collections.ConfigDict()
  m.iterations = 10000       # training iterations (one D step + one G step)
  m.batch_size = 1           # images per domain per iteration, split over all devices
  m.dim = 64                 # generator: width of both encoders' first conv
  m.style_dim = 8            # generator: length of the style code
  m.n_downsample = 2         # generator: content stride-2 convs (= decoder upsamplings)
  m.n_res = 4                # generator: residual blocks of content encoder and decoder
  m.n_style_downsample = 4   # generator: stride-2 convs of the style encoder
  m.mlp_dim = 256            # generator: hidden width of the style -> AdaIN MLP
  m.n_mlp = 3                # generator: dense layers of that MLP
  m.warp = 'none'            # generator: 'none' (MUNIT), 'rotation' or 'affine': leading style entries also warp the image
  m.pose_in_adain = True     # generator, with a warp: the pose entries also feed AdaIN (False: the pose acts only through the warp)
  m.dis_dim = 64             # discriminator: width of the first conv
  m.dis_layers = 4           # discriminator: stride-2 convs per scale
  m.n_scales = 1             # discriminator scales (GIT 1, MUNIT 3)
  m.shared = False           # one G and one D for both draws (a->b only: half the compute)
  m.lr = 1e-4                # Adam learning rate (both players)
  m.beta1 = 0.5              # Adam beta1
  m.beta2 = 0.999            # Adam beta2
  m.weight_decay = 1e-4      # coupled L2 (PyTorch Adam weight_decay)
  m.lr_step = 100000         # lr multiplied by lr_gamma every lr_step iterations
  m.lr_gamma = 0.5           # StepLR factor
  m.gan_type = 'lsgan'       # 'lsgan' (MUNIT), 'hinge' or 'nsgan' (non-saturating)
  m.gan_w = 1.0              # weight of the adversarial losses
  m.recon_x_w = 10.0         # weight of the L1 image reconstruction
  m.recon_s_w = 1.0          # weight of the L1 style reconstruction
  m.recon_c_w = 1.0          # weight of the L1 content reconstruction
  m.recon_cyc_w = 0.0        # weight of the L1 cycle reconstruction (0 = off)
  m.flip = True              # random horizontal flips of both draws (GIT's loader)
  m.unroll_steps = 0         # K: G's adversarial loss at D unrolled K steps (0 = MUNIT)
  m.unroll_eps_root = 1e-8   # eps_root of the unrolled Adam (> 0, else NaN meta-gradients)
  m.unroll_checkpoint = True # rematerialise the unrolled steps (less memory)
  m.restyle_decoder = 'a'    # re-styling decodes with net 'a' (GIT: a -> a) or 'b' (MUNIT a -> b)
  m.sample_every = 1000      # iterations between sample grids in figures/
  m.sample_rows = 10         # sample grid rows (images of classes spread over the tail)
  m.num_styles = 8           # random styles per sample grid row
  m.interp_steps = 8         # columns of the final style-interpolation grid
  m.evaluate = True          # measure what the generator learned after training
  m.eval_images_per_class = 20  # test images per class for recovery and labels
  m.eval_styles = 10         # random styles per evaluated image
  m.angle_step = 5.0         # rot recovery: angle grid step in degrees
  m.probe_steps = 2000       # label probe: SGD steps (0 = no label preservation)
  m.probe_batch_size = 128   # label probe: batch (a multiple of the devices)
  m.probe_lr = 0.1           # label probe: peak SGD learning rate
  m.probe_depth = 8          # label probe: ResNet depth 6n+2
  return m


def munit_smoke(config, n_max):
  """Shrinks a MUNIT config to a seconds-long run (the `,smoke` variants):
  a tiny tail (`n_max` images in the largest class), the smallest networks
  that keep every MUNIT part, six iterations, a few evaluation draws."""
  config.data.n_max = n_max
  config.data.test_per_class = 10
  m = config.munit
  m.iterations = 6
  m.batch_size = 8
  m.dim = 4
  m.n_downsample = 1
  m.n_res = 1
  m.n_style_downsample = 1
  m.mlp_dim = 8
  m.n_mlp = 2
  m.dis_dim = 4
  m.dis_layers = 2
  m.sample_every = 3
  m.sample_rows = 3
  m.num_styles = 3
  m.interp_steps = 3  # = num_styles: both grids share one compilation
  m.eval_images_per_class = 2
  m.eval_styles = 2
  m.probe_steps = 4
  m.probe_batch_size = 16
  m.probe_depth = 8
  config.run.log_every = 2
  config.run.checkpoint_every = 3
  return config
# --- end munit section


# --- ring section: owned by the unrolled-GAN demo (gitjax/experiments/ring/)
def ring():
  """Unrolled-GAN demonstration on a ring of Gaussians (Metz et al. 2016)."""
  r = ml_collections.ConfigDict()
  r.steps = 5000             # training iterations (one D step + one G step each)
  r.batch_size = 512         # real and generated samples per step
  r.unroll_steps = 0         # K: D steps the G loss looks ahead through (0 = plain GAN)
  r.unroll_checkpoint = True  # jax.checkpoint the unrolled steps (less memory)
  r.num_modes = 8            # Gaussians, evenly spaced on the circle
  r.radius = 2.0             # radius of the circle of mode centres
  r.std = 0.02               # standard deviation of each Gaussian
  r.latent_dim = 256         # generator input z ~ N(0, I)
  r.gen_hidden = 128         # generator hidden width
  r.gen_layers = 2           # generator hidden layers (ReLU)
  r.dis_hidden = 128         # discriminator hidden width
  r.dis_layers = 1           # discriminator hidden layers (ReLU)
  r.dis_input_scale = 0.25   # D multiplies its input by this (to about [-1, 1])
  r.init_scale = 0.8         # gain of the orthogonal weight initialisation
  r.gen_loss = 'nonsaturating'  # 'nonsaturating' (-log D(G(z))) or 'minimax'
  r.gen_lr = 1e-4            # generator Adam learning rate
  r.dis_lr = 1e-4            # discriminator Adam learning rate (also unrolled)
  r.beta1 = 0.5              # Adam b1 of both players
  r.beta2 = 0.999            # Adam b2 of both players
  r.eps_root = 1e-8          # Adam eps_root (> 0 to differentiate through Adam)
  r.eval_every = 1000        # steps between mode-coverage evaluations (0 = end only)
  r.eval_samples = 2500      # generated samples per evaluation
  r.quality_stds = 3.0       # high quality: within this many std of a centre
  r.mode_min_samples = 20    # a mode is covered with >= this many HQ samples
  return r
# --- end ring section


# --- maml section: owned by the MAML trainer (gitjax/experiments/maml/)
def maml():
  """MAML / MAML++ / ANIL meta-training, meta-test accuracy and invariance transfer.

  Defaults are plain MAML as cbfinn/maml runs Omniglot 5-way 1-shot
  (gitjax/experiments/maml/variants.py), except 15 queries and the source's
  own class split. The data section names the source and the nuisance
  transform applied to every task image.
  """
  m = ml_collections.ConfigDict()
  m.variant = 'maml'         # 'maml' (cbfinn/maml), 'maml++' (HowToTrainYourMAML: all its extras) or 'anil' (head-only inner loop)
  m.ways = 5                 # N classes per task
  m.shots = 1                # K support images per class
  m.queries = 15             # Q query images per class (cbfinn/maml trains with Q = K)
  m.meta_batch = 32          # tasks per meta-step, split over all devices
  m.meta_steps = 60000       # outer (meta) iterations
  m.inner_steps = 1          # inner SGD steps on the support set (0 = no adaptation)
  m.inner_lr = 0.4           # initial inner learning rate (every layer and step)
  m.inner_loss = 'cbfinn_sum'  # support loss: 'cbfinn_sum' (sum of CE / K = N x mean, cbfinn/maml) or 'mean'
  m.learn_inner_lr = False   # variant maml/anil: meta-learn a rate per layer and step (LSLR; implied by maml++)
  m.first_order = False      # first-order MAML (inner gradients held constant) throughout
  m.multi_step_loss = False  # variant maml/anil: MAML++'s annealed multi-step loss (implied by maml++)
  m.per_step_bn = False      # variant maml/anil: a BN set (and running statistics) per inner step (implied by maml++)
  m.epoch_steps = 500        # meta-steps per epoch (HowToTrainYourMAML: 500), the unit of the annealings
  m.msl_epochs = 20          # multi-step loss: epochs of annealing, then the last step only (HowToTrain Omniglot: 20)
  m.first_order_epochs = 0   # maml++: first order for this many epochs, then second (HowToTrain Omniglot: 0)
  m.min_outer_lr = 1e-5      # maml++: floor of the cosine outer learning rate
  m.bn_mode = 'transductive'  # BN at evaluation: 'transductive' (batch statistics) or 'running' (running statistics)
  m.bn_scale = False         # BN learns a scale (cbfinn/maml: offset only)
  m.bn_epsilon = 1e-3        # BN epsilon (cbfinn/maml: 1e-3, tf.contrib.layers.batch_norm)
  m.head_init = 'normal'     # head kernel init: 'normal' (N(0, 1), cbfinn/maml Omniglot) or 'glorot'
  m.checkpoint_inner = True  # rematerialise inner steps (less memory, ~20% more time)
  m.task_layout = 'auto'     # meta-step over tasks: 'auto' (maxpool: 'host_loop', stride: 'vmap'; benchmarks/maml.py), 'vmap', 'unrolled' (Python loop in the jit, inner steps unrolled) or 'host_loop' (jitted chunks of task_chunk tasks called from Python; maml/layouts.py)
  m.task_chunk = 4           # tasks per chunk: 'unrolled' vmaps within a chunk (1 = no vmap: plain convolutions); 'host_loop' unrolls a chunk per call
  m.conv_impl = 'auto'       # meta-training convs: 'auto' ('lax' with the host loop, else 'im2col'), 'im2col' (patches @ kernel, fast vmapped) or 'lax' (lax.conv)
  m.outer_lr = 1e-3          # outer Adam learning rate
  m.clip_norm = 0.0          # clip the meta-gradient's global norm (0 = off)
  m.filters = 64             # Conv-4 width (64 Omniglot, 32 miniImageNet)
  m.downsample = 'stride'    # Conv-4 downsampling: 'stride' (Omniglot) or 'maxpool'
  m.split = 'source'         # meta-splits: 'source' (train/test split classes), 'classes' or 'random'
  m.split_sizes = (1100, 100, 423)  # split='random': train/val/test class counts (cbfinn/maml Omniglot)
  m.split_seed = 1           # split='random': seed of the class permutation (fixed across run seeds)
  m.train_classes = ()       # split='classes': meta-train class ids
  m.val_classes = ()         # split='classes': meta-val class ids (may be empty)
  m.test_classes = ()        # split='classes': meta-test class ids
  m.num_val_classes = 0      # split='source': last meta-train classes held out as meta-val
  m.rotations = False        # 90/180/270-degree rotations as extra meta-train classes
  m.task_rotations = ()      # meta-splits whose tasks turn each class by a random multiple of 90 degrees (cbfinn: all three)
  m.max_images_per_class = 0  # cap on images per class (0 = the smallest class's count)
  m.image_size = 0           # resize to S x S grayscale (Lanczos) before anything (0 = as stored)
  m.invert = False           # 255 - x (TFDS Omniglot: dark strokes on white)
  m.eval_every = 1000        # meta-steps between meta-val evaluations (0 = none)
  m.val_tasks = 100          # meta-val tasks per evaluation
  m.test_tasks = 600         # meta-test tasks of the final evaluation
  m.test_steps = 10          # adaptation steps evaluated at meta-test (accuracy after 0..n)
  m.eval_chunk = 40          # tasks per evaluation call (a multiple of the devices)
  m.transfer = False         # run the invariance-transfer study (maml/study.py) instead of one meta-training (needs data.transform)
  m.transfer_learners = ('maml', 'maml++', 'anil', 'cnn_head', 'cnn_all', 'cnn_centroid')  # learners of the study (maml/learners.py)
  m.transfer_seeds = (0,)    # seeds of the study (each: its own meta-training, pre-training and meta-test tasks)
  m.transfer_pp_steps = 5    # study: inner steps of its MAML++ (HowToTrain: 5)
  m.transfer_shots = (1, 5, 10)  # shots K at which invariance is measured
  m.transfer_tasks = 20      # meta-test tasks per shot count
  m.transfer_draws = 16      # nuisance draws x' per query image
  m.pretrain_steps = 1000    # plain CNN: classifier steps on the meta-train classes
  m.pretrain_batch_size = 64  # plain CNN: batch (a multiple of the devices)
  m.pretrain_lr = 1e-3       # plain CNN: Adam learning rate
  m.finetune_lrs = (0.01, 0.1, 0.4)  # plain CNN: grid of SGD rates of its fine-tuning on each support set
  m.finetune_steps = (1, 5, 20)  # plain CNN: grid of fine-tuning step counts
  m.tune_classes = ()        # study: meta-train class ids held out (from a second plain CNN) to pick the fine-tuning rate and steps
  m.tune_tasks = 32          # study: meta-val tasks per shot count and grid point
  return m


def maml_smoke(config):
  """Shrinks a MAML config to a seconds-long run (the `,smoke` variants)."""
  m = config.maml
  m.queries = min(m.queries, 2)
  m.meta_batch = 8
  m.meta_steps = 4
  m.inner_steps = 1
  m.checkpoint_inner = False  # smaller graph, faster compilation
  m.filters = 8
  m.max_images_per_class = 20  # equal pool shapes: smoke runs share compilations
  m.epoch_steps = 1          # 4 epochs: the annealings move within the run
  m.msl_epochs = 2
  if m.variant == 'maml++':
    m.first_order_epochs = 2  # the derivative order switches within the run
  if m.split == 'random':
    m.split_sizes = (5, 5, 5)  # of the 15 classes of a smoke-test file
  m.eval_every = 2
  m.val_tasks = 8
  m.test_tasks = 8
  m.test_steps = 1           # = inner_steps: all transfer learners share one compilation
  m.eval_chunk = 8
  m.transfer_shots = (1,)
  m.transfer_tasks = 8
  m.transfer_draws = 2
  m.pretrain_steps = 3
  m.pretrain_batch_size = 16
  m.transfer_pp_steps = 1
  m.finetune_lrs = (0.1,)
  m.finetune_steps = (1,)
  m.tune_tasks = 8
  config.run.log_every = 2
  config.run.checkpoint_every = 3
  return config

# --- end maml section


def get_base(experiment):
  """Returns the full, default config of one experiment kind."""
  if experiment not in EXPERIMENTS:
    raise ValueError(f'experiment must be one of {EXPERIMENTS}, '
                     f'got {experiment!r}')
  c = ml_collections.ConfigDict()
  c.experiment = experiment  # which run() launch.py calls
  c.seed = 0                 # root seed: data set, init, sampling, transforms
  c.data = data()
  c.run = run_options()
  if experiment == 'classifier':
    c.method = 'ce'          # a key of METHODS: ce, ce_drs, ldam_drw, oracle, ...; + '_git' for GIT
    c.model = model()
    c.train = train()
    c.invariance = invariance()
    c.git = git()
  elif experiment == 'git':
    c.methods = ('ce', 'ce_drs', 'ce_drs_git', 'oracle')  # one classifier per method
    c.data.transform = 'bg'  # a transformation MUNIT's style learns (and the oracle needs)
    c.num_instances = 1      # long-tailed instances (seeds seed, seed+1, ...): mean +- std
    c.share_prefix = True    # methods that train alike up to the DRS/DRW switch (ce, ce_drs, ce_drs_git) train those steps once
    c.compare_adain = False  # munit.warp != 'none': also train GIT's AdaIN-only MUNIT (warp='none', all else equal) per instance and run each GIT method with it as METHOD + '_adain'
    c.munit = munit()
    c.model = model()
    c.train = train()
    c.invariance = invariance()
    c.git = git()
  elif experiment == 'munit':
    c.munit = munit()
  elif experiment == 'unrolled_ring':
    c.ring = ring()
  elif experiment == 'maml':
    c.maml = maml()
  return c
