"""Per-class invariance of a classifier to a nuisance transformation.

eKLD (Zhou et al. 2022), per class c: the mean over clean held-out images x
of class c and draws x' ~ T(.|x) of KL(p(y|x) || p(y|x')) -- forward KL,
clean first, and the SAME image in both arms (the original code compared
different images, a bug). Consistency: the fraction of x' whose argmax
equals that of x.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from gitjax.data import transforms


def kl_and_agreement(clean_logits, transformed_logits):
  """KL(p(.|x) || p(.|x')) and argmax agreement for each transform.

  Args:
    clean_logits: [M, K] logits of the clean images.
    transformed_logits: [M, T, K] logits of T transforms of each image.

  Returns:
    (kl [M, T], agree [M, T] as float).
  """
  log_p = jax.nn.log_softmax(clean_logits, axis=-1)[:, None, :]
  log_q = jax.nn.log_softmax(transformed_logits, axis=-1)
  kl = jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
  agree = (jnp.argmax(transformed_logits, -1) ==
           jnp.argmax(clean_logits, -1)[:, None])
  return kl, agree.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=('logits_fn', 'spec', 'draws'))
def _chunk(variables, images, key, *, logits_fn, spec, draws):
  """Mean KL and agreement per image for one chunk of images [M, H, W, C]."""
  m = images.shape[0]
  keys = jax.random.split(key, (m, draws))  # typed or raw keys alike
  per_image = jax.vmap(transforms.transform_jax, in_axes=(0, None, None))
  moved = jax.vmap(per_image, in_axes=(0, 0, None))(keys, images, spec)
  clean = logits_fn(variables, images.astype(jnp.float32))
  flat = moved.reshape((m * draws,) + images.shape[1:])
  transformed = logits_fn(variables, flat).reshape(m, draws, -1)
  kl, agree = kl_and_agreement(clean, transformed)
  return kl.mean(axis=1), agree.mean(axis=1)


def measure(logits_fn, variables, images, labels, spec, key, *,
            num_classes, images_per_class=40, transforms_per_image=100,
            images_per_batch=10):
  """eKLD and consistency per class.

  Args:
    logits_fn: pure `(variables, images float [B, H, W, C] 0..255) ->
      logits [B, K]` (eval mode); hashable (a module-level function or a
      functools.partial of one), as it is a static jit argument.
    variables: model variables passed to logits_fn.
    images: clean held-out images, uint8 [N, H, W, C].
    labels: int [N].
    spec: the TransformSpec of T(.|x).
    key: PRNG key for the draws.
    num_classes: K.
    images_per_class: clean images per class (fewer if a class has fewer).
    transforms_per_image: draws of x' per image.
    images_per_batch: images whose draws share one forward pass.

  Returns:
    dict with per-class lists 'ekld', 'consistency', 'images' (used).
  """
  chosen = []
  for c in range(num_classes):
    chosen.append(np.flatnonzero(labels == c)[:images_per_class])
  idx = np.concatenate(chosen)
  x = np.asarray(images)[idx]
  pad = (-len(x)) % images_per_batch
  x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
  kls, agrees = [], []
  for i, start in enumerate(range(0, len(x), images_per_batch)):
    kl, agree = _chunk(variables, jnp.asarray(x[start:start + images_per_batch]),
                       jax.random.fold_in(key, i), logits_fn=logits_fn,
                       spec=spec, draws=transforms_per_image)
    kls.append(np.asarray(kl))
    agrees.append(np.asarray(agree))
  kl = np.concatenate(kls)[:len(idx)]
  agree = np.concatenate(agrees)[:len(idx)]
  y = np.asarray(labels)[idx]
  out = {'ekld': [], 'consistency': [], 'images': []}
  for c in range(num_classes):
    mask = y == c
    out['ekld'].append(float(kl[mask].mean()) if mask.any() else float('nan'))
    out['consistency'].append(
        float(agree[mask].mean()) if mask.any() else float('nan'))
    out['images'].append(int(mask.sum()))
  return out


def spearman(class_sizes, values):
  """Spearman rank correlation between class size and a per-class value."""
  sizes = np.asarray(class_sizes, np.float64)
  values = np.asarray(values, np.float64)
  keep = np.isfinite(values)
  if keep.sum() < 3 or np.unique(sizes[keep]).size < 2:
    return float('nan')
  return float(stats.spearmanr(sizes[keep], values[keep]).statistic)
