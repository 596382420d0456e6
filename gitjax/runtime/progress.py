"""A progress line for long runs: step, scalars, images/s and ETA."""
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
