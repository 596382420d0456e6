"""A progress line for long runs (step, scalars, images/s, ETA), and the
training clock that a resumed run carries on from its checkpoint."""
import sys
import time


def _duration(seconds):
  seconds = int(max(seconds, 0))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  if hours:
    return f'{hours}h{minutes:02d}m'
  return f'{minutes}m{seconds:02d}s' if minutes else f'{seconds}s'


class Progress:
  """Prints `step 120/1000 (12%) | loss 0.41 | 812 img/s | ETA 1m05s`.

  Speed is measured between consecutive reports, so the first report (which
  includes compilation) does not distort the ETA for long.
  """

  def __init__(self, total_steps, items_per_step, start_step=0,
               unit='img/s', stream=None):
    self.total_steps = total_steps
    self.items_per_step = items_per_step
    self.unit = unit
    self.stream = stream or sys.stdout
    self._last_step = start_step
    self._last_time = time.time()
    self.rate = None

  def exclude_time(self):
    """Starts the next speed window now, so that time spent outside training
    (figures, checkpoints, evaluation) does not count against the rate."""
    self._last_time = time.time()

  def report(self, step, scalars=None):
    now = time.time()
    elapsed = now - self._last_time
    if step > self._last_step and elapsed > 0:
      self.rate = (step - self._last_step) * self.items_per_step / elapsed
    self._last_step, self._last_time = step, now
    parts = [f'step {step}/{self.total_steps} '
             f'({100 * step / max(self.total_steps, 1):.0f}%)']
    for key, value in (scalars or {}).items():
      parts.append(f'{key} {float(value):.4g}')
    if self.rate:
      parts.append(f'{self.rate:.0f} {self.unit}')
      remaining = (self.total_steps - step) * self.items_per_step / self.rate
      parts.append(f'ETA {_duration(remaining)}')
    print(' | '.join(parts), file=self.stream, flush=True)


class TrainClock:
  """Training time and steps summed over all segments of a resumed run.

  Its record goes into each checkpoint's meta (`**clock.meta()`) and comes
  back from it on resume (`TrainClock(checkpointer.restored_meta)`), so the
  report of a resumed run covers the whole run, not its last segment.

  - wall_s: wall time of training (compilation, evaluations and saves
    included), up to now;
  - timed_steps / timed_s: steps and seconds of steady training (each
    segment's first, compiling step and time outside training left out),
    whose ratio is `rate`;
  - segments: how many processes trained this run.
  """

  def __init__(self, meta=None):
    meta = meta or {}
    # .get: checkpoints written before the clock existed have no record.
    self._wall_before = float(meta.get('train_wall_s', 0.0))
    self.timed_steps = int(meta.get('timed_steps', 0))
    self.timed_s = float(meta.get('timed_s', 0.0))
    self.segments = int(meta.get('train_segments', 0)) + 1
    self._segment_start = time.time()

  def add(self, steps, seconds):
    """Counts `steps` of steady training that took `seconds`."""
    self.timed_steps += int(steps)
    self.timed_s += float(seconds)

  @property
  def wall_s(self):
    return self._wall_before + time.time() - self._segment_start

  @property
  def rate(self):
    """Steps per second of steady training, or None before any."""
    return self.timed_steps / self.timed_s if self.timed_s > 0 else None

  def meta(self):
    """The record to save with a checkpoint."""
    return {'train_wall_s': self.wall_s, 'timed_steps': self.timed_steps,
            'timed_s': self.timed_s, 'train_segments': self.segments}
