"""Tests for gitjax.runtime.paths: the run folder's one path API.

Local paths keep their old behaviour (atomic writes, the same bytes). gs://
cannot be reached here, so a fake GCS stands in: etils.epath's test backend
with every gs:// path mapped to a folder under tmp_path, while open, os.*,
shutil, glob and tempfile raise for any path that names gs: (a gs:// path
that bypassed epath, or one that os.path.abspath turned into '/cwd/gs:/').
The fake has no rename, as GCS has none.
"""
import builtins
import glob
import json
import os
import shutil
import stat
import tempfile

import numpy as np
import pytest
from etils import epath

from gitjax import errors
from gitjax import report
from gitjax.runtime import checkpoint
from gitjax.runtime import metrics
from gitjax.runtime import paths
from gitjax.runtime import provenance
from gitjax.runtime import workdir

plt = report.plt  # report selects the Agg backend before pyplot loads
RUN = 'gs://bucket/run'
CONFIG = json.dumps({'seed': 0, 'train': {'lr': 0.1}}, sort_keys=True)


# ---------------------------------------------------------------------------
# Local paths: what they did before, through the helpers.


def test_write_text_is_atomic_and_leaves_no_temp(tmp_path):
  """The content arrives whole, mode 644, and no temp file stays."""
  path = tmp_path / 'out.json'
  paths.write_text(str(path), '{"a": 1}')
  paths.write_text(str(path), '{"a": 2}')
  assert path.read_text() == '{"a": 2}'
  assert stat.S_IMODE(path.stat().st_mode) == 0o644
  assert os.listdir(tmp_path) == ['out.json']


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
  """A rename that fails leaves the old content and removes the temp."""
  path = tmp_path / 'out.bin'
  paths.write_bytes(str(path), b'old')

  def fail(src, dst):
    raise OSError(28, 'No space left on device')
  monkeypatch.setattr(os, 'replace', fail)
  with pytest.raises(OSError):
    paths.write_bytes(str(path), b'new')
  assert path.read_bytes() == b'old'
  assert os.listdir(tmp_path) == ['out.bin']


def test_local_listing_and_tree_helpers(tmp_path):
  """exists, isdir, listdir, glob, walk_files, copy, move, remove, rmtree."""
  top = tmp_path / 'run'
  paths.makedirs(str(top / 'figures'))
  paths.makedirs(str(top / 'figures'))  # an existing folder is fine
  paths.write_text(str(top / 'config.json'), '{}')
  paths.write_bytes(str(top / 'figures' / 'a.png'), b'\x89PNG')
  assert paths.exists(str(top)) and paths.isdir(str(top))
  assert not paths.isdir(str(top / 'config.json'))
  assert sorted(paths.listdir(str(top))) == ['config.json', 'figures']
  assert paths.glob(str(top / 'figures' / '*.png')) == [
      str(top / 'figures' / 'a.png')]
  assert sorted(paths.walk_files(str(top))) == [('', 'config.json'),
                                                ('figures', 'a.png')]
  paths.copy(str(top / 'figures' / 'a.png'), str(top / 'b.png'))
  assert (top / 'b.png').read_bytes() == b'\x89PNG'
  paths.move(str(top / 'figures'), str(tmp_path / 'aside'))
  assert (tmp_path / 'aside' / 'a.png').exists()
  assert not (top / 'figures').exists()
  paths.remove(str(top / 'b.png'))
  paths.rmtree(str(tmp_path / 'aside'))
  assert sorted(os.listdir(tmp_path)) == ['run']
  assert paths.read_text(str(top / 'config.json')) == '{}'


def test_resolve(tmp_path, monkeypatch):
  """Local paths become absolute with ~ expanded; URLs stay URLs."""
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))
  assert paths.resolve('a/b') == str(tmp_path / 'a' / 'b')
  assert paths.resolve('~/r') == str(tmp_path / 'home' / 'r')
  assert paths.resolve('gs://bucket/run/') == RUN
  assert paths.is_url(RUN) and not paths.is_url(str(tmp_path))
  assert paths.missing_packages(str(tmp_path)) == []


def _figure():
  fig, ax = plt.subplots(figsize=(2, 2))
  ax.plot([0, 1, 3], [1, 0, 2], marker='o')
  ax.set_title('t')
  return fig


def test_save_figure_writes_the_bytes_savefig_writes(tmp_path):
  """A figure through paths.save_figure is byte for byte savefig's file."""
  fig = _figure()
  fig.savefig(tmp_path / 'direct.png', dpi=110, bbox_inches='tight')
  paths.save_figure(fig, str(tmp_path / 'via.png'), dpi=110,
                    bbox_inches='tight')
  plt.close(fig)
  direct = (tmp_path / 'direct.png').read_bytes()
  assert direct.startswith(b'\x89PNG')
  assert (tmp_path / 'via.png').read_bytes() == direct


# ---------------------------------------------------------------------------
# gs:// through a fake GCS.


def _guarded(fn):
  """fn, raising for any argument that names a gs: path."""
  def guarded(*args, **kwargs):
    for arg in args:
      if isinstance(arg, (str, os.PathLike)) and 'gs:' in os.fspath(arg):
        raise AssertionError(f'{fn.__module__}.{fn.__name__} got {arg!r}: '
                             'a gs:// path must go through epath')
    return fn(*args, **kwargs)
  return guarded


class FakeGcs:
  """gs://BUCKET/KEY stored as ROOT/BUCKET/KEY, reached only through epath;
  records the modes files are opened in."""

  def __init__(self, root):
    self.root = str(root)
    self.modes = []

  def local(self, path):
    path = os.fspath(path)
    assert path.startswith('gs://'), path
    return os.path.join(self.root, path[len('gs://'):])

  def url(self, local):
    return 'gs://' + os.path.relpath(os.fspath(local), self.root)

  def file(self, url):
    """The stored object at `url`, as a pathlib.Path."""
    import pathlib  # pylint: disable=g-import-not-at-top
    return pathlib.Path(self.local(url))

  def backend_fns(self):
    def one(original, path, *args, **kwargs):
      return original(self.local(path), *args, **kwargs)

    def opened(original, path, mode):
      self.modes.append(mode)
      if 'w' in mode:  # GCS needs no folders before an object is written
        os.makedirs(os.path.dirname(self.local(path)), exist_ok=True)
      return original(self.local(path), mode)

    def glob_(original, pattern):
      return [self.url(p) for p in original(self.local(pattern))]

    def walk(original, top, **kwargs):
      for root, dirs, files in original(self.local(top), **kwargs):
        yield self.url(root), dirs, files

    def no_rename(original, path, dst, *args, **kwargs):
      raise AssertionError(f'rename {path} -> {dst}: GCS has no rename')

    def copy(original, path, dst, **kwargs):
      return original(self.local(path), self.local(dst), **kwargs)

    return dict(open=opened, exists=one, isdir=one, listdir=one, glob=glob_,
                walk=walk, makedirs=one, mkdir=one, rmtree=one, remove=one,
                stat=one, rename=no_rename, replace=no_rename, copy=copy)


@pytest.fixture
def gcs(tmp_path, monkeypatch):
  """A fake GCS; the test runs in an empty cwd that must stay empty."""
  fake = FakeGcs(tmp_path / 'gcs')
  os.makedirs(fake.root)
  cwd = tmp_path / 'cwd'
  cwd.mkdir()
  monkeypatch.chdir(cwd)
  for module, names in ((builtins, ['open']),
                        (os, ['open', 'replace', 'rename', 'makedirs',
                              'listdir', 'remove', 'walk', 'stat']),
                        (os.path, ['exists', 'isdir']),
                        (shutil, ['rmtree', 'move', 'copyfile']),
                        (glob, ['glob']), (tempfile, ['mkstemp'])):
    for name in names:
      monkeypatch.setattr(module, name, _guarded(getattr(module, name)))
  # Reaching gs:// needs gcsfs and google-cloud-storage, not installed here.
  monkeypatch.setattr(paths, '_installed', lambda module: True)
  monkeypatch.setattr(workdir, '_HELD_LOCKS', {})
  monkeypatch.setattr(workdir, '_warned_no_lock', False)
  with epath.testing.mock_epath(**fake.backend_fns()):
    yield fake
  assert not os.listdir(cwd), 'a gs:// path was written as a local folder'
  temps = [n for _, _, files in os.walk(fake.root) for n in files
           if n.endswith('.tmp')]
  assert not temps, f'temp objects left on the fake GCS: {temps}'


def test_gs_paths_go_through_epath(gcs):
  """Every helper reaches a gs:// path through epath: whole objects
  written directly (no temp, no rename), listed, copied, moved, deleted."""
  paths.makedirs(RUN)
  paths.write_text(f'{RUN}/config.json', '{"a": 1}')
  paths.write_text(f'{RUN}/config.json', '{"a": 2}')
  paths.write_bytes(f'{RUN}/figures/a.png', b'\x89PNG')
  assert gcs.file(f'{RUN}/config.json').read_text() == '{"a": 2}'
  assert paths.read_text(f'{RUN}/config.json') == '{"a": 2}'
  assert paths.read_bytes(f'{RUN}/figures/a.png') == b'\x89PNG'
  assert paths.exists(f'{RUN}/config.json')
  assert not paths.exists(f'{RUN}/done.json')
  assert paths.isdir(RUN) and not paths.isdir(f'{RUN}/config.json')
  assert sorted(paths.listdir(RUN)) == ['config.json', 'figures']
  assert paths.glob(f'{RUN}/figures/*.png') == [f'{RUN}/figures/a.png']
  assert sorted(paths.walk_files(RUN)) == [('', 'config.json'),
                                           ('figures', 'a.png')]
  paths.copy(f'{RUN}/figures/a.png', f'{RUN}/b.png')
  paths.move(f'{RUN}/figures', f'{RUN}/aside')
  assert sorted(paths.walk_files(RUN)) == [
      ('', 'b.png'), ('', 'config.json'), ('aside', 'a.png')]
  paths.remove(f'{RUN}/b.png')
  paths.rmtree(f'{RUN}/aside')
  assert sorted(paths.walk_files(RUN)) == [('', 'config.json')]
  assert 'a' not in ''.join(gcs.modes), 'GCS objects cannot be appended to'


def test_gs_figure_is_the_local_figure(gcs, tmp_path):
  """report's figures on gs:// hold the bytes of the same figure locally."""
  args = ([0, 1], [30, 3], ['big', 'small'])
  report.class_size_chart(f'{RUN}/figures/sizes.png', *args)
  report.class_size_chart(str(tmp_path / 'sizes.png'), *args)
  assert (gcs.file(f'{RUN}/figures/sizes.png').read_bytes() ==
          (tmp_path / 'sizes.png').read_bytes())


def test_gs_workdir_prepare_resume_and_done(gcs, capsys):
  """A gs:// run folder: config.json written, the lock skipped with one
  warning, resumed with the same config, refused with another once it
  holds results, and finished with done.json."""
  assert workdir.prepare(RUN, CONFIG) is False
  out = capsys.readouterr().out
  assert out.count('\n') == 1 and 'not locked' in out and RUN in out
  assert json.loads(gcs.file(f'{RUN}/config.json').read_text()) == json.loads(
      CONFIG)
  assert not gcs.file(f'{RUN}/.lock').exists()
  assert workdir.prepare(RUN, CONFIG) is True
  assert workdir.prepare(f'{RUN}/stage', CONFIG) is False
  assert capsys.readouterr().out == ''  # warned once per process
  workdir.write_json(f'{RUN}/results.json', {'acc': np.float32(0.5)})
  other = json.dumps({'seed': 1, 'train': {'lr': 0.1}}, sort_keys=True)
  with pytest.raises(errors.WorkdirError, match='seed: 0 there, 1 now'):
    workdir.prepare(RUN, other)
  assert not workdir.is_done(RUN)
  workdir.mark_done(RUN, {'acc': 0.5})
  assert workdir.is_done(RUN)
  assert workdir.subdir(RUN, 'figures') == f'{RUN}/figures'


def test_gs_workdir_not_empty_and_provenance(gcs):
  """A gs:// folder with files but no config.json is refused; provenance
  is read back through epath."""
  paths.write_text(f'{RUN}/notes.txt', 'mine')
  with pytest.raises(errors.WorkdirError, match='not empty'):
    workdir.prepare(RUN, CONFIG)
  record = {'data': None, 'resumes': [],
            'code': {'gitjax': '0', 'git_commit': None, 'git_dirty': None,
                     'python': '3', 'libraries': {'jax': '1'}}}
  workdir.write_json(f'{RUN}/{provenance.PROVENANCE_FILE}', record)
  assert provenance.provenance_markdown(RUN)[0] == '## Provenance'


def test_gs_workdir_refused_without_its_packages(gcs, monkeypatch):
  """Without gcsfs and google-cloud-storage, or on another URL scheme, a
  URL workdir is one line of error, and nothing is written."""
  monkeypatch.setattr(paths, '_installed', lambda module: False)
  with pytest.raises(errors.WorkdirError) as info:
    workdir.prepare(RUN, CONFIG)
  message = str(info.value)
  assert '\n' not in message
  assert 'pip install gcsfs google-cloud-storage' in message
  with pytest.raises(errors.WorkdirError, match='only URLs'):
    workdir.prepare('s3://bucket/run', CONFIG)
  assert not os.listdir(gcs.root)


class _FakeSummaryWriter:
  """Stands in for tensorboardX's (whose gs:// writer needs GCS)."""
  made = []

  def __init__(self, logdir, flush_secs, purge_step):
    self.made.append((logdir, purge_step))
    self.scalars = []

  def add_scalar(self, key, value, step):
    self.scalars.append((key, value, step))

  def close(self):
    pass


def test_gs_metrics_rewrite_the_object_at_each_write(gcs, monkeypatch):
  """metrics.jsonl on gs:// holds every line after each write (no append),
  and a resume drops the lines after its step, as locally."""
  import tensorboardX  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(tensorboardX, 'SummaryWriter', _FakeSummaryWriter)
  _FakeSummaryWriter.made.clear()
  stored = gcs.file(f'{RUN}/{metrics.METRICS_FILE}')
  writer = metrics.MetricWriter(RUN)
  for step in (1, 2, 3):
    writer.write(step, {'loss': 1.0 / step})
    assert len(stored.read_text().splitlines()) == step
  writer.close()
  writer = metrics.MetricWriter(RUN, resume_step=2)
  assert [r['step'] for r in metrics.read(RUN)] == [1, 2]
  writer.write(3, {'loss': 9.0})
  writer.close()
  assert [(r['step'], r['loss']) for r in metrics.read(RUN)] == [
      (1, 1.0), (2, 0.5), (3, 9.0)]
  assert stored.read_text().endswith('{"loss": 9.0, "step": 3}\n')
  assert _FakeSummaryWriter.made == [(RUN, None), (RUN, 3)]
  assert 'a' not in ''.join(gcs.modes)


class _FakeManager:
  """Records what orbax's CheckpointManager is given."""
  directories = []

  def __init__(self, directory, options, item_names):
    del options, item_names
    self.directories.append(directory)


def test_orbax_gets_an_epath_for_local_and_gs(gcs, tmp_path, monkeypatch):
  """Checkpointer hands orbax an epath.Path (gs:// kept as a URL, a local
  folder absolute); the owner's tidy-up of temp folders reaches gs://."""
  monkeypatch.setattr(checkpoint.ocp, 'CheckpointManager', _FakeManager)
  _FakeManager.directories.clear()
  left = f'{RUN}/checkpoints/3.orbax-checkpoint-tmp-17/state/x'
  paths.write_bytes(left, b'half')
  checkpoint.Checkpointer(f'{RUN}/checkpoints/', owner=True)
  local = tmp_path / 'local' / 'checkpoints'
  checkpoint.Checkpointer(str(local))
  remote_dir, local_dir = _FakeManager.directories
  assert isinstance(remote_dir, epath.Path)
  assert str(remote_dir) == f'{RUN}/checkpoints'
  assert isinstance(local_dir, epath.Path) and str(local_dir) == str(local)
  assert paths.listdir(f'{RUN}/checkpoints') == []
