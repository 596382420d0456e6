"""Tests for gitjax.runtime.workdir: the run-folder convention."""

import json

import numpy as np
import pytest

from gitjax import errors
from gitjax.runtime import workdir

CONFIG = {'seed': 0, 'model': {'name': 'conv4', 'width': 64},
          'train': {'lr': 0.1, 'steps': 10}}


def _json(config):
  return json.dumps(config, sort_keys=True)


def test_prepare_new_then_resume(tmp_path):
  """A new folder gets config.json (False); the same config again is True."""
  run = tmp_path / 'a' / 'run'
  assert workdir.prepare(str(run), _json(CONFIG)) is False
  assert json.loads((run / workdir.CONFIG_FILE).read_text()) == CONFIG
  assert not (run / (workdir.CONFIG_FILE + '.tmp')).exists()
  assert workdir.prepare(str(run), _json(CONFIG)) is True
  # Key order and formatting do not matter, only the values.
  assert workdir.prepare(str(run), json.dumps(CONFIG, indent=1)) is True


def test_prepare_accepts_an_existing_empty_folder(tmp_path):
  """An empty folder is a new run."""
  assert workdir.prepare(str(tmp_path), _json(CONFIG)) is False
  assert (tmp_path / workdir.CONFIG_FILE).exists()


def test_prepare_other_config_names_first_difference(tmp_path):
  """Another config: WorkdirError naming the first differing dotted key."""
  workdir.prepare(str(tmp_path), _json(CONFIG))
  (tmp_path / 'metrics.jsonl').write_text('{"step": 1}\n')  # a result
  other = json.loads(_json(CONFIG))
  other['train']['lr'] = 0.2
  other['train']['steps'] = 20
  with pytest.raises(errors.WorkdirError) as info:
    workdir.prepare(str(tmp_path), _json(other))
  message = str(info.value)
  assert '\n' not in message
  assert 'train.lr: 0.1 there, 0.2 now' in message
  assert 'train.steps' not in message
  # The folder is untouched.
  assert json.loads((tmp_path / workdir.CONFIG_FILE).read_text()) == CONFIG


def test_prepare_refuses_non_empty_folder_without_config(tmp_path):
  """A folder holding other files but no config.json is not taken."""
  (tmp_path / 'notes.txt').write_text('mine')
  with pytest.raises(errors.WorkdirError, match='not empty'):
    workdir.prepare(str(tmp_path), _json(CONFIG))
  assert not (tmp_path / workdir.CONFIG_FILE).exists()


def test_prepare_refuses_a_file(tmp_path):
  """--workdir naming a file raises and leaves the file alone."""
  path = tmp_path / 'run'
  path.write_text('data')
  with pytest.raises(errors.WorkdirError, match='is a file'):
    workdir.prepare(str(path), _json(CONFIG))
  assert path.read_text() == 'data'


def test_mark_done_and_is_done(tmp_path):
  """done.json holds the summary and a finish time; is_done sees it."""
  assert not workdir.is_done(str(tmp_path))
  workdir.mark_done(str(tmp_path), {'accuracy': np.float32(0.5)})
  assert workdir.is_done(str(tmp_path))
  record = json.loads((tmp_path / workdir.DONE_FILE).read_text())
  assert record['accuracy'] == 0.5
  assert set(record) == {'accuracy', 'finished_at'}


def test_write_json_handles_numpy(tmp_path):
  """numpy arrays become lists and numpy scalars plain numbers."""
  path = tmp_path / 'out.json'
  workdir.write_json(str(path), {
      'array': np.arange(4, dtype=np.int32).reshape(2, 2),
      'f32': np.float32(0.25), 'i64': np.int64(7), 'b': np.bool_(True),
      'nested': {'v': np.array([0.5, 1.5])}, 'plain': 'x'})
  assert json.loads(path.read_text()) == {
      'array': [[0, 1], [2, 3]], 'f32': 0.25, 'i64': 7, 'b': True,
      'nested': {'v': [0.5, 1.5]}, 'plain': 'x'}
  assert not (tmp_path / 'out.json.tmp').exists()


def test_write_json_overwrites(tmp_path):
  """A second write replaces the file whole."""
  path = tmp_path / 'out.json'
  workdir.write_json(str(path), {'a': 1, 'b': 2})
  workdir.write_json(str(path), {'a': 3})
  assert json.loads(path.read_text()) == {'a': 3}


def test_first_difference_on_nested_dicts():
  """Dotted keys, sorted order, '<absent>' for a missing key, None if equal."""
  old = {'a': 1, 'm': {'x': 1, 'y': {'z': 2}}}
  assert workdir.first_difference(old, json.loads(json.dumps(old))) is None
  assert workdir.first_difference(
      old, {'a': 1, 'm': {'x': 1, 'y': {'z': 3}}}) == ('m.y.z', 2, 3)
  # 'm.x' sorts before 'm.y.z', so it is reported first.
  assert workdir.first_difference(
      old, {'a': 1, 'm': {'x': 0, 'y': {'z': 3}}}) == ('m.x', 1, 0)
  assert workdir.first_difference(
      old, {'a': 1, 'm': {'x': 1, 'y': {'z': 2}}, 'b': None}) == (
          'b', '<absent>', None)
  assert workdir.first_difference(old, {'a': 1, 'm': {'x': 1}}) == (
      'm.y.z', 2, '<absent>')


def test_a_run_that_failed_before_any_result_is_taken_over(tmp_path):
  """Only config.json (and empty folders): e.g. the data was missing. A
  corrected config may reuse the folder; nothing is lost."""
  workdir.prepare(str(tmp_path), _json(CONFIG))
  (tmp_path / 'figures').mkdir()
  other = json.loads(_json(CONFIG))
  other['train']['lr'] = 0.2
  assert workdir.prepare(str(tmp_path), _json(other)) is False
  assert json.loads((tmp_path / workdir.CONFIG_FILE).read_text()) == other


def test_an_unwritable_workdir_is_a_one_line_error(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('x')
  with pytest.raises(errors.WorkdirError, match='cannot write'):
    workdir.prepare(str(blocker / 'run'), _json(CONFIG))


def _munit(probe_steps=2000, iterations=10, eval_styles=10):
  return {'munit': {'iterations': iterations, 'probe_steps': probe_steps,
                    'eval_styles': eval_styles}, 'seed': 0}


def test_evaluation_keys_may_change_while_a_run_is_unfinished(tmp_path,
                                                              capsys):
  """An unfinished run resumes with new after-training keys (kept in
  config.json); a training key or a finished run still refuses."""
  workdir.prepare(str(tmp_path), _json(_munit()))
  (tmp_path / 'metrics.jsonl').write_text('{}\n')
  assert workdir.prepare(str(tmp_path), _json(_munit(probe_steps=500)))
  assert 'munit.probe_steps=500 (was 2000)' in capsys.readouterr().out
  saved = json.loads((tmp_path / workdir.CONFIG_FILE).read_text())
  assert saved['munit']['probe_steps'] == 500
  with pytest.raises(errors.WorkdirError, match='munit.iterations'):
    workdir.prepare(str(tmp_path), _json(_munit(500, iterations=20)))
  # munit.eval_styles sorts first but would be accepted: name the blocker.
  with pytest.raises(errors.WorkdirError, match='munit.iterations'):
    workdir.prepare(str(tmp_path), _json(_munit(500, 20, eval_styles=5)))
  workdir.mark_done(str(tmp_path), {})
  with pytest.raises(errors.WorkdirError, match='munit.probe_steps'):
    workdir.prepare(str(tmp_path), _json(_munit(probe_steps=100)))


# --- run-folder reliability (issue 11): lock, temp files, damaged files

_HOLD = '''
import sys
from gitjax.runtime import workdir
workdir.prepare(sys.argv[1], sys.argv[2])
print('ready', flush=True)
sys.stdin.read()
'''


def _holder(run, config):
  """A live process holding RUN (the first launch of a run)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  proc = subprocess.Popen([sys.executable, '-c', _HOLD, str(run),
                           _json(config)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == 'ready'
  return proc


def test_a_second_process_is_refused_and_a_dead_holder_does_not_block(
    tmp_path):
  """While a run holds its folder (only config.json written yet), another
  launch, even of another config, gets one line naming the holder's pid and
  host and writes nothing; once the holder is killed its lock is gone."""
  import socket  # pylint: disable=g-import-not-at-top
  run = tmp_path / 'run'
  proc = _holder(run, CONFIG)
  try:
    other = json.loads(_json(CONFIG))
    other['train']['lr'] = 0.2
    for config in (CONFIG, other):
      with pytest.raises(errors.WorkdirError) as info:
        workdir.prepare(str(run), _json(config))
      message = str(info.value)
      assert '\n' not in message
      assert f'process {proc.pid} on {socket.gethostname()}' in message
    assert json.loads((run / workdir.CONFIG_FILE).read_text()) == CONFIG
  finally:
    proc.kill()
    proc.wait()
  assert workdir.prepare(str(run), _json(CONFIG)) is True  # stale lock
  workdir.unlock(str(run))


def test_temp_files_have_unique_names(tmp_path):
  """Another writer's temp file (here a folder in the way) is not reused."""
  (tmp_path / 'out.json.tmp').mkdir()
  workdir.write_json(str(tmp_path / 'out.json'), {'a': 1})
  assert json.loads((tmp_path / 'out.json').read_text()) == {'a': 1}
  assert [p.name for p in tmp_path.iterdir()
          if p.name.endswith('.tmp')] == ['out.json.tmp']


def test_a_temp_file_left_by_a_kill_in_the_first_write_does_not_block(
    tmp_path):
  (tmp_path / 'config.json.tmp').write_text('{"se')
  assert workdir.prepare(str(tmp_path), _json(CONFIG)) is False
  assert json.loads((tmp_path / workdir.CONFIG_FILE).read_text()) == CONFIG


def test_a_corrupt_config_json_is_one_line(tmp_path):
  (tmp_path / workdir.CONFIG_FILE).write_text('{"seed": 0, "tr')
  with pytest.raises(errors.WorkdirError) as info:
    workdir.prepare(str(tmp_path), _json(CONFIG))
  assert 'not JSON' in str(info.value) and '\n' not in str(info.value)
  assert (tmp_path / workdir.CONFIG_FILE).read_text() == '{"seed": 0, "tr'


def test_a_read_only_workdir_is_one_line(tmp_path, monkeypatch):
  """(Simulated: the tests may run as root, who may write anywhere.)"""
  workdir.prepare(str(tmp_path / 'run'), _json(CONFIG))
  workdir.unlock(str(tmp_path / 'run'))

  def refuse(*args, **kwargs):
    raise PermissionError(13, 'Permission denied')

  monkeypatch.setattr(workdir.os, 'open', refuse)
  with pytest.raises(errors.WorkdirError, match='cannot write'):
    workdir.prepare(str(tmp_path / 'run'), _json(CONFIG))


def test_logging_and_saving_cadence_may_change_on_resume(tmp_path, capsys):
  config = dict(CONFIG, run={'checkpoint_every': 500, 'log_every': 50,
                             'prefetch': 2, 'keep_checkpoints': 2})
  workdir.prepare(str(tmp_path), _json(config))
  (tmp_path / 'metrics.jsonl').write_text('{"step": 1}\n')
  changed = dict(config, run={'checkpoint_every': 100, 'log_every': 10,
                              'prefetch': 0, 'keep_checkpoints': 2})
  assert workdir.prepare(str(tmp_path), _json(changed)) is True
  assert 'run.checkpoint_every=100 (was 500): does not change results' in (
      capsys.readouterr().out)
  changed['run']['keep_checkpoints'] = 3
  with pytest.raises(errors.WorkdirError, match='run.keep_checkpoints'):
    workdir.prepare(str(tmp_path), _json(changed))
  # A finished run takes them too, and its config.json stays as it ran.
  workdir.mark_done(str(tmp_path), {})
  changed['run']['keep_checkpoints'] = 2
  changed['run']['log_every'] = 5
  before = (tmp_path / workdir.CONFIG_FILE).read_text()
  assert workdir.prepare(str(tmp_path), _json(changed)) is True
  assert (tmp_path / workdir.CONFIG_FILE).read_text() == before
  changed['run']['keep_checkpoints'] = 3
  with pytest.raises(errors.WorkdirError, match='run.keep_checkpoints'):
    workdir.prepare(str(tmp_path), _json(changed))
