"""The package's import structure: no cycles, and no upward imports.

Parsed with `ast` (nothing is imported), so the test also sees imports
inside functions: a lazy import is still a dependency, and a cycle through
one is still a cycle.
"""
import ast
import functools
import pathlib

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[1] / 'gitjax'

# Layers below the experiments: they may import each other (without cycles)
# but never the experiments, the config checks or the tools on top.
_LOWER = ('gitjax.data', 'gitjax.models', 'gitjax.runtime', 'gitjax.losses',
          'gitjax.bilevel', 'gitjax.invariance', 'gitjax.errors')
_ABOVE = ('gitjax.experiments', 'gitjax.config', 'gitjax.config_base',
          'gitjax.evaluate', 'gitjax.compare')


def _module_name(path):
  parts = path.relative_to(_ROOT.parent).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


@functools.lru_cache(maxsize=1)  # parsed once for all the tests below
def _modules():
  return {_module_name(p): p for p in _ROOT.rglob('*.py')}


def _imports(path, modules):
  """The gitjax modules `path` imports: `from a.b import c` is a.b.c when
  that is a module, else a.b."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.startswith('gitjax'))
    elif isinstance(node, ast.ImportFrom) and node.module and (
        node.module.startswith('gitjax')) and node.level == 0:
      for alias in node.names:
        full = f'{node.module}.{alias.name}'
        found.add(full if full in modules else node.module)
  return found


@functools.lru_cache(maxsize=1)
def _graph():
  modules = _modules()
  return {name: _imports(path, modules) for name, path in modules.items()}


def _within(name, prefixes):
  return any(name == p or name.startswith(p + '.') for p in prefixes)


def find_cycle(graph):
  """One import cycle as a list of modules [a, b, ..., a], or None."""
  state, stack = {}, []

  def visit(node):
    state[node] = 'open'
    stack.append(node)
    for dep in sorted(graph.get(node, ())):
      if state.get(dep) == 'open':
        return stack[stack.index(dep):] + [dep]
      if dep not in state:
        cycle = visit(dep)
        if cycle:
          return cycle
    stack.pop()
    state[node] = 'closed'
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


def test_the_parser_sees_imports_inside_functions():
  graph = _graph()
  # git/report.py imports layout at the top; launch-time imports inside
  # functions (config.py -> data.transforms) must be seen as well.
  assert 'gitjax.data.transforms' in graph['gitjax.config']
  assert 'gitjax.experiments.git.layout' in graph[
      'gitjax.experiments.git.report']


def test_find_cycle_finds_a_planted_cycle():
  assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [
      'a', 'b', 'c', 'a']
  assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None


def test_no_import_cycle():
  cycle = find_cycle(_graph())
  assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


@pytest.mark.parametrize('layer', _LOWER)
def test_lower_layers_do_not_import_upwards(layer):
  upward = sorted(
      f'{module} -> {dep}' for module, deps in _graph().items()
      if _within(module, (layer,)) for dep in deps if _within(dep, _ABOVE))
  assert not upward, upward


def test_every_experiment_is_a_package_with_a_run_module():
  for kind in ('classifier', 'munit', 'maml', 'git', 'ring', 'dataset'):
    folder = _ROOT / 'experiments' / kind
    assert (folder / '__init__.py').exists(), kind
    assert (folder / 'run.py').exists(), kind
  flat = [p.name for p in (_ROOT / 'experiments').glob('*.py')
          if p.name != '__init__.py']
  assert not flat, f'experiment modules outside a package: {flat}'


def test_no_module_over_500_lines():
  long = {name: len(path.read_text().splitlines())
          for name, path in _modules().items()}
  assert not {n: l for n, l in long.items() if l > 500}
