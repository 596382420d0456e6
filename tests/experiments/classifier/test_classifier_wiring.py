"""What each phase of the classifier trainer feeds its step, pinned against
independent references (numpy by hand, counts, the transforms' stated
distributions), not against the code path that computes it.

Phases: before and after the DRS/DRW switch (classifier.Plan), GIT's sources,
the loss the step optimises (tiny model, loss recomputed in numpy), the
pixels the step sees (crop, flip, oracle), and what `train()` passes to the
jitted step (recorded through a wrapper of steps.jit_train_step).
"""
import functools
import os
import sys
import types

import flax.linen as nn
import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import classifier_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import build  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import transforms  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import run as classifier  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

# A tiny long tail: class c has SIZES[c] training images.
SIZES = np.array([16, 8, 4, 2, 2])
K = len(SIZES)
BETA, MAX_MARGIN = 0.9, 0.5


def _data():
  """What Plan reads of a data set, for SIZES (labels grouped by class)."""
  return types.SimpleNamespace(
      y_train=np.repeat(np.arange(K), SIZES), num_classes=K,
      class_sizes=SIZES.copy(), y_val=np.zeros(0, np.int64))


def _plan(method):
  config = classifier_digits.get_config(f'{method},smoke')
  config.train.batch_size = 8                 # 4 steps per epoch of 32
  config.train.epochs = 4
  config.train.decay_epochs = (2,)            # switch at step 8
  config.train.decay_factors = (0.1,)
  config.train.deferred_epoch = -1
  config.train.cb_beta = BETA
  config.train.ldam_max_margin = MAX_MARGIN
  return classifier.Plan(config, _data())


def _effective_by_hand():
  # Cui et al. 2019: w_c = (1 - beta) / (1 - beta^n_c), normalised to sum K.
  w = (1 - BETA) / (1 - BETA ** SIZES.astype(np.float64))
  return w * K / w.sum()


def _margins_by_hand():
  # Cao et al. 2019: m_c = C / n_c^(1/4), the largest equal to C.
  m = SIZES.astype(np.float64) ** -0.25
  return m * MAX_MARGIN / m.max()


def test_hand_references_have_the_published_shape():
  # The references above, as numbers worked out by hand (beta 0.9: 1 /
  # (1 - 0.9^n) = 1.2275, 1.7559, 2.9078, 5.2632, 5.2632, scaled to sum 5;
  # n^-1/4 = 0.5, 0.5946, 0.7071, 0.8409, scaled to a largest of 0.5).
  np.testing.assert_allclose(
      _effective_by_hand(),
      [0.37383, 0.53474, 0.88559, 1.60292, 1.60292], rtol=1e-4)
  np.testing.assert_allclose(_margins_by_hand(),
                             [0.29730, 0.35355, 0.42045, 0.5, 0.5], rtol=1e-4)


@pytest.mark.parametrize('method,weighted_before,weighted_after', [
    ('ce', False, False), ('ce_drs', False, False), ('ce_rs', False, False),
    ('ce_drw', False, True), ('ce_rw', True, True), ('ldam', False, False),
    ('ldam_drw', False, True), ('focal_drw', False, True),
    ('ce_drs_git', False, False)])
def test_loss_inputs_of_every_phase(method, weighted_before, weighted_after):
  plan = _plan(method)
  assert plan.switch_step == 8
  ones = np.ones(K)
  for step, weighted in ((0, weighted_before), (7, weighted_before),
                         (8, weighted_after), (15, weighted_after)):
    params = plan.loss_params(step)
    expected = _effective_by_hand() if weighted else ones
    # Exactly 1 before a deferred switch (not merely close to 1).
    if not weighted:
      np.testing.assert_array_equal(params['class_weights'], ones)
    np.testing.assert_allclose(params['class_weights'], expected, rtol=1e-5)
    np.testing.assert_allclose(params['margins'], _margins_by_hand(),
                               rtol=1e-5)


def test_sampling_rules_of_every_method():
  for method, before, after in (('ce', False, False), ('ce_rs', True, True),
                                ('ce_drs', False, True), ('ce_rw', False, False),
                                ('ce_drw', False, False),
                                ('ldam_drs', False, True)):
    plan = _plan(method)
    assert [plan.resampling(s) for s in (0, 7, 8, 15)] == [
        before, before, after, after], method


def _class_frequencies(index_batches):
  labels = np.repeat(np.arange(K), SIZES)[np.concatenate(index_batches)]
  return np.bincount(labels, minlength=K) / len(labels)


def test_batch_and_git_source_frequencies_per_phase():
  plan = _plan('ce_drs_git')
  assert plan.git_batch == 4
  # Before the switch: uniform without replacement, so two whole epochs
  # (steps 0..7) hold every image exactly twice.
  counts = np.bincount(np.concatenate([plan.indices(s) for s in range(8)]),
                       minlength=SIZES.sum())
  np.testing.assert_array_equal(counts, 2)
  # After it: class-balanced, for the batch and for GIT's sources. 2000
  # steps: 16000 batch draws (sd of a frequency 0.0032), 8000 source draws
  # (0.0045); tolerance 0.02, over 4 sd.
  after = range(8, 2008)
  np.testing.assert_allclose(_class_frequencies([plan.indices(s) for s in after]),
                             1 / K, atol=0.02)
  sources = [plan.source_indices(s) for s in after]
  assert all(len(s) == 4 for s in sources)
  np.testing.assert_allclose(_class_frequencies(sources), 1 / K, atol=0.02)
  # An independent draw: not the batch's first half.
  same = sum(np.array_equal(plan.indices(s)[:4], plan.source_indices(s))
             for s in after)
  assert same < 20
  # Without DRS the sources stay uniform after the switch: class
  # frequencies are the class proportions (0.5, 0.25, ...).
  plan = _plan('ce_git')
  sources = [plan.source_indices(s) for s in after]
  np.testing.assert_allclose(_class_frequencies(sources), SIZES / SIZES.sum(),
                             atol=0.02)
  # DRS's sources before the switch are uniform too.
  plan = _plan('ce_drs_git')
  sources = [plan.source_indices(s) for s in range(0, 8)] * 1
  assert len(np.unique(np.concatenate(sources))) > 16


class _Tiny(nn.Module):
  """Flatten -> BN -> Dense: the smallest classifier with batch statistics."""
  num_classes: int

  @nn.compact
  def __call__(self, x, train=False):
    x = x.reshape((x.shape[0], -1))
    x = nn.BatchNorm(use_running_average=not train)(x)
    return nn.Dense(self.num_classes)(x)


MEAN, STD = (100.0,), (50.0,)


def _step_setup(loss, focal_gamma=2.0, crop_flip=False, oracle=None):
  model = _Tiny(K)
  tx = steps.make_optimizer(lambda s: 0.1, 0.9, 0.0)
  statics = steps.Statics(model=model, tx=tx, loss=loss, ldam_scale=7.0,
                          focal_gamma=focal_gamma, mean=MEAN, std=STD,
                          crop_flip=crop_flip, oracle=oracle, seed=0)
  state = steps.init_state(model, tx, (4, 4, 1), jax.random.key(1))
  return statics, state


def _logits_by_hand(state, statics, images):
  # The train-mode forward pass of the step (BN on this batch's statistics).
  x = (np.asarray(images, np.float32) - MEAN[0]) / STD[0]
  logits, _ = statics.model.apply(
      {'params': state.params, 'batch_stats': state.batch_stats}, x,
      train=True, mutable=['batch_stats'])
  return np.asarray(logits, np.float64)


def _ce_rows(z, labels):
  z = z - z.max(1, keepdims=True)
  log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
  return -log_p[np.arange(len(labels)), labels]


@pytest.fixture(scope='module')
def step_batch():
  rng = np.random.default_rng(0)
  return {'image': rng.integers(0, 255, (10, 4, 4, 1), dtype=np.uint8),
          'label': np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])}


@functools.lru_cache(maxsize=4)
def _jit_step(statics):
  return jax.jit(functools.partial(steps.train_step, statics=statics))


def _loss_of_step(statics, state, batch, loss_params):
  _, metrics = _jit_step(statics)(state, batch, loss_params)
  return float(metrics['loss'])


def test_ldam_margins_and_weights_reach_the_loss_the_step_optimises(step_batch):
  plan = _plan('ldam_drw')
  statics, state = _step_setup('ldam')
  logits = _logits_by_hand(state, statics, step_batch['image'])
  y = step_batch['label']
  for step in (0, 8):  # before the switch: unit weights; after: effective
    params = plan.loss_params(step)
    w = np.asarray(params['class_weights'], np.float64)[y]
    shifted = 7.0 * (logits - np.eye(K)[y] * _margins_by_hand()[y][:, None])
    expected = np.sum(w * _ce_rows(shifted, y)) / np.sum(w)
    got = _loss_of_step(statics, state, step_batch, params)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
  # The margins matter at this size: zero margins give another loss.
  no_margin = np.mean(_ce_rows(7.0 * logits, y))
  assert abs(no_margin - _loss_of_step(statics, state, step_batch,
                                       plan.loss_params(0))) > 0.05


def test_focal_gamma_and_weighted_ce_reach_the_loss(step_batch):
  y = step_batch['label']
  statics, state = _step_setup('focal', focal_gamma=2.0)
  logits = _logits_by_hand(state, statics, step_batch['image'])
  ce = _ce_rows(logits, y)
  p = np.exp(-ce)
  ones = {'class_weights': np.ones(K, np.float32),
          'margins': np.zeros(K, np.float32)}
  np.testing.assert_allclose(
      _loss_of_step(statics, state, step_batch, ones),
      np.mean((1 - p) ** 2 * ce), rtol=1e-5)
  statics, _ = _step_setup('ce')
  weights = _effective_by_hand()
  weighted = dict(ones, class_weights=weights.astype(np.float32))
  np.testing.assert_allclose(
      _loss_of_step(statics, state, step_batch, weighted),
      np.sum(weights[y] * ce) / np.sum(weights[y]), rtol=1e-5)


def test_crop_and_flip_as_specified():
  # Constant images of raw value 200: after a crop of the black-padded
  # image, each pixel is 200 or the padding's 0 (torchvision's RandomCrop),
  # normalised; flips of a ramp reverse its columns.
  statics, _ = _step_setup('ce', crop_flip=True)
  bright = np.full((64, 6, 6, 1), 200, np.uint8)
  prepare = jax.jit(functools.partial(steps.prepare_images, statics))
  out = np.asarray(prepare(bright, jax.random.key(3)))
  values = np.unique(np.round(out, 5))
  np.testing.assert_allclose(values, [(0 - 100) / 50, (200 - 100) / 50])
  moved = np.mean(np.any(out < 0, axis=(1, 2, 3)))
  # Offsets uniform on 0..8 per axis: P(no padding in view) = (1/9)^2.
  assert moved > 0.9
  ramp = np.broadcast_to(np.arange(6, dtype=np.float32)[None, None, :, None],
                         (64, 6, 6, 1))
  out = np.asarray(steps.random_crop_flip(jax.random.key(4), ramp, pad=0))
  flipped = np.all(out == ramp[:, :, ::-1], axis=(1, 2, 3))
  kept = np.all(out == ramp, axis=(1, 2, 3))
  assert np.all(flipped | kept)
  assert 16 < flipped.sum() < 48   # Bernoulli(0.5) of 64: mean 32, sd 4


def test_oracle_applies_the_true_transformation_to_clean_images():
  # bg: exact-zero pixels become UniformInt{0..99}; the others stay.
  spec = transforms.parse_transform('bg')
  statics, _ = _step_setup('ce', oracle=spec)
  clean = np.zeros((32, 4, 4, 1), np.uint8)
  clean[:, :2] = 255
  prepare = jax.jit(functools.partial(steps.prepare_images, statics))
  out = np.asarray(prepare(clean, jax.random.key(5)))
  pixels = out * STD[0] + MEAN[0]
  np.testing.assert_allclose(pixels[:, :2], 255, atol=1e-3)
  background = pixels[:, 2:].ravel()
  assert background.min() >= -1e-3 and background.max() <= 99 + 1e-3
  # 256 draws of U{0..99}: mean 49.5, sd of the mean 1.8.
  assert abs(background.mean() - 49.5) < 8
  again = np.asarray(prepare(clean, jax.random.key(6)))
  assert not np.array_equal(out, again)   # on the fly: a new draw per step


def _record_train(config, workdir, data, monkeypatch):
  """Runs classifier.train, recording what every step is fed."""
  fed = []  # one dict per step: its number, labels, images, loss inputs
  real_jit = steps.jit_train_step

  def recording_jit(*args, **kwargs):
    step_fn = real_jit(*args, **kwargs)

    def step(state, batch, loss_params):
      fed.append({'step': int(jax.device_get(state.step)),
                  'label': np.asarray(jax.device_get(batch['label'])),
                  'image': np.asarray(jax.device_get(batch['image'])),
                  **jax.device_get(loss_params)})
      return step_fn(state, batch, loss_params)
    return step

  monkeypatch.setattr(steps, 'jit_train_step', recording_jit)
  workdir_lib.prepare(str(workdir), config_lib.to_json(config))
  classifier.train(config, str(workdir), data, pipeline.make_mesh())
  return fed


def _tiny_run_config(method, epochs):
  config = classifier_digits.get_config(f'{method},smoke')
  config.model.arch = 'conv4'
  config.model.conv4_filters = 2
  config.model.depth = 20                     # not read by conv4: the default
  config.train.epochs = epochs
  config.data.n_max = 40                      # 116 images: 4 steps an epoch
  config.run.checkpoint_every = 1000
  config.train.eval_every_epochs = 0
  config_lib.validate(config, num_devices=jax.device_count())
  return config


def test_train_feeds_each_phase_its_loss_inputs(tmp_path, monkeypatch):
  # ce_drw on conv4 (LDAM needs the resnet's cosine head): the margins are
  # fed in every phase all the same.
  config = _tiny_run_config('ce_drw', 2)
  data = build.build(config.data, config.seed)
  fed = _record_train(config, tmp_path / 'ce_drw', data, monkeypatch)
  plan = classifier.Plan(config, data)
  assert [f['step'] for f in fed] == list(range(plan.total_steps))
  w = (1 - config.train.cb_beta) / (
      1 - config.train.cb_beta ** data.class_sizes.astype(np.float64))
  w = w * data.num_classes / w.sum()
  m = data.class_sizes.astype(np.float64) ** -0.25
  m = m * config.train.ldam_max_margin / m.max()
  for f in fed:
    weights = w if f['step'] >= plan.switch_step else 1.0
    np.testing.assert_allclose(f['class_weights'], np.broadcast_to(
        weights, (data.num_classes,)), rtol=1e-5)
    np.testing.assert_allclose(f['margins'], m, rtol=1e-5)
  # The batches are the uniform sampler's: every image once per epoch.
  first_epoch = np.concatenate([f['label'] for f in fed
                                if f['step'] < plan.steps_per_epoch])
  sizes = np.bincount(first_epoch, minlength=data.num_classes)
  assert np.all(sizes >= data.class_sizes)   # the last batch wraps around
  assert sizes.sum() - data.class_sizes.sum() < config.train.batch_size


def test_load_git_hands_the_step_the_chosen_saved_generator(tmp_path):
  # A MUNIT run folder written by hand (two generators, checkpoints at
  # iterations 3 and 6 of different initialisations): load_git must give
  # the GIT step net a of the chosen checkpoint, exactly, GIT's settings and
  # the plan's keep probabilities.
  from gitjax import config_base  # pylint: disable=g-import-not-at-top
  from gitjax.experiments.munit import run as munit  # pylint: disable=g-import-not-at-top
  from gitjax.experiments.munit import steps as munit_steps  # pylint: disable=g-import-not-at-top
  from gitjax.runtime import checkpoint as checkpoint_lib  # pylint: disable=g-import-not-at-top
  munit_config = config_base.get_base('munit')
  config_base.munit_smoke(munit_config, n_max=12)
  munit_config.munit.shared = False
  folder = str(tmp_path / 'munit')
  workdir_lib.prepare(folder, config_lib.to_json(munit_config))
  shape = (28, 28, 1)
  workdir_lib.write_json(os.path.join(folder, munit.GENERATOR_FILE),
                         {'image_shape': list(shape)})
  gen_statics = munit.make_statics(munit_config.munit, 1, munit_config.seed)
  saved = {}
  checkpointer = checkpoint_lib.Checkpointer(os.path.join(folder,
                                                          'checkpoints'))
  for step, seed in ((3, 1), (6, 2)):
    saved[step] = munit_steps.init_state(gen_statics, shape,
                                         munit_steps.init_key(seed))
    checkpointer.save(step, saved[step])
  checkpointer.close()
  workdir_lib.mark_done(folder, {'experiment': 'munit'})

  config = classifier_digits.get_config('ce_drs_git,smoke')
  config.git.munit_workdir = folder
  config.git.mode = 'threshold'
  config.git.threshold_k = 100
  config.train.crop_flip = True
  data = build.build(config.data, config.seed)
  assert data.image_shape == shape
  plan = classifier.Plan(config, data)
  mesh = pipeline.make_mesh()
  for munit_step, expected in ((0, 6), (3, 3), (6, 6)):
    config.git.munit_step = munit_step
    spec, params = classifier.load_git(config, data, plan, mesh)
    assert (spec.mode, spec.decoder, spec.source_flip) == (
        'threshold', 'a', True)
    assert spec.generator == gen_statics
    assert set(params['gen']) == {'a'}  # GIT re-styles a -> a only
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(params['gen']),
                 {'a': saved[expected].params['gen']['a']})
    np.testing.assert_array_equal(params['keep_prob'], plan.git_keep_prob)
  # The keep probabilities are the threshold formula's, not all ones.
  assert np.any((plan.git_keep_prob > 0) & (plan.git_keep_prob < 1))
