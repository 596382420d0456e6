"""The learners of the invariance-transfer study, all on the same Conv-4 and
the same meta-train classes (`study`):

* `maml`, `maml++`, `anil`: the meta-learned initialisations, each adapted
  with its own inner loop (steps, rates, inner loss scaling, per-step BN;
  ANIL adapts the head only);
* `cnn_head`, `cnn_all`: the Conv-4 trained as a plain classifier on the
  meta-train classes under the transform (`pretrain_steps` Adam steps), its
  head replaced by a fresh N-way head (Glorot), then fine-tuned on each
  support set by SGD, the head only or all layers; rate and step count are
  picked from the grid `finetune_lrs` x `finetune_steps` by clean query
  accuracy on meta-val tasks (`tune_finetuning`);
* `cnn_centroid`: nearest class centroid (ProtoNet's rule, squared
  Euclidean distance) on the plain CNN's frozen features.

The meta-val classes of the tuning (`tune_classes`) are taken out of the
meta-train classes: a second plain CNN is pre-trained on the other
meta-train classes alone, and fine-tuned on tasks of the held-out ones
(`min(ways, len(tune_classes))`-way), so no meta-test class is looked at.
"""
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gitjax import rngs
from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.experiments.maml import steps
from gitjax.experiments.maml import transfer
from gitjax.runtime import processes

META_LEARNERS = ('maml', 'maml++', 'anil')
CNN_LEARNERS = ('cnn_head', 'cnn_all', 'cnn_centroid')
LEARNERS = META_LEARNERS + CNN_LEARNERS


@dataclasses.dataclass(frozen=True)
class Learner:
  """What `transfer.run_learner` needs of a learner."""
  fast: Any              # conv and head weights
  slow: Any              # BN offsets (and scales); [K + 1, C] with per-step BN
  rates: Any             # inner rates [S] per adapted tensor
  per_step_bn: bool
  num_steps: int
  head_only: bool
  centroid: bool = False
  inner_scale: float = 1.0


def meta_learner(params, statics):
  """The learner of meta-trained `params` under its own `statics`."""
  return Learner(fast=params['fast'], slow=params['slow'],
                 rates=params['rates'], per_step_bn=statics.per_step_bn,
                 num_steps=statics.inner_steps,
                 head_only=statics.features.head_only,
                 inner_scale=statics.inner_scale)


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
  return optax.apply_updates(params, updates), opt_state, loss


@functools.lru_cache(maxsize=16)
def _classifier(statics, num_classes):
  """The plain classifier: the same Conv-4, a Glorot head (one object per
  (statics, classes): its jitted step compiles once)."""
  return statics.eval_model.clone(num_classes=num_classes, head_init='glorot')


def pretrain_classifier(m, statics, pool, seed, ways):
  """(fast, slow, final loss) of the plain Conv-4 classifier trained on all
  classes of `pool` (`m`: the maml config section), with a fresh `ways`-way
  head (Glorot, as a new model's: a zero head would leave near-uniform
  predictions after a few steps, trivially 'invariant')."""
  classes = pool.shape[0]  # the tuning and the study pre-train other pools
  model = _classifier(statics, classes)
  params = model.init(rngs.jax_key(seed, 'maml-pretrain-init', classes),
                      jnp.zeros((1,) + pool.shape[2:]), train=False)['params']
  tx = optax.adam(m.pretrain_lr)
  # Placed as the step's outputs will be, so the step compiles once.
  params, opt_state = jax.device_put((params, tx.init(params)),
                                     pipeline.replicated(statics.mesh))
  loss = jnp.float32(np.nan)
  for i in range(m.pretrain_steps):
    params, opt_state, loss = _pretrain_step(
        params, opt_state, pool,
        rngs.jax_key(seed, 'maml-pretrain', classes, i),
        model=model, spec=statics.spec, tx=tx,
        batch_size=m.pretrain_batch_size)
  fast, slow = steps.split_params(processes.fetch(params))
  fresh = _classifier(statics, ways).init(
      rngs.jax_key(seed, 'maml-head-init', classes, ways),
      jnp.zeros((1,) + pool.shape[2:]), train=False)['params']
  return dict(fast, head=fresh['head']), slow, float(loss)


def finetuned(fast, slow, lr, num_steps, head_only):
  """A fine-tuned CNN learner: SGD at `lr` for `num_steps` steps."""
  adapted = {'head': fast['head']} if head_only else fast
  rates = jax.tree.map(lambda _: np.full((1,), lr, np.float32), adapted)
  return Learner(fast=fast, slow=slow, rates=rates, per_step_bn=False,
                 num_steps=num_steps, head_only=head_only)


def centroid(fast, slow):
  """Nearest class centroid on the frozen features of (fast, slow)."""
  return Learner(fast=fast, slow=slow, rates={}, per_step_bn=False,
                 num_steps=0, head_only=False, centroid=True)


def tune_finetuning(m, statics, train_pool, class_ids, seed):
  """{'cnn_head': (lr, steps), 'cnn_all': (lr, steps), 'grid': ...}: the
  grid point with the best mean clean query accuracy on meta-val tasks of
  `m.tune_classes` (pooled over `m.transfer_shots`), for a plain CNN
  pre-trained on the other meta-train classes."""
  tune = np.isin(class_ids, np.asarray(m.tune_classes))
  ways = min(m.ways, int(tune.sum()))
  fast, slow, _ = pretrain_classifier(m, statics, train_pool[~tune], seed,
                                      ways)
  val_pool = jax.device_put(train_pool[tune],
                            pipeline.replicated(statics.mesh))
  grid, best = {}, {}
  for name, head_only in (('cnn_head', True), ('cnn_all', False)):
    for lr in m.finetune_lrs:
      for num_steps in m.finetune_steps:
        learner = finetuned(fast, slow, lr, num_steps, head_only)
        accs = []
        for i, shots in enumerate(m.transfer_shots):
          out = transfer.run_learner(
              learner, val_pool, steps.task_key(seed, transfer.TUNE, i),
              statics=statics, shots=shots, num_tasks=m.tune_tasks,
              num_draws=1, ways=ways)
          accs.append(np.mean(out['clean'].argmax(-1) == out['labels']))
        grid[f'{name} lr={lr} steps={num_steps}'] = float(np.mean(accs))
        if float(np.mean(accs)) > best.get(name, (-1.0,))[0]:
          best[name] = (float(np.mean(accs)), lr, num_steps)
  return {'cnn_head': best['cnn_head'][1:], 'cnn_all': best['cnn_all'][1:],
          'val_accuracy': {k: v[0] for k, v in best.items()},
          'val_ways': ways, 'grid': grid}
