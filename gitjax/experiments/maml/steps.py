"""MAML (Finn et al. 2017), MAML++ and ANIL as pure jitted steps.

The variants and what each turns on: `gitjax.experiments.maml.variants`.
The inner loop is `gitjax.bilevel.unroll`: K SGD steps on a task's support
loss (mean cross-entropy, times N with cbfinn/maml's `inner_loss='cbfinn_sum'`),
differentiated through (second order) or with the inner gradients held
constant (first order). Parameters are three pytrees, all meta-learned:

* `fast`: the convolution and head weights; the inner loop adapts all of
  them (ANIL: the head only, the body is outer-loop only);
* `slow`: batch-norm offset (and scale with `bn_scale`), adapted in the
  outer loop only (as the original); with per-step BN one set per inner step
  (MAML++), leaves [K+1, C], set k used by the forward passes after k inner
  steps;
* `rates`: inner learning rates per adapted tensor and per step (MAML++
  LSLR / Meta-SGD), leaves [max(K, 1)]; frozen unless learned.

Batch norm (`bn_mode`): 'transductive', as in the original: every forward
pass normalises with the statistics of its own batch (a task's support or
query set), at meta-test too. 'running': meta-training still normalises with
batch statistics, and also keeps running averages (per step with per-step
BN, set k from the query forward after k inner steps, averaged over the
meta-batch); meta-val and meta-test normalise with those.

A meta-batch of tasks is `vmap`ped (or looped over: layouts.py) and sharded
over the 'data' axis of a mesh by jit + NamedSharding (no shard_map, so
inner gradients never mix tasks across devices). One jitted `train_step` draws the meta-batch on the
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

from gitjax import bilevel
from gitjax import rngs
from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.data import transforms
from gitjax.experiments.maml import layouts
from gitjax.experiments.maml import variants
from gitjax.models import conv4
from gitjax.runtime import processes


@struct.dataclass
class MamlState:
  step: jax.Array          # int32 scalar: meta-steps done
  params: Any              # {'fast': ..., 'slow': ..., 'rates': ...}
  opt_state: Any           # outer Adam state of params
  batch_stats: Any         # BN running statistics (read with bn_mode='running')
  best: Any                # {'params', 'batch_stats'} of the best meta-val score
  best_val: jax.Array      # float32 scalar: that score (-1 before any)


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity
class Statics:
  """Everything about a meta-step that is fixed for a run."""
  model: nn.Module          # the meta-training forward (conv_impl)
  eval_model: nn.Module     # the same variables, im2col (vmapped evaluation)
  task_layout: str          # 'vmap', 'unrolled' or 'host_loop' (layouts.py)
  task_chunk: int           # tasks per unrolled chunk
  ways: int
  shots: int
  queries: int
  meta_batch: int
  inner_steps: int
  inner_lr: float
  features: variants.Features
  per_step_bn: bool        # = features.per_step_bn
  first_order: bool        # first order throughout
  inner_scale: float       # factor on the mean support cross-entropy
  bn_mode: str
  epoch_steps: int
  msl_epochs: int
  rotate_train: bool       # per-task class rotations at meta-train
  checkpoint: bool
  tx: Any                  # outer optax.GradientTransformation
  spec: transforms.TransformSpec
  mesh: Any                # jax.sharding.Mesh with axis 'data'
  seed: int


# The maml keys a meta-step depends on; configs that agree on them share one
# Statics object, hence one compilation of each jitted function.
_STEP_KEYS = ('ways', 'shots', 'queries', 'meta_batch', 'inner_steps',
              'inner_lr', 'learn_inner_lr', 'first_order', 'multi_step_loss',
              'per_step_bn', 'checkpoint_inner', 'outer_lr', 'clip_norm',
              'filters', 'downsample', 'variant', 'inner_loss', 'bn_mode',
              'bn_scale', 'bn_epsilon', 'head_init', 'epoch_steps',
              'msl_epochs', 'first_order_epochs', 'min_outer_lr',
              'task_layout', 'task_chunk', 'conv_impl')


def make_statics(config, mesh=None):
  """Statics of a config; the same settings give the same (cached) object,
  so the jitted step compiles once per process (tests, resume)."""
  mesh = mesh or pipeline.make_mesh()
  step_config = {k: config.maml[k] for k in _STEP_KEYS}
  step_config['rotate_train'] = 'train' in config.maml.task_rotations
  # Only the cosine schedule depends on the run's length.
  step_config['meta_steps'] = (config.maml.meta_steps if variants.features(
      config.maml).cosine_lr else 0)
  return _cached_statics(json.dumps(step_config, sort_keys=True),
                         config.seed, transforms.transform_spec(config.data),
                         mesh)


@functools.lru_cache(maxsize=16)
def _cached_statics(maml_json, seed, spec, mesh):
  m = ml_collections.ConfigDict(json.loads(maml_json))
  features = variants.features(m)
  tx = optax.adam(variants.outer_lr(m.outer_lr, m.min_outer_lr, m.meta_steps,
                                    features.cosine_lr))
  if m.clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(m.clip_norm), tx)
  # bn_momentum 0: a training forward's 'batch_stats' output is exactly its
  # batch statistics; the running averages are kept by update_running_stats.
  eval_model = conv4.Conv4(
      num_classes=m.ways, filters=m.filters, downsample=m.downsample,
      flatten=m.downsample == 'maxpool', im2col=True, bn_momentum=0.0,
      bn_epsilon=m.bn_epsilon, bn_scale=m.bn_scale, head_init=m.head_init)
  layout, conv = layouts.resolve(m.task_layout, m.conv_impl, m.downsample,
                                 m.inner_steps)
  return Statics(model=eval_model.clone(im2col=conv == 'im2col'),
                 eval_model=eval_model, task_layout=layout,
                 task_chunk=m.task_chunk, ways=m.ways, shots=m.shots,
                 queries=m.queries, meta_batch=m.meta_batch,
                 inner_steps=m.inner_steps,
                 inner_lr=m.inner_lr, features=features,
                 per_step_bn=features.per_step_bn, first_order=m.first_order,
                 inner_scale=variants.inner_loss_scale(m.inner_loss, m.ways),
                 bn_mode=m.bn_mode, epoch_steps=m.epoch_steps,
                 msl_epochs=m.msl_epochs, rotate_train=m.rotate_train,
                 checkpoint=m.checkpoint_inner, tx=tx, spec=spec, mesh=mesh,
                 seed=seed)


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


def _blank_stats(slow):
  return {name: {'mean': jnp.zeros_like(p['bias']),
                 'var': jnp.ones_like(p['bias'])} for name, p in slow.items()}


def apply_model(model, fast, slow, images, stats=None):
  """Logits [B, N] of images float [B, H, W, C] on the 0..255 scale, with
  transductive BN (the statistics of this batch), or normalised with the
  running statistics `stats` ({'bnI': {'mean', 'var'}}, leaves [C])."""
  if stats is None:
    return model.apply({'params': {**fast, **slow},
                        'batch_stats': _blank_stats(slow)},  # never read
                       images / 255.0, train=False)
  return model.clone(use_batch_stats=False).apply(
      {'params': {**fast, **slow}, 'batch_stats': stats}, images / 255.0,
      train=False)


def apply_collect(model, fast, slow, images):
  """(logits, this batch's BN statistics) of a training forward: the same
  logits as `apply_model` without `stats` (the model has bn_momentum 0)."""
  logits, new = model.apply({'params': {**fast, **slow},
                             'batch_stats': _blank_stats(slow)},
                            images / 255.0, train=True,
                            mutable=['batch_stats'])
  return logits, jax.lax.stop_gradient(new['batch_stats'])


def cross_entropy(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits, labels):
  return jnp.mean((jnp.argmax(logits, -1) == labels).astype(jnp.float32))


def adapt(fast, support_loss, optimizer, num_steps, *, score_fn=None,
          checkpoint=True, unrolled=False):
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
    unrolled: the steps as a Python loop (`bilevel.scan_steps`).

  Returns:
    (theta_K, scores with leading axis K, or None without score_fn).
  """
  if score_fn is None or num_steps == 0:
    params, _ = bilevel.unroll(fast, None, support_loss, optimizer, num_steps,
                               checkpoint=checkpoint, unrolled=unrolled)
    return params, None

  def body(carry, step):
    params, opt_state = carry
    params, opt_state = bilevel.unroll(
        params, opt_state, lambda p, _: support_loss(p, step), optimizer, 1,
        checkpoint=checkpoint)
    return (params, opt_state), score_fn(params, step + 1)

  (params, _), scores = bilevel.scan_steps(
      body, (fast, optimizer.init(fast)), num_steps, unrolled=unrolled)
  return params, scores


def task_objective(params, task, weights, *, statics, first_order):
  """(meta-loss, (query accuracy after K steps, BN statistics)) of one task.

  Args:
    params: {'fast', 'slow', 'rates'}.
    task: one task of `episodes.sample_tasks` (no task axis).
    weights: [K] multi-step loss weights (read only with the multi-step loss).
    statics: Statics.
    first_order: hold the inner gradients constant (static).

  Returns:
    (loss, (accuracy, stats)): stats are the query forwards' batch
    statistics after 0..K steps (leaves [K + 1, C]) with bn_mode='running',
    else None.
  """
  s = statics
  f = s.features
  rates = params['rates']
  if not f.learn_inner_lr:
    rates = jax.lax.stop_gradient(rates)
  slow = params['slow']
  adapted, frozen = variants.inner_split(params['fast'], f.head_only)
  collect = s.bn_mode == 'running'

  def support_loss(adapted, step):
    out = apply_model(s.model, {**frozen, **adapted},
                      bn_at(slow, step, s.per_step_bn), task['support'])
    return s.inner_scale * cross_entropy(out, task['support_label'])

  def query_scores(adapted, step):
    fast, bn = {**frozen, **adapted}, bn_at(slow, step, s.per_step_bn)
    if collect:
      out, stats = apply_collect(s.model, fast, bn, task['query'])
    else:
      out, stats = apply_model(s.model, fast, bn, task['query']), None
    return (cross_entropy(out, task['query_label']),
            accuracy(out, task['query_label']), stats)

  optimizer = bilevel.sgd_per_step(rates, first_order=first_order)
  unrolled = s.task_layout != 'vmap'  # 'unrolled', 'host_loop'
  if (f.multi_step_loss or collect) and s.inner_steps > 0:
    _, (losses, accs, stats) = adapt(adapted, support_loss, optimizer,
                                     s.inner_steps, score_fn=query_scores,
                                     checkpoint=s.checkpoint,
                                     unrolled=unrolled)
    loss = jnp.sum(weights * losses) if f.multi_step_loss else losses[-1]
    if collect:
      first = query_scores(adapted, 0)[2]
      stats = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]),
                           first, stats)
    return loss, (accs[-1], stats)
  adapted_k, _ = adapt(adapted, support_loss, optimizer, s.inner_steps,
                       checkpoint=s.checkpoint, unrolled=unrolled)
  loss, acc, stats = query_scores(adapted_k, s.inner_steps)
  if collect:  # K = 0: the one set
    stats = jax.tree.map(lambda x: x[None], stats)
  return loss, (acc, stats)


def meta_loss(params, tasks, weights, *, statics, first_order=False):
  """Mean meta-loss over a meta-batch (leading task axis), with (accuracy,
  BN statistics averaged over the tasks or None)."""
  losses, (accs, stats) = layouts.map_tasks(
      functools.partial(task_objective, statics=statics,
                        first_order=first_order), params, tasks, weights,
      layout=statics.task_layout, chunk=statics.task_chunk)
  return losses.mean(), (accs.mean(), jax.tree.map(lambda x: x.mean(0),
                                                    stats))


def meta_gradient(params, tasks, weights, *, statics, first_order=False):
  """((loss, (accuracy, stats)), gradient) of the meta-loss."""
  return jax.value_and_grad(
      functools.partial(meta_loss, statics=statics, first_order=first_order),
      has_aux=True)(params, tasks, weights)


def init_state(statics, image_shape):
  """Fresh meta-parameters and outer optimiser state."""
  s = statics
  rng_init = rngs.jax_key(s.seed, 'maml-init')
  variables = s.model.init(rng_init, jnp.zeros((1,) + tuple(image_shape)),
                           train=False)
  fast, slow = split_params(variables['params'])
  if s.per_step_bn:
    slow = jax.tree.map(lambda x: jnp.tile(x, (s.inner_steps + 1, 1)), slow)
  adapted, _ = variants.inner_split(fast, s.features.head_only)
  rates = jax.tree.map(
      lambda _: jnp.full((max(s.inner_steps, 1),), s.inner_lr, jnp.float32),
      adapted)
  params = {'fast': fast, 'slow': slow, 'rates': rates}
  stats = variants.init_running_stats(slow, s.per_step_bn, s.inner_steps)
  state = MamlState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=s.tx.init(params), batch_stats=stats,
                    best=jax.tree.map(jnp.copy, {'params': params,
                                                 'batch_stats': stats}),
                    best_val=jnp.float32(-1.0))
  return jax.device_put(state, pipeline.replicated(s.mesh))


def keep_best(state, val_accuracy, mesh):
  """`state` with its parameters and BN statistics kept as the best, when
  `val_accuracy` beats the best so far (MAML++'s checkpoint selection)."""
  if val_accuracy <= float(state.best_val):
    return state
  best = jax.tree.map(jnp.copy, {'params': state.params,
                                 'batch_stats': state.batch_stats})
  best, best_val = jax.device_put((best, jnp.float32(val_accuracy)),
                                  pipeline.replicated(mesh))
  return state.replace(best=best, best_val=best_val)


shard_tasks = layouts.shard_tasks  # callers use steps.shard_tasks


def task_key(seed, purpose, index):
  """The key of batch `index` of a purpose ('train', 'val', 'test',
  'transfer', 'pretrain': the words 'maml-' + purpose of gitjax/rngs.py)."""
  return rngs.jax_key(seed, f'maml-{purpose}', index)


def step_gradient(state, tasks, weights, *, statics):
  """(((loss, (accuracy, stats)), gradient), first_order) as the meta-step
  takes them: the config's derivative order (`first_order`), or MAML++'s
  annealing (first order for the first `first_order_epochs` epochs)."""
  s = statics

  def gradient(first_order):
    return functools.partial(meta_gradient, statics=s,
                             first_order=first_order)

  if s.first_order or not s.features.first_order_epochs:
    return (gradient(s.first_order)(state.params, tasks, weights),
            jnp.bool_(s.first_order))
  # Derivative-order annealing: both orders compiled, one runs.
  epoch = variants.epoch_of(state.step, s.epoch_steps)
  first = variants.first_order_at(epoch, s.features.first_order_epochs)
  return jax.lax.cond(first, gradient(True), gradient(False), state.params,
                      tasks, weights), first


def meta_step(state, tasks, *, statics):
  """One outer Adam step on the meta-loss of `tasks` (leading task axis)."""
  s = statics
  epoch = variants.epoch_of(state.step, s.epoch_steps)
  weights = variants.msl_weights(epoch, s.inner_steps, s.msl_epochs)
  out, first = step_gradient(state, tasks, weights, statics=s)
  (loss, (acc, stats)), grads = out
  return outer_update(state, loss, acc, stats, grads, first, statics=s)


def outer_update(state, loss, acc, stats, grads, first, *, statics):
  """The outer Adam step on a meta-gradient, and the step's metrics."""
  s = statics
  updates, opt_state = s.tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  batch_stats = state.batch_stats
  if stats is not None:
    batch_stats = variants.update_running_stats(batch_stats, stats,
                                                s.per_step_bn)
  rates = jax.tree.leaves(params['rates'])
  metrics = {'loss': loss, 'accuracy': acc,
             'grad_norm': optax.tree.norm(grads),
             'inner_lr_mean': jnp.mean(jnp.stack([r.mean() for r in rates])),
             'first_order': first.astype(jnp.float32)}
  return state.replace(step=state.step + 1, params=params,
                       opt_state=opt_state, batch_stats=batch_stats), metrics


def train_step(state, pool, *, statics):
  """One meta-step: draws `meta_batch` tasks from `pool` on the device,
  shards them over the mesh and takes one outer step."""
  s = statics
  tasks = episodes.sample_tasks(
      task_key(s.seed, 'train', state.step), pool, s.meta_batch, s.ways, s.shots,
      s.queries, s.spec, rotate=s.rotate_train)
  return meta_step(state, shard_tasks(tasks, s.mesh), statics=s)


# Jitted once for the process; `statics` is hashed by identity.
train_step_jit = jax.jit(train_step, static_argnames='statics',
                         donate_argnames='state')


def _eval_fns(params, batch_stats, task, statics):
  """(adapted theta_0, frozen weights, logits_fn, support_loss) of one task
  at evaluation (running statistics only with bn_mode='running')."""
  s = statics
  slow = params['slow']
  adapted, frozen = variants.inner_split(params['fast'], s.features.head_only)

  def logits(adapted, step, images):
    stats = (bn_at(batch_stats, step, s.per_step_bn)
             if s.bn_mode == 'running' else None)
    return apply_model(s.eval_model, {**frozen, **adapted},
                       bn_at(slow, step, s.per_step_bn), images, stats)

  def support_loss(adapted, step):
    return s.inner_scale * cross_entropy(
        logits(adapted, step, task['support']), task['support_label'])

  return adapted, frozen, logits, support_loss


def adapt_task(params, batch_stats, task, *, statics, num_steps):
  """All fast weights after `num_steps` inner steps on one task's support
  set (ANIL: only the head moves)."""
  adapted, frozen, _, support_loss = _eval_fns(params, batch_stats, task,
                                               statics)
  adapted, _ = adapt(adapted, support_loss,
                     bilevel.sgd_per_step(params['rates']), num_steps,
                     checkpoint=False)
  return {**frozen, **adapted}


def adapted_accuracies(params, batch_stats, task, *, statics, num_steps):
  """Query accuracy [num_steps + 1] of one task after 0..num_steps inner
  steps (steps beyond training's K reuse the last rate, BN set and running
  statistics; the latter only with bn_mode='running')."""
  adapted, _, logits, support_loss = _eval_fns(params, batch_stats, task,
                                               statics)

  def query_accuracy(adapted, step):
    return accuracy(logits(adapted, step, task['query']), task['query_label'])

  optimizer = bilevel.sgd_per_step(params['rates'])
  _, accs = adapt(adapted, support_loss, optimizer, num_steps,
                  score_fn=query_accuracy, checkpoint=False)
  first = query_accuracy(adapted, 0)[None]
  return first if accs is None else jnp.concatenate([first, accs])


@functools.partial(jax.jit, static_argnames=('statics', 'num_steps',
                                             'num_tasks', 'transform',
                                             'rotate'))
def evaluate_chunk(params, batch_stats, pool, key, *, statics, num_steps,
                   num_tasks, transform=True, rotate=False):
  """Accuracies [num_tasks, num_steps + 1] of tasks drawn from `pool`."""
  s = statics
  tasks = episodes.sample_tasks(key, pool, num_tasks, s.ways, s.shots,
                                s.queries, s.spec if transform else None,
                                rotate=rotate)
  tasks = shard_tasks(tasks, s.mesh)
  return jax.vmap(functools.partial(adapted_accuracies, statics=s,
                                    num_steps=num_steps),
                  in_axes=(None, None, 0))(params, batch_stats, tasks)


def evaluate(params, pool, *, statics, purpose, num_tasks, num_steps,
             chunk, transform=True, batch_stats=None, rotate=False):
  """Accuracies [num_tasks, num_steps + 1] of a fixed set of tasks (the same
  tasks at every call with the same purpose and seed). `batch_stats`: the
  running statistics (needed with bn_mode='running'); `rotate`: per-task
  class rotations."""
  if statics.bn_mode == 'running' and batch_stats is None:
    raise ValueError("bn_mode='running' evaluates with running statistics: "
                     'pass batch_stats')
  out = []
  for i in range(-(-num_tasks // chunk)):
    out.append(processes.fetch(evaluate_chunk(  # tasks span processes
        params, batch_stats, pool, task_key(statics.seed, purpose, i),
        statics=statics, num_steps=num_steps, num_tasks=chunk,
        transform=transform, rotate=rotate)))
  return np.concatenate(out)[:num_tasks]
