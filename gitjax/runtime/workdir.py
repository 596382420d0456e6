"""The run folder convention shared by every experiment.

    WORKDIR/config.json     the resolved config (written before any work)
    WORKDIR/metrics.jsonl   one JSON object per logged step
    WORKDIR/events.*        TensorBoard event files
    WORKDIR/checkpoints/    orbax checkpoints
    WORKDIR/figures/        PNG figures
    WORKDIR/report.md       what the run measured, with its command
    WORKDIR/done.json       written last: the run finished
    WORKDIR/provenance.json data, code and library versions (runtime/provenance.py)
    WORKDIR/.lock           held (flock) by the one process that runs here

A workdir that holds a run of a different config is never touched: the user
gets an error naming the first differing key. A workdir with the same config
is resumed (trainers) or reported as finished. Keys that only steer what
happens after training (AFTER_TRAINING: how the finished generator is
measured) may change when an unfinished run resumes, e.g. a smaller label
probe for a long run that is still training; the change is printed and kept
in config.json, so the report states the settings that produced it.
Keys that cannot change results (NO_RESULT_CHANGE: how often to log, save
and prefetch, where a classifier's shared steps come from) may change on any
resume of an unfinished run, and on a finished one (whose config.json is
then left as it ran).

One run per workdir: `prepare` takes an exclusive `flock` on
WORKDIR/.lock before it reads or writes config.json and holds it until the
process exits; a second launch gets a one-line error naming the holder's pid
and host. The kernel drops the lock when its process dies, so a lock file
left by a killed run does not block. A gs:// workdir (runtime/paths.py) has
no lock: GCS has no flock, so `lock` prints a one-line warning (once per
process) and the user keeps to one launch per folder.

Every read and write goes through runtime/paths.py, so WORKDIR may be a
local or NFS folder or a gs:// URL; `prepare` refuses a gs:// one, in one
line, when the packages that reach it are missing.

A run over many processes (runtime/processes.py) has one writer, process 0:
it alone takes the lock, checks and writes config.json, and writes every
file through this module (write_json, write_text, mark_done); the other
processes share its answers (prepare, is_done) and wait for it at done.
"""
import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import time

from gitjax.errors import WorkdirError
from gitjax.runtime import paths
from gitjax.runtime import processes

CONFIG_FILE = 'config.json'
DONE_FILE = 'done.json'
LOCK_FILE = '.lock'
PROVENANCE_FILE = 'provenance.json'
# Dotted keys (or prefixes ending in '.' or '_') read only after the last training
# step; changing them cannot make a resumed run differ from an uninterrupted
# one of the new config.
AFTER_TRAINING = ('munit.evaluate', 'munit.eval_images_per_class',
                  'munit.eval_styles', 'munit.angle_step', 'munit.probe_',
                  'munit.restyle_decoder')

# Keys that change neither the trained state nor the measured results.
NO_RESULT_CHANGE = ('run.checkpoint_every', 'run.log_every', 'run.prefetch',
                    # a sibling's state at the DRS/DRW switch, or step 0:
                    # the same parameters (tests/experiments/test_classifier)
                    'train.branch_from', 'share_prefix')
# Open lock files of the workdirs this process holds, by absolute path
# (None for a gs:// workdir, which has no lock).
_HELD_LOCKS = {}
_warned_no_lock = False  # one warning per process about gs:// folders


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


def _why_allowed(key):
  """Why a changed key need not block a resume, or None if it must."""
  if key in NO_RESULT_CHANGE:
    return 'does not change results'
  if _after_training(key):
    return 'read only after training'
  return None


def lock(workdir):
  """Takes the exclusive lock of WORKDIR for the life of this process.

  A gs:// workdir is not locked (GCS has no flock): a one-line warning,
  printed once per process, says so.

  Raises:
    WorkdirError: another live process holds it (named by pid and host),
      or the folder is not writable.
  """
  global _warned_no_lock
  workdir = paths.resolve(workdir)
  if workdir in _HELD_LOCKS:
    return
  if paths.is_url(workdir):
    if not _warned_no_lock:
      print(f'warning: {workdir} and any other gs:// run folder of this '
            'launch are not locked (GCS has no flock): make sure only one '
            'launch at a time uses them', flush=True)
      _warned_no_lock = True
    _HELD_LOCKS[workdir] = None
    return
  path = os.path.join(workdir, LOCK_FILE)
  try:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:
    raise WorkdirError(f'cannot write to --workdir {workdir} ({e.strerror}); '
                       'give a folder you can write to') from e
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    holder = os.read(fd, 200).decode(errors='replace').split()
    os.close(fd)
    if e.errno not in (errno.EAGAIN, errno.EACCES):
      raise WorkdirError(f'cannot lock --workdir {workdir} ({e.strerror})'
                         ) from e
    pid, host = (holder + ['?', '?'])[:2]
    raise WorkdirError(f'--workdir {workdir} is in use by process {pid} on '
                       f'{host}; wait for it to finish, stop it, or choose '
                       'another --workdir') from e
  os.ftruncate(fd, 0)
  os.write(fd, f'{os.getpid()} {socket.gethostname()}\n'.encode())
  _HELD_LOCKS[workdir] = fd


def unlock(workdir):
  """Releases a lock this process took (the process's exit does it too)."""
  fd = _HELD_LOCKS.pop(paths.resolve(workdir), None)
  if fd is not None:
    os.close(fd)


def _is_scratch(name):
  """The lock file, or a temp file a kill may leave: never a result."""
  return name == LOCK_FILE or name.endswith('.tmp')


def _is_result(folder, name):
  """Whether the file `name` in `folder` (relative to the workdir, '' for
  the workdir itself) is a result; provenance.json is written before any
  work, like config.json."""
  return not (folder == '' and (
      name in (CONFIG_FILE, PROVENANCE_FILE) or _is_scratch(name)))


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
  # Process 0 checks and writes; every process gets its answer or error.
  return processes.on_writer(lambda: _prepare(workdir, config_json))


def _check_url(workdir):
  """One-line errors for a URL workdir gitjax cannot use."""
  if not paths.is_url(workdir):
    return
  if not workdir.startswith('gs://'):
    raise WorkdirError(f'--workdir {workdir}: the only URLs a run folder may '
                       'be are gs:// ones; give gs://BUCKET/... or a folder')
  missing = paths.missing_packages(workdir)
  if missing:
    raise WorkdirError(f'--workdir {workdir} needs {" and ".join(missing)} '
                       f'(pip install {" ".join(missing)}): etils.epath '
                       'reaches gs:// through gcsfs (or tensorflow), '
                       'tensorboardX writes event files there with '
                       'google-cloud-storage')


def _prepare(workdir, config_json):
  _check_url(workdir)
  if paths.exists(workdir) and not paths.isdir(workdir):
    raise WorkdirError(f'--workdir {workdir} is a file; give a folder')
  path = os.path.join(workdir, CONFIG_FILE)
  if (not paths.exists(path) and paths.isdir(workdir) and
      any(not _is_scratch(n) for n in paths.listdir(workdir))):
    raise WorkdirError(f'--workdir {workdir} is not empty and holds no '
                       f'{CONFIG_FILE}; choose a new or empty folder')
  try:
    paths.makedirs(workdir)
  except OSError as e:
    raise WorkdirError(f'cannot write to --workdir {workdir} ({e.strerror}); '
                       'give a folder you can write to') from e
  lock(workdir)  # before config.json is read: one process per workdir
  if paths.exists(path):
    try:
      old = json.loads(paths.read_text(path))
    except (OSError, ValueError) as e:
      raise WorkdirError(
          f'{path} is unreadable or not JSON ({str(e).splitlines()[0]}); '
          'move it away to start over, or choose a new --workdir') from e
    diffs = differences(old, json.loads(config_json))
    if diffs and not _has_results(workdir):
      # A run that failed before producing anything (e.g. its data was
      # missing) holds no result to protect: take the folder over.
      _write_atomic(path, config_json)
      return False
    # An unfinished run may take new after-training keys; the error names
    # a key that blocks the resume, not one that would have been accepted.
    if is_done(workdir):
      # A finished run is never redone: only keys that change no result may
      # differ, and its config.json keeps saying how it ran.
      blocking = [d for d in diffs if d[0] not in NO_RESULT_CHANGE]
      if not blocking:
        return True
    else:
      blocking = [d for d in diffs if not _why_allowed(d[0])]
    if diffs and not blocking:
      for key, was, now in diffs:
        print(f'resuming with {key}={now!r} (was {was!r}): '
              f'{_why_allowed(key)}', flush=True)
      _write_atomic(path, config_json)
      return True
    if blocking:
      key, was, now = blocking[0]
      raise WorkdirError(
          f'--workdir {workdir} holds a run of another config '
          f'({key}: {was!r} there, {now!r} now); choose a new --workdir '
          'or delete that folder yourself')
    return True
  try:
    _write_atomic(path, config_json)
  except OSError as e:
    raise WorkdirError(f'cannot write to --workdir {workdir} ({e.strerror}); '
                       'give a folder you can write to') from e
  return False


def _has_results(workdir):
  """True if the folder holds anything besides config.json, provenance.json,
  the lock, temp files and empty dirs."""
  return any(_is_result(folder, name)
             for folder, name in paths.walk_files(workdir))


def _write_atomic(path, text):
  """paths.write_text on the writer process: locally a temp file with a
  unique name in the same folder + rename (a kill leaves no half file, and
  two writers never share a temp file); on gs:// the object itself."""
  if not processes.is_writer():
    return
  paths.write_text(path, text)


def subdir(workdir, name):
  """workdir/name, created if needed."""
  path = os.path.join(workdir, name)
  paths.makedirs(path)
  return path


def is_done(workdir):
  """Whether the run in WORKDIR finished (process 0's answer, on all)."""
  return processes.share(paths.exists(os.path.join(workdir, DONE_FILE)))


def finished(workdir):
  """is_done, saying so: each trainer's run() starts with
  `if workdir_lib.finished(workdir): return`, so a finished run is never
  redone or overwritten."""
  done = is_done(workdir)
  if done:
    print(f'{workdir} already holds this finished run; nothing to do')
  return done


def mark_done(workdir, summary):
  """Writes done.json last, so its presence means the outputs are complete."""
  record = dict(summary, finished_at=time.strftime('%Y-%m-%d %H:%M:%S'))
  write_json(os.path.join(workdir, DONE_FILE), record)
  processes.sync('done ' + workdir)  # later stages read what it wrote


def write_text(path, text):
  """Writes a text file (report.md) atomically, on the writer process."""
  _write_atomic(path, text)


def write_bytes(path, data):
  """Writes a binary file (an .npy snapshot) as write_text writes text:
  atomically, on the writer process only."""
  if processes.is_writer():
    paths.write_bytes(path, data)


def write_json(path, obj):
  """Writes JSON atomically (temp file + rename): a kill leaves no half file."""
  _write_atomic(path, json.dumps(obj, indent=2, sort_keys=True,
                                 default=_json_default))


def _json_default(value):
  # numpy scalars and arrays, without importing numpy here.
  if hasattr(value, 'tolist'):
    return value.tolist()
  return str(value)


def command_line():
  """The command that started this process, quoted for a shell."""
  return ' '.join(shlex.quote(a) for a in ['python'] + sys.argv)
