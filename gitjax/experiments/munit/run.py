"""Experiment `munit`: GIT's MUNIT on a long-tailed, transformed training set.

Both domains are independent class-balanced draws from the same long-tailed,
TRANSFORMED training set (optionally flipped), as GIT trains it, so the
style space can only learn what varies within a class: the nuisance
transformation. After training, the generator is measured
(`gitjax.experiments.munit.learned_transform`): does a re-styling look like a true transform
of its source, and does it keep its label? Writes into the workdir:

  metrics.jsonl, events.*        losses, D(real)/D(fake) means, lr
  checkpoints/                   orbax, every run.checkpoint_every + end
  generator.json                 image shape (what load_restyler needs)
  figures/samples_NNNNNN.png     every munit.sample_every iterations: rows =
                                 images of classes across the tail, columns
                                 = real, reconstruction, random styles
  figures/interpolation.png      style interpolation at the end
  figures/losses.png, figures/recovered_<t>.png, figures/labels.png
  results.json, report.md, done.json

`load_restyler(workdir)` gives the frozen generator as a pure function
`restyle(key, images uint8 [B, H, W, C]) -> float 0..255` for GIT.
"""
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from gitjax import rngs
from gitjax.data import build
from gitjax.data import pipeline
from gitjax.data import sources
from gitjax.errors import ConfigError
from gitjax.errors import WorkdirError
from gitjax.experiments.munit import learned_transform
from gitjax.experiments.munit import report as munit_report
from gitjax.experiments.munit import steps
from gitjax.models import munit_warp
from gitjax.runtime import checkpoint as checkpoint_lib
from gitjax.runtime import metrics as metrics_lib
from gitjax.runtime import paths
from gitjax.runtime import progress as progress_lib
from gitjax.runtime import resume
from gitjax.runtime import workdir as workdir_lib

GENERATOR_FILE = 'generator.json'
_STATICS_KEYS = ('dim', 'style_dim', 'n_downsample', 'n_res',
                 'n_style_downsample', 'mlp_dim', 'n_mlp', 'dis_dim',
                 'dis_layers', 'n_scales', 'lr', 'beta1', 'beta2',
                 'weight_decay', 'lr_step', 'lr_gamma', 'gan_w', 'recon_x_w',
                 'recon_s_w', 'recon_c_w', 'recon_cyc_w', 'gan_type', 'shared',
                 'flip', 'unroll_steps', 'unroll_eps_root',
                 'unroll_checkpoint', 'warp', 'pose_in_adain')
# Keys added after runs were written: absent in an older run's config, which
# then holds the Statics default ('none' warp; the pose in AdaIN).
_LATER_KEYS = ('warp', 'pose_in_adain')


def make_statics(munit_config, image_channels, seed):
  """Statics of the step from the `munit` config section (or its dict)."""
  values = {k: munit_config[k] for k in _STATICS_KEYS
            if k not in _LATER_KEYS or k in munit_config}
  return steps.Statics(image_channels=int(image_channels), seed=int(seed),
                       **values)


def check_image_shape(statics, image_shape):
  """One-line ConfigError when the networks cannot take these images."""
  h, w, c = image_shape
  if statics.warp != 'none' and min(h, w) < munit_warp.MIN_SIDE:
    raise ConfigError(
        f'munit.warp={statics.warp!r} needs images of at least '
        f'{munit_warp.MIN_SIDE}x{munit_warp.MIN_SIDE} pixels for its '
        f'sampling grid, got {h}x{w}; use munit.warp=none')
  factor = 2**statics.n_downsample
  if h % factor or w % factor:
    raise ConfigError(
        f'munit.n_downsample={statics.n_downsample} needs image sides '
        f'divisible by {factor}, got {h}x{w}; lower munit.n_downsample')
  try:
    for model in (statics.generator(), statics.discriminator()):
      jax.eval_shape(model.init, steps.init_key(0),  # shapes only
                     jnp.zeros((1, h, w, c), jnp.float32))
  except ValueError as e:
    raise ConfigError(
        f'{h}x{w} images are too small for munit.n_downsample / '
        f'n_style_downsample / dis_layers / n_scales ({e}); lower them') from e


class Draws:
  """The two domains: independent class-balanced draws, a function of step."""

  def __init__(self, labels, batch_size, seed, num_classes):
    self.a = pipeline.ClassBalancedSampler(labels, batch_size, seed,
                                           num_classes, purpose='munit-a')
    self.b = pipeline.ClassBalancedSampler(labels, batch_size, seed,
                                           num_classes, purpose='munit-b')

  def batch(self, images, step):
    """{'a': uint8 [B, H, W, C], 'b': ...} for iteration `step`."""
    return {'a': images[self.a.indices(step)],
            'b': images[self.b.indices(step)]}


def setup(config, data, mesh):
  """Statics and a fresh, replicated state for a run."""
  statics = make_statics(config.munit, data.image_shape[-1], config.seed)
  check_image_shape(statics, data.image_shape)
  state = steps.init_state(statics, data.image_shape,
                           steps.init_key(config.seed))
  return statics, jax.device_put(state, pipeline.replicated(mesh))


def sample_rows(data, rows):
  """Indices of training images, one per class, classes spread over ranks."""
  ranks = np.unique(np.linspace(0, data.num_classes - 1,
                                min(rows, data.num_classes)).round().astype(int))
  classes = data.class_order[ranks]
  idx = [int(np.flatnonzero(data.y_train == c)[0]) for c in classes]
  return np.asarray(idx), classes


class Sampler:
  """Sample grids with fixed sources and fixed styles, comparable over time."""

  def __init__(self, config, data, statics, workdir):
    self.statics = statics
    self.figures = workdir_lib.subdir(workdir, 'figures')
    idx, classes = sample_rows(data, config.munit.sample_rows)
    self.sources = data.x_train[idx]  # [R, H, W, C]
    self.labels = [f'{data.class_names[c]} (n={data.class_sizes[c]})'
                   for c in classes]
    rng_styles, rng_interp = jax.random.split(
        rngs.jax_key(config.seed, 'munit-samples'))
    self.styles = jax.random.normal(
        rng_styles, (config.munit.num_styles, statics.style_dim))
    self.rng_interp = rng_interp
    self.interp_steps = config.munit.interp_steps
    self.decoder = config.munit.restyle_decoder

  def restyle_grid(self, gen_params):
    """(reconstructions [R, ...], re-stylings [R, S, ...]) as numpy."""
    r, s = len(self.sources), len(self.styles)
    images = np.repeat(self.sources, s, axis=0)
    styles = jnp.tile(self.styles, (r, 1))
    out = steps.jit_restyle(self.statics, self.decoder)(gen_params, images,
                                                        styles)
    recon = steps.jit_reconstruct(self.statics)(gen_params, self.sources)
    return (np.asarray(recon),
            np.asarray(out).reshape((r, s) + self.sources.shape[1:]))

  def save(self, gen_params, step):
    recon, restyled = self.restyle_grid(gen_params)
    return munit_report.sample_grid(
        os.path.join(self.figures, f'samples_{step:06d}.png'), self.sources,
        recon, restyled, self.labels, title=f'iteration {step}')

  def save_interpolation(self, gen_params):
    """Rows: an image decoded under styles moving from s0 to s1."""
    r, t = len(self.sources), self.interp_steps
    ends = jax.random.normal(self.rng_interp, (2, r, self.statics.style_dim))
    weights = jnp.linspace(0.0, 1.0, t)[None, :, None]  # [1, T, 1]
    styles = (1 - weights) * ends[0][:, None] + weights * ends[1][:, None]
    out = steps.jit_restyle(self.statics, self.decoder)(
        gen_params, np.repeat(self.sources, t, axis=0),
        styles.reshape(r * t, -1))
    frames = np.asarray(out).reshape((r, t) + self.sources.shape[1:])
    return munit_report.interpolation_grid(
        os.path.join(self.figures, 'interpolation.png'), self.sources, frames,
        self.labels)




def _mean_scalars(window):
  fetched = jax.device_get(window)
  return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}


def train(config, workdir, data, mesh):
  """Trains, resuming from the last checkpoint.

  Returns:
    (state, statics, the Sampler of the figures, speed dict).
  """
  m = config.munit
  statics, state = setup(config, data, mesh)
  workdir_lib.write_json(os.path.join(workdir, GENERATOR_FILE),
                         {'image_shape': list(data.image_shape)})
  checkpointer, writer, state, start = resume.start(
      workdir, state, config.run.keep_checkpoints, unit='iteration')
  train_clock = progress_lib.TrainClock(checkpointer.restored_meta)
  step_fn = steps.jit_train_step(statics, mesh)
  draws = Draws(data.y_train, m.batch_size, config.seed, data.num_classes)
  sampler = Sampler(config, data, statics, workdir)
  schedule = steps.lr_schedule(statics)
  progress = progress_lib.Progress(m.iterations, 1, start, unit='it/s')
  speed = {'compile_and_first_step_s': None, 'iterations_per_s': None}
  window = []
  clock, steps_on_clock = time.time(), 0  # the first step (compile) is not timed
  try:
    with pipeline.Prefetcher(lambda s: draws.batch(data.x_train, s), mesh,
                             start, config.run.prefetch) as batches:
      for step in range(start, m.iterations):
        batch = next(batches)
        t0 = time.time()
        state, metrics = step_fn(state, batch)
        if step == start:
          jax.block_until_ready(state)
          speed['compile_and_first_step_s'] = time.time() - t0
          clock, steps_on_clock = time.time(), -1
        steps_on_clock += 1
        window.append(metrics)
        done = step + 1
        log_now = done % config.run.log_every == 0 or done == m.iterations
        save_now = (done % config.run.checkpoint_every == 0 or
                    done == m.iterations)
        sample_now = done % m.sample_every == 0 or done == m.iterations
        if log_now or save_now or sample_now:
          scalars = _mean_scalars(window)  # waits for the device
          train_clock.add(steps_on_clock, time.time() - clock)
          window = []
          metrics_lib.check_finite(done, scalars, checkpointer.latest_step(),
                                   checkpointer.directory)
          scalars['lr'] = float(schedule(step))
          writer.write(done, scalars)
          progress.report(done, {k: scalars[k] for k in
                                 ('d_loss', 'g_loss', 'recon_x', 'd_real',
                                  'd_fake')})
        if sample_now:
          sampler.save(state.params['gen'], done)
        if save_now:
          checkpointer.save(done, state, {'iteration': done,
                                          **train_clock.meta()})
        if log_now or save_now or sample_now:
          # Figures and checkpoints are not training: restart both clocks.
          clock, steps_on_clock = time.time(), 0
          progress.exclude_time()
  finally:
    writer.close()
    checkpointer.close()
  if train_clock.rate:
    speed['iterations_per_s'] = train_clock.rate
    speed['images_per_s'] = (speed['iterations_per_s'] * m.batch_size *
                             len(statics.directions))
  speed.update(train_wall_s=train_clock.wall_s,
               train_segments=train_clock.segments)
  return state, statics, sampler, speed


def evaluate(config, data, statics, gen_params, mesh):
  """Transform recovery and label preservation (see learned_transform)."""
  m = config.munit
  restyle = make_restyler(statics, gen_params, m.restyle_decoder)
  rng_recovery, rng_labels = jax.random.split(
      rngs.jax_key(config.seed, 'munit-eval'))
  idx = np.concatenate([np.flatnonzero(data.y_test == c)[
      :m.eval_images_per_class] for c in range(data.num_classes)])
  out = {'eval_images': int(len(idx))}
  t0 = time.time()
  out['recovery'] = learned_transform.measure_recovery(
      restyle, data.x_test_clean[idx], data.transform, rng_recovery,
      labels=data.y_test[idx], num_classes=data.num_classes,
      styles_per_image=m.eval_styles, angle_step=m.angle_step,
      # Same restyle batch as label_preservation: one compilation for both.
      chunk=max(1, m.probe_batch_size // m.eval_styles))
  out['recovery_s'] = time.time() - t0
  out['labels'] = None
  if m.probe_steps > 0:
    t0 = time.time()
    source = sources.load(config.data)
    probe = learned_transform.train_probe(
        source.x_train, source.y_train, data.transform, data.num_classes,
        mesh, steps=m.probe_steps, batch_size=m.probe_batch_size,
        lr=m.probe_lr, depth=m.probe_depth, seed=config.seed)
    out['probe_train_s'] = time.time() - t0
    out['probe_train_accuracy'] = probe.train_accuracy
    t0 = time.time()
    out['labels'] = learned_transform.label_preservation(
        probe, restyle, data.x_test[idx], data.y_test[idx], data.num_classes,
        rng_labels, styles_per_image=m.eval_styles,
        batch_size=m.probe_batch_size,
        sharding=pipeline.batch_sharding(mesh))
    out['labels_s'] = time.time() - t0
  return out


def run(config, workdir, data=None):
  """Trains MUNIT, draws its figures, measures it and writes the report.

  `data`: the data set `config.data` describes, when the caller has built
  it already (the git experiment).
  """
  if workdir_lib.finished(workdir):
    return
  data = data or build.build(config.data, config.seed)
  mesh = pipeline.make_mesh()
  print(f'{len(data.y_train)} training images, sizes by rank '
        f'{data.class_sizes[data.class_order].tolist()}; transform '
        f'{"+".join(data.transform.names) or "none"}', flush=True)
  state, statics, sampler, speed = train(config, workdir, data, mesh)
  gen_params = state.params['gen']
  sampler.save_interpolation(gen_params)
  evaluation = None
  if config.munit.evaluate:
    t0 = time.time()
    evaluation = evaluate(config, data, statics, gen_params, mesh)
    speed['evaluation_s'] = time.time() - t0
  net = statics.nets[0]
  results = munit_report.write(
      config, workdir, data, statics, evaluation, speed,
      params={'generator': gen_params[net],
              'discriminator': state.params['dis'][net]})
  workdir_lib.mark_done(workdir, {'experiment': 'munit',
                                  **munit_report.headline(results)})
  print(f'{munit_report.summary_line(results)}; outputs in {workdir}',
        flush=True)


# ----------------------------------------------------------------------------
# Export: the frozen generator for GIT.


def load_generator(workdir, step=None):
  """(statics, generator params) of a MUNIT run's checkpoint.

  Args:
    workdir: the run folder (config.json, generator.json, checkpoints/).
    step: which checkpoint (default: the latest).
  """
  files = [os.path.join(workdir, f) for f in (workdir_lib.CONFIG_FILE,
                                              GENERATOR_FILE)]
  for path in files:
    if not paths.exists(path):
      raise WorkdirError(f'{path} is missing: {workdir} holds no MUNIT run')
  config = json.loads(paths.read_text(files[0]))
  image_shape = tuple(json.loads(paths.read_text(files[1]))['image_shape'])
  if config.get('experiment') != 'munit':
    raise WorkdirError(f'{workdir} holds a {config.get("experiment")!r} run, '
                       'not a MUNIT run')
  statics = make_statics(config['munit'], image_shape[-1], config['seed'])
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.eval_shape(lambda: steps.init_state(
      statics, image_shape, steps.init_key(0)))
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
      abstract)
  checkpointer = checkpoint_lib.Checkpointer(
      os.path.join(workdir, 'checkpoints'))
  try:
    state, _ = checkpointer.restore(abstract, step)
  finally:
    checkpointer.close()
  if state is None:
    raise WorkdirError(f'{workdir}/checkpoints holds no checkpoint yet')
  return statics, state.params['gen']


def generator_step(workdir, step=0):
  """The iteration of the MUNIT checkpoint GIT re-styles with: `step`
  (config.git.munit_step), or the run's last checkpoint when it is 0.
  ConfigError (one line) when that checkpoint is not saved."""
  checkpointer = checkpoint_lib.Checkpointer(
      os.path.join(workdir, 'checkpoints'))
  try:
    saved = sorted(checkpointer.all_steps())
  finally:
    checkpointer.close()
  if not saved:
    raise ConfigError(f'git.munit_workdir={workdir!r} holds no checkpoint: '
                      'finish that MUNIT run first')
  if step == 0:
    return saved[-1]
  if step not in saved:
    raise ConfigError(
        f'git.munit_step={step}: {workdir}/checkpoints holds iterations '
        f'{saved}, not {step}: give one of them (0 = the last)')
  return step


def check_generator(workdir, image_shape, step=0):
  """One-line errors for a MUNIT run GIT cannot use: missing, not a MUNIT
  run, unfinished, trained on another image shape or channel count, or
  without a checkpoint at iteration `step` (config.git.munit_step; 0 = the
  last).

  Returns the run's image shape.
  """
  if not paths.isdir(workdir):
    raise ConfigError(f'git.munit_workdir={workdir!r} does not exist: give '
                      'the folder of a finished munit run')
  config_path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
  shape_path = os.path.join(workdir, GENERATOR_FILE)
  try:
    experiment = json.loads(paths.read_text(config_path)).get('experiment')
  except (OSError, ValueError):
    experiment = None
  if experiment != 'munit':
    raise ConfigError(f'git.munit_workdir={workdir!r} holds no MUNIT run '
                      f'(no munit {workdir_lib.CONFIG_FILE}): give the folder '
                      'of a finished munit run')
  if not workdir_lib.is_done(workdir) or not paths.exists(shape_path):
    raise ConfigError(f'git.munit_workdir={workdir!r} holds an unfinished '
                      'MUNIT run: finish it first (rerun its launch command)')
  trained_shape = tuple(json.loads(paths.read_text(shape_path))['image_shape'])
  if trained_shape != tuple(image_shape):
    raise ConfigError(
        f'git.munit_workdir={workdir!r} was trained on images of shape '
        f'{trained_shape}, but this data set has {tuple(image_shape)}: train '
        'a MUNIT on this data set')
  generator_step(workdir, step)
  return trained_shape


def make_restyler(statics, gen_params, decoder='a'):
  """`restyle(key, images uint8/float 0..255 [B, H, W, C])` -> float32 0..255:
  content of each image (net a) decoded under a style s ~ N(0, I), one per
  image, by net `decoder` ('a' as GIT, or 'b'). Pure and jittable; the
  parameters are fixed."""
  fn = steps.jit_restyle_random(statics, decoder)

  def restyle(key, images):
    return fn(gen_params, key, images)

  return restyle


def load_restyler(workdir, step=None, decoder='a'):
  """The frozen generator of a MUNIT run as `restyle(key, images)`; GIT's
  a -> a re-styling by default, `decoder='b'` for MUNIT's a -> b."""
  statics, gen_params = load_generator(workdir, step)
  return make_restyler(statics, gen_params, decoder)
