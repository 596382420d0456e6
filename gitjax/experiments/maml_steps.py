"""MAML (Finn et al. 2017) with the MAML++ extras, as pure jitted steps.

The inner loop is `gitjax.bilevel.unroll`: K SGD steps on a task's support
loss, differentiated through (second order) or with the inner gradients held
constant (first order). Parameters are three pytrees, all meta-learned:

* `fast`: the convolution and head weights, adapted in the inner loop;
* `slow`: batch-norm scale and offset, adapted in the outer loop only (as
  the original); with `per_step_bn` one set per inner step (MAML++), leaves
  [K+1, C], set k used by the forward passes after k inner steps;
* `rates`: inner learning rates per parameter tensor and per step (MAML++ /
  Meta-SGD), leaves [max(K, 1)]; frozen unless `learn_inner_lr`.

Batch norm is transductive, as in the original: every forward pass
normalises with the statistics of its own batch (a task's support or query
set), at meta-test too; running averages are never used, so the statistics
are per step by construction.

A meta-batch of tasks is `vmap`ped and sharded over the 'data' axis of a
mesh by jit + NamedSharding (no shard_map, so inner gradients never mix
tasks across devices). One jitted `train_step` draws the meta-batch on the
device (`episodes.sample_tasks`) and takes one Adam step on the meta-loss.
"""
import dataclasses
import functools
import json
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from gitjax import bilevel
from gitjax import config as config_lib
from gitjax import rngs
from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.data import transforms
from gitjax.models import conv4


@struct.dataclass
class MamlState:
  step: jax.Array          # int32 scalar: meta-steps done
  params: Any              # {'fast': ..., 'slow': ..., 'rates': ...}
  opt_state: Any           # outer Adam state of params


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity
class Statics:
  """Everything about a meta-step that is fixed for a run."""
  model: nn.Module
  ways: int
  shots: int
  queries: int
  meta_batch: int
  inner_steps: int
  inner_lr: float
  learn_inner_lr: bool
  first_order: bool
  multi_step_loss: bool
  msl_anneal_steps: int
  per_step_bn: bool
  checkpoint: bool
  tx: Any                  # outer optax.GradientTransformation
  spec: transforms.TransformSpec
  mesh: Any                # jax.sharding.Mesh with axis 'data'
  seed: int


# The maml keys a meta-step depends on; configs that agree on them share one
# Statics object, hence one compilation of each jitted function.
_STEP_KEYS = ('ways', 'shots', 'queries', 'meta_batch', 'inner_steps',
              'inner_lr', 'learn_inner_lr', 'first_order', 'multi_step_loss',
              'msl_anneal_steps', 'per_step_bn', 'checkpoint_inner',
              'outer_lr', 'clip_norm', 'filters', 'downsample')


def make_statics(config, mesh=None):
  """Statics of a config; the same settings give the same (cached) object,
  so the jitted step compiles once per process (tests, resume)."""
  mesh = mesh or pipeline.make_mesh()
  step_config = {k: config.maml[k] for k in _STEP_KEYS}
  return _cached_statics(json.dumps(step_config, sort_keys=True),
                         config.seed, config_lib.transform_spec(config.data),
                         mesh)


@functools.lru_cache(maxsize=16)
def _cached_statics(maml_json, seed, spec, mesh):
  m = ml_collections.ConfigDict(json.loads(maml_json))
  tx = optax.adam(m.outer_lr)
  if m.clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(m.clip_norm), tx)
  model = conv4.Conv4(num_classes=m.ways, filters=m.filters,
                      downsample=m.downsample, flatten=m.downsample == 'maxpool',
                      im2col=True)
  return Statics(model=model, ways=m.ways, shots=m.shots, queries=m.queries,
                 meta_batch=m.meta_batch, inner_steps=m.inner_steps,
                 inner_lr=m.inner_lr, learn_inner_lr=m.learn_inner_lr,
                 first_order=m.first_order, multi_step_loss=m.multi_step_loss,
                 msl_anneal_steps=m.msl_anneal_steps,
                 per_step_bn=m.per_step_bn, checkpoint=m.checkpoint_inner,
                 tx=tx, spec=spec, mesh=mesh, seed=seed)


def split_params(params):
  """(fast, slow): BN scale/offset are slow (outer loop only)."""
  fast = {k: v for k, v in params.items() if not k.startswith('bn')}
  slow = {k: v for k, v in params.items() if k.startswith('bn')}
  return fast, slow


def bn_at(slow, step, per_step_bn):
  """The BN parameters used after `step` inner steps."""
  if not per_step_bn:
    return slow
  return jax.tree.map(lambda x: x[jnp.minimum(step, x.shape[0] - 1)], slow)


def apply_model(model, fast, slow, images):
  """Logits [B, N] of images float [B, H, W, C] on the 0..255 scale, with
  transductive BN (the statistics of this batch)."""
  stats = {name: {'mean': jnp.zeros_like(p['scale']),
                  'var': jnp.ones_like(p['scale'])}
           for name, p in slow.items()}  # never read: use_batch_stats=True
  return model.apply({'params': {**fast, **slow}, 'batch_stats': stats},
                     images / 255.0, train=False)


def cross_entropy(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits, labels):
  return jnp.mean((jnp.argmax(logits, -1) == labels).astype(jnp.float32))


def adapt(fast, support_loss, optimizer, num_steps, *, score_fn=None,
          checkpoint=True):
  """Runs the inner loop `bilevel.unroll` from `fast`.

  Args:
    fast: pytree of adapted parameters theta_0.
    support_loss: `(params, step) -> scalar` inner loss.
    optimizer: optax transformation of the inner loop (e.g.
      `bilevel.sgd_per_step`).
    num_steps: K (static).
    score_fn: optional `(params, steps_done) -> pytree`, evaluated after
      every step (multi-step loss, accuracy after 1..K steps).
    checkpoint: rematerialise inner steps in the backward pass.

  Returns:
    (theta_K, scores with leading axis K, or None without score_fn).
  """
  if score_fn is None or num_steps == 0:
    params, _ = bilevel.unroll(fast, None, support_loss, optimizer, num_steps,
                               checkpoint=checkpoint)
    return params, None

  def body(carry, step):
    params, opt_state = carry
    params, opt_state = bilevel.unroll(
        params, opt_state, lambda p, _: support_loss(p, step), optimizer, 1,
        checkpoint=checkpoint)
    return (params, opt_state), score_fn(params, step + 1)

  (params, _), scores = jax.lax.scan(
      body, (fast, optimizer.init(fast)),
      jnp.arange(num_steps, dtype=jnp.int32))
  return params, scores


def msl_weights(step, num_steps, anneal_steps):
  """MAML++ multi-step loss weights [K]: uniform at step 0, annealed
  linearly to the last step only over `anneal_steps` meta-steps."""
  k = max(num_steps, 1)
  frac = (jnp.clip(step / anneal_steps, 0.0, 1.0) if anneal_steps
          else jnp.float32(1.0))
  return (1.0 - frac) * jnp.full((k,), 1.0 / k) + frac * jax.nn.one_hot(
      k - 1, k)


def task_objective(params, task, weights, *, statics):
  """(meta-loss, query accuracy after K steps) of one task.

  Args:
    params: {'fast', 'slow', 'rates'}.
    task: one task of `episodes.sample_tasks` (no task axis).
    weights: [K] multi-step loss weights (read only with multi_step_loss).
    statics: Statics.
  """
  s = statics
  rates = params['rates']
  if not s.learn_inner_lr:
    rates = jax.lax.stop_gradient(rates)
  slow = params['slow']

  def logits(fast, step, images):
    return apply_model(s.model, fast, bn_at(slow, step, s.per_step_bn), images)

  def support_loss(fast, step):
    return cross_entropy(logits(fast, step, task['support']),
                         task['support_label'])

  def query_scores(fast, step):
    out = logits(fast, step, task['query'])
    return cross_entropy(out, task['query_label']), accuracy(
        out, task['query_label'])

  optimizer = bilevel.sgd_per_step(rates, first_order=s.first_order)
  if s.multi_step_loss and s.inner_steps > 0:
    _, (losses, accs) = adapt(params['fast'], support_loss, optimizer,
                              s.inner_steps, score_fn=query_scores,
                              checkpoint=s.checkpoint)
    return jnp.sum(weights * losses), accs[-1]
  fast_k, _ = adapt(params['fast'], support_loss, optimizer, s.inner_steps,
                    checkpoint=s.checkpoint)
  return query_scores(fast_k, s.inner_steps)


def meta_loss(params, tasks, weights, *, statics):
  """Mean meta-loss over a meta-batch (leading task axis) and its accuracy."""
  losses, accs = jax.vmap(
      functools.partial(task_objective, statics=statics),
      in_axes=(None, 0, None))(params, tasks, weights)
  return losses.mean(), accs.mean()


def meta_gradient(params, tasks, weights, *, statics):
  """((loss, accuracy), gradient) of the meta-loss."""
  return jax.value_and_grad(
      functools.partial(meta_loss, statics=statics), has_aux=True)(
          params, tasks, weights)


def init_state(statics, image_shape):
  """Fresh meta-parameters and outer optimiser state."""
  s = statics
  rng_init = rngs.jax_key(s.seed, 'maml-init')
  variables = s.model.init(rng_init, jnp.zeros((1,) + tuple(image_shape)),
                           train=False)
  fast, slow = split_params(variables['params'])
  if s.per_step_bn:
    slow = jax.tree.map(lambda x: jnp.tile(x, (s.inner_steps + 1, 1)), slow)
  rates = jax.tree.map(
      lambda _: jnp.full((max(s.inner_steps, 1),), s.inner_lr, jnp.float32),
      fast)
  params = {'fast': fast, 'slow': slow, 'rates': rates}
  state = MamlState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=s.tx.init(params))
  return jax.device_put(state, pipeline.replicated(s.mesh))


def shard_tasks(tasks, mesh):
  """Constrains the task axis to the mesh's 'data' axis (inside jit)."""
  sharding = NamedSharding(mesh, P(pipeline.DATA_AXIS))
  return jax.tree.map(
      lambda x: jax.lax.with_sharding_constraint(x, sharding), tasks)


def task_key(seed, purpose, index):
  """The key of batch `index` of a purpose ('train', 'val', 'test',
  'transfer', 'pretrain': the words 'maml-' + purpose of gitjax/rngs.py)."""
  return rngs.jax_key(seed, f'maml-{purpose}', index)


def meta_step(state, tasks, *, statics):
  """One outer Adam step on the meta-loss of `tasks` (leading task axis)."""
  s = statics
  weights = msl_weights(state.step, s.inner_steps, s.msl_anneal_steps)
  (loss, acc), grads = meta_gradient(state.params, tasks, weights, statics=s)
  updates, opt_state = s.tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  rates = jax.tree.leaves(params['rates'])
  metrics = {'loss': loss, 'accuracy': acc,
             'grad_norm': optax.tree.norm(grads),
             'inner_lr_mean': jnp.mean(jnp.stack([r.mean() for r in rates]))}
  return MamlState(step=state.step + 1, params=params,
                   opt_state=opt_state), metrics


def train_step(state, pool, *, statics):
  """One meta-step: draws `meta_batch` tasks from `pool` on the device,
  shards them over the mesh and takes one outer step."""
  s = statics
  tasks = episodes.sample_tasks(
      task_key(s.seed, 'train', state.step), pool, s.meta_batch, s.ways, s.shots,
      s.queries, s.spec)
  return meta_step(state, shard_tasks(tasks, s.mesh), statics=s)


# Jitted once for the process; `statics` is hashed by identity.
train_step_jit = jax.jit(train_step, static_argnames='statics',
                         donate_argnames='state')


def adapted_accuracies(params, task, *, statics, num_steps):
  """Query accuracy [num_steps + 1] of one task after 0..num_steps inner
  steps (steps beyond training's K reuse the last rate and BN set)."""
  s = statics
  slow = params['slow']

  def logits(fast, step, images):
    return apply_model(s.model, fast, bn_at(slow, step, s.per_step_bn), images)

  def support_loss(fast, step):
    return cross_entropy(logits(fast, step, task['support']),
                         task['support_label'])

  def query_accuracy(fast, step):
    return accuracy(logits(fast, step, task['query']), task['query_label'])

  optimizer = bilevel.sgd_per_step(params['rates'])
  _, accs = adapt(params['fast'], support_loss, optimizer, num_steps,
                  score_fn=query_accuracy, checkpoint=False)
  first = query_accuracy(params['fast'], 0)[None]
  return first if accs is None else jnp.concatenate([first, accs])


@functools.partial(jax.jit, static_argnames=('statics', 'num_steps',
                                             'num_tasks', 'transform'))
def evaluate_chunk(params, pool, key, *, statics, num_steps, num_tasks,
                   transform=True):
  """Accuracies [num_tasks, num_steps + 1] of tasks drawn from `pool`."""
  s = statics
  tasks = episodes.sample_tasks(key, pool, num_tasks, s.ways, s.shots,
                                s.queries, s.spec if transform else None)
  tasks = shard_tasks(tasks, s.mesh)
  return jax.vmap(functools.partial(adapted_accuracies, statics=s,
                                    num_steps=num_steps),
                  in_axes=(None, 0))(params, tasks)


def evaluate(params, pool, *, statics, purpose, num_tasks, num_steps,
             chunk, transform=True):
  """Accuracies [num_tasks, num_steps + 1] of a fixed set of tasks (the same
  tasks at every call with the same purpose and seed)."""
  out = []
  for i in range(-(-num_tasks // chunk)):
    out.append(np.asarray(evaluate_chunk(
        params, pool, task_key(statics.seed, purpose, i), statics=statics,
        num_steps=num_steps, num_tasks=chunk, transform=transform)))
  return np.concatenate(out)[:num_tasks]
