"""MAML steps: hand-derived inner loop and meta-gradients, first vs second
order, learned inner rates, 1 vs 8 devices (one compilation of the real step:
tests/experiments/test_maml_run.py)."""
import functools
import os
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np

from gitjax import bilevel
from gitjax.data import episodes
from gitjax.data import pipeline
from gitjax.experiments.maml import steps
from gitjax.experiments.maml import variants as maml_variants

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import maml_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_enable_x64', False)

RNG = np.random.default_rng(0)
XS, YS = RNG.normal(size=(6, 3)), RNG.normal(size=6)   # support
XQ, YQ = RNG.normal(size=(9, 3)), RNG.normal(size=9)   # query
W0 = RNG.normal(size=3)


def _mse(w, x, y):
  return 0.5 * jnp.mean((x @ w - y) ** 2)


def _grad(w, x, y):  # by hand: X^T (X w - y) / n
  return x.T @ (x @ w - y) / len(y)


def _maml_query_loss(params, first_order, num_steps):
  """Query loss at w_K; the inner loop is maml_steps.adapt (bilevel.unroll)."""
  support = lambda p, _: _mse(p['w'], XS, YS)
  optimizer = bilevel.sgd_per_step({'w': params['rates']},
                                   first_order=first_order)
  w_k, _ = steps.adapt({'w': params['w']}, support, optimizer, num_steps)
  return _mse(w_k['w'], XQ, YQ)


def test_inner_loop_and_meta_gradients_equal_hand_derived_values():
  a1, a2 = 0.3, 0.2
  hess = XS.T @ XS / len(YS)
  w1 = W0 - a1 * _grad(W0, XS, YS)
  w2 = w1 - a2 * _grad(w1, XS, YS)
  gq = _grad(w2, XQ, YQ)
  eye = np.eye(3)
  params = {'w': jnp.asarray(W0, jnp.float32),
            'rates': jnp.asarray([a1, a2], jnp.float32)}
  # Inner loop result.
  w_k, _ = steps.adapt({'w': params['w']}, lambda p, _: _mse(p['w'], XS, YS),
                       bilevel.sgd_per_step({'w': params['rates']}), 2)
  np.testing.assert_allclose(w_k['w'], w2, rtol=1e-5)
  second = jax.grad(_maml_query_loss)(params, False, 2)
  first = jax.grad(_maml_query_loss)(params, True, 2)
  # Second order: d L_q(w_2) / d w_0 = (I - a1 H)(I - a2 H) g_q.
  np.testing.assert_allclose(
      second['w'], (eye - a1 * hess) @ (eye - a2 * hess) @ gq, rtol=1e-4)
  # d / d a2 = -g_s(w1) . g_q;  d / d a1 = -g_s(w0) . (I - a2 H) g_q.
  np.testing.assert_allclose(second['rates'][1], -_grad(w1, XS, YS) @ gq,
                             rtol=1e-4)
  np.testing.assert_allclose(
      second['rates'][0], -_grad(W0, XS, YS) @ (eye - a2 * hess) @ gq,
      rtol=1e-4)
  # First order: the inner gradients are constants, d w_2 / d w_0 = I.
  np.testing.assert_allclose(first['w'], gq, rtol=1e-4)
  np.testing.assert_allclose(first['rates'][0], -_grad(W0, XS, YS) @ gq,
                             rtol=1e-4)
  # Exactly where expected: the last step's rate has the same gradient in
  # both (nothing after it to differentiate through); the rest differ.
  np.testing.assert_allclose(first['rates'][1], second['rates'][1],
                             rtol=1e-6)
  assert abs(float(first['rates'][0] - second['rates'][0])) > 1e-3
  assert np.abs(np.asarray(first['w'] - second['w'])).max() > 1e-3
  # K = 0: no inner step, MAML is plain training on the query loss.
  zero = jax.grad(_maml_query_loss)(params, False, 0)
  np.testing.assert_allclose(zero['w'], _grad(W0, XQ, YQ), rtol=1e-5)


def test_scores_after_every_step_and_rates_beyond_training():
  optimizer = bilevel.sgd_per_step({'w': jnp.asarray([0.3, 0.2])})
  support = lambda p, _: _mse(p['w'], XS, YS)
  w_k, scores = steps.adapt({'w': jnp.asarray(W0, jnp.float32)}, support,
                            optimizer, 3,
                            score_fn=lambda p, k: (_mse(p['w'], XQ, YQ), k))
  w = W0
  for i, rate in enumerate((0.3, 0.2, 0.2)):  # step 3 reuses the last rate
    w = w - rate * _grad(w, XS, YS)
    np.testing.assert_allclose(scores[0][i], 0.5 * np.mean((XQ @ w - YQ) ** 2),
                               rtol=1e-5)
  np.testing.assert_array_equal(scores[1], [1, 2, 3])
  np.testing.assert_allclose(w_k['w'], w, rtol=1e-5)


def _tiny_config(**maml):
  config = maml_digits.get_config('smoke')
  config.maml.filters = 2
  config.maml.queries = 2
  config.maml.checkpoint_inner = False
  for key, value in maml.items():
    config.maml[key] = value
  return config


SHAPE = (8, 8, 1)


def _pool(seed):
  return np.random.default_rng(seed).integers(0, 256, (7, 4) + SHAPE,
                                              dtype=np.uint8)


def _meta_grad(statics, tasks):
  state = steps.init_state(statics, SHAPE)
  tasks = jax.device_put(tasks, pipeline.batch_sharding(statics.mesh))
  weights = maml_variants.msl_weights(0, statics.inner_steps, 2)
  fn = jax.jit(functools.partial(steps.meta_gradient, statics=statics))
  return jax.device_get(fn(state.params, tasks, weights))


def test_learned_rates_and_bn_get_gradients_and_eight_devices_equal_one():
  config = _tiny_config(per_step_bn=True, learn_inner_lr=True, bn_scale=True)
  tasks = episodes.sample_tasks(jax.random.key(3), _pool(1), 8, 5, 1, 2)
  one = steps.make_statics(config, pipeline.make_mesh(jax.devices()[:1]))
  eight = steps.make_statics(config, pipeline.make_mesh(jax.devices()[:8]))
  assert eight.mesh.size == 8
  (loss1, _), grads1 = _meta_grad(one, tasks)
  (loss8, _), grads8 = _meta_grad(eight, tasks)
  np.testing.assert_allclose(loss1, loss8, rtol=1e-5)
  chex.assert_trees_all_close(grads1, grads8, rtol=1e-3, atol=2e-5)
  # Learned inner rates get gradients (a conv bias right before BN does
  # not: BN subtracts it again, so its rate's gradient is ~0).
  rates = grads1['rates']
  assert all(leaf.shape == (1,) for leaf in jax.tree.leaves(rates))
  for layer in ('conv1', 'conv2', 'conv3', 'conv4', 'head'):
    assert abs(float(rates[layer]['kernel'][0])) > 1e-6, layer
  assert abs(float(rates['head']['bias'][0])) > 1e-6
  # Per-step BN: one set per step (K + 1 = 2), each with its own gradient.
  assert grads1['slow']['bn1']['scale'].shape == (2, 2)
  assert np.all(np.abs(grads1['slow']['bn1']['scale']).sum(-1) > 0)
