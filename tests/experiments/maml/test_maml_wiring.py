"""MAML through its config flags: first vs second order differ exactly by
the second-order term (a Hessian-vector product of the support loss,
computed here apart from the inner loop), the multi-step loss the step
optimises, and inner rates that stay fixed when not learned."""
import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.experiments.maml import steps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import maml_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

SHAPE = (8, 8, 1)
INNER_LR = 0.4
MESH = pipeline.make_mesh(jax.devices()[:1])


def _statics(**maml):
  config = maml_digits.get_config('smoke')
  config.maml.filters = 2
  config.maml.queries = 2
  config.maml.meta_batch = 2
  config.maml.checkpoint_inner = False
  config.maml.inner_lr = INNER_LR
  config.maml.per_step_bn = False
  config.maml.multi_step_loss = False
  config.maml.learn_inner_lr = False
  # Mean CE, so that the hand-written inner step below is the same step
  # (cbfinn's sum / K scaling is pinned in test_maml_variants.py).
  config.maml.inner_loss = 'mean'
  config.maml.inner_steps = 1
  for key, value in maml.items():
    config.maml[key] = value
  return steps.make_statics(config, MESH)


@functools.lru_cache(maxsize=1)
def _tasks():
  pool = np.random.default_rng(1).integers(0, 256, (7, 4) + SHAPE,
                                           dtype=np.uint8)
  return episodes.sample_tasks(jax.random.key(3), pool, 2, 5, 1, 2)


def _losses(statics, slow):
  def support(fast, task):
    return steps.cross_entropy(steps.apply_model(
        statics.model, fast, slow, task['support']), task['support_label'])

  def query(fast, task):
    return steps.cross_entropy(steps.apply_model(
        statics.model, fast, slow, task['query']), task['query_label'])
  return support, query


def test_first_and_second_order_differ_by_the_hessian_term():
  second = _statics(first_order=False)
  first = _statics(first_order=True)
  assert not second.first_order and first.first_order
  tasks = _tasks()
  state = jax.device_get(steps.init_state(second, SHAPE))
  params = state.params
  weights = jnp.ones((1,))
  # The gradient the meta-step takes, the order chosen by the config flag.
  grad_fn = lambda s: jax.jit(functools.partial(steps.step_gradient,
                                                statics=s))
  ((_, _), g2), order2 = grad_fn(second)(state, tasks, weights)
  ((_, _), g1), order1 = grad_fn(first)(state, tasks, weights)
  assert bool(order1) and not bool(order2)

  support, query = _losses(second, params['slow'])

  @jax.jit
  def hessian_term(fast, task):
    # theta' = theta - a g_s(theta); d L_q(theta') / d theta
    #   = g_q(theta') - H_s(theta) (a g_q(theta')).
    g_s = jax.grad(support)(fast, task)
    adapted = jax.tree.map(lambda p, g: p - INNER_LR * g, fast, g_s)
    g_q = jax.grad(query)(adapted, task)
    _, hvp = jax.jvp(lambda p: jax.grad(support)(p, task), (fast,),
                     (jax.tree.map(lambda g: INNER_LR * g, g_q),))
    return jax.tree.map(lambda h: -h, hvp), g_q

  per_task = [hessian_term(params['fast'], jax.tree.map(lambda x: x[i], tasks))
              for i in range(2)]
  term = jax.tree.map(lambda a, b: (a + b) / 2, per_task[0][0], per_task[1][0])
  first_ref = jax.tree.map(lambda a, b: (a + b) / 2, per_task[0][1],
                           per_task[1][1])
  # First order: the query gradient at the adapted parameters.
  # Float noise scales with the gradients (a N(0, 1) head gives large ones);
  # entries that are zero in exact arithmetic (conv biases under BN) sit at
  # that noise, so the absolute tolerance is relative to the largest entry.
  scale = max(float(np.abs(r).max()) for r in jax.tree.leaves(first_ref))
  for got, ref in zip(jax.tree.leaves(g1['fast']), jax.tree.leaves(first_ref)):
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-5 * scale)
  diff = jax.tree.map(lambda a, b: a - b, g2['fast'], g1['fast'])
  for got, ref in zip(jax.tree.leaves(diff), jax.tree.leaves(term)):
    np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-5 * scale)
  # The term is not negligible here, so the equality above has teeth.
  assert max(float(np.abs(t).max()) for t in jax.tree.leaves(term)) > 1e-3


def test_multi_step_loss_weights_of_the_step_and_fixed_rates():
  statics = _statics(multi_step_loss=True, inner_steps=2, msl_epochs=4,
                     epoch_steps=1)
  tasks = jax.device_put(_tasks(), pipeline.batch_sharding(MESH))
  state = steps.init_state(statics, SHAPE)
  params = jax.device_get(state.params)
  support, query = _losses(statics, params['slow'])
  @jax.jit
  def per_step_losses(fast, task):  # query losses after 1, 2 SGD steps
    losses = []
    for _ in range(2):
      g = jax.grad(support)(fast, task)
      fast = jax.tree.map(lambda p, g: p - INNER_LR * g, fast, g)
      losses.append(query(fast, task))
    return jnp.stack(losses)

  host_tasks = _tasks()
  per_step = [np.asarray(per_step_losses(
      params['fast'], jax.tree.map(lambda x, i=i: x[i], host_tasks)))
              for i in range(2)]
  per_step = np.mean(per_step, 0)
  # Meta-step 2 = epoch 2 of a 4-epoch staircase (MAML++): the first step's
  # weight falls from 1/2 by 1/2/4 per epoch to 1/4, the last rises to 3/4.
  state = state.replace(step=jnp.int32(2))
  old_rates = jax.device_get(state.params['rates'])
  step = jax.jit(functools.partial(steps.meta_step, statics=statics))
  new_state, metrics = step(state, tasks)
  np.testing.assert_allclose(float(metrics['loss']),
                             0.25 * per_step[0] + 0.75 * per_step[1],
                             rtol=1e-4)
  # learn_inner_lr=False: the rates are not moved by the outer step, while
  # the parameters are.
  new = jax.device_get(new_state.params)
  for old, now in zip(jax.tree.leaves(old_rates),
                      jax.tree.leaves(new['rates'])):
    np.testing.assert_array_equal(old, now)
  assert not np.allclose(new['fast']['head']['kernel'],
                         params['fast']['head']['kernel'])


def test_keep_best_keeps_a_copy_of_a_better_state_only():
  params = {'w': jnp.arange(3.0)}
  stats = {'mean': jnp.ones(2)}
  state = steps.MamlState(step=jnp.int32(0), params=params, opt_state=(),
                          batch_stats=stats,
                          best={'params': {'w': jnp.zeros(3)},
                                'batch_stats': {'mean': jnp.zeros(2)}},
                          best_val=jnp.float32(0.5))
  for worse in (0.4, 0.5):  # equal is not better
    assert steps.keep_best(state, worse, MESH) is state
  kept = steps.keep_best(state, 0.75, MESH)
  assert float(kept.best_val) == 0.75
  np.testing.assert_array_equal(kept.best['params']['w'], [0.0, 1.0, 2.0])
  np.testing.assert_array_equal(kept.best['batch_stats']['mean'], [1.0, 1.0])
  # The rest of the state is the state's, and the best is a copy of it.
  assert kept.params is params and kept.batch_stats is stats
  assert kept.best['params']['w'] is not params['w']
