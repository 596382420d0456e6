"""A seeded random sample of mutmut's mutants, and the binomial interval of a run.

Run by tools/mutation.sh inside its copy of the tree (MUTATION_SAMPLE=N):

    python mutation_sample.py names N SEED     # generates the mutants, writes N names
    python mutation_sample.py summary results.txt [N_TOTAL]

`names` lets mutmut write its mutants (as `mutmut run` would, without
running a test), reads their names from mutmut's `.meta` files and writes
a seeded sample of N of them to sample.txt, one per line (mutmut prints
while it generates), and the scope's count to population.txt. `summary` counts a
`mutmut results --all true` listing and gives the survival rate of the
checked mutants with its Wilson 95% interval: for a sample, the interval
of the scope's survival rate.
"""
import collections
import json
import math
import pathlib
import random
import re
import sys


def mutant_names():
  """Every mutant of the configured scope (mutmut writes them first)."""
  from mutmut import __main__ as mm  # pylint: disable=import-outside-toplevel
  from mutmut.mutation.trampoline import set_mutant_under_test  # pylint: disable=import-outside-toplevel
  from mutmut.utils import file_utils  # pylint: disable=import-outside-toplevel
  set_mutant_under_test('mutant_generation')
  pathlib.Path('mutants').mkdir(exist_ok=True)
  file_utils.copy_src_dir()
  file_utils.copy_also_copy_files()
  file_utils.setup_source_paths()
  mm.create_mutants(1)
  names = []
  for meta in sorted(pathlib.Path('mutants').rglob('*.py.meta')):
    names += sorted(json.loads(meta.read_text())['exit_code_by_key'])
  return names


def sample(names, n, seed):
  if n >= len(names):
    return list(names)
  return sorted(random.Random(seed).sample(names, n))


def wilson(k, n, z=1.959964):
  """Wilson score interval of a binomial proportion k / n."""
  if n == 0:
    return 0.0, 1.0
  p = k / n
  centre = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
  return max(0.0, centre - half), min(1.0, centre + half)


CAUGHT = ('killed', 'timeout', 'segfault', 'caught by type check')


def summary(lines, population=None):
  """The survival rate of the checked mutants: a mutant is caught when its
  tests failed, ran past mutmut's limit (30x their clean CPU time: a
  mutant that loops or blows up the compiled graph) or crashed; one
  without a test that reaches its function ('no tests') survives."""
  counts = collections.Counter()
  for line in lines:
    m = re.match(r'\s*(\S+): (.+)$', line)
    if m:
      counts[m.group(2).strip()] += 1
  total = sum(counts.values())
  caught = sum(counts.get(c, 0) for c in CAUGHT)
  checked = total - counts.get('not checked', 0)
  out = [str(dict(counts))]
  if checked:
    lo, hi = wilson(checked - caught, checked)
    scope = f' of {population} in the scope' if population else ''
    out.append(f'{total} mutants, {checked} checked{scope}, {caught} caught '
               f'(killed, timeout, crash), survival rate '
               f'{1 - caught / checked:.1%} of the checked (Wilson 95% '
               f'interval {lo:.1%} to {hi:.1%}; survivors: mutmut results; '
               'mutmut show NAME)')
  return '\n'.join(out)


def main(argv):
  if len(argv) >= 4 and argv[1] == 'names':
    names = mutant_names()
    chosen = sample(names, int(argv[2]), int(argv[3]))
    print(f'{len(chosen)} of {len(names)} mutants sampled (seed {argv[3]})',
          file=sys.stderr)
    pathlib.Path('population.txt').write_text(str(len(names)))
    pathlib.Path('sample.txt').write_text('\n'.join(chosen) + '\n')
    return 0
  if len(argv) >= 3 and argv[1] == 'summary':
    population = int(argv[3]) if len(argv) > 3 else None
    with open(argv[2]) as f:
      print(summary(f, population))
    return 0
  print('usage: python mutation_sample.py names N SEED | summary RESULTS '
        '[N_TOTAL]', file=sys.stderr)
  return 2


if __name__ == '__main__':
  sys.exit(main(sys.argv))
