"""How a meta-batch of tasks is laid out in the compiled meta-step.

`config.maml.task_layout`:

* 'vmap': one `vmap` over the task axis. Each task has its own adapted
  weights, so a convolution becomes a grouped convolution (slow on XLA's CPU
  backend) unless it is written as patches @ kernel (`conv_impl='im2col'`,
  a batched matmul); the inner loop is a `lax.scan`.
* 'unrolled': the tasks in a Python loop inside the jit, `task_chunk` at a
  time (chunk 1: no vmap at all, so plain `lax.conv` stays an ordinary
  convolution; chunk > 1: a vmap inside each chunk), and the inner steps
  unrolled too (`bilevel.scan_steps`). The graph grows with
  meta_batch / task_chunk x K copies of the network (long compilation).
* 'host_loop': one jitted meta-gradient of `task_chunk` tasks (unrolled in
  its graph, no vmap, inner steps unrolled) called for each chunk from
  Python (`host_loop.py`), summed on the device, then one jitted outer
  step: compiled once whatever the meta-batch.
  Where one jitted function is needed (`steps.meta_gradient`) it is the
  'unrolled' layout with chunks of 1.

Both give the same meta-gradient to float tolerance
(tests/experiments/maml/test_maml_layouts.py). Which is faster on which
network and backend: benchmarks/maml.py (README "Meta-learning (MAML)").
Evaluation (meta-val, meta-test, the transfer study) always vmaps with
im2col: it needs no gradient through the convolutions' weights per task,
and its K may be 10.
"""
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gitjax.data import pipeline

TASK_LAYOUTS = ('auto', 'vmap', 'unrolled', 'host_loop')
CONV_IMPLS = ('auto', 'im2col', 'lax')
# 'auto': the fastest on an idle 2-core CPU by benchmarks/maml.py (README,
# two idle rounds): the max-pool Conv-4 (stride-1 convs) -> host loop of
# plain convolutions (1.34-1.49x vmap at K = 1, 1.23-1.31x at K = 5, 4-5x
# less memory); the stride-2 Conv-4 -> vmap with im2col (its host loop's
# 1.76x is one loaded round only).


def shard_tasks(tasks, mesh):
  """Constrains the task axis to the mesh's 'data' axis (inside jit)."""
  sharding = NamedSharding(mesh, P(pipeline.DATA_AXIS))
  return jax.tree.map(
      lambda x: jax.lax.with_sharding_constraint(x, sharding), tasks)


def resolve(task_layout, conv_impl, downsample, inner_steps):
  """(layout, conv) with 'auto' replaced by the choice for the network
  and K."""
  del inner_steps  # measured at K = 1 and 5: the same choice
  layout, conv = (('host_loop', 'lax') if downsample == 'maxpool' else
                  ('vmap', 'im2col'))
  return (layout if task_layout == 'auto' else task_layout,
          conv if conv_impl == 'auto' else conv_impl)


def map_tasks(fn, params, tasks, weights, *, layout, chunk):
  """`vmap(fn, in_axes=(None, 0, None))(params, tasks, weights)` laid out
  as `layout` ('vmap' or 'unrolled' in chunks of `chunk` tasks); outputs
  have the leading task axis either way (None leaves stay None)."""
  if layout == 'vmap':
    return jax.vmap(fn, in_axes=(None, 0, None))(params, tasks, weights)
  chunk = 1 if layout == 'host_loop' else chunk
  num_tasks = jax.tree.leaves(tasks)[0].shape[0]
  outs = []
  for start in range(0, num_tasks, chunk):
    part = jax.tree.map(lambda x, a=start: x[a:a + chunk], tasks)
    if chunk == 1:
      out = fn(params, jax.tree.map(lambda x: x[0], part), weights)
      out = jax.tree.map(lambda x: x[None], out)
    else:
      out = jax.vmap(fn, in_axes=(None, 0, None))(params, part, weights)
    outs.append(out)
  return jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)
