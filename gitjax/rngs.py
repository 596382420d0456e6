"""Random streams: one namespace word per purpose, independent by construction.

Every numpy Generator and JAX key of a run comes from here, as
`numpy_rng(seed, purpose, *ints)` or `jax_key(seed, purpose, *ints)`. The
purpose (a word of PURPOSES) is hashed to a 32-bit namespace that leads the
seed material, followed by how many ints follow: two purposes, or one
purpose with different ints, never share a stream. (Plain
`default_rng([s, p])` and `default_rng([s, p, 0])` are the same stream:
numpy pads a short seed with zeros.)

This module imports nothing from gitjax, so every layer can use it.
"""
import hashlib

import jax
import numpy as np

# Every purpose, declared once; an unknown word is an error (a typo must fail).
PURPOSES = {
    # the data set (gitjax/data/build.py)
    'data-ranks': 'rank-to-class assignment of the Zipf tail',
    'data-val': 'validation images taken out of the training pool',
    'data-train': 'training images of the long tail',
    'data-test': 'test images of a balanced test split',
    'data-transform-train': 'transform draws of the stored training images',
    'data-transform-test': 'transform draws of the stored test images',
    'data-transform-val': 'transform draws of the stored validation images',
    'digits-split': "the embedded digits' fixed train/test split",
    # samplers (gitjax/data/pipeline.py), by who draws
    'classifier-order': "the classifier's uniform epochs (ERM phase)",
    'classifier-balanced': "the classifier's class-balanced draws (DRS)",
    'git-order': "GIT's source images, uniform phase",
    'git-balanced': "GIT's source images, class-balanced phase",
    'munit-a': "MUNIT's class-balanced draws of domain a",
    'munit-b': "MUNIT's class-balanced draws of domain b",
    'probe-order': "the label probe's uniform epochs",
    # JAX keys
    'classifier-init': 'classifier parameters',
    'classifier-train': 'per-step crops, flips, oracle and GIT draws',
    'classifier-eval': 'eKLD transform draws',
    'munit-init': 'MUNIT parameters',
    'munit-train': 'per-iteration flips and styles',
    'munit-samples': 'styles of the sample grids',
    'munit-eval': 'styles and transforms of the evaluation',
    'probe-init': 'label probe parameters',
    'maml-init': 'MAML meta-parameters',
    'maml-split': 'the random train/val/test character split',
    'maml-train': 'meta-training tasks',
    'maml-val': 'validation tasks',
    'maml-test': 'test tasks',
    'maml-transfer': 'tasks of the invariance-transfer study',
    'maml-pretrain': 'batches of the pretrained classifier',
    'maml-pretrain-init': 'pretrained classifier parameters',
    'maml-tune': 'meta-val tasks that tune the CNNs\' fine-tuning',
    'maml-head-init': "pretrained classifier's fresh N-way head",
    'ring-init': 'unrolled-GAN parameters',
    'ring-eval': 'fixed evaluation latents',
    'ring-train': 'per-step data and latents',
}

_UINT32 = 1 << 32


def word(purpose):
  """The 32-bit namespace of `purpose` (sha256 of the word)."""
  if purpose not in PURPOSES:
    raise ValueError(f'unknown random-stream purpose {purpose!r}: declare it '
                     'in gitjax/rngs.py PURPOSES')
  return int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4],
                        'little')


def _check(values):
  for v in values:
    if not 0 <= int(v) < _UINT32:
      raise ValueError(f'random-stream seed or index {v} must lie in '
                       '[0, 2**32)')
  return [int(v) for v in values]


def numpy_rng(seed, purpose, *ints):
  """The numpy Generator of `purpose` for `seed` (and `ints`, e.g. an epoch
  or a step)."""
  entropy = [word(purpose), len(ints)] + _check((seed,) + ints)
  return np.random.default_rng(np.random.SeedSequence(entropy))


def jax_key(seed, purpose, *ints, impl=None):
  """The JAX key of `purpose` for `seed`, folded with `ints` (Python or
  traced integers, e.g. the step inside a jitted function)."""
  key = jax.random.key(_check((seed,))[0], impl=impl)
  key = jax.random.fold_in(key, word(purpose))
  key = jax.random.fold_in(key, len(ints))
  for value in ints:
    key = jax.random.fold_in(key, value)
  return key
