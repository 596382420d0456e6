"""launch.py end to end: exit code 2 and one line for every user error."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _launch(*args):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, 'launch.py', *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=300)


def _error_line(result):
  lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(lines) == 1, result.stderr
  return lines[0]


@pytest.mark.parametrize('override, expected', [
    ('--config.data.nmae=x', "'data.nmae' does not exist; did you mean "
     "'data.name'"),
    ('--config.data.alpha=abc', 'config.data.alpha=abc'),
    ('--config.data.n_max=-1', 'config.data.n_max=-1 is not allowed'),
])
def test_bad_overrides_exit_2_with_one_line(tmp_path, override, expected):
  result = _launch('--config', 'configs/dataset_digits.py', override,
                   '--workdir', str(tmp_path / 'w'))
  assert result.returncode == 2, result.stderr
  assert expected in _error_line(result)
  assert not (tmp_path / 'w').exists()


def test_missing_config_file(tmp_path):
  result = _launch('--config', 'configs/nope.py', '--workdir', str(tmp_path))
  assert result.returncode == 2
  assert 'configs/nope.py' in _error_line(result)


def test_dataset_run_then_refuses_another_config_in_the_same_workdir(tmp_path):
  workdir = tmp_path / 'run'
  result = _launch('--config', 'configs/dataset_digits.py', '--workdir',
                   str(workdir))
  assert result.returncode == 0, result.stderr
  for name in ('config.json', 'summary.json', 'report.md', 'done.json',
               'figures/preview.png', 'figures/class_sizes.png'):
    assert (workdir / name).exists(), name
  summary = json.loads((workdir / 'summary.json').read_text())
  assert summary['class_sizes_by_rank'] == [120, 60, 40, 30, 24, 20, 17, 15,
                                            13, 12]
  before = (workdir / 'summary.json').read_bytes()

  other = _launch('--config', 'configs/dataset_digits.py',
                  '--config.data.alpha=1.5', '--workdir', str(workdir))
  assert other.returncode == 2
  assert 'data.alpha' in _error_line(other)
  assert (workdir / 'summary.json').read_bytes() == before

  again = _launch('--config', 'configs/dataset_digits.py', '--workdir',
                  str(workdir))
  assert again.returncode == 0 and 'nothing to do' in again.stdout


@pytest.mark.parametrize('config, expected', [
    ('configs/unrolled_ring.py:x3', "config argument 'x3'"),
    ('configs/classifier_mnist.py:rot,ce,smok', "config argument "
     "'rot,ce,smok'"),
])
def test_a_config_file_that_raises_gives_one_line(tmp_path, config, expected):
  result = _launch('--config', config, '--workdir', str(tmp_path / 'w'))
  assert result.returncode == 2
  assert expected in _error_line(result)
  assert 'Traceback' not in result.stderr


def test_missing_data_then_corrected_config_reuses_the_workdir(tmp_path):
  workdir = str(tmp_path / 'w')
  missing = _launch('--config', 'configs/dataset_mnist.py:rot',
                    '--config.data.path=/nonexistent/mnist.npz',
                    '--workdir', workdir)
  assert missing.returncode == 2
  assert 'does not exist' in _error_line(missing)
  fixed = _launch('--config', 'configs/dataset_digits.py:none', '--workdir',
                  workdir)
  assert fixed.returncode == 0, fixed.stderr
