"""Orbax checkpoints of a training state, with resume.

Checkpoints are written synchronously (a kill right after `save` returns
loses nothing) and atomically by orbax (a half-written step directory is
never taken as the latest). Each holds the state pytree and a small JSON
record (step, epoch, anything the trainer wants back on resume).
"""
import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores `(state, meta)` under WORKDIR/checkpoints."""

  def __init__(self, directory, keep=2):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=False)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options, item_names=('state', 'meta'))

  def latest_step(self):
    """The newest complete checkpoint's step, or None."""
    return self._manager.latest_step()

  def all_steps(self):
    return list(self._manager.all_steps())

  def save(self, step, state, meta=None):
    """Writes a checkpoint of `state` at `step` (overwrites nothing)."""
    if step in self._manager.all_steps():
      return
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        meta=ocp.args.JsonSave(dict(meta or {}, step=int(step)))))
    self._manager.wait_until_finished()

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
    step = self.latest_step() if step is None else step
    if step is None:
      return None, None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract),
        meta=ocp.args.JsonRestore()))
    return restored['state'], dict(restored['meta'])

  def restore_meta(self, step):
    """The JSON record saved with the checkpoint at `step`."""
    restored = self._manager.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))
    return dict(restored['meta'])

  def close(self):
    self._manager.close()
