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
    ('configs/munit_digits.py:bg,smok', "config argument 'bg,smok'"),
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


# --- run-folder reliability (issue 11)

def test_a_config_file_with_a_syntax_error_gives_one_line(tmp_path):
  bad = tmp_path / 'bad_config.py'
  bad.write_text('def get_config(arg=None)\n  return None\n')
  result = _launch('--config', str(bad), '--workdir', str(tmp_path / 'w'))
  assert result.returncode == 2
  assert 'line 1' in _error_line(result)
  assert 'Traceback' not in result.stderr


_FULL_DISK = '''
import sys
import launch
from absl import app
from gitjax.experiments.dataset import run as dataset

def full(config, workdir):
  raise OSError(28, 'No space left on device', workdir + '/figures/a.png')

dataset.run = full
sys.argv = ['launch.py'] + sys.argv[1:]
app.run(launch.main, flags_parser=launch._parse_flags)
'''


def test_a_full_disk_is_one_line_and_exit_1(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  result = subprocess.run(
      [sys.executable, '-c', _FULL_DISK, '--config',
       'configs/dataset_digits.py', '--workdir', str(tmp_path / 'w')],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr
  assert 'No space left on device' in _error_line(result)
  assert 'Traceback' not in result.stderr


def test_provenance_absolute_data_path_and_a_changed_file_is_refused(
    tmp_path):
  from conftest import write_fake_npz  # pylint: disable=g-import-not-at-top
  data = write_fake_npz(tmp_path / 'fake.npz', (28, 28, 1), 30, 5)
  workdir = tmp_path / 'w'
  args = ('--config', 'configs/dataset_mnist.py:none',
          f'--config.data.path={os.path.relpath(data, ROOT)}',
          '--config.data.n_max=30', '--workdir', str(workdir))
  first = _launch(*args)
  assert first.returncode == 0, first.stderr
  config = json.loads((workdir / 'config.json').read_text())
  assert config['data']['path'] == data
  record = json.loads((workdir / 'provenance.json').read_text())
  assert record['data']['path'] == data
  assert len(record['data']['sha256']) == 64
  assert record['code']['libraries']['jax']
  with open(data, 'ab') as f:
    f.write(b'\0')
  again = _launch(*args)
  assert again.returncode == 2
  assert 'changed since this run started' in _error_line(again)


def test_a_second_launch_on_a_live_workdir_exits_2_naming_the_holder(
    tmp_path):
  """While a run holds its folder, a launch (here of another config) writes
  nothing and names the holder."""
  workdir = str(tmp_path / 'w')
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys; from gitjax.runtime import workdir; '
       'workdir.prepare(sys.argv[1], "{}"); print("ready", flush=True); '
       'sys.stdin.read()', workdir], cwd=ROOT, stdin=subprocess.PIPE,
      stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'ready'
    result = _launch('--config', 'configs/dataset_digits.py', '--workdir',
                     workdir)
    assert result.returncode == 2
    assert f'in use by process {holder.pid} on' in _error_line(result)
    assert open(os.path.join(workdir, 'config.json')).read() == '{}'
  finally:
    holder.kill()
    holder.wait()
