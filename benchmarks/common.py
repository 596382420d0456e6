"""Timing and memory helpers shared by the benchmark scripts."""
import collections
import glob
import gzip
import json
import os
import re
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


_HLO_LINE = re.compile(r'\s*(?:ROOT )?%?([^\s=]+) = (.*)$')
_COMPUTATION = re.compile(r'^(?:ENTRY )?%?([^\s(]+) \(.*\{\s*$')
_OPCODE = re.compile(r'\s([a-z][\w\-]*)\(')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_CALLS = re.compile(r'calls=%?([^\s,]+)')
# What a fusion is, by the costliest kind of op inside it.
_KINDS = (('convolution', 'convolution'), ('dot', 'matmul'),
          ('select-and-scatter', 'max-pool gradient (select-and-scatter)'),
          ('reduce-window', 'max-pool (reduce-window)'),
          ('scatter', 'scatter'), ('gather', 'gather'),
          ('reduce', 'reduction'), ('iota', 'iota'),
          ('transpose', 'transpose / copy'), ('copy', 'transpose / copy'))


def hlo_instructions(hlo_text):
  """{instruction name: (kind, output shape, backward)} of an optimised HLO
  module's text (`compiled.as_text()`). A fusion's kind is that of the
  costliest op inside it (a convolution, a reduce-window...), so XLA:CPU's
  library fusions (YNNPACK's `ynn_fusion`) are named by what they compute;
  `backward`: some op inside came from JAX's transpose (the backward pass);
  None where XLA made the op without metadata (e.g. a weight gradient's
  convolution rewritten by XLA:CPU)."""
  computations, current, calls = {}, None, {}
  instructions = {}
  for line in hlo_text.splitlines():
    c = _COMPUTATION.match(line)
    if c:
      current = computations.setdefault(c.group(1), [])
      continue
    m = _HLO_LINE.match(line)
    if not m:
      continue
    name, rest = m.groups()
    op = _OPCODE.search(' ' + rest)
    meta = _OP_NAME.search(rest)
    called = _CALLS.search(rest)
    entry = (op.group(1) if op else '?', meta.group(1) if meta else '')
    if current is not None:
      current.append(entry)
    instructions[name] = (entry, rest.split(' ')[0])
    if called:
      calls[name] = called.group(1)
  out = {}
  for name, ((opcode, op_name), shape) in instructions.items():
    inside = computations.get(calls.get(name), [(opcode, op_name)])
    opcodes = {o for o, _ in inside} | {opcode}
    kind = next((k for o, k in _KINDS if o in opcodes), 'elementwise')
    names = [n for _, n in inside + [(opcode, op_name)] if n]
    backward = (None if not names else  # XLA-made, without metadata
                any('transpose(' in n for n in names))
    out[name] = (kind, shape, backward)
  return out


PASS = {True: 'backward', False: 'forward', None: 'unlabelled'}


def op_profile(run, hlo_texts, trace_dir, steps):
  """Where the time of `run()` (`steps` meta-steps) goes, per XLA op.

  Traces run() with jax.profiler (a Perfetto trace: XLA:CPU records one
  event per executed thunk, named after its HLO instruction), matches the
  events to the instructions of the compiled modules in `hlo_texts` (also
  written to `trace_dir`), and returns ({(kind, backward): ms per step},
  [(ms per step, instruction, kind, shape, backward)] sorted, the summed
  ms per step of the matched ops). Thunks run concurrently on XLA:CPU's
  threads, so the sum can exceed the step's wall time."""
  os.makedirs(trace_dir, exist_ok=True)
  for i, text in enumerate(hlo_texts):
    with open(os.path.join(trace_dir, f'module_{i}.hlo.txt'), 'w') as f:
      f.write(text)
  with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
    run()
  return summarise_trace(trace_dir, hlo_texts, steps)


def summarise_trace(trace_dir, hlo_texts, steps):
  """op_profile's summary of a trace already written to `trace_dir`."""
  path = sorted(glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'),
                          recursive=True))[-1]
  with gzip.open(path) as f:
    trace = json.load(f)
  events = trace['traceEvents'] if isinstance(trace, dict) else trace
  instructions = {}
  for text in hlo_texts:
    instructions.update(hlo_instructions(text))
  per_op = collections.Counter()
  for e in events:
    if e.get('ph') == 'X' and e.get('name') in instructions:
      per_op[e['name']] += e.get('dur', 0.0) / 1000 / steps  # us -> ms
  categories = collections.Counter()
  rows = []
  for name, ms in per_op.items():
    kind, shape, backward = instructions[name]
    categories[f'{kind}, {PASS[backward]}'] += ms
    rows.append((ms, name, kind, shape, backward))
  return dict(categories), sorted(rows, reverse=True), sum(per_op.values())
