"""MAML variants: cbfinn's inner loss scaling, MAML++'s annealings (by
hand), ANIL's inner loop, running-statistics BN."""
import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gitjax import bilevel
from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.experiments.maml import steps
from gitjax.experiments.maml import variants

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import maml_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

SHAPE = (8, 8, 1)
POOL = np.random.default_rng(1).integers(0, 256, (7, 4) + SHAPE,
                                         dtype=np.uint8)


def test_cbfinn_inner_loss_is_n_times_the_mean_ce_gradient():
  # Linear model, N = 3 ways, K = 2 shots: cbfinn's loss is
  # sum_i CE_i / K over the N*K support images.
  rng = np.random.default_rng(0)
  ways, shots = 3, 2
  x = jnp.asarray(rng.normal(size=(ways * shots, 4)), jnp.float32)
  y = jnp.repeat(jnp.arange(ways), shots)
  w0 = jnp.asarray(rng.normal(size=(4, ways)), jnp.float32)
  scale = variants.inner_loss_scale('cbfinn_sum', ways)
  assert scale == ways and variants.inner_loss_scale('mean', ways) == 1.0
  cbfinn = lambda w: jnp.sum(optax.softmax_cross_entropy_with_integer_labels(
      x @ w, y)) / shots
  ours = lambda w: scale * steps.cross_entropy(x @ w, y)
  mean_grad = jax.grad(lambda w: steps.cross_entropy(x @ w, y))(w0)
  np.testing.assert_allclose(jax.grad(ours)(w0), jax.grad(cbfinn)(w0),
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(jax.grad(ours)(w0), ways * mean_grad, rtol=1e-5,
                             atol=1e-7)
  # One inner step of the real loop at rate 0.4 is a step of N x 0.4 on the
  # mean CE.
  w1, _ = steps.adapt({'w': w0}, lambda p, _: ours(p['w']),
                      bilevel.sgd_per_step({'w': jnp.asarray([0.4])}), 1)
  np.testing.assert_allclose(w1['w'], w0 - 0.4 * ways * mean_grad, rtol=1e-5,
                             atol=1e-7)


def test_msl_weights_follow_the_maml_plus_plus_staircase():
  # K = 5, 20 epochs: decay 1/5/20 = 0.01 per epoch, floor 0.03/5 = 0.006.
  np.testing.assert_allclose(variants.msl_weights(0, 5, 20), [0.2] * 5)
  np.testing.assert_allclose(variants.msl_weights(10, 5, 20),
                             [0.1] * 4 + [0.6], rtol=1e-6)
  np.testing.assert_allclose(variants.msl_weights(19, 5, 20),
                             [0.01] * 4 + [0.96], rtol=1e-5)
  np.testing.assert_allclose(variants.msl_weights(20, 5, 20), [0] * 4 + [1])
  # 100 epochs, epoch 99: 0.2 - 0.198 = 0.002 is below the floor 0.006, and
  # the final weight is capped at 1 - 4 x 0.006 = 0.976.
  np.testing.assert_allclose(variants.msl_weights(99, 5, 100),
                             [0.006] * 4 + [0.976], rtol=1e-5)
  np.testing.assert_allclose(variants.msl_weights(3, 1, 20), [1.0])
  # Epochs of meta-steps.
  assert [variants.epoch_of(s, 500) for s in (0, 499, 500, 1499)] == [
      0, 0, 1, 2]


def _config(**maml):
  config = maml_digits.get_config('smoke')
  config.maml.filters = 2
  config.maml.checkpoint_inner = False
  for key, value in maml.items():
    config.maml[key] = value
  return config


def _tasks(statics, num_tasks=8, key=3):
  tasks = episodes.sample_tasks(jax.random.key(key), POOL, num_tasks,
                                statics.ways, statics.shots, statics.queries)
  return jax.device_put(tasks, pipeline.batch_sharding(statics.mesh))


def test_derivative_order_annealing_switches_exactly_at_its_epoch():
  # One inner step: the multi-step loss weight is [1] in every epoch, so
  # only the derivative order differs between meta-steps 5 and 6.
  config = _config(variant='maml++', inner_steps=1, epoch_steps=3,
                   first_order_epochs=2, eval_every=1)
  statics = steps.make_statics(config, pipeline.make_mesh(jax.devices()[:1]))
  assert [bool(variants.first_order_at(variants.epoch_of(s, 3), 2))
          for s in (0, 5, 6, 7)] == [True, True, False, False]
  state = steps.init_state(statics, SHAPE)
  tasks = _tasks(statics)
  gradient = jax.jit(functools.partial(steps.meta_gradient, statics=statics),
                     static_argnames='first_order')
  weights = variants.msl_weights(0, 1, statics.msl_epochs)
  norms = {order: float(optax.tree.norm(gradient(
      state.params, tasks, weights, first_order=order)[1]))
           for order in (True, False)}
  assert abs(norms[True] - norms[False]) > 1e-6
  step = jax.jit(functools.partial(steps.meta_step, statics=statics))
  for at, first in ((5, True), (6, False)):
    _, metrics = step(state.replace(step=jnp.int32(at)), tasks)
    assert float(metrics['first_order']) == float(first)
    np.testing.assert_allclose(float(metrics['grad_norm']), norms[first],
                               rtol=1e-5)


def test_anil_inner_loop_moves_only_the_head():
  statics = steps.make_statics(_config(variant='anil'),
                               pipeline.make_mesh(jax.devices()[:1]))
  state = steps.init_state(statics, SHAPE)
  assert list(state.params['rates']) == ['head']
  task = jax.tree.map(lambda x: x[0], _tasks(statics))
  params = jax.device_get(state.params)
  fast = jax.device_get(jax.jit(functools.partial(
      steps.adapt_task, statics=statics, num_steps=2))(
          state.params, state.batch_stats, task))
  for name, leaves in params['fast'].items():
    for key, before in leaves.items():
      moved = np.abs(fast[name][key] - before).max()
      if name == 'head':
        assert moved > 1e-4, key
      else:
        assert moved == 0, (name, key)


def test_running_bn_keeps_per_step_statistics_and_evaluates_with_them():
  config = _config(bn_mode='running', per_step_bn=True)
  statics = steps.make_statics(config, pipeline.make_mesh(jax.devices()[:1]))
  state = steps.init_state(statics, SHAPE)
  assert state.batch_stats['bn1']['mean'].shape == (2, 2)  # K + 1 sets
  tasks = _tasks(statics)
  new, _ = jax.jit(functools.partial(steps.meta_step, statics=statics))(
      state, tasks)
  # Running averages moved from their init (0 mean, 1 var), per step.
  running = jax.device_get(new.batch_stats['bn1'])
  assert np.abs(running['mean']).min() > 0
  assert np.abs(running['mean'][0] - running['mean'][1]).max() > 0
  # A forward with running statistics equal to a batch's own statistics
  # gives the transductive logits; other statistics give others.
  fast, slow = new.params['fast'], steps.bn_at(new.params['slow'], 0, True)
  images = tasks['query'][0]
  logits, own = steps.apply_collect(statics.model, fast, slow, images)
  np.testing.assert_allclose(
      steps.apply_model(statics.model, fast, slow, images, own), logits,
      rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(
      steps.apply_model(statics.model, fast, slow, images), logits,
      rtol=1e-5, atol=1e-6)
  # Evaluation reads the running statistics: with a huge running variance
  # every image normalises to the BN offset, so every query gets the same
  # prediction and the accuracy is exactly 1/N at every step.
  huge = jax.tree.map(lambda x: x, new.batch_stats)
  huge = {k: {'mean': v['mean'], 'var': v['var'] * 0 + 1e12}
          for k, v in huge.items()}
  pool = jax.device_put(POOL, pipeline.replicated(statics.mesh))
  accs = steps.evaluate(new.params, pool, statics=statics, purpose='val',
                        num_tasks=8, num_steps=1, chunk=8, batch_stats=huge)
  np.testing.assert_allclose(accs, 1.0 / statics.ways)
  # (No guard that the real statistics give more than chance: this 2-filter
  # net after one meta-step may predict one class for every query, which is
  # exactly 1/N too. That evaluation reads the running values at all is
  # pinned above: statistics equal to a batch's own give its logits.)
