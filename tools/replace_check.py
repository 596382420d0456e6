"""Does some test fail when its subject is replaced by a constant or an identity?

For every top-level function of the scoped modules, two runs of that
module's tests: the function returning its own output with every number
zeroed ('constant': same structure and shapes), then returning its first
argument ('identity'). A replacement under which every selected test still
passes "escaped": no test pins what that function computes. A habit before
a review, like tools/mutation.sh, not CI.

    python tools/replace_check.py                  # the core scope
    python tools/replace_check.py --scope samplers # samplers, checkpoints, resume
    python tools/replace_check.py --scope wiring   # the trainers' steps (slow)
    python tools/replace_check.py --modules gitjax.losses --kinds constant
    python tools/replace_check.py --modules gitjax.losses --functions _scales

Prints one line per replacement and a summary; --json FILE keeps them.
Each run is its own pytest process (`-x`: it stops at the first failure),
so a caught replacement costs a few seconds, an escaped one the whole
selection. Runs with tests/conftest.py's eight fake devices, in-process
(-n 0).
"""
import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scopes  # pylint: disable=g-import-not-at-top,wrong-import-position


def functions(module_name):
  """Names of the module's top-level functions that return a value."""
  path = os.path.join(ROOT, *module_name.split('.')) + '.py'
  tree = ast.parse(open(path).read())
  names = []
  for node in tree.body:
    if isinstance(node, ast.FunctionDef) and any(
        isinstance(n, ast.Return) and n.value is not None
        for n in ast.walk(node)):
      names.append(node.name)
  return names


def run_tests(tests, replace=None, timeout=900):
  """(pytest exit code, seconds) of `tests` with an optional replacement."""
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [os.path.join(ROOT, 'tools'), ROOT, os.environ.get('PYTHONPATH', '')]))
  env.pop('GITJAX_REPLACE', None)
  # One persistent XLA cache for every run (as tools/mutation.sh): a
  # replacement changes only the programs that call its function, and
  # without the cache each run recompiles every step its tests reach.
  env.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(
      tempfile.gettempdir(), 'gitjax-replace-check-jax-cache'))
  env.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
  log = os.path.join(tempfile.gettempdir(),
                     f'gitjax-replace-check-{os.getpid()}.log')
  if os.path.exists(log):
    os.remove(log)
  if replace:
    env['GITJAX_REPLACE'] = replace
    env['GITJAX_REPLACE_LOG'] = log
  start = time.time()
  try:
    code = subprocess.run(
        [sys.executable, '-m', 'pytest', '-x', '-q', '-n', '0',
         '-p', 'no:cacheprovider', '-p', 'replace_plugin', *tests],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        check=False).returncode
  except subprocess.TimeoutExpired:
    code = 'timeout'
  notes = open(log).read() if os.path.exists(log) else ''
  if code == 0 and replace and 'called' not in notes:
    code = 'not called'  # no selected test reaches the function
  elif code == 0 and 'no numbers' in notes:
    code = 'no numbers'  # the 'constant' returned the output unchanged
  return code, time.time() - start


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--scope', choices=sorted(scopes.SCOPES) + ['all'],
                      default='core')
  parser.add_argument('--modules', nargs='*', help='a subset of the scope')
  parser.add_argument('--functions', nargs='*',
                      help='only these functions of the modules')
  parser.add_argument('--kinds', nargs='*', default=['constant', 'identity'],
                      choices=['constant', 'identity'])
  parser.add_argument('--json', help='write every outcome here')
  args = parser.parse_args(argv)
  scope = scopes.scope(args.scope)
  modules = args.modules or list(scope)
  outcomes, escaped = [], []
  for module in modules:
    tests = scope[module]
    code, seconds = run_tests(tests)
    if code != 0:
      sys.exit(f'{module}: its tests fail without any replacement (exit '
               f'{code}): fix them first')
    print(f'{module}: baseline passes in {seconds:.0f} s', flush=True)
    for name in functions(module):
      if args.functions and name not in args.functions:
        continue
      for kind in args.kinds:
        code, seconds = run_tests(tests, f'{module}:{name}:{kind}')
        verdict = {0: 'ESCAPED', 1: 'caught', 2: 'caught',
                   'no numbers': 'n/a (output has no numbers)',
                   'not called': 'NOT CALLED by these tests'}.get(
                       code, f'error ({code})')
        print(f'  {name} -> {kind}: {verdict} ({seconds:.0f} s)', flush=True)
        outcomes.append({'module': module, 'function': name, 'kind': kind,
                         'verdict': verdict, 'seconds': round(seconds, 1)})
        if code in (0, 'not called'):
          why = ', not called' if code else ''
          escaped.append(f'{module}.{name} ({kind}{why})')
  caught = sum(o['verdict'] == 'caught' for o in outcomes)
  na = sum(o['verdict'].startswith('n/a') for o in outcomes)
  print(f'{len(outcomes)} replacements: {caught} caught, {len(escaped)} '
        f'escaped, {na} not applicable, '
        f'{len(outcomes) - caught - len(escaped) - na} errors')
  for item in escaped:
    print(f'  escaped: {item}')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(outcomes, f, indent=1)


if __name__ == '__main__':
  main()
