"""share_prefix and GIT: a GIT method branches at the DRS switch only when
all its GIT steps come after it, and never gives its prefix to others."""
import json
import os
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import classifier_digits  # pylint: disable=g-import-not-at-top,wrong-import-position
import git_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax import errors  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import build  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import branch  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import run as classifier  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.git import run as git  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


def _study(methods, start_epoch=-1):
  config = git_digits.get_config('bg,smoke')
  config.methods = methods
  config.train.epochs = 6
  config.train.decay_epochs = (4,)  # the switch: epoch 4; GIT from 5
  config.git.start_epoch = start_epoch
  config_lib.validate(config, num_devices=jax.device_count())
  return config


@pytest.fixture(scope='module')
def data():
  config = _study(('ce',))
  return build.build(config.data, config.seed)


def _sources(config, data):
  return git.branch_sources(config, '/r', config.seed, data, '/m')


def test_git_after_the_switch_branches_from_ce(data, capsys):
  for start in (-1, 4):  # default (5) and exactly at the switch
    config = _study(('ce', 'ce_drs', 'ce_drs_git'), start)
    assert _sources(config, data) == {'ce_drs': '/r/ce', 'ce_drs_git': '/r/ce'}
  assert 'trains from step 0' not in capsys.readouterr().out


@pytest.mark.parametrize('start', [0, 2, 3])
def test_git_before_the_switch_trains_from_step_0_and_says_why(
    data, capsys, start):
  config = _study(('ce', 'ce_drs', 'ce_drs_git'), start)
  assert _sources(config, data) == {'ce_drs': '/r/ce'}
  lines = [l for l in capsys.readouterr().out.splitlines()
           if 'trains from step 0' in l]
  assert len(lines) == 1
  assert 'ce_drs_git' in lines[0] and f'epoch {start}' in lines[0]


def test_a_git_method_listed_first_gives_its_prefix_to_nobody(data, capsys):
  config = _study(('ce_drs_git', 'ce', 'ce_drs'))
  assert _sources(config, data) == {'ce_drs': '/r/ce'}
  out = capsys.readouterr().out
  assert 'ce_drs_git trains from step 0' in out
  # Early GIT, listed first: still nobody inherits a prefix trained with GIT.
  config = _study(('ce_drs_git', 'ce_drs', 'ce'), start_epoch=1)
  assert _sources(config, data) == {'ce': '/r/ce_drs'}


def test_ldam_drw_git_branches_only_after_ldam_drw(data):
  assert _sources(_study(('ldam_drw', 'ldam_drw_git')), data) == {
      'ldam_drw_git': '/r/ldam_drw'}
  assert _sources(_study(('ldam_drw_git', 'ldam_drw')), data) == {}


def _classifier(method, start_epoch=-1):
  config = classifier_digits.get_config(f'{method},smoke')
  config.train.epochs = 6
  config.train.decay_epochs = (4,)
  if method.endswith('_git'):
    config.git.munit_workdir = '/m'
    config.git.start_epoch = start_epoch
  config_lib.validate(config, num_devices=jax.device_count())
  return config


def test_plan_and_branch_from_see_early_git(tmp_path):
  config = _classifier('ce_drs_git', start_epoch=2)
  data = build.build(config.data, config.seed)
  plan = classifier.Plan(config, data)
  assert plan.git_before_switch and not plan.shares_prefix(data)
  assert classifier.Plan(_classifier('ce_drs_git'), data).shares_prefix(data)
  # A run with GIT steps before the switch cannot branch ...
  source = _classifier('ce')
  source_dir = str(tmp_path / 'ce')
  workdir_lib.prepare(source_dir, config_lib.to_json(source))
  config.train.branch_from = source_dir
  with pytest.raises(errors.ConfigError, match='GIT steps before the switch'):
    branch.check_source(config, plan, data)
  # ... nor can a plain run branch from one.
  early = json.loads(config_lib.to_json(_classifier('ce_drs_git', 2)))
  plain = json.loads(config_lib.to_json(_classifier('ce_drs')))
  assert branch.signature(early)['git_before_switch']
  assert not branch.signature(plain)['git_before_switch']
  late = json.loads(config_lib.to_json(_classifier('ce_drs_git')))
  assert not branch.signature(late)['git_before_switch']


def test_signature_is_what_decides_the_steps_before_the_switch():
  def sig(method='ce_drs', **changes):
    config = _classifier(method)
    for key, value in changes.items():
      section, name = key.split('.')
      config[section][name] = value
    return branch.signature(json.loads(config_lib.to_json(config)))

  base = sig()
  assert base['seed'] == 0 and base['loss'] == 'ce'
  assert base['train']['epochs'] == 6 and 'branch_from' not in base['train']
  # Siblings: other phases after the switch, another branch_from.
  assert sig('ce') == base and sig('ce_drs_git') == base
  assert sig(**{'train.branch_from': '/elsewhere'}) == base
  # Not siblings: another loss, seed, data set, model or schedule.
  assert sig('ldam_drw')['loss'] == 'ldam'
  for key, value in (('data.n_max', 50), ('model.depth', 14),
                     ('train.lr', 0.05)):
    assert sig(**{key: value}) != base, key
  config = _classifier('ce_drs')
  config.seed = 3
  assert branch.signature(json.loads(config_lib.to_json(config)))['seed'] == 3
