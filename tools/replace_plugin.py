"""pytest plugin of tools/replace_check.py: replaces one gitjax function.

GITJAX_REPLACE=MODULE:FUNCTION:KIND (KIND 'constant' or 'identity') swaps
MODULE.FUNCTION, before any test module is collected, for
- 'constant': the function's own output with every number set to zero
  (same structure, shapes and dtypes, whatever the input);
- 'identity': its first argument, returned unchanged.
Loaded with `-p replace_plugin` (tools/ on PYTHONPATH). It imports gitjax
in pytest_configure, after tests/conftest.py has set the fake devices.
"""
import importlib
import os


def _zeros(value):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  zeroed = []

  def zero(x):
    if isinstance(x, bool):
      return x
    if isinstance(x, (int, float)):
      zeroed.append(1)
      return type(x)(0)
    if isinstance(x, (np.ndarray, np.generic)):
      zeroed.append(1)
      return np.zeros_like(x)
    if isinstance(x, jax.Array) or hasattr(x, 'aval'):  # arrays, tracers
      if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x
      zeroed.append(1)
      return jnp.zeros_like(x)
    return x

  out = jax.tree.map(zero, value)
  if not zeroed:
    # Nothing numeric to zero (an iterator, a string, None): the 'constant'
    # is the function itself, which says nothing about the tests.
    _note(f'no numbers: {type(value).__name__}')
  return out


def _note(line):
  """Tells tools/replace_check.py (GITJAX_REPLACE_LOG) what happened."""
  if os.environ.get('GITJAX_REPLACE_LOG'):
    with open(os.environ['GITJAX_REPLACE_LOG'], 'a') as f:
      f.write(line + '\n')


def replacement(fn, kind):
  """The stand-in for `fn` (see the module doc)."""
  def constant(*args, **kwargs):
    _note('called')
    return _zeros(fn(*args, **kwargs))

  def identity(*args, **kwargs):
    _note('called')
    return args[0] if args else next(iter(kwargs.values()))

  return {'constant': constant, 'identity': identity}[kind]


def pytest_configure(config):  # pylint: disable=unused-argument
  spec = os.environ.get('GITJAX_REPLACE')
  if not spec:
    return
  module_name, name, kind = spec.split(':')
  module = importlib.import_module(module_name)
  setattr(module, name, replacement(getattr(module, name), kind))
