"""One run over many processes (hosts): start-up, one writer, shared decisions.

Every process runs the same program on its own devices; together they form
one global mesh (jax.distributed). On one process every function here is a
no-op or the identity, so single-host runs are unchanged.

    initialize(...)     jax.distributed.initialize, before anything touches JAX
    is_writer()         process 0: the one that writes the run folder
    sync(name)          every process waits here for all the others
    share(value)        process 0's JSON value, on every process
    on_writer(fn)       fn() on process 0; its result (or UserError) everywhere
    process_rows(n, s)  the rows of a global batch of n that this process holds
    fetch(tree)         host numpy of arrays that may span other processes

Collectives (sync, share, on_writer) must be called by every process in the
same order: call them from code that all processes run alike.
"""
import json

import jax
import numpy as np
from jax.experimental import multihost_utils

from gitjax import errors

# > 0 while process 0 runs an on_writer function alone: collectives inside
# it (a nested share or sync) would wait for processes that are not there.
_alone = 0


def initialize(coordinator_address=None, num_processes=None, process_id=None,
               auto=False):
  """Starts the distributed runtime, or does nothing (one process).

  Args:
    coordinator_address: 'host:port' of process 0 (t5x's flag); with
      num_processes and process_id, an explicit launch.
    num_processes: how many processes take part.
    process_id: this process's index, 0 .. num_processes - 1.
    auto: let JAX read the environment (Cloud TPU, SLURM, Open MPI):
      jax.distributed.initialize() without arguments.

  Returns:
    True when the distributed runtime was started.

  Raises:
    errors.ConfigError: an incomplete explicit launch.
  """
  explicit = (coordinator_address, num_processes, process_id)
  if auto:
    jax.distributed.initialize()
    return True
  if all(v is None for v in explicit):
    return False
  if any(v is None for v in explicit):
    raise errors.ConfigError(
        '--coordinator_address, --num_processes and --process_id go '
        'together: give all three (or --distributed_auto on a cluster that '
        'describes itself)')
  if not 0 <= process_id < num_processes:
    raise errors.ConfigError(
        f'--process_id={process_id} must lie in 0..{num_processes - 1} '
        f'(--num_processes={num_processes})')
  # CPU collectives (gloo) are JAX's default on 0.10; set for older ones.
  if jax.config.jax_cpu_collectives_implementation in (None, 'none'):
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address, num_processes=num_processes,
                             process_id=process_id)
  return True


def count():
  return jax.process_count()


def index():
  return jax.process_index()


def is_writer():
  """True on the one process that writes the run folder (process 0)."""
  return jax.process_index() == 0


def sync(name):
  """Blocks until every process has reached sync(name)."""
  if jax.process_count() > 1 and not _alone:
    multihost_utils.sync_global_devices(name)


def share(value):
  """Process 0's `value` (anything JSON can hold), returned on every
  process: one decision instead of one per process."""
  if jax.process_count() == 1 or _alone:
    return value
  text = json.dumps(value).encode() if is_writer() else b''
  size = int(multihost_utils.broadcast_one_to_all(np.int64(len(text))))
  buffer = np.zeros(size, np.uint8)
  if is_writer():
    buffer[:] = np.frombuffer(text, np.uint8)
  received = multihost_utils.broadcast_one_to_all(buffer)
  return json.loads(bytes(np.asarray(received, np.uint8)).decode())


def on_writer(fn):
  """Runs fn() on process 0 only; every process returns its (JSON) result,
  or raises the UserError it raised, then all continue together."""
  global _alone
  if jax.process_count() == 1 or _alone:
    return fn()
  outcome = None
  if is_writer():
    _alone += 1
    try:
      outcome = {'value': fn()}
    except errors.UserError as e:
      outcome = {'error': type(e).__name__, 'message': str(e)}
    finally:
      _alone -= 1
  outcome = share(outcome)
  if 'error' in outcome:
    kind = getattr(errors, outcome['error'], errors.UserError)
    raise kind(outcome['message'])
  return outcome['value']


def process_rows(global_rows, sharding):
  """slice of the rows [start, stop) of a global batch of `global_rows`
  rows, sharded along its first axis by `sharding`, that this process's
  devices hold (all of them on one process)."""
  if jax.process_count() == 1:
    return slice(0, global_rows)
  spans = [index[0] for index in
           sharding.addressable_devices_indices_map((global_rows,)).values()]
  start = min(s.start or 0 for s in spans)
  stop = max(global_rows if s.stop is None else s.stop for s in spans)
  return slice(start, stop)


def fetch(tree):
  """Host numpy of every array in `tree`; arrays whose shards live on other
  processes are gathered (process_allgather), never read piecewise."""
  def one(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
  return jax.tree.map(one, tree)
