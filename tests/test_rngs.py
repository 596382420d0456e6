"""Random streams are independent by construction: no two purposes (or
one purpose at different indices) draw the same first numbers."""
import ast
import os
import sys

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import classifier_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import rngs  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import build  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.munit import run as munit  # pylint: disable=g-import-not-at-top,wrong-import-position

SEEDS = range(20)
# Index patterns the call sites use (none, an epoch or step), with the
# zero-padding traps of numpy's seed sequences.
INDICES = ((), (0,), (0, 0), (1,), (2,))


def test_no_two_numpy_streams_start_alike():
  seen = {}
  for seed in SEEDS:
    for purpose in rngs.PURPOSES:
      for ints in INDICES:
        first = tuple(rngs.numpy_rng(seed, purpose, *ints).integers(
            0, 2**32, size=4, dtype=np.uint64).tolist())
        assert first not in seen, (seen[first], (seed, purpose, ints))
        seen[first] = (seed, purpose, ints)


def test_no_two_jax_keys_start_alike():
  seen = {}
  for seed in range(5):
    for purpose in rngs.PURPOSES:
      for ints in INDICES:
        key = rngs.jax_key(seed, purpose, *ints)
        first = tuple(np.asarray(jax.random.bits(key, (4,))).tolist())
        assert first not in seen, (seen[first], (seed, purpose, ints))
        seen[first] = (seed, purpose, ints)


def test_purpose_words_are_distinct_and_typos_fail():
  words = [rngs.word(p) for p in rngs.PURPOSES]
  assert len(set(words)) == len(words)
  with pytest.raises(ValueError, match='unknown random-stream purpose'):
    rngs.numpy_rng(0, 'classifer-order')
  with pytest.raises(ValueError, match='unknown random-stream purpose'):
    pipeline.UniformSampler(10, 2, 0, purpose='nonsense')
  with pytest.raises(ValueError, match=r'\[0, 2\*\*32\)'):
    rngs.numpy_rng(-1, 'data-train')


def test_ranks_are_not_the_first_epochs_order():
  # Before: the rank stream [s, 0] was the epoch-0 permutation [s, 0, 0].
  config = classifier_digits.get_config('ce,smoke')
  same = 0
  for seed in range(4):
    data = build.build(config.data, seed)
    c = data.num_classes
    same += np.array_equal(data.class_order,
                           pipeline.UniformSampler(c, c, seed).indices(0))
  assert same == 0


def test_munit_domains_are_not_a_classifiers_draws():
  # Before: MUNIT's domain-a draws of seed s were [2s, 1, step], the DRS
  # draws of the classifier of seed 2s (instance 0: the same seed).
  labels = np.repeat(np.arange(10), 30)
  for seed in range(3):
    draws = munit.Draws(labels, 16, seed, 10)
    for other in range(6):
      balanced = pipeline.ClassBalancedSampler(labels, 16, other, 10)
      for step in range(3):
        for domain in (draws.a, draws.b):
          assert not np.array_equal(domain.indices(step),
                                    balanced.indices(step)), (seed, other)


def test_every_stream_of_gitjax_comes_from_rngs():
  # No module but gitjax/rngs.py seeds numpy or makes a root JAX key.
  offenders = []
  package = os.path.join(ROOT, 'gitjax')
  for folder, _, files in os.walk(package):
    for name in files:
      path = os.path.join(folder, name)
      if not name.endswith('.py') or path.endswith(os.path.join('gitjax',
                                                                'rngs.py')):
        continue
      tree = ast.parse(open(path).read())
      for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in (
            'default_rng', 'PRNGKey', 'SeedSequence', 'RandomState'):
          offenders.append(f'{path}:{node.lineno}')
        if (isinstance(node, ast.Attribute) and node.attr == 'key' and
            isinstance(node.value, ast.Attribute) and
            node.value.attr == 'random'):
          offenders.append(f'{path}:{node.lineno}')
  assert not offenders
