"""Where a trainer starts: its checkpoints, its latest state and its metrics."""
import os

from gitjax.runtime import checkpoint as checkpoint_lib
from gitjax.runtime import metrics as metrics_lib


def start(workdir, state, keep, unit='step'):
  """Opens WORKDIR/checkpoints and resumes from the latest checkpoint.

  Args:
    workdir: the run folder.
    state: a freshly initialised state (structure, shapes and shardings of
      what is restored).
    keep: checkpoints kept on disk.
    unit: what a step is called in the resume message.

  Returns:
    (checkpointer, metric writer, state, first step). The metric writer has
    dropped what a killed run logged after its last checkpoint (everything,
    when there is none), so each step appears once in metrics.jsonl.
  """
  checkpointer = checkpoint_lib.Checkpointer(
      os.path.join(workdir, 'checkpoints'), keep=keep, owner=True)
  restored, meta = checkpointer.restore(state)
  first = 0
  if restored is not None:
    state, first = restored, int(meta['step'])
    print(f'resuming from the checkpoint at {unit} {first}', flush=True)
  writer = metrics_lib.MetricWriter(workdir, resume_step=first)
  return checkpointer, writer, state, first
