"""Does a meta-learner transfer invariance where a plain CNN does not?

Zhou et al. (2022) find that a classifier trained on a long tail learns
invariance to a nuisance transform (e.g. rotation) on its frequent classes
but does not transfer it to its rare ones. The meta-learning analogue: the
meta-train classes are seen under the transform; the meta-test classes are
new, and each task shows only K clean (untransformed) support images per
class. After adaptation on those, how invariant is the model on the new
classes? Per meta-test class, eKLD = mean over clean query images x and draws
x' ~ T(.|x) of KL(p(y|x) || p(y|x')) (`gitjax.invariance`), for K in
`transfer_shots`, for three learners adapted on the same tasks:

* `maml`: the meta-learned initialisation, adapted with its own inner loop
  (`inner_steps` steps, its rates and inner loss scaling);
* `finetuned_cnn`: the same Conv-4 trained as a plain classifier on the
  meta-train classes under the same transform (`pretrain_steps` Adam steps),
  its head replaced by a fresh N-way head, then fine-tuned on the support set
  (`test_steps` SGD steps at `finetune_lr`, all layers);
* `scratch_cnn`: the Conv-4 from a random initialisation, fine-tuned alike
  (no transfer at all: the floor).

Batch norm is transductive for all three: the clean query set and each
transformed copy of it are normalised with their own statistics.
"""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gitjax import bilevel
from gitjax import invariance
from gitjax import rngs
from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.experiments.maml import steps
from gitjax.runtime import processes

# Task-stream purposes of the study (maml.py uses 'train', 'val', 'test').
_TRANSFER, _PRETRAIN = 'transfer', 'pretrain'


@functools.partial(jax.jit, static_argnames=('model', 'spec', 'tx',
                                             'batch_size'))
def _pretrain_step(params, opt_state, pool, key, *, model, spec, tx,
                   batch_size):
  """One Adam step of a plain classifier over all classes of `pool`."""
  rng_class, rng_image, rng_tf = jax.random.split(key, 3)
  classes = jax.random.randint(rng_class, (batch_size,), 0, pool.shape[0])
  index = jax.random.randint(rng_image, (batch_size,), 0, pool.shape[1])
  images = episodes.transform_images(rng_tf, pool[classes, index], spec)

  def loss_fn(p):
    fast, slow = steps.split_params(p)
    return steps.cross_entropy(steps.apply_model(model, fast, slow, images),
                               classes)

  loss, grads = jax.value_and_grad(loss_fn)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  return jax.tree.map(lambda p, u: p + u, params, updates), opt_state, loss


def pretrain_classifier(config, statics, pool):
  """(fast, slow, final loss) of the plain Conv-4 classifier trained on all
  meta-train classes, its head zeroed to N ways for fine-tuning."""
  m = config.maml
  model = dataclasses.replace(statics.model, num_classes=pool.shape[0])
  params = model.init(rngs.jax_key(config.seed, 'maml-pretrain-init'),
                      jnp.zeros((1,) + pool.shape[2:]), train=False)['params']
  tx = optax.adam(m.pretrain_lr)
  # Placed as the step's outputs will be, so the step compiles once.
  params, opt_state = jax.device_put((params, tx.init(params)),
                                     pipeline.replicated(statics.mesh))
  loss = jnp.float32(np.nan)
  for i in range(m.pretrain_steps):
    params, opt_state, loss = _pretrain_step(
        params, opt_state, pool, steps.task_key(config.seed, _PRETRAIN, i),
        model=model, spec=statics.spec, tx=tx,
        batch_size=m.pretrain_batch_size)
  fast, slow = steps.split_params(params)
  # A fresh N-way head (Glorot, as a new model's): a zero head would leave
  # near-uniform predictions after a few steps, trivially 'invariant'.
  fresh = statics.model.init(
      rngs.jax_key(config.seed, 'maml-head-init'),
      jnp.zeros((1,) + pool.shape[2:]), train=False)['params']
  return dict(fast, head=fresh['head']), slow, float(loss)


def task_invariance(fast, slow, rates, task, draws, inner_scale=1.0, *,
                    model, per_step_bn, num_steps):
  """Adapts on one task's support set; invariance on its query set.

  Args:
    fast, slow, rates: the learner (see maml/steps.py).
    task: one clean task of `episodes.sample_tasks`.
    draws: [D, N*Q, H, W, C] transformed copies of the query images.
    model: the Conv-4 (N-way head).
    per_step_bn: `slow` holds one BN set per step.
    num_steps: adaptation steps.
    inner_scale: factor on the mean support cross-entropy (MAML's own
      inner loss, `maml_variants.inner_loss_scale`; 1 for the CNNs).

  Returns:
    dict: 'ekld' [N], 'consistency' [N] per task class; 'acc_clean',
    'acc_transformed' scalars.
  """

  def logits(params, step, images):
    return steps.apply_model(model, params,
                             steps.bn_at(slow, step, per_step_bn), images)

  def support_loss(params, step):
    return inner_scale * steps.cross_entropy(
        logits(params, step, task['support']), task['support_label'])

  adapted, _ = steps.adapt(fast, support_loss,
                           bilevel.sgd_per_step(rates), num_steps,
                           checkpoint=False)
  clean = logits(adapted, num_steps, task['query'])  # [NQ, N]
  moved = jax.vmap(lambda x: logits(adapted, num_steps, x))(draws)  # [D, NQ, N]
  kl, agree = invariance.kl_and_agreement(clean, jnp.swapaxes(moved, 0, 1))
  ways = clean.shape[-1]
  labels = task['query_label']
  return {
      'ekld': kl.mean(1).reshape(ways, -1).mean(1),
      'consistency': agree.mean(1).reshape(ways, -1).mean(1),
      'acc_clean': steps.accuracy(clean, labels),
      'acc_transformed': jnp.mean(
          (jnp.argmax(moved, -1) == labels).astype(jnp.float32)),
  }


@functools.partial(jax.jit, static_argnames=(
    'statics', 'model', 'per_step_bn', 'num_steps', 'shots', 'num_tasks',
    'num_draws'))
def _study_chunk(fast, slow, rates, inner_scale, pool, key, *, statics, model,
                 per_step_bn, num_steps, shots, num_tasks, num_draws):
  s = statics
  rng_tasks, rng_draws = jax.random.split(key)
  tasks = episodes.sample_tasks(rng_tasks, pool, num_tasks, s.ways, shots,
                                s.queries, None)
  draw_keys = jax.random.split(rng_draws, (num_tasks, num_draws))
  draws = jax.vmap(jax.vmap(
      lambda k, q: episodes.transform_images(k, q, s.spec),
      in_axes=(0, None)))(draw_keys, tasks['query'])  # [T, D, NQ, H, W, C]
  tasks, draws = steps.shard_tasks((tasks, draws), s.mesh)
  out = jax.vmap(functools.partial(
      task_invariance, model=model, per_step_bn=per_step_bn,
      num_steps=num_steps), in_axes=(None, None, None, 0, 0, None))(
          fast, slow, rates, tasks, draws, inner_scale)
  out['classes'] = tasks['classes']
  return out


def study(config, params, statics, pools, splits):
  """Runs the study; returns the JSON-ready dict (see the module doc)."""
  m = config.maml
  pool = pools['test']

  def fine_rates(fast):  # one fixed rate for every tensor and step
    return jax.tree.map(lambda _: jnp.full((1,), m.finetune_lr, jnp.float32),
                        fast)

  pre_fast, pre_slow, pre_loss = pretrain_classifier(config, statics,
                                                     pools['train'])
  scratch = statics.model.init(
      rngs.jax_key(config.seed, 'maml-scratch-init'),
      jnp.zeros((1,) + pool.shape[2:]), train=False)['params']
  scratch_fast, scratch_slow = steps.split_params(scratch)
  arms = {
      'maml': (params['fast'], params['slow'], params['rates'],
               statics.per_step_bn, m.inner_steps, statics.inner_scale),
      'finetuned_cnn': (pre_fast, pre_slow, fine_rates(pre_fast), False,
                        m.test_steps, 1.0),
      'scratch_cnn': (scratch_fast, scratch_slow, fine_rates(scratch_fast),
                      False, m.test_steps, 1.0),
  }
  class_ids = splits.class_ids['test']
  out = {'shots': list(m.transfer_shots), 'classes': class_ids.tolist(),
         'arms': {}, 'settings': {
             'transform': config.data.transform, 'ways': m.ways,
             'queries': m.queries, 'tasks_per_shot': m.transfer_tasks,
             'draws_per_image': m.transfer_draws,
             'maml_steps': m.inner_steps, 'finetune_steps': m.test_steps,
             'finetune_lr': m.finetune_lr,
             'pretrain_steps': m.pretrain_steps,
             'pretrain_final_loss': pre_loss, 'support': 'clean'}}
  for name, (fast, slow, rates, per_step_bn, num_steps,
             inner_scale) in arms.items():
    model = statics.model
    # One placement for every learner: one compilation for all of them.
    fast, slow, rates, inner_scale = jax.device_put(
        (fast, slow, rates, jnp.float32(inner_scale)),
        pipeline.replicated(statics.mesh))
    arm = {'ekld_by_class': [], 'ekld': [], 'consistency': [],
           'acc_clean': [], 'acc_transformed': []}
    for i, shots in enumerate(m.transfer_shots):
      res = processes.fetch(_study_chunk(  # tasks span processes
          fast, slow, rates, inner_scale, pool,
          steps.task_key(config.seed, _TRANSFER, i),
          statics=statics, model=model, per_step_bn=per_step_bn,
          num_steps=num_steps, shots=shots, num_tasks=m.transfer_tasks,
          num_draws=m.transfer_draws))
      rows = class_ids[np.asarray(res['classes'])]  # [T, N] source ids
      by_class = {}
      for c in np.unique(rows):
        mask = rows == c
        by_class[int(c)] = float(np.asarray(res['ekld'])[mask].mean())
      arm['ekld_by_class'].append(by_class)
      arm['ekld'].append(float(np.mean(list(by_class.values()))))
      arm['consistency'].append(float(np.mean(res['consistency'])))
      arm['acc_clean'].append(float(np.mean(res['acc_clean'])))
      arm['acc_transformed'].append(float(np.mean(res['acc_transformed'])))
    out['arms'][name] = arm
  out['summary'] = {name: {f'{k}-shot': {
      'ekld': arm['ekld'][i], 'acc_clean': arm['acc_clean'][i],
      'acc_transformed': arm['acc_transformed'][i]}
                           for i, k in enumerate(m.transfer_shots)}
                    for name, arm in out['arms'].items()}
  return out
