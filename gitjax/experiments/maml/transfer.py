"""Does a meta-learner transfer invariance where a plain CNN does not?

Zhou et al. (2022) find that a classifier trained on a long tail learns
invariance to a nuisance transform (e.g. rotation) on its frequent classes
but does not transfer it to its rare ones. The meta-learning analogue: the
meta-train classes are seen under the transform; the meta-test classes are
new, and each task shows only K clean (untransformed) support images per
class. After adaptation on those, how invariant is the model on the new
classes?

This module runs one learner (`learners.Learner`: the meta-learned
initialisations of MAML / MAML++ / ANIL, the plain CNN fine-tuned
head-only or all layers, or a nearest-centroid classifier on the plain
CNN's frozen features) on meta-test tasks and returns its logits on the
clean query images and on `draws` transformed copies of each;
`transfer_stats` turns them into eKLD (after per-learner temperature
scaling), consistency and the accuracy kept under the transform, and
`study` runs all learners over seeds.

Batch norm is transductive for all learners: the support set, the clean
query set and each transformed copy of it are normalised with their own
statistics.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from gitjax import bilevel
from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.experiments.maml import steps
from gitjax.experiments.maml import variants
from gitjax.runtime import processes

# Task-stream purposes of the study (steps.task_key; maml/run.py uses 'train',
# 'val' and 'test').
TRANSFER, PRETRAIN, TUNE = 'transfer', 'pretrain', 'tune'


def _features(model, fast, slow, images):
  """Features [B, D] fed to the head (transductive BN)."""
  stats = {name: {'mean': jnp.zeros_like(p['bias']),
                  'var': jnp.ones_like(p['bias'])} for name, p in slow.items()}
  _, feats = model.apply({'params': {**fast, **slow}, 'batch_stats': stats},
                         images / 255.0, train=False, return_features=True)
  return feats


def centroid_logits(support_feats, support_labels, feats, ways):
  """-squared distance [M, N] of features [M, D] to the class means of the
  support features (ProtoNet's rule on frozen features)."""
  onehot = jax.nn.one_hot(support_labels, ways)  # [NK, N]
  centroids = (onehot.T @ support_feats) / onehot.sum(0)[:, None]  # [N, D]
  return -jnp.sum(jnp.square(feats[:, None] - centroids[None]), -1)


def task_logits(fast, slow, rates, task, draws, inner_scale, *, model,
                per_step_bn, num_steps, head_only, centroid):
  """Adapts on one task's support set; logits on its query set.

  Args:
    fast, slow, rates: the learner (see maml/steps.py; `rates` match the
      adapted part of `fast`: the head only with `head_only`).
    task: one clean task of `episodes.sample_tasks`.
    draws: [D, N*Q, H, W, C] transformed copies of the query images.
    inner_scale: factor on the mean support cross-entropy (MAML's own
      inner loss; 1 for the CNNs).
    model: the Conv-4 (N-way head).
    per_step_bn: `slow` holds one BN set per step.
    num_steps: adaptation steps.
    head_only: only the head adapts (ANIL, the head-only fine-tuned CNN).
    centroid: no adaptation: nearest class centroid of the features.

  Returns:
    (clean [NQ, N], transformed [NQ, D, N]) logits.
  """
  if centroid:
    ways = model.num_classes
    def logits_of(images):
      return centroid_logits(_features(model, fast, slow, task['support']),
                             task['support_label'],
                             _features(model, fast, slow, images), ways)
    clean = logits_of(task['query'])
    moved = jax.vmap(logits_of)(draws)  # [D, NQ, N]
    return clean, jnp.swapaxes(moved, 0, 1)
  adapted, frozen = variants.inner_split(fast, head_only)

  def logits(params, step, images):
    return steps.apply_model(model, {**frozen, **params},
                             steps.bn_at(slow, step, per_step_bn), images)

  def support_loss(params, step):
    return inner_scale * steps.cross_entropy(
        logits(params, step, task['support']), task['support_label'])

  adapted, _ = steps.adapt(adapted, support_loss,
                           bilevel.sgd_per_step(rates), num_steps,
                           checkpoint=False)
  clean = logits(adapted, num_steps, task['query'])  # [NQ, N]
  moved = jax.vmap(lambda x: logits(adapted, num_steps, x))(draws)
  return clean, jnp.swapaxes(moved, 0, 1)


@functools.partial(jax.jit, static_argnames=(
    'model', 'spec', 'mesh', 'per_step_bn', 'num_steps', 'head_only',
    'centroid', 'ways', 'shots', 'queries', 'num_tasks', 'num_draws'))
def _chunk(fast, slow, rates, inner_scale, pool, key, *, model, spec, mesh,
           per_step_bn, num_steps, head_only, centroid, ways, shots, queries,
           num_tasks, num_draws):
  rng_tasks, rng_draws = jax.random.split(key)
  tasks = episodes.sample_tasks(rng_tasks, pool, num_tasks, ways, shots,
                                queries, None)
  draw_keys = jax.random.split(rng_draws, (num_tasks, num_draws))
  draws = jax.vmap(jax.vmap(
      lambda k, q: episodes.transform_images(k, q, spec),
      in_axes=(0, None)))(draw_keys, tasks['query'])  # [T, D, NQ, H, W, C]
  tasks, draws = steps.shard_tasks((tasks, draws), mesh)
  clean, moved = jax.vmap(functools.partial(
      task_logits, model=model, per_step_bn=per_step_bn, num_steps=num_steps,
      head_only=head_only, centroid=centroid),
                          in_axes=(None, None, None, 0, 0, None))(
                              fast, slow, rates, tasks, draws, inner_scale)
  return {'clean': clean, 'moved': moved, 'labels': tasks['query_label'],
          'classes': tasks['classes']}


@functools.lru_cache(maxsize=16)
def _model(statics, ways):
  """The evaluation Conv-4 with an N-way head (one object per (statics,
  ways): the jitted chunk compiles once for it)."""
  return statics.eval_model.clone(num_classes=ways)


def run_learner(learner, pool, key, *, statics, shots, num_tasks,
                num_draws, ways=None):
  """Numpy {'clean' [T, NQ, N], 'moved' [T, NQ, D, N], 'labels' [T, NQ],
  'classes' [T, N] (pool rows)} of `learner` on `num_tasks` clean
  `shots`-shot tasks of `pool` drawn from `key` (the same tasks for every
  learner given the same key)."""
  ways = ways or statics.ways
  fast, slow, rates, inner_scale = jax.device_put(
      (learner.fast, learner.slow, learner.rates,
       jnp.float32(learner.inner_scale)), pipeline.replicated(statics.mesh))
  out = _chunk(fast, slow, rates, inner_scale, pool, key,
               model=_model(statics, ways),
               spec=statics.spec, mesh=statics.mesh,
               per_step_bn=learner.per_step_bn, num_steps=learner.num_steps,
               head_only=learner.head_only, centroid=learner.centroid,
               ways=ways, shots=shots, queries=statics.queries,
               num_tasks=num_tasks, num_draws=num_draws)
  # processes.fetch: the tasks span processes in a run over many hosts.
  return {k: np.asarray(v) for k, v in processes.fetch(out).items()}
