r"""Runs one command as P local processes with D CPU devices each.

    python -m gitjax.runtime.local_processes --processes 2 --devices 4 -- \
        python launch.py --config configs/git_digits.py:bg,smoke --workdir /tmp/s

Each process gets the command plus --coordinator_address=127.0.0.1:PORT (a
free port), --num_processes=P and --process_id=I (none of them when P is 1),
with JAX_PLATFORMS=cpu and D fake CPU devices: the CPU stand-in for P hosts,
used by the multi-process tests. When one process fails the others are
killed (they would wait for it in their next collective), as a cluster
scheduler would. Exit code: the first non-zero one, else 0.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def environment(devices, base=None):
  """The environment of one process with `devices` fake CPU devices."""
  env = dict(os.environ if base is None else base)
  flags = [f for f in env.get('XLA_FLAGS', '').split()
           if not f.startswith('--xla_force_host_platform_device_count')]
  env['XLA_FLAGS'] = ' '.join(
      flags + [f'--xla_force_host_platform_device_count={devices}'])
  env['JAX_NUM_CPU_DEVICES'] = str(devices)
  env['JAX_PLATFORMS'] = 'cpu'
  return env


def start(command, processes, devices, log_dir=None, env=None):
  """Starts the processes; returns their Popen objects (stdout and stderr
  of process I go to LOG_DIR/process_I.log, or are inherited)."""
  port = free_port()
  procs = []
  for i in range(processes):
    args = list(command)
    if processes > 1:
      args += [f'--coordinator_address=127.0.0.1:{port}',
               f'--num_processes={processes}', f'--process_id={i}']
    out = None
    if log_dir is not None:
      os.makedirs(log_dir, exist_ok=True)
      out = open(os.path.join(log_dir, f'process_{i}.log'), 'w')
    procs.append(subprocess.Popen(args, env=environment(devices, env),
                                  stdout=out, stderr=subprocess.STDOUT
                                  if out is not None else None))
    if out is not None:
      out.close()
  return procs


def wait(procs, timeout=None, grace_s=20.0):
  """Waits for all; once one fails, the rest get `grace_s` seconds to end by
  themselves (a config error stops every process with exit 2, and process 0
  prints it), then they are killed; so are all after `timeout`. Returns
  their exit codes."""
  deadline = None if timeout is None else time.time() + timeout
  kill_at = None
  while any(p.poll() is None for p in procs):
    if kill_at is None and any(p.poll() not in (None, 0) for p in procs):
      kill_at = time.time() + grace_s
    late = deadline is not None and time.time() > deadline
    if late or (kill_at is not None and time.time() > kill_at):
      for p in procs:
        if p.poll() is None:
          p.send_signal(signal.SIGKILL)
    time.sleep(0.1)
  return [p.returncode for p in procs]


def run(command, processes, devices, log_dir=None, timeout=None, env=None):
  """start + wait: the exit code of each process."""
  return wait(start(command, processes, devices, log_dir, env), timeout)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--processes', type=int, default=2)
  parser.add_argument('--devices', type=int, default=4,
                      help='fake CPU devices per process')
  parser.add_argument('command', nargs=argparse.REMAINDER)
  args = parser.parse_args(argv)
  command = args.command[1:] if args.command[:1] == ['--'] else args.command
  if not command:
    parser.error('give the command after --')
  codes = run(command, args.processes, args.devices)
  return next((c for c in codes if c), 0)


if __name__ == '__main__':
  sys.exit(main())
