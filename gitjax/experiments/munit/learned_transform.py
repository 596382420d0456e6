"""What a GIT generator learned about the nuisance transformation.

GIT hopes that MUNIT's style space captures the transformation T(.|x) of the
training set, so that re-styling an image x with a random style gives a draw
from T(.|x) with x's label. Two measurements check this (the original work
has neither):

(a) Transform recovery. For a clean source x and a re-styling g of it, find
    the parameter theta whose true transform T_theta(x) best explains g:
    ROT: the angle on a grid (default 5 degrees) maximising the Pearson
    correlation of rot(x, angle) with g; BG: the median of g over the pixels
    where x is exactly 0 (0..255 scale); DIL: the one of the five
    morphologies closest to g in L2. The recovered parameters of many
    (x, style) pairs form a histogram that is compared with the
    distribution T draws from (total-variation distance and summary
    statistics). The same recovery run on TRUE transforms T(x) of the same
    sources gives the reference: what a perfect generator would score, given
    the grid, finite samples and symmetric digits (a 0 or an 8 rotated by
    180 degrees looks unrotated).
(b) Label preservation. A probe classifier trained with the oracle (the
    true T applied on the fly to clean, class-balanced training images)
    recognises digits under T; the fraction of re-stylings of transformed
    test images it assigns their true label, per class and overall, is set
    against its accuracy on the real transformed test images.

`restyle_fn(key, images uint8 [B, H, W, C]) -> float 0..255 [B, H, W, C]` is
the interface of `experiments.munit.load_restyler`, so any generator (or a
synthetic stand-in in tests) can be measured.
"""
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gitjax import rngs
from gitjax.data import pipeline
from gitjax.data import transforms
from gitjax.experiments.classifier import steps as classifier_steps

RECOVERABLE = ('rot', 'bg', 'dil')
_ROT = transforms.TransformSpec(names=('rot',))
_DIL = transforms.TransformSpec(names=('dil',))
ANGLE_BIN_DEGREES = 10.0   # histogram bins of recovered angles
BG_BIN = 10                # histogram bins of recovered background values


def angle_grid(step):
  """Candidate angles -180, -180 + step, ..., < 180 degrees."""
  return np.arange(-180.0, 180.0 - 1e-9, step, dtype=np.float32)


def _pearson(a, b):
  """Correlation of flattened images along the last axis."""
  a = a - a.mean(-1, keepdims=True)
  b = b - b.mean(-1, keepdims=True)
  norm = jnp.sqrt(jnp.sum(a * a, -1) * jnp.sum(b * b, -1))
  return jnp.sum(a * b, -1) / jnp.maximum(norm, 1e-6)


def recover_rotation(sources, outputs, angles):
  """Best-matching angle of each output as a rotation of its source.

  Args:
    sources: [N, H, W, C] on the 0..255 scale.
    outputs: [N, S, H, W, C], S candidates (re-stylings) per source.
    angles: [A] candidate angles in degrees (transforms' convention:
      positive turns the content counter-clockwise).

  Returns:
    (angle [N, S], correlation of the best match [N, S]).
  """
  n, s = outputs.shape[:2]
  rotate = lambda x, a: transforms.apply_params(x, {'rot_angle': a}, _ROT)
  per_angle = jax.vmap(rotate, in_axes=(0, None))  # over images
  rotated = jax.vmap(per_angle, in_axes=(None, 0))(sources, angles)
  rotated = rotated.reshape(len(angles), n, 1, -1)  # [A, N, 1, HWC]
  corr = _pearson(rotated, outputs.reshape(1, n, s, -1))  # [A, N, S]
  best = jnp.argmax(corr, axis=0)
  return jnp.asarray(angles)[best], jnp.max(corr, axis=0)


def recover_background(sources, outputs):
  """Median of each output over its source's exactly-0 pixels ([N, S]).

  A source without background pixels gives NaN.
  """
  mask = jnp.all(sources == 0, axis=-1, keepdims=True)  # [N, H, W, 1]
  mask = jnp.broadcast_to(mask[:, None], outputs.shape)
  values = jnp.where(mask, outputs, jnp.nan)
  return jnp.nanmedian(values.reshape(outputs.shape[:2] + (-1,)), axis=-1)


def recover_dilation(sources, outputs):
  """Index into transforms.DIL_OUTCOMES of the morphology closest in L2."""
  n, s = outputs.shape[:2]
  morph = lambda x, k: transforms.apply_params(x, {'dil_outcome': k}, _DIL)
  per_outcome = jax.vmap(morph, in_axes=(0, None))
  outcomes = jnp.arange(len(transforms.DIL_OUTCOMES))
  candidates = jax.vmap(per_outcome, in_axes=(None, 0))(sources, outcomes)
  candidates = candidates.reshape(len(outcomes), n, 1, -1)
  dist = jnp.sum(jnp.square(candidates - outputs.reshape(1, n, s, -1)), -1)
  return jnp.argmin(dist, axis=0)  # [N, S]


@functools.partial(jax.jit, static_argnames=('names', 'angle_step'))
def recover(sources, outputs, *, names, angle_step=5.0):
  """Recovered parameters for each name in `names` (a subset of RECOVERABLE).

  Args:
    sources: [N, H, W, C] clean images, 0..255.
    outputs: [N, S, H, W, C] images to explain, 0..255.
    names: tuple of transform names.
    angle_step: grid step of the rotation search, degrees.

  Returns:
    {name: [N, S]}; 'rot' also adds 'rot_match' (best correlation).
  """
  sources = sources.astype(jnp.float32)
  outputs = outputs.astype(jnp.float32)
  out = {}
  if 'rot' in names:
    out['rot'], out['rot_match'] = recover_rotation(
        sources, outputs, angle_grid(angle_step))
  if 'bg' in names:
    out['bg'] = recover_background(sources, outputs)
  if 'dil' in names:
    out['dil'] = recover_dilation(sources, outputs)
  return out


def _target_probabilities(name, spec, edges):
  """Probability T puts in each histogram bin [edges[i], edges[i+1])."""
  if name == 'rot':
    lo, hi = -spec.rot_degrees, spec.rot_degrees
    if hi == lo:
      return np.histogram([0.0], edges)[0].astype(np.float64)
    overlap = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo),
                      0, None)
    return overlap / (hi - lo)
  if name == 'bg':
    values = np.arange(spec.bg_max + 1)
    return np.histogram(values, edges)[0] / len(values)
  return np.full(len(edges) - 1, 1.0 / (len(edges) - 1))  # dil


def _edges(name):
  if name == 'rot':
    return np.arange(-180.0, 180.0 + 1e-6, ANGLE_BIN_DEGREES)
  if name == 'bg':
    return np.arange(0, 256 + BG_BIN, BG_BIN).astype(np.float64)
  return np.arange(len(transforms.DIL_OUTCOMES) + 1) - 0.5


def compare(name, values, spec):
  """How far recovered parameters are from the distribution T draws from.

  Args:
    name: 'rot', 'bg' or 'dil'.
    values: recovered parameters (any shape; NaNs ignored).
    spec: the TransformSpec of T.

  Returns:
    dict: histogram and target probabilities per bin, total-variation
    distance between them, and statistics of the values with their
    expectation under T.
  """
  values = np.asarray(values, np.float64).ravel()
  values = values[np.isfinite(values)]
  edges = _edges(name)
  counts = np.histogram(values, edges)[0]
  probs = counts / max(len(values), 1)
  target = _target_probabilities(name, spec, edges)
  out = {
      'n': int(len(values)),
      'bin_edges': edges.tolist(),
      'histogram': probs.tolist(),
      'target': target.tolist(),
      'tv_distance': float(0.5 * np.abs(probs - target).sum()),
  }
  if name == 'rot':
    limit = spec.rot_degrees
    out['frac_abs_gt_45'] = float(np.mean(np.abs(values) > 45))
    out['frac_abs_gt_45_target'] = float(max(limit - 45.0, 0.0) / limit) if (
        limit > 0) else 0.0
    out['mean_abs'] = float(np.mean(np.abs(values)))
    out['mean_abs_target'] = limit / 2.0
  elif name == 'bg':
    out['mean'] = float(np.mean(values))
    out['mean_target'] = spec.bg_max / 2.0
    out['frac_in_range'] = float(np.mean(values <= spec.bg_max + 0.5))
  else:
    out['frequencies'] = probs.tolist()
  return out


def measure_recovery(restyle_fn, images, spec, key, *, labels=None,
                     num_classes=None, styles_per_image=10, angle_step=5.0,
                     chunk=16):
  """Transform recovery on a generator's re-stylings and on true transforms.

  Args:
    restyle_fn: `(key, images uint8 [B, H, W, C]) -> 0..255 [B, H, W, C]`,
      one random re-styling per image.
    images: clean source images, uint8 [N, H, W, C].
    spec: the TransformSpec of the training set's T.
    key: PRNG key.
    labels: optional int [N] classes of `images`: adds per-class results.
    num_classes: number of classes (with `labels`; default max + 1).
    styles_per_image: re-stylings (and true transforms) per source.
    angle_step: rotation grid step in degrees.
    chunk: sources per call (restyle_fn sees chunk * styles_per_image).

  Returns:
    None if spec has none of RECOVERABLE; else {name: {'learned': compare
    (...), 'true': compare(...)}}, plus 'rot_match' means when 'rot' is
    measured. With `labels`, each compare dict also holds 'per_class':
    {'n': [...], 'tv_distance': [...]} (NaN for a class without images).
  """
  names = tuple(n for n in spec.names if n in RECOVERABLE)
  if not names:
    return None
  rng_restyle, rng_true = jax.random.split(key)
  images = np.asarray(images)
  n, s = len(images), styles_per_image
  pad = (-n) % chunk
  padded = np.concatenate([images, np.repeat(images[-1:], pad, 0)]) if pad \
      else images
  learned, true = [], []
  for i, start in enumerate(range(0, len(padded), chunk)):
    sources = padded[start:start + chunk]
    repeated = np.repeat(sources, s, axis=0)  # [chunk * S, H, W, C]
    shape = (len(sources), s) + sources.shape[1:]
    fake = restyle_fn(jax.random.fold_in(rng_restyle, i), repeated)
    real = transforms.transform_batch(jax.random.fold_in(rng_true, i),
                                      jnp.asarray(repeated), spec)
    learned.append(jax.device_get(recover(
        sources, jnp.reshape(fake, shape), names=names,
        angle_step=angle_step)))
    true.append(jax.device_get(recover(
        sources, jnp.reshape(real, shape), names=names,
        angle_step=angle_step)))
  joined = {kind: {k: np.concatenate([r[k] for r in rows])[:n]
                   for k in rows[0]}
            for kind, rows in (('learned', learned), ('true', true))}
  out = {name: {kind: compare(name, joined[kind][name], spec)
                for kind in joined} for name in names}
  for name in names:
    for kind in joined:
      values = joined[kind][name]
      out[name][kind]['values'] = values.ravel().tolist()
      if labels is not None:
        out[name][kind]['per_class'] = _per_class_tv(
            name, values, np.asarray(labels), num_classes, spec)
  if 'rot' in names:
    out['rot_match'] = {kind: float(np.mean(joined[kind]['rot_match']))
                        for kind in joined}
  return out


def _per_class_tv(name, values, labels, num_classes, spec):
  """compare()'s TV distance on each class's rows of values [N, S]."""
  if num_classes is None:
    num_classes = int(labels.max()) + 1
  counts, tvs = [], []
  for c in range(num_classes):
    rows = values[labels == c]
    counts.append(int(rows.size))
    tvs.append(compare(name, rows, spec)['tv_distance'] if rows.size
               else float('nan'))
  return {'n': counts, 'tv_distance': tvs}


# ----------------------------------------------------------------------------
# Label preservation


class Probe(NamedTuple):
  """A trained probe classifier (see `train_probe`)."""
  model: Any
  mean: tuple
  std: tuple
  variables: Any
  train_accuracy: float


def train_probe(images, labels, spec, num_classes, mesh, *, steps,
                batch_size, lr, depth, seed):
  """ResNet-`depth` trained with the oracle: true T on the fly, clean images.

  Args:
    images: clean, class-balanced training images, uint8 [N, H, W, C].
    labels: int [N].
    spec: TransformSpec applied on the fly (identity if it has no names).
    num_classes: K.
    mesh: device mesh; the batch is split along 'data'.
    steps: SGD steps (momentum 0.9, weight decay 5e-4, 5% warm-up, lr x0.1
      at 70% and x0.01 at 90% of the steps).
    batch_size: global batch (a multiple of the devices).
    lr: peak learning rate.
    depth: ResNet depth 6n + 2.
    seed: sampling, init and transform seed.

  Returns:
    Probe.
  """
  model = classifier_steps.build_model('resnet', depth, num_classes, False)
  schedule = classifier_steps.lr_schedule(
      lr, 1, max(1, steps // 20), (max(1, int(0.7 * steps)),
                                   max(2, int(0.9 * steps))), (0.1, 0.01))
  tx = classifier_steps.make_optimizer(schedule, 0.9, 5e-4)
  flat = images.reshape(-1, images.shape[-1]).astype(np.float64)
  mean = tuple(float(v) for v in flat.mean(0))
  std = tuple(float(v) for v in np.maximum(flat.std(0), 1.0))
  statics = classifier_steps.Statics(
      model=model, tx=tx, loss='ce', ldam_scale=30.0, focal_gamma=1.0,
      mean=mean, std=std, crop_flip=False,
      oracle=spec if spec.names else None, seed=seed)
  replicated = pipeline.replicated(mesh)
  # Jitted, with an 'rbg' key: ~5x faster than eager threefry init on CPU.
  state = jax.jit(classifier_steps.init_state, static_argnums=(0, 1, 2))(
      model, tx, tuple(images.shape[1:]),
      rngs.jax_key(seed, 'probe-init', impl='rbg'))
  state = jax.device_put(state, replicated)
  step_fn = classifier_steps.jit_train_step(statics, replicated,
                                            pipeline.batch_sharding(mesh))
  loss_params = jax.device_put(
      {'class_weights': np.ones(num_classes, np.float32),
       'margins': np.zeros(num_classes, np.float32)}, replicated)
  sampler = pipeline.UniformSampler(len(labels), batch_size, seed,
                                    purpose='probe-order')
  arrays = {'image': images, 'label': labels}
  accuracies = []
  for step in range(steps):
    batch = pipeline.shard_batch(pipeline.take(arrays, sampler.indices(step)),
                                 mesh)
    state, metrics = step_fn(state, batch, loss_params)
    if step >= steps - 20:
      accuracies.append(metrics['train_accuracy'])
  train_accuracy = float(np.mean(jax.device_get(accuracies))) if (
      accuracies) else float('nan')
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  return Probe(model, mean, std, variables, train_accuracy)


def probe_predict(probe, images, batch_size, sharding=None):
  """Argmax predictions of the probe for 0..255 images [N, H, W, C]."""
  return classifier_steps.predict(probe.model, probe.mean, probe.std,
                                  probe.variables, np.asarray(images),
                                  batch_size, sharding)


def label_preservation(probe, restyle_fn, images, labels, num_classes, key, *,
                       styles_per_image=10, batch_size=64, sharding=None):
  """How often re-stylings keep their label, next to the real images' score.

  Args:
    probe: a Probe (trained with the oracle).
    restyle_fn: `(key, images uint8) -> 0..255`, one re-styling per image.
    images: transformed test images, uint8 [N, H, W, C].
    labels: int [N].
    num_classes: K.
    key: PRNG key of the styles.
    styles_per_image: re-stylings per test image.
    batch_size: images per restyle / predict call.
    sharding: optional batch sharding for the probe's predictions.

  Returns:
    dict with overall and per-class accuracy of the probe on the re-stylings
    ('restyled') and on the real images ('real'), and the per-class counts.
  """
  images = np.asarray(images)
  labels = np.asarray(labels)
  repeated = np.repeat(images, styles_per_image, axis=0)
  repeated_labels = np.repeat(labels, styles_per_image)
  restyled = []
  n = len(repeated)
  for i, start in enumerate(range(0, n, batch_size)):
    part = repeated[start:start + batch_size]
    valid = len(part)
    if valid < batch_size:  # one compiled shape
      part = np.concatenate([part, np.repeat(part[-1:], batch_size - valid,
                                             0)])
    out = restyle_fn(jax.random.fold_in(key, i), part)
    restyled.append(np.asarray(out, np.float32)[:valid])
  restyled = np.concatenate(restyled)
  pred_fake = probe_predict(probe, restyled, batch_size, sharding)
  pred_real = probe_predict(probe, images, batch_size, sharding)
  out = {'per_class_count': np.bincount(labels, minlength=num_classes).tolist()}
  for kind, preds, y in (('restyled', pred_fake, repeated_labels),
                         ('real', pred_real, labels)):
    correct = (preds == y).astype(np.float64)
    per_class = [float(correct[y == c].mean()) if np.any(y == c)
                 else float('nan') for c in range(num_classes)]
    out[kind] = {'accuracy': float(correct.mean()),
                 'balanced_accuracy': float(np.nanmean(per_class)),
                 'per_class': per_class}
  return out
