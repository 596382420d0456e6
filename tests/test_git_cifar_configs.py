"""configs/git_cifar*.py: the recipes resolve as their docstrings say."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import git_cifar  # pylint: disable=g-import-not-at-top,wrong-import-position
import git_cifar100  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.git import run as git  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.mark.parametrize('module', [git_cifar, git_cifar100])
def test_paper_re_styles_with_the_140k_generator(module):
  config = module.get_config('paper')
  config_lib.validate(config, num_devices=1)
  assert config.munit.iterations == 140000 == config.git.munit_step
  assert config.munit.batch_size == 1 and config.munit.lr_step == 100000
  assert config.munit.iterations % config.run.checkpoint_every == 0
  stage = git.stage_config(config, 'classifier', 0, 'ce_drs_git', '/m')
  assert stage.git.munit_step == 140000
  assert tuple(stage.train.decay_epochs) == (160, 180)
  assert config_lib.git_start_epoch(stage.train, stage.git) == 161


def test_fast_and_cpu_halve_munit_lr_and_keep_the_papers_drs_share():
  for arg, epochs in (('fast', 100), ('cpu', 30)):
    config = git_cifar.get_config(arg)
    config_lib.validate(config, num_devices=1)
    m, t = config.munit, config.train
    assert m.lr_step < m.iterations  # one halving, at 5/7 as the 140k one
    assert m.lr_step == round(m.iterations * 100000 / 140000)
    assert t.epochs == epochs
    assert t.decay_epochs[0] / t.epochs == 0.8 and (
        t.decay_epochs[1] / t.epochs == 0.9)
    assert config.git.munit_step == 0
  cpu = git_cifar.get_config('cpu')
  assert cpu.munit.shared and cpu.munit.flip and cpu.model.depth == 32


def test_smoke_of_paper_selects_its_own_last_iteration():
  config = git_cifar.get_config('paper,smoke')
  config_lib.validate(config, num_devices=1)
  assert config.git.munit_step == config.munit.iterations
