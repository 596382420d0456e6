"""Config checks of the maml section: bad input is one line (exit 2)."""
import os
import subprocess
import sys

import pytest

from gitjax import config as config_lib
from gitjax.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import maml_digits  # pylint: disable=g-import-not-at-top,wrong-import-position
import maml_omniglot_small  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.mark.parametrize('changes,message', [
    (dict(variant='reptile'), "maml.variant='reptile' is not allowed"),
    (dict(bn_mode='frozen'), "maml.bn_mode='frozen' is not allowed"),
    (dict(variant='anil', inner_steps=0), "'anil' adapts the head"),
    (dict(task_rotations=('train', 'val')), 'no meta-val classes'),
    (dict(task_rotations=('train', 'tset')), 'task_rotations'),
    (dict(rotations=True), 'already adds rotated'),
    (dict(variant='maml++'), 'tests the best meta-val checkpoint'),
    (dict(first_order_epochs=3), 'only read by variant'),
    (dict(split='random', split_sizes=(5, 0)), 'maml.split_sizes'),
])
def test_bad_maml_settings_fail_with_one_line(changes, message):
  config = maml_digits.get_config('smoke')
  for key, value in changes.items():
    config.maml[key] = value
  with pytest.raises(ConfigError, match=message) as info:
    config_lib.validate(config)
  assert '\n' not in str(info.value)


def test_maml_plus_plus_switches_are_implied_and_config_args_parse():
  config = maml_omniglot_small.get_config('maml++')
  config.data.path = 'x.npz'
  config_lib.validate(config)
  assert config.maml.variant == 'maml++' and config.maml.inner_steps == 5
  config.maml.per_step_bn = True
  with pytest.raises(ConfigError, match="not read by variant 'maml\\+\\+'"):
    config_lib.validate(config)
  with pytest.raises(ValueError, match='maml\\+\\+\\|anil'):
    maml_omniglot_small.get_config('maml+')


def test_launcher_exits_2_with_one_line_for_an_unknown_variant():
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'launch.py'), '--config',
       os.path.join(ROOT, 'configs/maml_digits.py:smoke'),
       '--config.maml.variant=maml+++', '--workdir', '/nonexistent/run'],
      capture_output=True, text=True, check=False, cwd=ROOT)
  assert result.returncode == 2
  assert result.stderr.strip().count('\n') == 0
  assert "maml.variant='maml+++'" in result.stderr
