"""Every read and write of a run folder, on a local disk or on gs://.

Paths are strings throughout gitjax (os.path.join, dirname and basename
work on 'gs://bucket/run' as on '/data/run'). The functions here decide how
to reach one: a URL ('gs://bucket/run/config.json', anything with '://')
goes through etils.epath (tensorflow's gfile when TensorFlow is installed,
else fsspec's gcsfs), a local or NFS path through os, open and shutil as it
always has, so local run folders get the same files with the same bytes.

    is_url(path)                 a URL (gs://...), not a file path
    resolve(path)                local: absolute, ~ expanded; a URL: as is
    as_epath(path)               etils.epath.Path of it (what orbax takes)
    exists, isdir, listdir       as os.path.exists, os.path.isdir, os.listdir
    makedirs(path)               with its parents; an existing one is fine
    walk_files(top)              (folder relative to top, name) of each file
    glob(pattern)                paths matching a pattern's last part
    read_text, read_bytes        a whole file
    write_text, write_bytes      a whole file: locally a temp file in the
                                 same folder renamed over it (atomic on
                                 POSIX); on a URL the object itself (GCS has
                                 no rename, and an object appears whole or
                                 not at all)
    copy(src, dst), move(src, dst), remove(path), rmtree(path)
    save_figure(fig, path, ...)  matplotlib: PNG into memory, then
                                 write_bytes
    missing_packages(path)       what reaching a URL run folder needs

Nothing here knows about processes: the one-writer rule lives in the
callers (workdir.write_*, report's figures).
"""
import glob as glob_lib
import importlib.util
import io
import os
import shutil
import tempfile

from etils import epath

# What a gs:// run folder needs beyond gitjax's own dependencies: epath's
# way to GCS (either one), and tensorboardX's own GCS writer of event files.
_GCS_NEEDS = ((('tensorflow', 'gcsfs'), 'gcsfs'),
              (('google.cloud.storage',), 'google-cloud-storage'))


def is_url(path):
  """True for a URL such as 'gs://bucket/run', False for a file path."""
  return '://' in os.fspath(path)


def resolve(path):
  """A local path made absolute (~ expanded); a URL with its slashes
  normalised ('gs://b/run/' -> 'gs://b/run')."""
  if is_url(path):
    return str(epath.Path(path))
  return os.path.abspath(os.path.expanduser(path))


def as_epath(path):
  """etils.epath.Path of `path`, the type orbax takes for local and gs://."""
  return epath.Path(path)


def missing_packages(path):
  """pip names of what reaching the URL `path` needs but is not installed
  ([] for a local path). Only gs:// URLs are run folders."""
  if not is_url(path):
    return []
  return [pip for modules, pip in _GCS_NEEDS
          if not any(_installed(m) for m in modules)]


def _installed(module):
  try:
    return importlib.util.find_spec(module) is not None
  except ModuleNotFoundError:  # a parent package is missing
    return False


def exists(path):
  if is_url(path):
    return epath.Path(path).exists()
  return os.path.exists(path)


def isdir(path):
  if is_url(path):
    return epath.Path(path).is_dir()
  return os.path.isdir(path)


def listdir(path):
  """Names of the entries of a folder."""
  if is_url(path):
    return [p.name for p in epath.Path(path).iterdir()]
  return os.listdir(path)


def makedirs(path):
  """Creates a folder and its parents; an existing folder is fine."""
  if is_url(path):
    epath.Path(path).mkdir(parents=True, exist_ok=True)
  else:
    os.makedirs(path, exist_ok=True)


def walk_files(top):
  """(folder relative to `top`, '' for top itself; file name) of every file
  under `top`."""
  if is_url(top):
    root = epath.Path(top)
    for folder, _, files in root.walk():
      relative = str(folder.relative_to(root))
      for name in files:
        yield ('' if relative == '.' else relative), name
    return
  for folder, _, files in os.walk(top):
    relative = os.path.relpath(folder, top)
    for name in files:
      yield ('' if relative == '.' else relative), name


def glob(pattern):
  """Paths matching `pattern`, whose wildcards are in its last part only,
  in no particular order."""
  if is_url(pattern):
    folder, name = os.path.split(pattern)
    return [str(p) for p in epath.Path(folder).glob(name)]
  return glob_lib.glob(pattern)


def read_text(path):
  if is_url(path):
    return epath.Path(path).read_text()
  with open(path) as f:
    return f.read()


def read_bytes(path):
  if is_url(path):
    return epath.Path(path).read_bytes()
  with open(path, 'rb') as f:
    return f.read()


def write_text(path, text):
  """Writes a whole text file: a kill leaves the old file or the new one,
  never half of one (see the module doc)."""
  if is_url(path):
    epath.Path(path).write_text(text)
  else:
    _write_local(path, text, 'w')


def write_bytes(path, data):
  """write_text for bytes."""
  if is_url(path):
    epath.Path(path).write_bytes(data)
  else:
    _write_local(path, data, 'wb')


def _write_local(path, content, mode):
  """Temp file with a unique name in the same folder + rename: a kill leaves
  no half file, and two writers never share a temp file."""
  directory, name = os.path.split(path)
  fd, tmp = tempfile.mkstemp(prefix=name + '.', suffix='.tmp',
                             dir=directory or '.')
  try:
    with os.fdopen(fd, mode) as f:
      f.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def copy(src, dst):
  """Copies a file, between any two of local and gs:// (dst written as by
  write_bytes)."""
  write_bytes(dst, read_bytes(src))


def move(src, dst):
  """Moves a file or folder to `dst` (which must not exist). Locally a
  rename; on a URL each file is copied, then `src` deleted (not atomic:
  GCS has no rename)."""
  if not is_url(src) and not is_url(dst):
    shutil.move(src, dst)
    return
  if not isdir(src):
    copy(src, dst)
    remove(src)
    return
  for folder, name in list(walk_files(src)):
    copy(os.path.join(src, folder, name), os.path.join(dst, folder, name))
  rmtree(src)


def remove(path):
  """Deletes a file."""
  if is_url(path):
    epath.Path(path).unlink()
  else:
    os.remove(path)


def rmtree(path, ignore_errors=False):
  """Deletes a folder and all it holds (ignore_errors: as shutil.rmtree)."""
  if not is_url(path):
    shutil.rmtree(path, ignore_errors=ignore_errors)
    return
  try:
    epath.Path(path).rmtree()
  except OSError:
    if not ignore_errors:
      raise


def save_figure(fig, path, **savefig_kwargs):
  """Writes a matplotlib figure as the PNG (or the format of the path's
  suffix) `path`: rendered into memory, then written by write_bytes, so
  matplotlib never opens `path` itself."""
  buffer = io.BytesIO()
  suffix = os.path.splitext(path)[1][1:].lower()
  fig.savefig(buffer, format=suffix or 'png', **savefig_kwargs)
  write_bytes(path, buffer.getvalue())
