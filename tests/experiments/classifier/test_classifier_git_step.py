"""GIT inside the classifier step: keep probabilities, which examples are
replaced and by what, labels, one compilation, the switch epoch."""
import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gitjax import config_base
from gitjax.data import build
from gitjax.data import pipeline
from gitjax.experiments.classifier import run as classifier
from gitjax.experiments.classifier import steps
from gitjax.experiments.munit import steps as munit_steps
from gitjax.models import resnet

# The smallest generator with every MUNIT part, on 12x12 images.
GEN = munit_steps.Statics(image_channels=1, dim=2, n_res=1, n_downsample=1,
                          n_style_downsample=1, mlp_dim=4, n_mlp=2,
                          dis_dim=4, dis_layers=1, shared=False)
SHAPE = (12, 12, 1)
B = 16


def test_threshold_probabilities_equal_the_formula():
  sizes = np.array([100, 50, 10, 5, 30])
  k = 60
  expected = [max((k - n) / (k - 5), 0) for n in sizes]
  np.testing.assert_allclose(
      steps.git_keep_probabilities(sizes, 'threshold', k), expected,
      rtol=1e-6)
  np.testing.assert_array_equal(
      steps.git_keep_probabilities(sizes, 'half_batch', k), np.ones(5))


def _statics(mode='half_batch'):
  model = resnet.resnet(8, 4)
  tx = steps.make_optimizer(lambda s: 0.05, 0.9, 5e-4)
  return steps.Statics(
      model=model, tx=tx, loss='ce', ldam_scale=30.0, focal_gamma=1.0,
      mean=(100.0,), std=(60.0,), crop_flip=False, seed=0,
      git=steps.GitSpec(mode=mode, generator=GEN))


@pytest.fixture(scope='module')
def setup():
  gen = munit_steps.init_state(GEN, SHAPE, munit_steps.init_key(0))
  gen_params = {n: gen.params['gen'][n] for n in
                munit_steps.restyle_nets(GEN, 'a')}
  rng = np.random.default_rng(0)
  batch = {'image': rng.integers(0, 255, (B,) + SHAPE, dtype=np.uint8),
           'label': rng.integers(0, 4, B),
           'source_image': rng.integers(0, 255, (B // 2,) + SHAPE,
                                        dtype=np.uint8),
           'source_label': np.array([0, 1, 2, 3] * (B // 8))}
  return gen_params, batch


def test_restyle_is_a_to_a_by_default(setup):
  gen_params, batch = setup
  assert munit_steps.restyle_nets(GEN, 'a') == ('a',)
  x = munit_steps.to_unit(batch['source_image'])
  styles = jnp.ones((B // 2, GEN.style_dim))
  full = munit_steps.init_state(GEN, SHAPE, munit_steps.init_key(0))
  content, _ = munit_steps.encode(GEN, full.params['gen']['a'], x)
  by_a = munit_steps.decode(GEN, full.params['gen']['a'], content, styles)
  np.testing.assert_allclose(
      munit_steps.restyle(GEN, full.params['gen'], x, styles), by_a)
  assert not np.allclose(
      munit_steps.restyle(GEN, full.params['gen'], x, styles, 'b'), by_a)


def test_half_batch_replaces_exactly_the_second_half(setup):
  gen_params, batch = setup
  statics = _statics()
  keep = jnp.ones(4)
  rng = jax.random.key(3)
  x, y, fraction = steps.git_images(
      statics, batch, {'gen': gen_params, 'keep_prob': keep}, rng)
  real = steps.normalize(batch['image'], statics.mean, statics.std)
  np.testing.assert_allclose(x[:B // 2], real[:B // 2], rtol=1e-6)
  # The second half: (g + 1) / 2 in pixel scale, normalised like real ones,
  # with the style drawn from the step's own stream.
  rng_style = jax.random.split(rng, 4)[2]
  styles = jax.random.normal(rng_style, (B // 2, GEN.style_dim))
  g = munit_steps.restyle(GEN, gen_params,
                          munit_steps.to_unit(batch['source_image']), styles)
  np.testing.assert_allclose(
      x[B // 2:], steps.normalize((g + 1) * 127.5, statics.mean, statics.std),
      rtol=1e-5, atol=1e-5)
  # Labels kept: real labels first, the sources' labels after.
  np.testing.assert_array_equal(y[:B // 2], batch['label'][:B // 2])
  np.testing.assert_array_equal(y[B // 2:], batch['source_label'])
  assert float(fraction) == 0.5


def test_source_flip_re_styles_the_flipped_sources(setup):
  """With source_flip (CIFAR: the recipe's crop_flip), each source is
  mirrored left-right with probability 1/2 before re-styling, drawn from the
  step's flip stream; without it none is (the test above)."""
  gen_params, batch = setup
  statics = _statics()
  statics = dataclasses.replace(
      statics, git=dataclasses.replace(statics.git, source_flip=True))
  rng = jax.random.key(5)
  x, _, _ = steps.git_images(
      statics, batch, {'gen': gen_params, 'keep_prob': jnp.ones(4)}, rng)
  _, rng_flip, rng_style, _ = jax.random.split(rng, 4)
  flip = np.asarray(jax.random.bernoulli(rng_flip, 0.5, (B // 2,)))
  assert 0 < flip.sum() < B // 2  # this seed flips some, not all
  sources = munit_steps.to_unit(batch['source_image'])
  mirrored = np.where(flip[:, None, None, None],
                      np.asarray(sources)[:, :, ::-1], np.asarray(sources))
  styles = jax.random.normal(rng_style, (B // 2, GEN.style_dim))
  g = munit_steps.restyle(GEN, gen_params, jnp.asarray(mirrored), styles)
  np.testing.assert_allclose(
      x[B // 2:], steps.normalize((g + 1) * 127.5, statics.mean, statics.std),
      rtol=1e-5, atol=1e-5)


def test_threshold_keeps_the_real_example_of_large_classes(setup):
  gen_params, batch = setup
  statics = _statics('threshold')
  keep = jnp.array([1.0, 0.0, 1.0, 0.0])  # classes 1 and 3: never re-styled
  x, y, fraction = steps.git_images(
      statics, batch, {'gen': gen_params, 'keep_prob': keep},
      jax.random.key(0))
  real = steps.normalize(batch['image'], statics.mean, statics.std)
  tail = np.arange(B // 2, B)
  replaced = np.isin(batch['source_label'], [0, 2])
  np.testing.assert_allclose(x[tail[~replaced]], real[tail[~replaced]])
  assert not np.allclose(x[tail[replaced]], real[tail[replaced]])
  np.testing.assert_array_equal(y[tail[~replaced]],
                                batch['label'][tail[~replaced]])
  np.testing.assert_array_equal(y[tail[replaced]],
                                batch['source_label'][replaced])
  assert float(fraction) == pytest.approx(replaced.sum() / B)


def test_git_step_compiles_once_and_learns(setup):
  gen_params, batch = setup
  statics = _statics()
  state = steps.init_state(statics.model, statics.tx, SHAPE,
                           jax.random.key(0))
  loss_params = {'class_weights': np.ones(4, np.float32),
                 'margins': np.full(4, 0.3, np.float32)}
  git_params = {'gen': gen_params, 'keep_prob': jnp.ones(4)}

  @chex.assert_max_traces(n=1)
  def step(state, batch, loss_params, git_params):
    return steps.git_train_step(state, batch, loss_params, git_params,
                                statics=statics)

  step_fn = jax.jit(step, donate_argnums=0)
  before = jax.tree.structure(state)
  for _ in range(3):
    state, metrics = step_fn(state, batch, loss_params, git_params)
  assert jax.tree.structure(state) == before
  assert np.isfinite(float(metrics['loss']))
  assert float(metrics['git_fraction']) == 0.5
  chex.clear_trace_counter()


def _git_step_on(mesh, statics, gen_params, batch):
  replicated = pipeline.replicated(mesh)
  state = jax.device_put(steps.init_state(
      statics.model, statics.tx, SHAPE, jax.random.key(0)), replicated)
  step_fn = steps.jit_git_train_step(statics, replicated,
                                     pipeline.batch_sharding(mesh))
  loss_params = jax.device_put({'class_weights': np.ones(4, np.float32),
                                'margins': np.full(4, 0.3, np.float32)},
                               replicated)
  git_params = jax.device_put({'gen': gen_params, 'keep_prob': jnp.ones(4)},
                              replicated)
  state, metrics = step_fn(state, pipeline.shard_batch(batch, mesh),
                           loss_params, git_params)
  return jax.device_get((state, metrics))


def test_eight_devices_give_the_one_device_git_step(setup):
  gen_params, batch = setup
  statics = _statics()
  mesh = pipeline.make_mesh()
  assert mesh.size == 8
  state8, metrics8 = _git_step_on(mesh, statics, gen_params, batch)
  state1, metrics1 = _git_step_on(pipeline.make_mesh(jax.devices()[:1]),
                                  statics, gen_params, batch)
  # Same keys, same re-stylings, BN over the global batch: the same step.
  np.testing.assert_allclose(metrics8['loss'], metrics1['loss'], rtol=1e-5)
  assert float(metrics8['git_fraction']) == float(metrics1['git_fraction'])
  chex.assert_trees_all_close(state8, state1, rtol=1e-4, atol=1e-5)


def test_plan_switches_git_on_one_epoch_after_the_first_drop():
  config = config_base.get_base('classifier')
  config.method = 'ce_drs_git'
  config.data.n_max = 40
  config.train.epochs = 6
  config.train.batch_size = 16
  config.train.decay_epochs = (3,)
  config.train.decay_factors = (0.1,)
  data = build.build(config.data, 0)
  plan = classifier.Plan(config, data)
  start = 4 * plan.steps_per_epoch
  assert plan.git_start_epoch == 4
  assert not any(plan.git_on(s) for s in range(start))
  assert all(plan.git_on(s) for s in range(start, plan.total_steps))
  # Sources: an independent draw of the current phase's sampler (balanced
  # from the switch on), B // 2 of them.
  source = plan.source_indices(start)
  assert len(source) == 8
  assert not np.array_equal(source, plan.indices(start)[:8])
  plain = config_base.get_base('classifier')
  plain.method = 'ce_drs'
  plain.data.n_max = 40
  assert not classifier.Plan(plain, data).git


def test_threshold_mode_keeps_re_stylings_at_the_formulas_rates(setup):
  # Keep probabilities strictly between 0 and 1, as the formula gives them
  # for classes between n_min and K; the observed share of re-styled
  # positions per class must match them. 400 keys x 2 positions per class
  # = 800 Bernoulli draws each: the binomial std is at most 0.018, so the
  # 0.07 tolerance is about 4 std (seeded: the test is deterministic).
  gen_params, batch = setup
  statics = _statics('threshold')
  sizes, k = np.array([40, 30, 20, 10]), 50
  keep = steps.git_keep_probabilities(sizes, 'threshold', k)
  np.testing.assert_allclose(keep, [0.25, 0.5, 0.75, 1.0])
  keep[3] = 0.9  # the smallest class too, strictly below 1
  params = {'gen': gen_params, 'keep_prob': jnp.asarray(keep)}
  keys = jax.random.split(jax.random.key(7), 400)
  xs, _, _ = jax.jit(jax.vmap(
      lambda r: steps.git_images(statics, batch, params, r)))(keys)
  real = steps.normalize(batch['image'], statics.mean, statics.std)
  tail = xs[:, B // 2:]                                  # [keys, B // 2, ...]
  diff = np.abs(np.asarray(tail) - np.asarray(real[B // 2:])[None])
  replaced = diff.reshape(len(keys), B // 2, -1).max(-1) > 1e-4  # [keys, B//2]
  for c in range(4):
    at_c = batch['source_label'] == c
    assert abs(replaced[:, at_c].mean() - keep[c]) < 0.07, (c, keep[c])
