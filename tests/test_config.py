"""Config checks: one line per problem, naming the key and what is allowed."""
import pytest

from gitjax import config as config_lib
from gitjax import config_base
from gitjax.errors import ConfigError


def _config():
  return config_base.get_base('dataset')


@pytest.mark.parametrize('key, value, message', [
    ('n_max', -3, r'config.data.n_max=-3 is not allowed: use an integer >= 1'),
    ('alpha', 0.0, r'config.data.alpha=0.0 .* a number > 0'),
    ('source', 'web', r"data.source='web' .* one of 'digits', 'tfds', 'npz'"),
    ('longtail', 'pareto', r"one of 'zipf', 'exp', 'none'"),
    ('transform', 'spin', r"config.data.transform='spin'"),
    ('rot_degrees', 270.0, r'\[0, 180\]'),
    ('imbalance_ratio', 0.5, r'>= 1'),
])
def test_bad_values_name_the_key(key, value, message):
  config = _config()
  setattr(config.data, key, value)
  with pytest.raises(ConfigError, match=message) as info:
    config_lib.validate(config)
  assert '\n' not in str(info.value)


def test_cross_field_checks():
  config = _config()
  config.data.n_min = 10
  config.data.n_max = 5
  with pytest.raises(ConfigError, match='n_min=10 exceeds n_max=5'):
    config_lib.validate(config)
  config = _config()
  config.data.source = 'npz'
  with pytest.raises(ConfigError, match='data.path is empty'):
    config_lib.validate(config)


def test_unknown_key_in_an_experiment_file_is_caught():
  config = _config()
  config.data.nmae = 'x'  # an unlocked experiment file could do this
  with pytest.raises(ConfigError, match="'data.nmae' does not exist; did you "
                     "mean 'data.name'"):
    config_lib.validate(config)


def test_defaults_are_valid():
  for kind in config_base.EXPERIMENTS:
    config_lib.validate(config_base.get_base(kind), num_devices=1)


def test_batch_size_must_split_over_the_devices():
  config = config_base.get_base('classifier')
  config.train.batch_size = 100
  with pytest.raises(ConfigError, match=r'config.train.batch_size=100 must be '
                     r'a positive multiple of the 8 devices; use e.g. 96'):
    config_lib.validate(config, num_devices=8)
  config_lib.validate(config, num_devices=4)


@pytest.mark.parametrize('key, value, message', [
    ('method', 'svm', 'one of ce, ce_rs'),
    ('model.depth', 21, '6n\\+2'),
])
def test_bad_classifier_values(key, value, message):
  config = config_base.get_base('classifier')
  section, _, name = key.rpartition('.')
  setattr(config[section] if section else config, name, value)
  with pytest.raises(ConfigError, match=message):
    config_lib.validate(config)


def test_decay_schedule_checks():
  config = config_base.get_base('classifier')
  config.train.decay_factors = (0.1,)
  with pytest.raises(ConfigError, match='one factor per drop'):
    config_lib.validate(config)
  config = config_base.get_base('classifier')
  config.train.epochs = 20
  with pytest.raises(ConfigError, match='must lie below train.epochs=20'):
    config_lib.validate(config)


def test_method_and_schedule_consistency():
  config = config_base.get_base('classifier')
  config.method = 'ldam_drw'
  config.model.arch = 'conv4'
  with pytest.raises(ConfigError, match='needs the cosine head'):
    config_lib.validate(config)
  config = config_base.get_base('classifier')
  config.train.deferred_epoch = 50
  with pytest.raises(ConfigError, match='deferred_epoch=50 must lie below'):
    config_lib.validate(config)
  config = config_base.get_base('classifier')
  config.data.val_per_class = 5
  config.train.eval_every_epochs = 0
  with pytest.raises(ConfigError, match='eval_every_epochs=0'):
    config_lib.validate(config)


# --- keys that the resolved run does not read (issue 11)

def _set(config, key, value):
  section, _, name = key.rpartition('.')
  setattr(config[section] if section else config, name, value)


@pytest.mark.parametrize('kind, changes, message', [
    ('dataset', {'data.name': 'mnist'}, "data.name='mnist' is not read"),
    ('dataset', {'data.download': True}, 'data.download=True is not read'),
    ('dataset', {'data.source': 'npz', 'data.path': '/x.npz',
                 'data.data_dir': '/tfds'}, "data.data_dir='/tfds'"),
    ('dataset', {'data.path': '/x.npz'}, "data.source='npz' to read"),
    ('dataset', {'data.transform': 'bg', 'data.rot_degrees': 90.0},
     "only the 'rot' transform reads it"),
    ('dataset', {'data.transform': 'rot', 'data.bg_max': 50}, 'bg_max=50'),
    ('dataset', {'data.brightness': 0.5}, 'brightness=0.5'),
    ('dataset', {'data.translate': 2.0}, 'translate=2.0'),
    ('classifier', {'model.arch': 'conv4', 'model.depth': 32},
     "model.depth=32 is not read by this run"),
    ('classifier', {'model.conv4_filters': 32}, 'conv4_filters=32'),
    ('classifier', {'train.ldam_scale': 10.0}, 'only LDAM methods'),
    ('classifier', {'method': 'ldam', 'train.focal_gamma': 2.0},
     'only focal methods'),
    ('classifier', {'method': 'ce_drs', 'train.cb_beta': 0.99},
     'only reweighting methods'),
    ('munit', {'data.val_per_class': 5}, 'val_per_class=5 is not read'),
    ('unrolled_ring', {'data.n_max': 10}, 'samples its own 2-D data'),
])
def test_a_key_the_run_does_not_read_is_an_error(kind, changes, message):
  config = config_base.get_base(kind)
  for key, value in changes.items():
    _set(config, key, value)
  with pytest.raises(ConfigError, match=message) as info:
    config_lib.validate(config)
  assert '\n' not in str(info.value)


@pytest.mark.parametrize('kind, changes', [
    ('dataset', {'data.source': 'tfds', 'data.name': 'mnist',
                 'data.download': True}),
    ('dataset', {'data.source': 'tfds', 'data.name': 'mnist',
                 'data.path': '/x.npz'}),  # the file stands in for TFDS
    ('dataset', {'data.transform': 'rot+bg', 'data.rot_degrees': 30.0,
                 'data.bg_max': 10}),
    ('classifier', {'method': 'ldam_drw', 'train.ldam_scale': 10.0,
                    'train.cb_beta': 0.99}),
    ('classifier', {'method': 'focal_drw', 'train.focal_gamma': 2.0}),
    ('classifier', {'model.arch': 'conv4', 'model.conv4_filters': 32}),
])
def test_keys_the_run_reads_may_change(kind, changes):
  config = config_base.get_base(kind)
  for key, value in changes.items():
    _set(config, key, value)
  config_lib.validate(config)


def test_a_typo_in_a_config_argument_fails():
  import importlib  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'configs'))
  for name, arg in (('munit_digits', 'bg,smok'), ('munit_mnist', 'rot,smoke,x'),
                    ('munit_cifar10_lt', 'none,smok'),
                    ('dataset_digits', 'rot,smoke'),
                    ('dataset_mnist', 'rot,smoke')):
    with pytest.raises(ValueError, match=f'config argument {arg!r}'):
      importlib.import_module(name).get_config(arg)


@pytest.mark.parametrize('name,arg', [
    ('git_mnist', 'bg,cpu'), ('git_mnist', 'dil,cpu'),
    ('git_mnist', 'rot,smoke'), ('git_fashion_mnist', 'dil,cpu'),
    ('git_digits', 'dil,smoke')])
def test_git_config_variants_validate(name, arg):
  import importlib  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'configs'))
  config = importlib.import_module(name).get_config(arg)
  config_lib.validate(config)
  assert config.data.transform == arg.partition(',')[0]
  if arg.endswith(',cpu'):
    # The CPU recipe keeps the K49 data and ResNet-20, shortens the rest.
    assert (config.data.n_max, config.data.alpha) == (4800, 2.0)
    assert (config.model.depth, config.train.epochs) == (20, 10)
    assert config.munit.dim == 16 and config.num_instances == 3
  with pytest.raises(ValueError, match='config argument'):
    importlib.import_module(name).get_config(arg + 'x')
