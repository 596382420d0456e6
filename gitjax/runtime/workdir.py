"""The run folder convention shared by every experiment.

    WORKDIR/config.json     the resolved config (written before any work)
    WORKDIR/metrics.jsonl   one JSON object per logged step
    WORKDIR/events.*        TensorBoard event files
    WORKDIR/checkpoints/    orbax checkpoints
    WORKDIR/figures/        PNG figures
    WORKDIR/report.md       what the run measured, with its command
    WORKDIR/done.json       written last: the run finished

A workdir that holds a run of a different config is never touched: the user
gets an error naming the first differing key. A workdir with the same config
is resumed (trainers) or reported as finished. Keys that only steer what
happens after training (AFTER_TRAINING: how the finished generator is
measured) may change when an unfinished run resumes, e.g. a smaller label
probe for a long run that is still training; the change is printed and kept
in config.json, so the report states the settings that produced it.
"""
import json
import os
import shlex
import sys
import time

from gitjax.errors import WorkdirError

CONFIG_FILE = 'config.json'
DONE_FILE = 'done.json'
# Dotted keys (or prefixes ending in '.' or '_') read only after the last training
# step; changing them cannot make a resumed run differ from an uninterrupted
# one of the new config.
AFTER_TRAINING = ('munit.evaluate', 'munit.eval_images_per_class',
                  'munit.eval_styles', 'munit.angle_step', 'munit.probe_')


def _flatten(tree, prefix=''):
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def differences(old, new):
  """(dotted key, old value, new value) of each key that differs, sorted."""
  old_flat, new_flat = _flatten(old), _flatten(new)
  return [(key, old_flat.get(key, '<absent>'), new_flat.get(key, '<absent>'))
          for key in sorted(set(old_flat) | set(new_flat))
          if old_flat.get(key, '<absent>') != new_flat.get(key, '<absent>')]


def first_difference(old, new):
  """The first dotted key whose value differs between two config dicts."""
  diffs = differences(old, new)
  return diffs[0] if diffs else None


def _after_training(key):
  return any(key == k or (k.endswith('.') or k.endswith('_')) and
             key.startswith(k) for k in AFTER_TRAINING)


def prepare(workdir, config_json):
  """Creates the run folder or checks that it belongs to this config.

  Args:
    workdir: folder of the run.
    config_json: canonical JSON text of the resolved config.

  Returns:
    True when the folder already held this config (a resume), else False.

  Raises:
    WorkdirError: the folder holds a run of another config, or is a file.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f'--workdir {workdir} is a file; give a folder')
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    diffs = differences(old, json.loads(config_json))
    if diffs and not _has_results(workdir):
      # A run that failed before producing anything (e.g. its data was
      # missing) holds no result to protect: take the folder over.
      _write_atomic(path, config_json)
      return False
    # An unfinished run may take new after-training keys; the error names
    # a key that blocks the resume, not one that would have been accepted.
    blocking = diffs if is_done(workdir) else [
        d for d in diffs if not _after_training(d[0])]
    if diffs and not blocking:
      for key, was, now in diffs:
        print(f'resuming with {key}={now!r} (was {was!r}): read only after '
              'training', flush=True)
      _write_atomic(path, config_json)
      return True
    if blocking:
      key, was, now = blocking[0]
      raise WorkdirError(
          f'--workdir {workdir} holds a run of another config '
          f'({key}: {was!r} there, {now!r} now); choose a new --workdir '
          'or delete that folder yourself')
    return True
  if os.path.isdir(workdir) and os.listdir(workdir):
    raise WorkdirError(f'--workdir {workdir} is not empty and holds no '
                       f'{CONFIG_FILE}; choose a new or empty folder')
  try:
    os.makedirs(workdir, exist_ok=True)
    _write_atomic(path, config_json)
  except OSError as e:
    raise WorkdirError(f'cannot write to --workdir {workdir} ({e.strerror}); '
                       'give a folder you can write to') from e
  return False


def _has_results(workdir):
  """True if the folder holds anything besides config.json and empty dirs."""
  for root, _, files in os.walk(workdir):
    for name in files:
      if os.path.join(root, name) != os.path.join(workdir, CONFIG_FILE):
        return True
  return False


def _write_atomic(path, text):
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)


def subdir(workdir, name):
  """workdir/name, created if needed."""
  path = os.path.join(workdir, name)
  os.makedirs(path, exist_ok=True)
  return path


def is_done(workdir):
  return os.path.exists(os.path.join(workdir, DONE_FILE))


def mark_done(workdir, summary):
  """Writes done.json last, so its presence means the outputs are complete."""
  record = dict(summary, finished_at=time.strftime('%Y-%m-%d %H:%M:%S'))
  write_json(os.path.join(workdir, DONE_FILE), record)


def write_json(path, obj):
  """Writes JSON atomically (temp file + rename): a kill leaves no half file."""
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump(obj, f, indent=2, sort_keys=True, default=_json_default)
  os.replace(tmp, path)


def _json_default(value):
  # numpy scalars and arrays, without importing numpy here.
  if hasattr(value, 'tolist'):
    return value.tolist()
  return str(value)


def command_line():
  """The command that started this process, quoted for a shell."""
  return ' '.join(shlex.quote(a) for a in ['python'] + sys.argv)
