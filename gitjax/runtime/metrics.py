"""Metrics: one JSON line per logged step and TensorBoard event files.

On a local or NFS workdir metrics.jsonl is appended to and flushed per
line. A GCS object cannot be appended to, so on a gs:// workdir the writer
keeps the lines and writes the whole object again at each logged step (one
upload per log line; a kill loses nothing logged). TensorBoard event files
are tensorboardX's: on gs:// it writes them itself (its own GCS writer, with
google-cloud-storage), uploading the whole event file at each flush.
"""
import io
import json
import math
import os

from gitjax.errors import NonFiniteError
from gitjax.runtime import paths
from gitjax.runtime import processes

METRICS_FILE = 'metrics.jsonl'


def _scalar(value):
  value = float(value)
  return value if math.isfinite(value) else str(value)


class MetricWriter:
  """Writes scalars to WORKDIR/metrics.jsonl and TensorBoard event files.

  On resume from step S, lines logged after S by the interrupted run are
  dropped first, so the file holds each step once; the new event file starts
  with a purge marker at S + 1, so TensorBoard likewise drops the
  interrupted run's points after S. Only the writer process writes (the
  others' writes do nothing).
  """

  def __init__(self, workdir, resume_step=None):
    self.path = os.path.join(workdir, METRICS_FILE)
    self._active = processes.is_writer()
    if not self._active:
      return
    if resume_step is not None and paths.exists(self.path):
      self._truncate_after(resume_step)
    # gs://: every line so far, written whole at each write (self._file is
    # None); locally None, and the file is appended to.
    self._lines = self._file = None
    if paths.is_url(self.path):
      self._lines = (_lines_of(paths.read_text(self.path))
                     if paths.exists(self.path) else [])
    else:
      self._file = open(self.path, 'a')
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    purge = None if resume_step is None else int(resume_step) + 1
    self._tb = SummaryWriter(logdir=workdir, flush_secs=30, purge_step=purge)

  def _truncate_after(self, step):
    lines = [l if l.endswith('\n') else l + '\n'
             for l in _lines_of(paths.read_text(self.path))
             if _step_of(l) is not None and _step_of(l) <= step]
    # Locally a temp file renamed over metrics.jsonl; on gs:// the object.
    paths.write_text(self.path, ''.join(lines))

  def write(self, step, scalars):
    if not self._active:
      return
    record = {'step': int(step)}
    record.update({k: _scalar(v) for k, v in scalars.items()})
    line = json.dumps(record, sort_keys=True) + '\n'
    if self._lines is None:
      self._file.write(line)
      self._file.flush()
    else:
      self._lines.append(line)
      paths.write_text(self.path, ''.join(self._lines))
    for key, value in scalars.items():
      self._tb.add_scalar(key, float(value), int(step))

  def close(self):
    if not self._active:
      return
    if self._file is not None:
      self._file.close()
    self._tb.close()


def _lines_of(text):
  """The lines of a file's text, each with its newline (the last one may
  lack it), as iterating over the open file gives them."""
  return list(io.StringIO(text))


def _step_of(line):
  """The step of a metrics line, or None for a blank or half-written line
  (a kill in the middle of a write)."""
  try:
    return json.loads(line)['step']
  except (ValueError, KeyError, TypeError):
    return None


def read(workdir):
  """All records of WORKDIR/metrics.jsonl as a list of dicts."""
  path = os.path.join(workdir, METRICS_FILE)
  if not paths.exists(path):
    return []
  return [json.loads(l) for l in _lines_of(paths.read_text(path))
          if l.strip()]


def check_finite(step, scalars, last_checkpoint, checkpoint_dir):
  """Raises NonFiniteError (one line) if any scalar is NaN or Inf."""
  bad = sorted(k for k, v in scalars.items() if not math.isfinite(float(v)))
  if bad:
    kept = (f'the last good checkpoint (step {last_checkpoint}) is kept in '
            f'{checkpoint_dir}' if last_checkpoint is not None
            else 'no checkpoint was written yet')
    raise NonFiniteError(
        f'{", ".join(bad)} became {float(scalars[bad[0]])} at step {step}; '
        f'{kept}; lower the learning rate or check the data, then run again '
        'with a new --workdir')
