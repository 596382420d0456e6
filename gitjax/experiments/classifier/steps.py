"""Pure pieces of the classifier trainer: state, schedule, steps.

`train_step(state, batch, loss_params, *, statics)` is one module-level pure
function, jitted once with the state donated, and sharded over all devices by
jit + NamedSharding: parameters replicated, the batch split along 'data'.
BN statistics are computed over the global batch, so 1 and N devices give
the same result.

`git_train_step(state, batch, loss_params, git_params, *, statics)` is the
same step with GIT (Zhou et al. 2022) in the same compiled program: the
frozen MUNIT generator's parameters are an input (`git_params['gen']`), the
last batch_size // 2 examples of the batch are replaced by re-stylings of an
independently drawn source batch (`batch['source_image']`, labels kept), and
the mixed batch takes one train-mode forward pass (BN statistics of the
mixed batch) and the usual loss over all of it.
"""
import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from gitjax import losses
from gitjax import rngs
from gitjax.data import transforms
from gitjax.experiments.munit import steps as munit_steps
from gitjax.models import conv4
from gitjax.models import resnet
from gitjax.runtime import processes


@struct.dataclass
class TrainState:
  step: jax.Array          # int32 scalar
  params: Any
  batch_stats: Any
  opt_state: Any


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity
class Statics:
  """Everything about a step that is fixed for a run."""
  model: nn.Module
  tx: Any                       # optax.GradientTransformation
  loss: str                     # 'ce', 'ldam' or 'focal'
  ldam_scale: float
  focal_gamma: float
  mean: tuple                   # per-channel input mean (0..255 scale)
  std: tuple                    # per-channel input std
  crop_flip: bool
  oracle: Any = None            # TransformSpec applied on the fly, or None
  seed: int = 0
  git: Any = None               # GitSpec of the GIT step, or None


@dataclasses.dataclass(frozen=True)
class GitSpec:
  """The fixed part of GIT's augmentation (the generator's parameters and
  the per-class keep probabilities are inputs of the step)."""
  mode: str                     # 'half_batch' or 'threshold'
  generator: Any                # munit_steps.Statics of the frozen generator
  decoder: str = 'a'            # re-style a -> a (GIT) or a -> b
  source_flip: bool = False     # random h-flips of the sources (CIFAR)


def train_key(seed):
  """Root of the per-step training keys (fold_in(step) below it)."""
  return rngs.jax_key(seed, 'classifier-train')


def eval_key(seed):
  """Root of the evaluation keys (eKLD draws), apart from training's."""
  return rngs.jax_key(seed, 'classifier-eval')


def build_model(arch, depth, num_classes, cosine_head, conv4_filters=64):
  """The classifier network a model config describes."""
  if arch == 'resnet':
    return resnet.resnet(depth, num_classes, cosine_head=cosine_head)
  # A classifier evaluates with running BN statistics (not MAML's
  # transductive batch statistics), so predictions do not depend on the batch.
  return conv4.Conv4(num_classes=num_classes, filters=conv4_filters,
                     use_batch_stats=False)


def lr_schedule(base_lr, steps_per_epoch, warmup_epochs, decay_epochs,
                decay_factors):
  """Linear warm-up to base_lr, then base_lr * factor of the last drop."""
  warmup_steps = max(1, int(round(warmup_epochs * steps_per_epoch)))
  boundaries = [int(round(e * steps_per_epoch)) for e in decay_epochs]

  def schedule(step):
    warm = base_lr * jnp.minimum(1.0, (step + 1) / warmup_steps) if (
        warmup_epochs > 0) else base_lr
    factor = jnp.float32(1.0)
    for boundary, f in zip(boundaries, decay_factors):
      factor = jnp.where(step >= boundary, f, factor)
    return warm * factor

  return schedule


def make_optimizer(schedule, momentum, weight_decay):
  """SGD with momentum and coupled L2 on every parameter (PyTorch's SGD)."""
  return optax.chain(optax.add_decayed_weights(weight_decay),
                     optax.sgd(schedule, momentum=momentum))


def init_state(model, tx, image_shape, rng):
  """Fresh parameters, BN statistics and optimiser state."""
  dummy = jnp.zeros((2,) + tuple(image_shape), jnp.float32)
  variables = model.init(rng, dummy, train=False)
  params = variables['params']
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables.get('batch_stats', {}),
                    opt_state=tx.init(params))


def normalize(images, mean, std):
  """uint8 or float 0..255 [B, H, W, C] -> standardised float32."""
  x = images.astype(jnp.float32)
  return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def random_crop_flip(rng, images, pad=4):
  """Random crop after zero padding by `pad`, and a random horizontal flip."""
  b, h, w, _ = images.shape
  rng_crop, rng_flip = jax.random.split(rng)
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  offsets = jax.random.randint(rng_crop, (b, 2), 0, 2 * pad + 1)
  flips = jax.random.bernoulli(rng_flip, 0.5, (b,))

  def one(image, offset, flip):
    crop = jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (h, w, image.shape[-1]))
    return jnp.where(flip, crop[:, ::-1], crop)

  return jax.vmap(one)(padded, offsets, flips)


def loss_value(statics, logits, labels, loss_params):
  """The configured loss; loss_params carries per-class weights and margins."""
  weights = loss_params['class_weights']
  if statics.loss == 'ldam':
    return losses.ldam_loss(logits, labels, loss_params['margins'],
                            scale=statics.ldam_scale, weights=weights)
  if statics.loss == 'focal':
    return losses.focal_loss(logits, labels, gamma=statics.focal_gamma,
                             weights=weights)
  return losses.cross_entropy(logits, labels, weights=weights)


def prepare_images(statics, images, rng):
  """Oracle transform (on clean images), normalisation and augmentation."""
  rng_transform, rng_augment = jax.random.split(rng)
  if statics.oracle is not None:
    images = transforms.transform_batch(rng_transform, images, statics.oracle)
  if statics.crop_flip:
    # Pad with black (raw 0) before normalising, as torchvision's RandomCrop.
    images = random_crop_flip(rng_augment, images.astype(jnp.float32))
  return normalize(images, statics.mean, statics.std)


def train_step(state, batch, loss_params, *, statics):
  """One SGD step on a (sharded) batch. Returns (new state, metrics)."""
  rng = jax.random.fold_in(train_key(statics.seed), state.step)
  x = prepare_images(statics, batch['image'], rng)
  return _update(state, x, batch['label'], loss_params, statics)


def git_keep_probabilities(class_sizes, mode, threshold_k):
  """Per class, the probability that a re-styling of that class replaces
  the real example at its position: 1 in 'half_batch' mode; in 'threshold'
  mode (the paper's Algorithm 1) max((K - n_y) / (K - n_min), 0)."""
  sizes = np.asarray(class_sizes, np.float64)
  if mode == 'half_batch':
    return np.ones(len(sizes), np.float32)
  n_min = sizes[sizes > 0].min()
  return np.maximum((threshold_k - sizes) / (threshold_k - n_min),
                    0.0).astype(np.float32)


def git_images(statics, batch, git_params, rng):
  """The mixed batch of a GIT step: (normalised images [B, H, W, C], labels
  [B], fraction of the batch that is generated).

  The first B - B // 2 examples are the real batch (oracle, crop and flip
  as in a plain step); each of the last B // 2 is a re-styling of the
  source at that position (one style s ~ N(0, I) each, source label), kept
  with the keep probability of its class (always in 'half_batch' mode),
  else the real example stays. Re-stylings are (g + 1) / 2 in pixel scale,
  not rounded or clamped, normalised like real images; sources are never
  cropped.
  """
  git = statics.git
  rng_real, rng_flip, rng_style, rng_keep = jax.random.split(rng, 4)
  real = prepare_images(statics, batch['image'], rng_real)    # [B, H, W, C]
  labels = batch['label']
  sources = munit_steps.to_unit(batch['source_image'])        # [B // 2, ...]
  source_labels = batch['source_label']
  n = sources.shape[0]
  if git.source_flip:
    flip = jax.random.bernoulli(rng_flip, 0.5, (n,))
    sources = jnp.where(flip[:, None, None, None], sources[:, :, ::-1],
                        sources)
  styles = jax.random.normal(rng_style, (n, git.generator.style_dim))
  generated = munit_steps.restyle(git.generator, git_params['gen'], sources,
                                  styles, git.decoder)
  generated = normalize((generated + 1.0) * 127.5, statics.mean, statics.std)
  keep = jax.random.bernoulli(rng_keep,
                              git_params['keep_prob'][source_labels])
  tail = real.shape[0] - n
  mixed = jnp.where(keep[:, None, None, None], generated, real[tail:])
  mixed_labels = jnp.where(keep, source_labels, labels[tail:])
  x = jnp.concatenate([real[:tail], mixed])
  y = jnp.concatenate([labels[:tail], mixed_labels])
  return x, y, jnp.sum(keep) / real.shape[0]


def git_train_step(state, batch, loss_params, git_params, *, statics):
  """One SGD step with GIT re-stylings in the batch (see git_images).

  Args:
    state: TrainState.
    batch: {'image' [B, ...], 'label' [B], 'source_image' [B // 2, ...],
      'source_label' [B // 2]}, uint8 images in pixel scale.
    loss_params: as train_step.
    git_params: {'gen': the generator networks restyle reads,
      'keep_prob': float [C]}.
    statics: Statics with a GitSpec.
  """
  rng = jax.random.fold_in(train_key(statics.seed), state.step)
  x, labels, fraction = git_images(statics, batch, git_params, rng)
  state, metrics = _update(state, x, labels, loss_params, statics)
  return state, dict(metrics, git_fraction=fraction)


def _update(state, x, labels, loss_params, statics):
  """The SGD update on normalised images x and their labels."""

  def loss_fn(params):
    logits, updates = statics.model.apply(
        {'params': params, 'batch_stats': state.batch_stats}, x, train=True,
        mutable=['batch_stats'])
    return loss_value(statics, logits, labels, loss_params), (logits, updates)

  (loss, (logits, updates)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  param_updates, opt_state = statics.tx.update(grads, state.opt_state,
                                               state.params)
  params = optax.apply_updates(state.params, param_updates)
  metrics = {
      'loss': loss,
      'train_accuracy': jnp.mean(jnp.argmax(logits, -1) == labels),
      'grad_norm': optax.tree.norm(grads),
  }
  return TrainState(step=state.step + 1, params=params,
                    batch_stats=updates['batch_stats'],
                    opt_state=opt_state), metrics


def jit_train_step(statics, state_sharding, batch_sharding):
  """train_step jitted once for this run, state donated."""
  replicated = state_sharding
  return jax.jit(
      functools.partial(train_step, statics=statics),
      in_shardings=(state_sharding, batch_sharding, replicated),
      out_shardings=(state_sharding, replicated),
      donate_argnums=0)


def jit_git_train_step(statics, state_sharding, batch_sharding):
  """git_train_step jitted once for this run, state donated; the generator
  parameters are a replicated input, not a constant of the program."""
  replicated = state_sharding
  return jax.jit(
      functools.partial(git_train_step, statics=statics),
      in_shardings=(state_sharding, batch_sharding, replicated, replicated),
      out_shardings=(state_sharding, replicated),
      donate_argnums=0)


def logits_fn(model, mean, std, variables, images):
  """Eval-mode logits of float 0..255 images (partial over the first three
  arguments gives the hashable function invariance.measure needs)."""
  return model.apply(variables, normalize(images, mean, std), train=False)


def predict(model, mean, std, variables, images, batch_size, sharding=None):
  """Eval-mode argmax predictions for uint8 images [N, H, W, C] (numpy)."""
  fn = _eval_fn(model, mean, std)
  preds = []
  n = len(images)
  for start in range(0, n, batch_size):
    chunk = images[start:start + batch_size]
    valid = len(chunk)
    if valid < batch_size:  # fixed shapes: one compilation
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - valid,
                                               axis=0)])
    # The same chunk on every process: each places only its own rows.
    x = jax.device_put(chunk, sharding) if sharding is not None else chunk
    preds.append(processes.fetch(fn(variables, x))[:valid])
  return np.concatenate(preds) if preds else np.zeros(0, np.int64)


@functools.lru_cache(maxsize=8)
def _eval_fn(model, mean, std):
  return jax.jit(lambda v, x: jnp.argmax(
      logits_fn(model, mean, std, v, x.astype(jnp.float32)), -1))


def per_class_report(labels, preds, num_classes):
  """Balanced accuracy, per-class accuracy and the confusion matrix."""
  confusion = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(confusion, (labels, preds), 1)
  totals = confusion.sum(1)
  per_class = np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1),
                       np.nan)
  return {
      'balanced_accuracy': float(np.nanmean(per_class)),
      'accuracy': float(np.mean(labels == preds)) if len(labels) else float(
          'nan'),
      'per_class_accuracy': per_class.tolist(),
      'confusion': confusion.tolist(),
  }
