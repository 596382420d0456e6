"""`task_layout='host_loop'`: a meta-step as PyTorch MAML code runs it.

The meta-batch is drawn on the device in one jitted call; then the
meta-gradient of each chunk of `task_chunk` tasks is one call of a jitted
function (its tasks unrolled in the graph, no vmap: plain `lax.conv` stays
an ordinary convolution; the inner steps unrolled), summed on the device;
then one jitted outer Adam step. The chunk's graph is compiled once whatever
the meta-batch, so compilation stays short and memory holds one chunk's
activations at a time, where `task_layout='unrolled'` compiles meta_batch
copies of the network (6 min for 32 tasks on a loaded 2-core CPU). A chunk
of several tasks lets XLA run independent tasks' operations side by side,
which one task per call does not. The
Python loop costs a few dispatches per task (microseconds against a task's
tens of milliseconds). Same meta-gradient as the vmapped step
(tests/experiments/maml/test_maml_layouts.py).
"""
import functools

import jax
import jax.numpy as jnp

from gitjax.data import episodes
from gitjax.experiments.maml import layouts
from gitjax.experiments.maml import steps
from gitjax.experiments.maml import variants


@functools.partial(jax.jit, static_argnames='statics')
def draw(step, pool, *, statics):
  """(tasks, multi-step loss weights [K], first order?) of meta-step
  `step` (the tasks `steps.train_step` would draw)."""
  s = statics
  tasks = episodes.sample_tasks(
      steps.task_key(s.seed, 'train', step), pool, s.meta_batch, s.ways,
      s.shots, s.queries, s.spec, rotate=s.rotate_train)
  epoch = variants.epoch_of(step, s.epoch_steps)
  weights = variants.msl_weights(epoch, s.inner_steps, s.msl_epochs)
  if s.first_order or not s.features.first_order_epochs:
    first = jnp.bool_(s.first_order)
  else:
    first = variants.first_order_at(epoch, s.features.first_order_epochs)
  return tasks, weights, first


@functools.partial(jax.jit, static_argnames=('statics', 'first_order'))
def task_gradient(params, tasks, start, weights, *, statics, first_order):
  """Sums of (loss, accuracy, BN statistics, meta-gradient) over tasks
  start .. start + task_chunk - 1 (unrolled in this one graph)."""
  chunk = jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(
      x, start, statics.task_chunk), tasks)

  def chunk_loss(p):
    losses, (accs, stats) = layouts.map_tasks(
        functools.partial(steps.task_objective, statics=statics,
                          first_order=first_order), p, chunk, weights,
        layout='unrolled', chunk=1)
    return losses.sum(), (accs.sum(), jax.tree.map(lambda x: x.sum(0),
                                                   stats))

  (loss, (acc, stats)), grads = jax.value_and_grad(
      chunk_loss, has_aux=True)(params)
  return loss, acc, stats, grads


@functools.partial(jax.jit, donate_argnums=0)
def _add(total, new):
  return jax.tree.map(jnp.add, total, new)


@functools.partial(jax.jit, static_argnames='statics',
                   donate_argnames='state')
def apply(state, total, first, *, statics):
  """The outer step on the mean of the per-task sums in `total`."""
  loss, acc, stats, grads = jax.tree.map(lambda x: x / statics.meta_batch,
                                         total)
  return steps.outer_update(state, loss, acc, stats, grads, first,
                            statics=statics)


def train_step(state, pool, *, statics):
  """One meta-step (as `steps.train_step_jit`): (state, metrics)."""
  tasks, weights, first = draw(state.step, pool, statics=statics)
  # One host sync per meta-step: the derivative order picks the compiled
  # per-task gradient.
  first_order = bool(first)
  total = None
  for start in range(0, statics.meta_batch, statics.task_chunk):
    out = task_gradient(state.params, tasks, jnp.int32(start), weights,
                        statics=statics, first_order=first_order)
    total = out if total is None else _add(total, out)
  return apply(state, total, first, statics=statics)
