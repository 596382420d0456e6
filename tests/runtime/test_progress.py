"""Tests for gitjax.runtime.progress: the step / rate / ETA line."""

import io
import types

import pytest

from gitjax.runtime import progress


class _Clock:
  """A settable stand-in for time.time."""

  def __init__(self, now=1000.0):
    self.now = now

  def time(self):
    return self.now


@pytest.fixture
def clock(monkeypatch):
  fake = _Clock()
  monkeypatch.setattr(progress, 'time', types.SimpleNamespace(time=fake.time))
  return fake


def _lines(stream):
  return stream.getvalue().splitlines()


def test_first_report_shows_step_and_scalars(clock):
  """Step/total with percent and the scalars (4 significant digits)."""
  stream = io.StringIO()
  bar = progress.Progress(total_steps=200, items_per_step=16, stream=stream)
  bar.report(50, {'loss': 0.412345, 'acc': 0.9})  # no time passed.
  assert _lines(stream) == ['step 50/200 (25%) | loss 0.4123 | acc 0.9']
  assert bar.rate is None


def test_rate_is_measured_between_reports(clock):
  """The rate uses only the interval since the last report, then the ETA.

  First report: 10 steps x 32 images in 50 s (compilation) = 6.4 img/s.
  Second: 10 steps x 32 images in 2 s = 160 img/s; 80 steps left x 32 / 160
  = 16 s.
  """
  stream = io.StringIO()
  bar = progress.Progress(total_steps=100, items_per_step=32, stream=stream)
  clock.now += 50.0
  bar.report(10)
  assert bar.rate == pytest.approx(6.4)
  clock.now += 2.0
  bar.report(20, {'loss': 1.5})
  assert bar.rate == pytest.approx(160.0)
  assert _lines(stream)[1] == (
      'step 20/100 (20%) | loss 1.5 | 160 img/s | ETA 16s')


@pytest.mark.parametrize('total,eta', [
    (10, '0s'), (15, '5s'), (75, '1m05s'), (3735, '1h02m'), (7210, '2h00m')])
def test_eta_format(clock, total, eta):
  """10 steps in 10 s (1 step/s): ETA of total - 10 s, as s, m+s or h+m."""
  stream = io.StringIO()
  bar = progress.Progress(total_steps=total, items_per_step=1,
                          unit='steps/s', stream=stream)
  clock.now += 10.0
  bar.report(10)
  assert _lines(stream)[0].endswith(f'| 1 steps/s | ETA {eta}')


def test_resume_start_step_and_stalled_reports(clock):
  """From start_step; a report with no new step or no time keeps the rate."""
  stream = io.StringIO()
  bar = progress.Progress(total_steps=50, items_per_step=4, start_step=40,
                          stream=stream)
  bar.report(40)  # nothing done yet.
  assert bar.rate is None
  clock.now += 4.0
  bar.report(45)  # 5 x 4 / 4 s = 5 img/s; 5 x 4 / 5 = 4 s left.
  assert bar.rate == pytest.approx(5.0)
  bar.report(48)  # no time passed: the rate stays.
  clock.now += 3.0
  bar.report(48)  # no step done: the rate stays.
  assert bar.rate == pytest.approx(5.0)
  assert _lines(stream) == [
      'step 40/50 (80%)',
      'step 45/50 (90%) | 5 img/s | ETA 4s',
      'step 48/50 (96%) | 5 img/s | ETA 1s',
      'step 48/50 (96%) | 5 img/s | ETA 1s',
  ]
