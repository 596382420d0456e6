"""Classifier heads shared by the backbones.

The cosine ("normed") classifier is the `NormedLinear` layer of the LDAM-DRW
code (Cao et al., 2019): both the features and every class weight vector are
L2-normalised, so each logit is a cosine similarity in [-1, 1]. LDAM then
subtracts a per-class margin and rescales by `s` inside the loss, which is why
the head itself has no bias and no temperature.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

# Same floor as PyTorch's `F.normalize`, so that an all-zero vector maps to
# zero instead of NaN.
_NORM_EPS = 1e-12


def l2_normalize(x: jax.Array, axis: int = -1) -> jax.Array:
  """Divides `x` by its L2 norm along `axis` (floored at 1e-12).

  Args:
    x: any array.
    axis: the axis to normalise along.

  Returns:
    An array of the same shape whose slices along `axis` have unit norm
    (or are zero where the input slice was zero).
  """
  # Floor the squared norm before the square root: sqrt has an infinite
  # derivative at 0, so flooring after it still gives NaN gradients for an
  # all-zero input (e.g. a feature vector killed by ReLU).
  sum_sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(sum_sq, _NORM_EPS ** 2))


def normed_linear_init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
  """Initialiser of LDAM's `NormedLinear`: U(-1, 1), columns renormed to 1.

  The PyTorch code does `uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)`,
  i.e. each column (one class vector) is rescaled to unit norm.

  Args:
    key: PRNG key.
    shape: `(in_features, num_classes)`.
    dtype: parameter dtype.

  Returns:
    The initial kernel, shape `shape`.
  """
  w = jax.random.uniform(key, shape, dtype, minval=-1.0, maxval=1.0)
  return l2_normalize(w, axis=0)


class CosineClassifier(nn.Module):
  """Cosine-similarity classifier: normalize(x) @ normalize(W, columns).

  Attributes:
    num_classes: number of output logits.
  """
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """Maps features [B, D] to cosine logits [B, num_classes] in [-1, 1]."""
    kernel = self.param('kernel', normed_linear_init,
                        (x.shape[-1], self.num_classes))  # [D, K]
    # Normalise at every call, not only at init: the optimiser moves W off
    # the unit sphere, and the logits must stay cosines.
    logits = l2_normalize(x, axis=-1) @ l2_normalize(kernel, axis=0)
    # Rounding can push |cos| a hair above 1; LDAM's margin arithmetic and the
    # tests assume the [-1, 1] range.
    return jnp.clip(logits, -1.0, 1.0)  # [B, K]
