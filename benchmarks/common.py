"""Timing and memory helpers shared by the benchmark scripts."""
import resource
import time

import jax


def host_peak_mib():
  """Peak resident memory of this process so far (MiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_peak_mib():
  """Peak device memory in use (MiB), or None where the backend has no stats
  (the CPU backend)."""
  stats = jax.devices()[0].memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return None if peak is None else peak / 2**20


def compile_seconds(jitted, *args):
  """Seconds to lower and compile `jitted` for these arguments."""
  start = time.perf_counter()
  compiled = jitted.lower(*args).compile()
  return time.perf_counter() - start, compiled


def time_steps(step, state, args, num_steps, warmup=2):
  """Runs `state = step(state, *args)[0]`; returns (seconds per step, state)."""
  for _ in range(warmup):
    state = step(state, *args)[0]
  jax.block_until_ready(state)
  start = time.perf_counter()
  for _ in range(num_steps):
    state = step(state, *args)[0]
  jax.block_until_ready(state)
  return (time.perf_counter() - start) / num_steps, state


def machine():
  d = jax.devices()[0]
  return f'{jax.device_count()} x {d.device_kind} ({jax.default_backend()})'


def table(header, rows):
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
  return '\n'.join(lines)
