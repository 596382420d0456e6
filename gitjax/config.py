"""Checks a resolved config before any work starts.

Every problem a user can cause through a config is reported as a
`ConfigError` whose message is ONE line naming the key and what is allowed.
launch.py prints it and exits with code 2.
"""
import difflib
import json

import ml_collections

from gitjax import config_base
from gitjax import config_maml
from gitjax.errors import ConfigError


def _positive(v):
  return v > 0


def _non_negative(v):
  return v >= 0


def _at_least_one(v):
  return v >= 1


# (key, predicate, what is allowed). Keys absent from a config are skipped,
# so one table serves every experiment kind.
_RULES = (
    ('seed', _non_negative, 'an integer >= 0'),
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
    # --- munit rules (owned by the MUNIT trainer)
    ('munit.iterations', _at_least_one, 'an integer >= 1'),
    ('munit.dim', _at_least_one, 'an integer >= 1'),
    ('munit.style_dim', _at_least_one, 'an integer >= 1'),
    ('munit.n_downsample', _at_least_one, 'an integer >= 1'),
    ('munit.n_res', _at_least_one, 'an integer >= 1'),
    ('munit.n_style_downsample', _at_least_one, 'an integer >= 1'),
    ('munit.mlp_dim', _at_least_one, 'an integer >= 1'),
    ('munit.n_mlp', lambda v: v >= 2, 'an integer >= 2'),
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
    # --- end munit rules
    # --- ring rules (owned by the unrolled-GAN demo)
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
    # --- end ring rules
    # --- maml rules (owned by the MAML trainer)
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
    ('maml.finetune_lr', _non_negative, 'a number >= 0'),
    # --- end maml rules
    ('run.log_every', _at_least_one, 'an integer >= 1'),
    ('run.checkpoint_every', _at_least_one, 'an integer >= 1'),
    ('run.keep_checkpoints', _at_least_one, 'an integer >= 1'),
    ('run.prefetch', _non_negative, 'an integer >= 0'),
    ('run.preview_per_class', _at_least_one, 'an integer >= 1'),
)


def _get(config, key):
  node = config
  for part in key.split('.'):
    node = node[part]
  return node


def _has(config, key):
  try:
    _get(config, key)
    return True
  except KeyError:
    return False


def flat_keys(config, prefix=''):
  """All leaf keys of a ConfigDict as dotted paths."""
  keys = []
  for name, value in config.items():
    path = f'{prefix}{name}'
    if isinstance(value, ml_collections.ConfigDict):
      keys.extend(flat_keys(value, path + '.'))
    else:
      keys.append(path)
  return keys


def unknown_key_message(key, known_keys):
  """One line for a key that no config declares, with the closest names."""
  close = difflib.get_close_matches(key, known_keys, n=3, cutoff=0.6)
  hint = (f'did you mean {" or ".join(repr(k) for k in close)}?' if close
          else 'see gitjax/config_base.py for the keys')
  return f'config key {key!r} does not exist; {hint}'


def validate(config, num_devices=None):
  """Raises ConfigError (one line) for the first problem found.

  Args:
    config: the resolved ConfigDict of a run.
    num_devices: when given, batch sizes must divide evenly over it.
  """
  if not _has(config, 'experiment'):
    raise ConfigError("config has no 'experiment' key; start from "
                      'gitjax.config_base.get_base(kind)')
  if config.experiment not in config_base.EXPERIMENTS:
    raise ConfigError(f'experiment={config.experiment!r} is not one of '
                      f'{config_base.EXPERIMENTS}')
  declared = flat_keys(config_base.get_base(config.experiment))
  for key in flat_keys(config):
    if key not in declared:
      raise ConfigError(unknown_key_message(key, declared))
  for key in declared:
    if not _has(config, key):
      raise ConfigError(f'config key {key!r} is missing; '
                        'start from gitjax.config_base.get_base(kind)')
  for key, ok, allowed in _RULES:
    if not _has(config, key):
      continue
    value = _get(config, key)
    if not ok(value):
      raise ConfigError(f'config.{key}={value!r} is not allowed: '
                        f'use {allowed}')
  _check_data(config.data)
  if config.experiment == 'classifier':
    _check_classifier(config, config.method)
  if config.experiment == 'git':
    for method in config.methods:
      _check_classifier(config, method)
  if config.experiment == 'maml':
    _check_maml(config, num_devices)
  _check_unused_keys(config)
  _check_batches(config, num_devices)


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


def _check_classifier(config, method):
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


# --- unused keys (owned by the run-folder checks, issue 11)
# Transform-specific data keys, by the transform that reads them.
_TRANSFORM_KEYS = {'rot': ('rot_degrees',), 'bg': ('bg_max',),
                   'brightness_contrast': ('brightness', 'contrast_min',
                                           'contrast_max'),
                   'scale': ('scale_min', 'scale_max'),
                   'translate': ('translate',)}
# Method-specific train keys: (key, what reads it, predicate on
# config_base.method_parts).
_METHOD_KEYS = (
    ('ldam_max_margin', 'LDAM methods', lambda p: p[0] == 'ldam'),
    ('ldam_scale', 'LDAM methods', lambda p: p[0] == 'ldam'),
    ('focal_gamma', 'focal methods', lambda p: p[0] == 'focal'),
    ('cb_beta', 'reweighting methods (rw, drw)',
     lambda p: p[1] in ('rw', 'drw')),
)


def _methods(config):
  """The classifier methods a run trains (none outside classifier / git)."""
  if config.experiment == 'classifier':
    return (config.method,)
  return tuple(config.methods) if config.experiment == 'git' else ()


def _check_unused_keys(config):
  """A key that the resolved run does not read must keep its default: set
  away from it, the user believes it acts, and config.json would say so."""
  base = config_base.get_base(config.experiment)

  def changed(section, key):
    return config[section][key] != base[section][key]

  def unused(section, key, why):
    raise ConfigError(f'config.{section}.{key}={config[section][key]!r} is '
                      f'not read by this run ({why}); leave it at its '
                      f'default {base[section][key]!r}')

  data = config.data
  if config.experiment == 'unrolled_ring':
    for key in data:
      if changed('data', key):
        unused('data', key, 'the ring samples its own 2-D data')
    return
  if data.path and data.source == 'digits':
    unused('data', 'path', "data.source='digits' reads the embedded digits; "
           "set data.source='npz' to read the file")
  if data.source == 'digits' and changed('data', 'name'):
    unused('data', 'name', "data.source='digits' is always the digits")
  if data.source != 'tfds' or data.path:
    for key in ('download', 'data_dir'):
      if changed('data', key):
        unused('data', key, 'TFDS only; this run reads '
               + (f'the file {data.path}' if data.path else data.source))
  names = transform_spec(data).names
  for transform, keys in _TRANSFORM_KEYS.items():
    for key in keys:
      if transform not in names and changed('data', key):
        unused('data', key, f'only the {transform!r} transform reads it, '
               f'data.transform={data.transform!r}')
  if config.experiment == 'munit' and changed('data', 'val_per_class'):
    unused('data', 'val_per_class', 'MUNIT trains on every training image; '
           'only classifiers hold out a validation split')
  if config.experiment in ('classifier', 'git'):
    arch = config.model.arch
    if arch == 'conv4' and changed('model', 'depth'):
      unused('model', 'depth', "model.arch='conv4' has a fixed depth")
    if arch == 'resnet' and changed('model', 'conv4_filters'):
      unused('model', 'conv4_filters', "model.arch='resnet'")
    methods = _methods(config)
    parts = [config_base.method_parts(m) for m in methods]
    for key, readers, reads in _METHOD_KEYS:
      if changed('train', key) and not any(reads(p) for p in parts):
        unused('train', key, f'only {readers} read it, method '
               f'{", ".join(methods)}')
    if config.experiment == 'git' and changed('train', 'branch_from'):
      unused('train', 'branch_from', 'the git experiment sets it for each '
             'classifier stage; config.share_prefix turns that off')
    if not any(p[3] for p in parts):
      for key in config.git:
        if changed('git', key):
          unused('git', key, f'only read by GIT methods, method '
                 f'{", ".join(methods)}; add _git to one')
# --- end unused keys


# --- maml checks (owned by the MAML trainer)
def _check_maml(config, num_devices):
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
    for key in ('meta_batch', 'eval_chunk', 'transfer_tasks'):
      if m[key] % num_devices:
        raise ConfigError(
            f'config.maml.{key}={m[key]} must be a multiple of the '
            f'{num_devices} devices; use e.g. '
            f'{num_devices * max(1, m[key] // num_devices)}')
# --- end maml checks


def _check_data(data):
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
    transform_spec(data)
  except ValueError as e:
    raise ConfigError(f'config.data.transform={data.transform!r}: {e}') from e


def transform_spec(data):
  """The TransformSpec a data config describes."""
  # Imported here so that importing this module does not start JAX.
  from gitjax.data import transforms  # pylint: disable=g-import-not-at-top
  return transforms.parse_transform(
      data.transform, rot_degrees=data.rot_degrees, bg_max=data.bg_max,
      brightness=data.brightness, contrast_min=data.contrast_min,
      contrast_max=data.contrast_max, scale_min=data.scale_min,
      scale_max=data.scale_max, translate=data.translate)


def _check_batches(config, num_devices):
  if num_devices is None:
    return
  git = [m for m in _methods(config) if config_base.method_parts(m)[3]]
  half = config.train.batch_size // 2 if git else 0
  if git and half % num_devices:
    raise ConfigError(
        f'config.train.batch_size={config.train.batch_size}: {git[0]} '
        f're-styles batch_size // 2 = {half} images per step, which must be '
        f'a multiple of the {num_devices} devices; use e.g. '
        f'{2 * num_devices * max(1, half // num_devices)}')
  for key in flat_keys(config):
    if key.endswith('batch_size'):
      value = _get(config, key)
      if value < 1 or value % num_devices:
        raise ConfigError(
            f'config.{key}={value} must be a positive multiple of the '
            f'{num_devices} devices; use e.g. {num_devices * max(1, value // num_devices)}')


def to_json(config):
  """Canonical JSON text of a config (sorted keys), as saved in a workdir."""
  return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)
