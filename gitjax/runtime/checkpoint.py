"""Orbax checkpoints of a training state, with resume.

Checkpoints are written synchronously (a kill right after `save` returns
loses nothing) and atomically by orbax (a half-written step directory is
never taken as the latest). Each holds the state pytree and a small JSON
record (step, epoch, anything the trainer wants back on resume).

A save that orbax would skip (a step below the latest) raises
RefusedSaveError instead. A latest checkpoint that cannot be read (a disk
fault, a partial copy) is skipped for the newest readable one, with a printed
line; the run's own process (`owner=True`) also moves it aside to
DIRECTORY_unreadable/ and removes orbax's temp folders of saves that a kill
interrupted.

DIRECTORY may be local or gs:// (runtime/paths.py); orbax gets it as an
etils.epath.Path. Locally orbax saves a step into a temp folder and renames
it; GCS has no rename, so there orbax writes the step folder itself and
commit_success.txt last, and a step without that file is not a checkpoint.
"""
import os

import jax
import orbax.checkpoint as ocp

from gitjax.errors import UserError
from gitjax.runtime import paths
from gitjax.runtime import processes


class RefusedSaveError(RuntimeError):
  """A save at a step below the newest checkpoint: orbax would skip it."""


class UnreadableCheckpointError(UserError):
  """No checkpoint of a folder can be read."""


class Checkpointer:
  """Saves and restores `(state, meta)` under WORKDIR/checkpoints."""

  def __init__(self, directory, keep=2, owner=False):
    """`owner`: this process holds the workdir's lock and may tidy the
    folder (temp folders of interrupted saves, unreadable checkpoints)."""
    self.directory = paths.resolve(directory)
    # Every process saves and restores (orbax needs all); one tidies.
    self.owner = owner and processes.is_writer()
    if self.owner:
      for tmp in paths.glob(os.path.join(self.directory,
                                         '*.orbax-checkpoint-tmp*')):
        paths.rmtree(tmp, ignore_errors=True)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=False)
    self._manager = ocp.CheckpointManager(
        paths.as_epath(self.directory), options=options,
        item_names=('state', 'meta'))
    self.restored_meta = None  # the meta of the last restore(), for resumes

  def latest_step(self):
    """The newest complete checkpoint's step, or None."""
    return self._manager.latest_step()

  def all_steps(self):
    return list(self._manager.all_steps())

  def save(self, step, state, meta=None):
    """Writes a checkpoint of `state` at `step` (overwrites nothing).

    A step that is already saved is left as it is (a resumed run reaching
    it again). Raises RefusedSaveError for a step below the newest.
    """
    if step in self._manager.all_steps():
      return
    saved = self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        meta=ocp.args.JsonSave(dict(meta or {}, step=int(step)))))
    self._manager.wait_until_finished()
    if not saved:
      raise RefusedSaveError(
          f'checkpoint of step {step} not written: {self.directory} already '
          f'holds step {self.latest_step()}, newer than the state being saved')

  def delete_after(self, step):
    """Deletes the checkpoints of steps after `step` (None: all of them)."""
    for s in self._manager.all_steps():
      if step is None or s > step:
        self._manager.delete(s)

  def restore(self, target, step=None):
    """Restores the checkpoint at `step` (default: the latest).

    Args:
      target: a state with the right structure, shapes, dtypes and
        shardings (e.g. the freshly initialised one); arrays are restored
        onto its shardings.
      step: which checkpoint.

    Returns:
      (state, meta) or (None, None) when there is no checkpoint.
    """
    if step is not None:
      restored = self._restore(target, step)
      self.restored_meta = restored[1]
      return restored
    # Which steps to try is process 0's view, so every process restores
    # the same one (orbax needs all of them in each restore).
    steps = processes.share(sorted(self._manager.all_steps(), reverse=True))
    errors = []
    for s in steps:
      try:
        restored = self._restore(target, s)
      except Exception as e:  # pylint: disable=broad-except
        errors.append((s, f'{type(e).__name__}: {e}'.splitlines()[0][:200]))
        continue
      self.restored_meta = restored[1]
      for bad, why in errors:
        print(f'the checkpoint at step {bad} in {self.directory} cannot be '
              f'read ({why}); using step {s}'
              + (f', moved it to {self._set_aside(bad)}' if self.owner
                 else ''), flush=True)
      return restored
    if errors:
      bad, why = errors[0]
      raise UnreadableCheckpointError(
          f'no checkpoint in {self.directory} can be read (step {bad}: '
          f'{why}); move that folder away to start the run over')
    return None, None

  def _restore(self, target, step):
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract),
        meta=ocp.args.JsonRestore()))
    return restored['state'], dict(restored['meta'])

  def _set_aside(self, step):
    """Moves an unreadable step out of orbax's sight (a later save of the
    same step would otherwise be skipped as done)."""
    aside = os.path.join(self.directory + '_unreadable', str(step))
    paths.makedirs(os.path.dirname(aside))
    if paths.exists(aside):
      paths.rmtree(aside)
    paths.move(os.path.join(self.directory, str(step)), aside)
    self._manager.reload()
    return aside

  def restore_meta(self, step):
    """The JSON record saved with the checkpoint at `step`."""
    restored = self._manager.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))
    return dict(restored['meta'])

  def close(self):
    self._manager.close()
