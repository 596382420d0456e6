"""The maml section beyond single-key rules: variant recipes for config files
(`maml_args`, `maml_apply`: arguments like `:maml++,smoke`) and the checks
that need several keys (`check`, called by `gitjax.config.validate`).

Every check raises `ConfigError` with ONE line naming the key and what to do.
"""
from gitjax import config_base
from gitjax.errors import ConfigError

VARIANTS = ('maml', 'maml++', 'anil')   # = maml/variants.py VARIANTS
BN_MODES = ('transductive', 'running')  # = maml/variants.py BN_MODES
SPLITS = ('train', 'val', 'test')
TASK_LAYOUTS = ('auto', 'vmap', 'unrolled', 'host_loop')  # = maml/layouts.py TASK_LAYOUTS
CONV_IMPLS = ('auto', 'im2col', 'lax')  # = maml/layouts.py CONV_IMPLS
LEARNERS = ('maml', 'maml++', 'anil', 'cnn_head', 'cnn_all',
            'cnn_centroid')          # = maml/learners.py LEARNERS

# (key, ok(value), what is allowed), as gitjax.config's rules.
RULES = (
    ('variant', lambda v: v in VARIANTS, f'one of {VARIANTS}'),
    ('bn_mode', lambda v: v in BN_MODES, f'one of {BN_MODES}'),
    ('inner_loss', lambda v: v in ('cbfinn_sum', 'mean'),
     "one of 'cbfinn_sum', 'mean'"),
    ('head_init', lambda v: v in ('normal', 'glorot'),
     "one of 'normal', 'glorot'"),
    ('bn_epsilon', lambda v: v > 0, 'a number > 0'),
    ('epoch_steps', lambda v: v >= 1, 'an integer >= 1'),
    ('msl_epochs', lambda v: v >= 1, 'an integer >= 1'),
    ('first_order_epochs', lambda v: v >= 0, 'an integer >= 0 (0 = off)'),
    ('min_outer_lr', lambda v: v > 0, 'a number > 0'),
    ('task_layout', lambda v: v in TASK_LAYOUTS, f'one of {TASK_LAYOUTS}'),
    ('task_chunk', lambda v: isinstance(v, int) and v >= 1,
     'an integer >= 1'),
    ('conv_impl', lambda v: v in CONV_IMPLS, f'one of {CONV_IMPLS}'),
    ('split_sizes', lambda v: len(v) == 3 and min(v) >= 0 and v[0] >= 1
     and v[2] >= 1, '(train, val, test) class counts, train and test >= 1'),
    ('task_rotations', lambda v: set(v) <= set(SPLITS)
     and len(set(v)) == len(v), f'a tuple of distinct names of {SPLITS}'),
)


def maml_plus_plus(config):
  """Switches a MAML config to MAML++ as HowToTrainYourMAMLPytorch's
  Omniglot configs run it: 5 inner steps from rate 0.1, mean support loss,
  BN with scale and eps 1e-5, Glorot head, meta-val after every epoch; LSLR,
  the multi-step loss, per-step BN, the cosine outer rate and best-meta-val
  selection come with the variant. The config must have a meta-val split."""
  m = config.maml
  m.variant = 'maml++'
  m.inner_steps, m.inner_lr = 5, 0.1
  m.inner_loss = 'mean'
  m.bn_scale, m.bn_epsilon = True, 1e-5
  m.head_init = 'glorot'
  m.eval_every = m.epoch_steps
  return config


def maml_args(arg, name, settings=('',)):
  """(setting, variant, smoke) of a config argument such as 'maml++,smoke'
  or '20w1s,anil': an optional setting of `settings` (the first is the
  default), an optional variant, an optional 'smoke', comma-separated."""
  parts = [p for p in (arg or '').split(',') if p]
  setting = parts.pop(0) if parts and parts[0] in settings else settings[0]
  variant = parts.pop(0) if parts and parts[0] in ('maml++', 'anil') else ''
  if parts not in ([], ['smoke']):
    choices = '|'.join(s for s in settings if s)
    raise ValueError(f'{name} config argument {arg!r}: use '
                     + (f'[{choices}][,' if choices else '[')
                     + 'maml++|anil][,smoke]')
  return setting, variant, parts == ['smoke']


def maml_apply(config, variant, smoke):
  """Applies a parsed variant ('' = plain MAML) and smoke flag."""
  if variant == 'maml++':
    maml_plus_plus(config)
  elif variant == 'anil':
    config.maml.variant = 'anil'
  if smoke:
    config_base.maml_smoke(config)
  return config


def _has_val(m):
  if m.split == 'source':
    return m.num_val_classes > 0
  if m.split == 'random':
    return m.split_sizes[1] > 0
  return len(m.val_classes) > 0


def check(config):
  """Raises ConfigError (one line) for a bad maml section."""
  m = config.maml
  for key, ok, allowed in RULES:
    if not ok(m[key]):
      raise ConfigError(f'config.maml.{key}={m[key]!r} is not allowed: use '
                        f'{allowed}')
  if m.variant == 'anil' and m.inner_steps == 0:
    raise ConfigError("config.maml.variant='anil' adapts the head in the "
                      'inner loop: set config.maml.inner_steps >= 1')
  if 'val' in m.task_rotations and not _has_val(m):
    raise ConfigError(f'config.maml.task_rotations={tuple(m.task_rotations)}'
                      " rotates meta-val tasks but the split has no meta-val "
                      "classes; drop 'val' or give the split meta-val classes")
  if m.rotations and 'train' in m.task_rotations:
    raise ConfigError("config.maml.rotations=True already adds rotated "
                      "meta-train classes; drop 'train' from "
                      'config.maml.task_rotations (or set rotations=False)')
  base = config_base.maml()
  if m.variant == 'maml++':
    for key in ('learn_inner_lr', 'multi_step_loss', 'per_step_bn'):
      if m[key] != base[key]:
        raise ConfigError(f'config.maml.{key}={m[key]!r} is not read by '
                          "variant 'maml++' (it always has it); leave it at "
                          f'{base[key]!r}')
    if not (m.eval_every and _has_val(m)):
      raise ConfigError("config.maml.variant='maml++' tests the best "
                        'meta-val checkpoint: set config.maml.eval_every > 0 '
                        'and give the split meta-val classes')
    if m.min_outer_lr > m.outer_lr:
      raise ConfigError(f'config.maml.min_outer_lr={m.min_outer_lr} exceeds '
                        f'config.maml.outer_lr={m.outer_lr}')
  else:
    for key in ('first_order_epochs', 'min_outer_lr'):
      if m[key] != base[key]:
        raise ConfigError(f'config.maml.{key}={m[key]!r} is only read by '
                          f"variant 'maml++'; leave it at {base[key]!r}")
  host = m.task_layout == 'host_loop' or (
      m.task_layout == 'auto' and m.downsample == 'maxpool'
      and m.inner_steps <= 1)
  if host and m.meta_batch % m.task_chunk:
    raise ConfigError(f'config.maml.task_chunk={m.task_chunk} must divide '
                      f'config.maml.meta_batch={m.meta_batch} with '
                      "task_layout='host_loop'")
  if m.transfer:
    _check_transfer(m)


def _check_transfer(m):
  """The study's keys (maml/study.py, maml/learners.py)."""
  if m.variant != 'maml' or m.bn_mode == 'running':
    raise ConfigError("config.maml.transfer=True trains each learner of "
                      "config.maml.transfer_learners with its own recipe on "
                      "transductive BN: leave variant='maml' and "
                      "bn_mode='transductive'")
  names = tuple(m.transfer_learners)
  if not names or len(set(names)) < len(names) or set(names) - set(LEARNERS):
    raise ConfigError(f'config.maml.transfer_learners={names!r} is not '
                      f'allowed: use distinct names of {LEARNERS}')
  if {'cnn_head', 'cnn_all'} & set(names):
    tune, train = set(m.tune_classes), set(m.train_classes)
    if m.split != 'classes' or len(tune) < 2 or not tune < train:
      raise ConfigError(f'config.maml.tune_classes={tuple(m.tune_classes)!r}'
                        ' must name >= 2 of config.maml.train_classes (and '
                        "not all; split='classes'): the fine-tuned CNNs are "
                        'tuned on them')
