"""Checks a resolved config before any work starts.

Every problem a user can cause through a config is reported as a
`ConfigError` whose message is ONE line naming the key and what is allowed.
launch.py prints it and exits with code 2.
"""
import difflib
import json

import ml_collections

from gitjax import config_base
from gitjax import config_rules
from gitjax.errors import ConfigError


# The first epoch with GIT batches (the classifier section owns the rule).
git_start_epoch = config_rules.git_start_epoch


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
  for key, ok, allowed in config_rules.RULES:
    if not _has(config, key):
      continue
    value = _get(config, key)
    if not ok(value):
      raise ConfigError(f'config.{key}={value!r} is not allowed: '
                        f'use {allowed}')
  config_rules.check_data(config.data)
  if _has(config, 'munit'):
    config_rules.check_munit(config.munit)
  if config.experiment == 'classifier':
    config_rules.check_classifier(config, config.method)
  if config.experiment == 'git':
    for method in config.methods:
      config_rules.check_classifier(config, method)
    config_rules.check_compare_adain(config)
  if config.experiment == 'maml':
    config_rules.check_maml(config, num_devices)
  _check_unused_keys(config)
  _check_batches(config, num_devices)


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
  from gitjax.data import transforms  # pylint: disable=g-import-not-at-top
  names = transforms.transform_spec(data).names
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
