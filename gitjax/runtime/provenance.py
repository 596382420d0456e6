"""Which data, code and libraries produced a run: WORKDIR/provenance.json.

Written by launch.py before any work. The data are identified by content
(sha256 of a data file), by TFDS name, version and splits, or by the
embedded digits' scikit-learn version; the code by the gitjax version and
the git commit of its source tree (when it is a git checkout); the
libraries by their versions. A resume whose data file changed is refused;
a resume under other code or libraries is recorded under `resumes`.

    provenance_markdown(workdir) -> lines that report.md writers append.
"""
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess

from gitjax.errors import DataError
from gitjax.errors import WorkdirError
from gitjax.runtime import paths
from gitjax.runtime import workdir as workdir_lib

PROVENANCE_FILE = workdir_lib.PROVENANCE_FILE
_LIBRARIES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint', 'numpy')
_SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resolve_data_path(config):
  """Makes config.data.path absolute (before config.json is written), so a
  resume from another directory reads the same file."""
  if 'data' in config and config.data.path:
    config.data.path = os.path.abspath(os.path.expanduser(config.data.path))


def sha256_of(path, chunk=1 << 20):
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(chunk), b''):
      digest.update(block)
  return digest.hexdigest()


def _version(package):
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def _git_commit():
  """(commit, dirty) of the source tree gitjax runs from, or (None, None)."""
  try:
    def git(*args):
      return subprocess.run(
          ['git', '-C', _SOURCE_DIR, *args], capture_output=True, text=True,
          timeout=10, check=True).stdout.strip()
    commit = git('rev-parse', 'HEAD')
    dirty = bool(git('status', '--porcelain', '--untracked-files=no'))
    return commit, dirty
  except (OSError, subprocess.SubprocessError):
    return None, None


def _tfds_version(name, data_dir):
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    return str(tfds.builder(name, data_dir=data_dir or None).version)
  except Exception:  # pylint: disable=broad-except
    return None


def data_record(data_config):
  """What identifies the data a data config reads (see the module doc)."""
  if data_config.path:
    path = data_config.path
    if not os.path.exists(path):
      raise DataError(f'data file {path} does not exist; give an .npz with '
                      'x_train, y_train, x_test, y_test')
    return {'kind': 'file', 'path': path, 'bytes': os.path.getsize(path),
            'sha256': sha256_of(path)}
  if data_config.source == 'tfds':
    return {'kind': 'tfds', 'name': data_config.name,
            'version': _tfds_version(data_config.name, data_config.data_dir),
            'splits': ['train', 'test'],
            'data_dir': data_config.data_dir or None}
  return {'kind': 'embedded', 'source': data_config.source,
          'scikit-learn': _version('scikit-learn')}


def code_record():
  """gitjax version and commit, Python and library versions."""
  commit, dirty = _git_commit()
  return {'gitjax': _version('gitjax'), 'git_commit': commit,
          'git_dirty': dirty, 'python': platform.python_version(),
          'libraries': {name: _version(name) for name in _LIBRARIES}}


def _reads_data(config):
  return 'data' in config and config.experiment != 'unrolled_ring'


def write(workdir, config, resumed):
  """Writes (new run) or checks and extends (resume) WORKDIR/provenance.json.

  Raises:
    WorkdirError: on resume, the data file's content changed.
    DataError: the data file does not exist.
  """
  path = os.path.join(workdir, PROVENANCE_FILE)
  data = data_record(config.data) if _reads_data(config) else None
  code = code_record()
  old = _read(path) if resumed else None
  if old is None:
    workdir_lib.write_json(path, {'data': data, 'code': code, 'resumes': []})
    return
  was = (old.get('data') or {}).get('sha256')
  now = (data or {}).get('sha256')
  if was and now and was != now:
    raise WorkdirError(
        f'{data["path"]} changed since this run started (sha256 {was[:12]} '
        f'then, {now[:12]} now); restore that file or choose a new --workdir')
  if code != old['code'] and code not in old['resumes']:
    old['resumes'].append(code)
    workdir_lib.write_json(path, old)


def _read(path):
  try:
    return json.loads(paths.read_text(path))
  except (OSError, ValueError):
    return None  # none yet (a run from before provenance) or damaged


def provenance_markdown(workdir):
  """A few markdown lines on the run's data, code and libraries ([] if the
  run has no provenance.json)."""
  record = _read(os.path.join(workdir, PROVENANCE_FILE))
  if record is None:
    return []
  lines = ['## Provenance', '']
  data = record['data']
  if data is None:
    pass
  elif data['kind'] == 'file':
    lines.append(f'- data: `{data["path"]}` ({data["bytes"]:,} bytes, sha256 '
                 f'`{data["sha256"][:16]}`)')
  elif data['kind'] == 'tfds':
    lines.append(f'- data: TFDS `{data["name"]}` version {data["version"]}, '
                 f'splits {", ".join(data["splits"])}')
  else:
    lines.append(f'- data: embedded `{data["source"]}` (scikit-learn '
                 f'{data["scikit-learn"]})')
  code = record['code']
  commit = code['git_commit']
  dirty = ' with local changes' if code['git_dirty'] else ''
  where = f', commit `{commit[:10]}`{dirty}' if commit else ''
  libraries = ', '.join(f'{k} {v}' for k, v in code['libraries'].items() if v)
  lines.append(f'- code: gitjax {code["gitjax"]}{where}; Python '
               f'{code["python"]}, {libraries}')
  if record['resumes']:
    lines.append(f'- resumed {len(record["resumes"])} time(s) under other '
                 'code or library versions (see provenance.json)')
  return lines + ['']
