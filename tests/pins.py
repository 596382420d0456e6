"""Seeded smoke values the suite must reproduce.

A smoke run's range checks (accuracy in [0, 1], eKLD >= 0) pass whatever
the trainer computes; a pinned value does not: a change to what a stage
feeds its step (a loss weight, a sampler, a margin, a resume that drops a
statistic) moves the logged losses of a seeded run, and usually its final
metrics.

What is pinned, and to what tolerance:
- logged training losses of the first records (before training has
  compounded floating-point differences), relative tolerance `LOSS_RTOL`;
- final metrics (balanced accuracy, test accuracy, ...), absolute tolerance
  `METRIC_ATOL`: they come after the whole smoke run, and the same command
  moves them between CPU types (README, Quick start: 1-2 points on the full
  git_digits run; a smoke run has fewer steps to compound over).

The values were recorded with jax `PINNED_JAX` on XLA:CPU with the eight
fake devices of tests/conftest.py. Another jax version or backend compiles
other float orderings: there the values are reported, not checked (a
warning says so), and every other assertion of the test still runs.

After an intended change to a trainer, re-record:
    GITJAX_RECORD_PINS=/tmp/pins.jsonl python -m pytest TESTS...
    python tests/pins.py /tmp/pins.jsonl   # merges into tests/pins.json
and say in the commit why the values moved.
"""
import json
import os
import sys
import warnings

PINNED_JAX = '0.10.'
LOSS_RTOL = 2e-3
METRIC_ATOL = 0.02
_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pins.json')


def _load():
  with open(_FILE) as f:
    return json.load(f)


def check(name, values):
  """Asserts `values` ({key: float}; keys starting 'loss' are losses, the
  rest metrics) equal the pins recorded under `name`."""
  import jax  # pylint: disable=g-import-not-at-top
  values = {k: float(v) for k, v in values.items()}
  record = os.environ.get('GITJAX_RECORD_PINS')
  if record:
    with open(record, 'a') as f:
      f.write(json.dumps({name: values}) + '\n')
    return
  pins = _load()
  assert name in pins, (f'no pinned values for {name!r}: record them (see '
                        'tests/pins.py)')
  if not jax.__version__.startswith(PINNED_JAX):
    warnings.warn(f'{name}: values pinned with jax {PINNED_JAX}x, not '
                  f'checked on jax {jax.__version__}: {values}')
    return
  want = pins[name]
  assert set(want) == set(values), (name, sorted(want), sorted(values))
  for key, pinned in want.items():
    got = values[key]
    if key.startswith('loss'):
      ok = abs(got - pinned) <= LOSS_RTOL * abs(pinned)
    else:
      ok = abs(got - pinned) <= METRIC_ATOL
    assert ok, (f'{name}: {key} = {got!r}, pinned {pinned!r} (tests/pins.py '
                'says how to re-record after an intended change)')


def first_losses(metrics_path, count=2, key='loss'):
  """{'loss@STEP': value} of the first `count` records of a metrics.jsonl
  that carry `key`."""
  out = {}
  with open(metrics_path) as f:
    for line in f:
      row = json.loads(line)
      if key in row and len(out) < count:
        out[f'loss@{row["step"]}' if key == 'loss'
            else f'loss_{key}@{row["step"]}'] = row[key]
  return out


def _merge(paths):
  pins = _load() if os.path.exists(_FILE) else {}
  for path in paths:
    with open(path) as f:
      for line in f:
        pins.update(json.loads(line))
  with open(_FILE, 'w') as f:
    json.dump(dict(sorted(pins.items())), f, indent=1, sort_keys=True)
    f.write('\n')
  print(f'{len(pins)} pinned runs in {_FILE}')


if __name__ == '__main__':
  _merge(sys.argv[1:])
