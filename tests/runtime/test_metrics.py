"""Tests for gitjax.runtime.metrics: JSON lines, TensorBoard, resume, NaN."""

import json
import math

import numpy as np
import pytest

from gitjax import errors
from gitjax.runtime import metrics


def _write(workdir, steps, resume_step=None):
  writer = metrics.MetricWriter(str(workdir), resume_step=resume_step)
  for step in steps:
    writer.write(step, {'loss': 1.0 / step, 'acc': np.float32(0.25)})
  writer.close()


def test_one_json_line_per_write(tmp_path):
  """Each write appends one sorted-key JSON object with 'step'."""
  writer = metrics.MetricWriter(str(tmp_path))
  writer.write(1, {'loss': 0.5, 'lr': np.float32(0.125)})
  writer.write(np.int64(2), {'loss': 0.25})
  lines = (tmp_path / metrics.METRICS_FILE).read_text().splitlines()
  assert len(lines) == 2  # flushed before close
  writer.close()
  assert json.loads(lines[0]) == {'step': 1, 'loss': 0.5, 'lr': 0.125}
  assert json.loads(lines[1]) == {'step': 2, 'loss': 0.25}
  assert lines[0] == '{"loss": 0.5, "lr": 0.125, "step": 1}'


def test_non_finite_values_are_written_as_strings(tmp_path):
  """NaN / Inf become 'nan' / 'inf', so every line stays valid JSON."""
  writer = metrics.MetricWriter(str(tmp_path))
  writer.write(3, {'loss': float('nan'), 'grad': float('inf')})
  writer.close()
  line = (tmp_path / metrics.METRICS_FILE).read_text().strip()
  assert 'NaN' not in line and 'Infinity' not in line
  assert json.loads(line) == {'step': 3, 'loss': 'nan', 'grad': 'inf'}


def test_tensorboard_event_files(tmp_path):
  """TensorBoard event files appear in the workdir."""
  _write(tmp_path, [1, 2])
  events = list(tmp_path.glob('events.out.tfevents*'))
  assert len(events) == 1
  assert events[0].stat().st_size > 0


def _events(path):
  """Event protos of one TFRecord event file (no TensorBoard needed)."""
  import struct  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  data, out, pos = path.read_bytes(), [], 0
  while pos < len(data):
    (length,) = struct.unpack('<Q', data[pos:pos + 8])
    event = event_pb2.Event()
    event.ParseFromString(data[pos + 12:pos + 12 + length])
    out.append(event)
    pos += 12 + length + 4
  return out


def test_resume_writes_a_tensorboard_purge_marker(tmp_path):
  """A resumed writer's event file starts with SessionLog.START at the
  first step after the checkpoint: TensorBoard then drops the interrupted
  run's later points (as metrics.jsonl drops its lines)."""
  import time  # pylint: disable=g-import-not-at-top
  _write(tmp_path, [1, 2, 3, 4])
  time.sleep(1.1)  # event file names carry the time in seconds
  _write(tmp_path, [3, 4], resume_step=2)
  first, second = sorted(tmp_path.glob('events.out.tfevents*'),
                         key=lambda p: p.stat().st_mtime)
  starts = [e for e in _events(second) if e.HasField('session_log')]
  assert [(e.step, e.session_log.status) for e in starts] == [(3, 1)]
  assert not any(e.HasField('session_log') for e in _events(first))
  scalars = [e.step for e in _events(second) if e.HasField('summary')]
  assert sorted(set(scalars)) == [3, 4]


def test_read_returns_the_records(tmp_path):
  """read() gives the records in order; a workdir without the file gives []."""
  assert not metrics.read(str(tmp_path))
  _write(tmp_path, [1, 2, 4])
  records = metrics.read(str(tmp_path))
  assert [r['step'] for r in records] == [1, 2, 4]
  assert records[2] == {'step': 4, 'loss': 0.25, 'acc': 0.25}


def test_resume_drops_lines_after_the_resume_step(tmp_path):
  """Resuming from step 3 drops steps 4 and 5, then appends after 3."""
  _write(tmp_path, [1, 2, 3, 4, 5])
  writer = metrics.MetricWriter(str(tmp_path), resume_step=3)
  assert [r['step'] for r in metrics.read(str(tmp_path))] == [1, 2, 3]
  writer.write(4, {'loss': 9.0})
  writer.close()
  records = metrics.read(str(tmp_path))
  assert [r['step'] for r in records] == [1, 2, 3, 4]
  assert records[-1]['loss'] == 9.0
  assert not (tmp_path / (metrics.METRICS_FILE + '.tmp')).exists()


def test_without_resume_step_lines_are_kept(tmp_path):
  """No resume_step: an existing file is appended to, never truncated."""
  _write(tmp_path, [1, 2, 3])
  _write(tmp_path, [4])
  assert [r['step'] for r in metrics.read(str(tmp_path))] == [1, 2, 3, 4]


def test_resume_without_file(tmp_path):
  """resume_step on a fresh workdir starts an empty file."""
  _write(tmp_path, [7], resume_step=6)
  assert [r['step'] for r in metrics.read(str(tmp_path))] == [7]


def test_check_finite_passes_finite_values():
  """Finite scalars (Python or numpy) return quietly."""
  assert metrics.check_finite(
      3, {'loss': 0.5, 'acc': np.float32(1.0), 'n': 2}, 2, '/ck') is None
  assert metrics.check_finite(3, {}, None, '/ck') is None


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -np.inf,
                                   np.float32('nan')])
def test_check_finite_raises_one_line(value):
  """NaN or +-Inf: NonFiniteError naming key, step and kept checkpoint."""
  with pytest.raises(errors.NonFiniteError) as info:
    metrics.check_finite(120, {'acc': 0.5, 'loss': value}, 100,
                         '/runs/a/checkpoints')
  message = str(info.value)
  assert '\n' not in message
  assert message.startswith('loss became ')
  assert str(float(value)) in message
  assert 'step 120' in message
  assert 'step 100' in message
  assert '/runs/a/checkpoints' in message
  assert 'acc' not in message
  assert isinstance(info.value, errors.UserError)


def test_check_finite_without_checkpoint_and_several_keys():
  """All bad keys are named (sorted); no checkpoint yet is said so."""
  with pytest.raises(errors.NonFiniteError) as info:
    metrics.check_finite(7, {'z': math.inf, 'loss': math.nan, 'ok': 1.0},
                         None, '/ck')
  message = str(info.value)
  assert '\n' not in message
  assert message.startswith('loss, z became nan at step 7;')
  assert 'no checkpoint was written yet' in message
  assert 'ok' not in message.split(';')[0]


def test_resume_skips_a_half_written_last_line(tmp_path):
  """A kill in the middle of a write leaves a partial line; resume drops it."""
  path = tmp_path / metrics.METRICS_FILE
  path.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "lo')
  writer = metrics.MetricWriter(str(tmp_path), resume_step=5)
  writer.write(3, {'loss': 0.5})
  writer.close()
  assert [r['step'] for r in metrics.read(str(tmp_path))] == [1, 3]


def test_truncating_on_resume_uses_a_temp_file_of_its_own(tmp_path):
  """Another process's temp file (here a folder in the way) is not reused."""
  (tmp_path / 'metrics.jsonl').write_text('{"step": 1}\n{"step": 2}\n')
  (tmp_path / 'metrics.jsonl.tmp').mkdir()
  writer = metrics.MetricWriter(str(tmp_path), resume_step=1)
  writer.close()
  assert (tmp_path / 'metrics.jsonl').read_text() == '{"step": 1}\n'
