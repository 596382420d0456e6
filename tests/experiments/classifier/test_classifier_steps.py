"""Classifier steps: schedule, phases, one jitted step, devices, metrics."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax.data import pipeline
from gitjax.experiments.classifier import steps
from gitjax.models import resnet


def test_lr_schedule_warmup_and_drops():
  schedule = steps.lr_schedule(0.1, steps_per_epoch=10, warmup_epochs=5,
                               decay_epochs=(30, 40),
                               decay_factors=(0.01, 0.0001))
  assert float(schedule(0)) == pytest.approx(0.1 / 50)
  assert float(schedule(49)) == pytest.approx(0.1)
  assert float(schedule(299)) == pytest.approx(0.1)
  assert float(schedule(300)) == pytest.approx(0.001)
  assert float(schedule(400)) == pytest.approx(0.00001)


def test_per_class_report_by_hand():
  labels = np.array([0, 0, 0, 1, 2, 2])
  preds = np.array([0, 0, 1, 1, 0, 2])
  out = steps.per_class_report(labels, preds, 3)
  np.testing.assert_allclose(out['per_class_accuracy'], [2 / 3, 1, 0.5])
  assert out['balanced_accuracy'] == pytest.approx((2 / 3 + 1 + 0.5) / 3)
  assert out['accuracy'] == pytest.approx(4 / 6)
  assert out['confusion'] == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_random_crop_flip_keeps_shape_and_moves_pixels():
  images = jnp.arange(2 * 6 * 6 * 1, dtype=jnp.float32).reshape(2, 6, 6, 1)
  out = steps.random_crop_flip(jax.random.key(0), images, pad=2)
  assert out.shape == images.shape
  again = steps.random_crop_flip(jax.random.key(0), images, pad=2)
  np.testing.assert_array_equal(out, again)
  # Each output is one of the 5 x 5 crops of the zero-padded image, flipped
  # or not (numpy by hand), and not every one is the identity crop.
  padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
  for i in range(2):
    crops = [padded[i, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
    candidates = crops + [crop[:, ::-1] for crop in crops]
    assert any(np.array_equal(out[i], c) for c in candidates), i
  many = jnp.broadcast_to(images[:1], (32, 6, 6, 1))
  moved = steps.random_crop_flip(jax.random.key(1), many, pad=2)
  assert np.mean(np.any(np.asarray(moved) != np.asarray(many),
                        axis=(1, 2, 3))) > 0.9   # identity: 1/50 each


def _setup(loss='ce', crop_flip=True):
  model = resnet.resnet(8, 4, cosine_head=loss == 'ldam')
  tx = steps.make_optimizer(lambda s: 0.05, 0.9, 5e-4)
  statics = steps.Statics(model=model, tx=tx, loss=loss, ldam_scale=30.0,
                          focal_gamma=1.0, mean=(100.0,), std=(60.0,),
                          crop_flip=crop_flip, seed=0)
  state = steps.init_state(model, tx, (12, 12, 1), jax.random.key(0))
  rng = np.random.default_rng(0)
  batch = {'image': rng.integers(0, 255, (16, 12, 12, 1), dtype=np.uint8),
           'label': rng.integers(0, 4, 16)}
  loss_params = {'class_weights': np.ones(4, np.float32),
                 'margins': np.full(4, 0.3, np.float32)}
  return statics, state, batch, loss_params


def _run(mesh, num_steps, loss='ce', crop_flip=True):
  statics, state, batch, loss_params = _setup(loss, crop_flip)
  replicated = pipeline.replicated(mesh)
  state = jax.device_put(state, replicated)
  step_fn = steps.jit_train_step(statics, replicated,
                                 pipeline.batch_sharding(mesh))
  sharded = pipeline.shard_batch(batch, mesh)
  loss_params = jax.device_put(loss_params, replicated)
  history = []
  for _ in range(num_steps):
    state, metrics = step_fn(state, sharded, loss_params)
    history.append(float(metrics['loss']))
  return state, history


@pytest.mark.parametrize('loss', ['ce', 'ldam', 'focal'])
def test_loss_falls_on_a_fixed_batch(loss):
  state, history = _run(pipeline.make_mesh(jax.devices()[:1]), 20, loss,
                        crop_flip=False)
  assert np.mean(history[-3:]) < 0.7 * history[0], history
  assert int(state.step) == 20


def test_one_compilation_and_same_tree():
  statics, state, batch, loss_params = _setup()
  @chex.assert_max_traces(n=1)
  def step(state, batch, loss_params):
    return steps.train_step(state, batch, loss_params, statics=statics)

  step_fn = jax.jit(step)
  before = jax.tree.structure(state)
  for _ in range(3):
    state, _ = step_fn(state, batch, loss_params)
  assert jax.tree.structure(state) == before
  chex.clear_trace_counter()


def test_one_device_and_eight_devices_agree():
  assert jax.device_count() == 8
  one, loss_one = _run(pipeline.make_mesh(jax.devices()[:1]), 3)
  eight, loss_eight = _run(pipeline.make_mesh(), 3)
  np.testing.assert_allclose(loss_one, loss_eight, rtol=1e-5)
  chex.assert_trees_all_close(jax.device_get(one.params),
                              jax.device_get(eight.params), atol=1e-5)
  chex.assert_trees_all_close(jax.device_get(one.batch_stats),
                              jax.device_get(eight.batch_stats), atol=1e-5)
