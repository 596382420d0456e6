"""What each config section allows: per section, a table of single-key
rules (key, predicate, what is allowed) and the checks that read several
keys of that section together.

Every failure is a `ConfigError` whose message is ONE line naming the key and
what is allowed; gitjax/config.py runs the tables in `RULES` order, then the
checks.
"""
from gitjax import config_base
from gitjax import config_maml
from gitjax.errors import ConfigError
from gitjax.models import munit_warp


def _positive(v):
  return v > 0


def _non_negative(v):
  return v >= 0


def _at_least_one(v):
  return v >= 1


# --- Top-level keys of every experiment (config_base.get_base).
TOP = (
    ('seed', _non_negative, 'an integer >= 0'),
)


# --- config.data (config_base.data): source, long tail, transform.
DATA = (
    ('data.source', lambda v: v in ('digits', 'tfds', 'npz'),
     "one of 'digits', 'tfds', 'npz'"),
    ('data.longtail', lambda v: v in ('zipf', 'exp', 'none'),
     "one of 'zipf', 'exp', 'none'"),
    ('data.n_max', _at_least_one, 'an integer >= 1'),
    ('data.alpha', _positive, 'a number > 0'),
    ('data.n_min', _at_least_one, 'an integer >= 1'),
    ('data.imbalance_ratio', lambda v: v >= 1, 'a number >= 1'),
    ('data.test_split', lambda v: v in ('balanced', 'full'),
     "one of 'balanced', 'full'"),
    ('data.test_per_class', _non_negative, 'an integer >= 0 (0 = largest)'),
    ('data.val_per_class', _non_negative, 'an integer >= 0 (0 = none)'),
    ('data.rot_degrees', lambda v: 0 <= v <= 180, 'a number in [0, 180]'),
    ('data.bg_max', lambda v: 0 <= v <= 255, 'an integer in [0, 255]'),
    ('data.brightness', lambda v: 0 <= v <= 1, 'a number in [0, 1]'),
    ('data.contrast_min', _non_negative, 'a number >= 0'),
    ('data.contrast_max', _non_negative, 'a number >= contrast_min'),
    ('data.scale_min', _positive, 'a number > 0'),
    ('data.scale_max', _positive, 'a number >= scale_min'),
    ('data.translate', _non_negative, 'a number >= 0 (pixels)'),
)


def check_data(data):
  if data.contrast_max < data.contrast_min:
    raise ConfigError(f'config.data.contrast_max={data.contrast_max} is '
                      f'below contrast_min={data.contrast_min}: use max >= min')
  if data.scale_max < data.scale_min:
    raise ConfigError(f'config.data.scale_max={data.scale_max} is below '
                      f'scale_min={data.scale_min}: use max >= min')
  if data.longtail == 'zipf' and data.n_min > data.n_max:
    raise ConfigError(f'config.data.n_min={data.n_min} exceeds '
                      f'n_max={data.n_max}: use n_min <= n_max')
  if data.source == 'tfds' and not data.name and not data.path:
    raise ConfigError("config.data.name is empty: name a TFDS data set "
                      "(e.g. 'mnist') or give config.data.path=FILE.npz")
  if data.source == 'npz' and not data.path:
    raise ConfigError('config.data.path is empty: data.source=npz needs a '
                      '.npz file with x_train, y_train, x_test, y_test')
  try:
    # Imported here so that importing this module does not start JAX.
    from gitjax.data import transforms  # pylint: disable=g-import-not-at-top
    transforms.transform_spec(data)
  except ValueError as e:
    raise ConfigError(f'config.data.transform={data.transform!r}: {e}') from e


# --- The classifier and the GIT study: method(s), config.git, config.model,
# config.train, config.invariance (config_base.model, train, invariance, git).
CLASSIFIER = (
    ('method', lambda v: v in config_base.ALL_METHODS,
     'one of ' + ', '.join(config_base.ALL_METHODS)),
    ('methods', lambda v: len(v) > 0 and len(set(v)) == len(v) and all(
        m in config_base.ALL_METHODS for m in v),
     'a non-empty tuple of distinct methods from ' +
     ', '.join(config_base.ALL_METHODS)),
    ('num_instances', _at_least_one, 'an integer >= 1'),
    ('git.mode', lambda v: v in ('half_batch', 'threshold'),
     "one of 'half_batch', 'threshold'"),
    ('git.threshold_k', _at_least_one, 'an integer >= 1'),
    ('git.start_epoch', lambda v: v >= -1,
     'an epoch >= 0, or -1 for one epoch after the first lr drop'),
    ('model.arch', lambda v: v in ('resnet', 'conv4'),
     "one of 'resnet', 'conv4'"),
    ('model.depth', lambda v: v >= 8 and (v - 2) % 6 == 0,
     'a ResNet depth 6n+2 (20, 32, 44, 56, ...)'),
    ('model.conv4_filters', _at_least_one, 'an integer >= 1'),
    ('train.epochs', _at_least_one, 'an integer >= 1'),
    ('train.lr', _positive, 'a number > 0'),
    ('train.momentum', lambda v: 0 <= v < 1, 'a number in [0, 1)'),
    ('train.weight_decay', _non_negative, 'a number >= 0'),
    ('train.warmup_epochs', _non_negative, 'an integer >= 0'),
    ('train.decay_epochs', lambda v: list(v) == sorted(v) and all(
        e > 0 for e in v), 'increasing epochs > 0'),
    ('train.decay_factors', lambda v: all(f > 0 for f in v),
     'multipliers > 0, one per decay epoch'),
    ('train.ldam_max_margin', _positive, 'a number > 0'),
    ('train.ldam_scale', _positive, 'a number > 0'),
    ('train.focal_gamma', _non_negative, 'a number >= 0'),
    ('train.cb_beta', lambda v: 0 <= v < 1, 'a number in [0, 1)'),
    ('train.deferred_epoch', lambda v: v >= -1,
     'an epoch >= 0, or -1 for the first lr drop'),
    ('train.eval_every_epochs', _non_negative, 'an integer >= 0'),
    ('invariance.images_per_class', _at_least_one, 'an integer >= 1'),
    ('invariance.transforms_per_image', _at_least_one, 'an integer >= 1'),
    ('invariance.images_per_batch', _at_least_one, 'an integer >= 1'),
)


def git_start_epoch(train, git):
  """The first epoch with GIT batches, or None when the recipe has none:
  one epoch after the deferred switch (by default the first lr drop), as
  GIT's code (0-based epoch > first decay epoch), unless git.start_epoch."""
  if git.start_epoch >= 0:
    return git.start_epoch
  if train.deferred_epoch >= 0:
    return train.deferred_epoch + 1
  if train.decay_epochs:
    return train.decay_epochs[0] + 1
  return None


def _check_git_method(config, method):
  start = git_start_epoch(config.train, config.git)
  if start is None:
    raise ConfigError(
        f'method={method!r} starts GIT one epoch after the first lr drop, but '
        'train.decay_epochs is empty and train.deferred_epoch is -1: set '
        'train.deferred_epoch or git.start_epoch')
  if start >= config.train.epochs:
    raise ConfigError(
        f'method={method!r} would start GIT at epoch {start}, but '
        f'train.epochs={config.train.epochs}: set git.start_epoch below it '
        'or train longer')
  if config.experiment == 'classifier' and not config.git.munit_workdir:
    raise ConfigError(
        f'method={method!r} re-styles with a trained MUNIT: set '
        'config.git.munit_workdir=DIR (a finished munit run), or run the '
        'whole study with experiment git (configs/git_*.py)')


def check_classifier(config, method):
  train = config.train
  if len(train.decay_factors) != len(train.decay_epochs):
    raise ConfigError(
        f'config.train.decay_factors has {len(train.decay_factors)} entries '
        f'but decay_epochs has {len(train.decay_epochs)}: give one factor per '
        'drop')
  if train.decay_epochs and train.decay_epochs[-1] >= train.epochs:
    raise ConfigError(
        f'config.train.decay_epochs={tuple(train.decay_epochs)} must lie below '
        f'train.epochs={train.epochs}')
  loss, rule, oracle, git = config_base.method_parts(method)
  if git:
    _check_git_method(config, method)
  if loss == 'ldam' and config.model.arch != 'resnet':
    raise ConfigError(f'method={method!r} needs the cosine head of '
                      "model.arch='resnet'; use a ce/focal method with conv4")
  if train.deferred_epoch >= train.epochs:
    raise ConfigError(f'config.train.deferred_epoch={train.deferred_epoch} '
                      f'must lie below train.epochs={train.epochs} (or -1)')
  if config.data.val_per_class and not train.eval_every_epochs:
    raise ConfigError('config.data.val_per_class > 0 selects a best model at '
                      'each evaluation, but train.eval_every_epochs=0: set it')
  if rule in ('drs', 'drw') and train.deferred_epoch == -1 and (
      not train.decay_epochs):
    raise ConfigError(f'method={method!r} switches at the first lr '
                      'drop but train.decay_epochs is empty: set '
                      'train.deferred_epoch')
  if oracle and config.data.transform in ('', 'none'):
    raise ConfigError(f'method={method!r} applies the true transform '
                      'on the fly: set config.data.transform')


# --- config.munit (config_base.munit), owned by the MUNIT trainer.
MUNIT = (
    ('munit.iterations', _at_least_one, 'an integer >= 1'),
    ('munit.dim', _at_least_one, 'an integer >= 1'),
    ('munit.style_dim', _at_least_one, 'an integer >= 1'),
    ('munit.n_downsample', _at_least_one, 'an integer >= 1'),
    ('munit.n_res', _at_least_one, 'an integer >= 1'),
    ('munit.n_style_downsample', _at_least_one, 'an integer >= 1'),
    ('munit.mlp_dim', _at_least_one, 'an integer >= 1'),
    ('munit.n_mlp', lambda v: v >= 2, 'an integer >= 2'),
    ('munit.warp', lambda v: v in munit_warp.WARPS,
     "one of 'none', 'rotation', 'affine'"),
    ('munit.dis_dim', _at_least_one, 'an integer >= 1'),
    ('munit.dis_layers', _at_least_one, 'an integer >= 1'),
    ('munit.n_scales', _at_least_one, 'an integer >= 1'),
    ('munit.lr', _positive, 'a number > 0'),
    ('munit.beta1', lambda v: 0 <= v < 1, 'a number in [0, 1)'),
    ('munit.beta2', lambda v: 0 <= v < 1, 'a number in [0, 1)'),
    ('munit.weight_decay', _non_negative, 'a number >= 0'),
    ('munit.lr_step', _at_least_one, 'an integer >= 1'),
    ('munit.lr_gamma', lambda v: 0 < v <= 1, 'a number in (0, 1]'),
    ('munit.gan_type', lambda v: v in ('lsgan', 'hinge', 'nsgan'),
     "one of 'lsgan', 'hinge', 'nsgan'"),
    ('munit.gan_w', _non_negative, 'a number >= 0'),
    ('munit.recon_x_w', _non_negative, 'a number >= 0'),
    ('munit.recon_s_w', _non_negative, 'a number >= 0'),
    ('munit.recon_c_w', _non_negative, 'a number >= 0'),
    ('munit.recon_cyc_w', _non_negative, 'a number >= 0'),
    ('munit.unroll_steps', _non_negative, 'an integer >= 0 (0 = no unrolling)'),
    ('munit.unroll_eps_root', _positive,
     'a number > 0 (e.g. 1e-8; 0 gives NaN meta-gradients)'),
    ('munit.restyle_decoder', lambda v: v in ('a', 'b'),
     "'a' (GIT's a -> a re-styling) or 'b' (MUNIT's a -> b)"),
    ('munit.sample_every', _at_least_one, 'an integer >= 1'),
    ('munit.sample_rows', _at_least_one, 'an integer >= 1'),
    ('munit.num_styles', _at_least_one, 'an integer >= 1'),
    ('munit.interp_steps', lambda v: v >= 2, 'an integer >= 2'),
    ('munit.eval_images_per_class', _at_least_one, 'an integer >= 1'),
    ('munit.eval_styles', _at_least_one, 'an integer >= 1'),
    ('munit.angle_step', lambda v: 0 < v <= 90, 'a number in (0, 90] degrees'),
    ('munit.probe_steps', _non_negative, 'an integer >= 0 (0 = no probe)'),
    ('munit.probe_lr', _positive, 'a number > 0'),
    ('munit.probe_depth', lambda v: v >= 8 and (v - 2) % 6 == 0,
     'a ResNet depth 6n+2 (8, 14, 20, ...)'),
)


def check_munit(m):
  pose = munit_warp.pose_dims(m.warp)
  if pose >= m.style_dim:
    raise ConfigError(
        f'config.munit.warp={m.warp!r} reads the first {pose} style entries '
        f'as the pose, so munit.style_dim={m.style_dim} leaves no appearance '
        f'entries: set munit.style_dim >= {pose + 1}')


def check_compare_adain(config):
  """A git study's compare_adain needs a warp to compare with, a GIT method
  and MUNITs that the study trains itself."""
  if not config.compare_adain:
    return
  if config.munit.warp == 'none':
    raise ConfigError(
        "config.compare_adain=True compares the style warp with GIT's "
        "AdaIN-only MUNIT, but munit.warp='none' is that MUNIT already: set "
        "munit.warp='rotation' (or 'affine') or compare_adain=False")
  if not any(config_base.method_parts(m)[3] for m in config.methods):
    raise ConfigError(
        f'config.compare_adain=True re-runs the GIT methods with the '
        f'AdaIN-only MUNIT, but config.methods={tuple(config.methods)} has '
        'none: add one such as ce_drs_git, or set compare_adain=False')
  if config.git.munit_workdir:
    raise ConfigError(
        'config.compare_adain=True trains both MUNITs (warp and AdaIN-only) '
        'per instance, so it cannot use the given git.munit_workdir: unset '
        'one of them')


# --- config.ring (config_base.ring), owned by the unrolled-GAN demo.
RING = (
    ('ring.steps', _at_least_one, 'an integer >= 1'),
    ('ring.batch_size', _at_least_one, 'an integer >= 1'),
    ('ring.unroll_steps', _non_negative, 'an integer >= 0 (0 = plain GAN)'),
    ('ring.num_modes', _at_least_one, 'an integer >= 1'),
    ('ring.radius', _positive, 'a number > 0'),
    ('ring.std', _positive, 'a number > 0'),
    ('ring.latent_dim', _at_least_one, 'an integer >= 1'),
    ('ring.gen_hidden', _at_least_one, 'an integer >= 1'),
    ('ring.gen_layers', _non_negative, 'an integer >= 0'),
    ('ring.dis_hidden', _at_least_one, 'an integer >= 1'),
    ('ring.dis_layers', _non_negative, 'an integer >= 0'),
    ('ring.dis_input_scale', _positive, 'a number > 0'),
    ('ring.init_scale', _positive, 'a number > 0'),
    ('ring.gen_loss', lambda v: v in ('nonsaturating', 'minimax'),
     "one of 'nonsaturating', 'minimax'"),
    ('ring.gen_lr', _positive, 'a number > 0'),
    ('ring.dis_lr', _positive, 'a number > 0'),
    ('ring.beta1', lambda v: 0 <= v < 1, 'a number in [0, 1)'),
    ('ring.beta2', lambda v: 0 <= v < 1, 'a number in [0, 1)'),
    ('ring.eps_root', _positive,
     'a number > 0 (0 gives NaN meta-gradients through Adam)'),
    ('ring.eval_every', _non_negative, 'an integer >= 0 (0 = at the end)'),
    ('ring.eval_samples', _at_least_one, 'an integer >= 1'),
    ('ring.quality_stds', _positive, 'a number > 0'),
    ('ring.mode_min_samples', _at_least_one, 'an integer >= 1'),
)


# --- config.maml (config_base.maml), owned by the MAML trainer.
MAML = (
    ('maml.ways', lambda v: v >= 2, 'an integer >= 2'),
    ('maml.shots', _at_least_one, 'an integer >= 1'),
    ('maml.queries', _at_least_one, 'an integer >= 1'),
    ('maml.meta_batch', _at_least_one, 'an integer >= 1'),
    ('maml.meta_steps', _at_least_one, 'an integer >= 1'),
    ('maml.inner_steps', _non_negative, 'an integer >= 0 (0 = no adaptation)'),
    ('maml.inner_lr', _non_negative, 'a number >= 0'),
    ('maml.outer_lr', _positive, 'a number > 0'),
    ('maml.clip_norm', _non_negative, 'a number >= 0 (0 = no clipping)'),
    ('maml.filters', _at_least_one, 'an integer >= 1'),
    ('maml.downsample', lambda v: v in ('stride', 'maxpool'),
     "one of 'stride', 'maxpool'"),
    ('maml.split', lambda v: v in ('source', 'classes', 'random'),
     "one of 'source', 'classes', 'random'"),
    ('maml.num_val_classes', _non_negative, 'an integer >= 0'),
    ('maml.max_images_per_class', _non_negative, 'an integer >= 0 (0 = all)'),
    ('maml.image_size', _non_negative, 'an integer >= 0 (0 = as stored)'),
    ('maml.eval_every', _non_negative, 'an integer >= 0 (0 = no meta-val)'),
    ('maml.val_tasks', _at_least_one, 'an integer >= 1'),
    ('maml.test_tasks', _at_least_one, 'an integer >= 1'),
    ('maml.test_steps', _non_negative, 'an integer >= 0'),
    ('maml.eval_chunk', _at_least_one, 'an integer >= 1'),
    ('maml.transfer_shots', lambda v: len(v) > 0 and all(k >= 1 for k in v),
     'a non-empty tuple of shot counts >= 1'),
    ('maml.transfer_tasks', _at_least_one, 'an integer >= 1'),
    ('maml.transfer_draws', _at_least_one, 'an integer >= 1'),
    ('maml.pretrain_steps', _non_negative, 'an integer >= 0'),
    ('maml.pretrain_lr', _positive, 'a number > 0'),
    ('maml.finetune_lrs', lambda v: len(v) > 0 and all(x > 0 for x in v),
     'a non-empty tuple of rates > 0'),
    ('maml.finetune_steps', lambda v: len(v) > 0 and all(
        isinstance(x, int) and x >= 1 for x in v),
     'a non-empty tuple of step counts >= 1'),
    ('maml.tune_tasks', _at_least_one, 'an integer >= 1'),
    ('maml.transfer_pp_steps', _at_least_one, 'an integer >= 1'),
    ('maml.transfer_seeds', lambda v: len(v) > 0 and len(set(v)) == len(v)
     and all(isinstance(x, int) for x in v),
     'a non-empty tuple of distinct integer seeds'),
)


def check_maml(config, num_devices):
  m = config.maml
  config_maml.check(config)
  if m.split == 'classes':
    for name in ('train', 'test'):
      if not m[f'{name}_classes']:
        raise ConfigError(f'config.maml.{name}_classes is empty: the '
                          f'meta-{name} split must name at least one class')
  if m.transfer and config.data.transform in ('', 'none'):
    raise ConfigError('config.maml.transfer=True measures invariance to the '
                      'nuisance transform: set config.data.transform')
  if num_devices:
    for key in ('meta_batch', 'eval_chunk', 'transfer_tasks', 'tune_tasks'):
      if m[key] % num_devices:
        raise ConfigError(
            f'config.maml.{key}={m[key]} must be a multiple of the '
            f'{num_devices} devices; use e.g. '
            f'{num_devices * max(1, m[key] // num_devices)}')


# --- config.run (config_base.run_options): logging and checkpoints.
RUN = (
    ('run.log_every', _at_least_one, 'an integer >= 1'),
    ('run.checkpoint_every', _at_least_one, 'an integer >= 1'),
    ('run.keep_checkpoints', _at_least_one, 'an integer >= 1'),
    ('run.prefetch', _non_negative, 'an integer >= 0'),
    ('run.preview_per_class', _at_least_one, 'an integer >= 1'),

)


# (key, predicate, what is allowed) in the order validate() checks them.
RULES = TOP + DATA + CLASSIFIER + MUNIT + RING + MAML + RUN
