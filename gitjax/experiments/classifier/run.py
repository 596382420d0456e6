"""Experiment `classifier`: a CNN on long-tailed, transformed data, then eKLD.

Trains with the configured method (loss + sampling rule, or the oracle),
evaluates the last model on the transformed test set (balanced accuracy,
per-class accuracy, confusion matrix), measures per-class invariance (eKLD,
consistency) and writes into the workdir:

  metrics.jsonl, events.*   training and test curves
  checkpoints/              orbax, every run.checkpoint_every steps + end
  branch_checkpoint/        the state at the DRS/DRW switch, for siblings
                            that share the steps before it (train.branch_from)
  results.json              final metrics, speed, class sizes
  per_class.json            per class: size, accuracy, eKLD, consistency
  figures/ekld_vs_size.png  eKLD against training size (log x), Spearman
  figures/accuracy_vs_size.png, figures/confusion.png
  report.md                 all of it in words, with the command
"""
import functools
import math
import os
import time

import jax
import numpy as np

from gitjax import config as config_lib
from gitjax import config_base
from gitjax import invariance
from gitjax import losses
from gitjax import report
from gitjax import rngs
from gitjax import errors
from gitjax.data import build
from gitjax.data import pipeline
from gitjax.experiments.classifier import branch
from gitjax.experiments.classifier import report as classifier_report
from gitjax.experiments.munit import run as munit
from gitjax.experiments.munit import steps as munit_steps
from gitjax.experiments.classifier import steps
from gitjax.runtime import checkpoint as checkpoint_lib
from gitjax.runtime import metrics as metrics_lib
from gitjax.runtime import progress as progress_lib
from gitjax.runtime import workdir as workdir_lib


class Plan:
  """Step counts, phase switch and per-phase inputs derived from a config."""

  def __init__(self, config, data):
    self.loss, self.rule, self.oracle, self.git = config_base.method_parts(
        config.method)
    t = config.train
    self.num_examples = len(data.y_train)
    self.steps_per_epoch = max(1, math.ceil(self.num_examples / t.batch_size))
    self.total_steps = t.epochs * self.steps_per_epoch
    self.switch_epoch = branch.switch_epoch(t)
    self.switch_step = self.switch_epoch * self.steps_per_epoch
    self.uniform = pipeline.UniformSampler(self.num_examples, t.batch_size,
                                           config.seed)
    self.balanced = pipeline.ClassBalancedSampler(
        data.y_train, t.batch_size, config.seed, data.num_classes)
    ones = np.ones(data.num_classes, np.float32)
    effective = np.asarray(losses.effective_number_weights(
        data.class_sizes, t.cb_beta), np.float32)
    margins = np.asarray(losses.ldam_margins(
        data.class_sizes, t.ldam_max_margin), np.float32)
    # Keyed by "reweighting is on".
    self.loss_params_by_phase = {
        False: {'class_weights': ones, 'margins': margins},
        True: {'class_weights': effective, 'margins': margins},
    }
    self.git_start_epoch = self.git_start_step = None
    if self.git:
      g = config.git
      self.git_start_epoch = config_lib.git_start_epoch(t, g)
      self.git_start_step = self.git_start_epoch * self.steps_per_epoch
      self.git_batch = t.batch_size // 2
      # GIT's sources: a second draw of the current phase's sampler, on
      # streams of their own.
      self.git_uniform = pipeline.UniformSampler(
          self.num_examples, t.batch_size, config.seed, purpose='git-order')
      self.git_balanced = pipeline.ClassBalancedSampler(
          data.y_train, t.batch_size, config.seed, data.num_classes,
          purpose='git-balanced')
      present = data.class_sizes[data.class_sizes > 0]
      if g.mode == 'threshold' and g.threshold_k <= present.min():
        raise errors.ConfigError(
            f'config.git.threshold_k={g.threshold_k} must exceed the smallest '
            f'class size n_min={int(present.min())} (else no class is '
            're-styled): use a larger K')
      self.git_keep_prob = steps.git_keep_probabilities(
          data.class_sizes, g.mode, g.threshold_k)

  def shares_prefix(self, data):
    """Whether steps [0, switch_step) of this run are those of every
    sibling with the same branch.signature: no oracle, uniform sampling and
    unit class weights before the switch (ERM, DRS, DRW), no GIT step
    before it, and no validation split (whose best-model choice would need
    the steps before)."""
    return (not self.oracle and self.rule in ('erm', 'drs', 'drw') and
            not self.git_before_switch and
            0 < self.switch_step < self.total_steps and len(data.y_val) == 0)

  @property
  def git_before_switch(self):
    """Whether this GIT method takes GIT steps before the switch."""
    return bool(self.git) and self.git_start_step < self.switch_step

  def git_on(self, step):
    return self.git and step >= self.git_start_step

  def source_indices(self, step):
    """Indices of the GIT sources of `step` (B // 2 of them)."""
    sampler = (self.git_balanced if self.resampling(step) else
               self.git_uniform)
    return sampler.indices(step)[:self.git_batch]

  def resampling(self, step):
    return self.rule == 'rs' or (self.rule == 'drs' and
                                 step >= self.switch_step)

  def reweighting(self, step):
    return self.rule == 'rw' or (self.rule == 'drw' and
                                 step >= self.switch_step)

  def indices(self, step):
    sampler = self.balanced if self.resampling(step) else self.uniform
    return sampler.indices(step)

  def loss_params(self, step):
    return self.loss_params_by_phase[self.reweighting(step)]


def _channel_stats(images):
  x = images.reshape(-1, images.shape[-1]).astype(np.float64)
  std = np.maximum(x.std(0), 1.0)
  return tuple(float(v) for v in x.mean(0)), tuple(float(v) for v in std)


def setup(config, data, mesh, with_git=True):
  """Model, optimiser, statics, a fresh replicated state and, for a GIT
  method (unless `with_git` is False: evaluation only), the generator."""
  plan = Plan(config, data)
  t = config.train
  model = steps.build_model(config.model.arch, config.model.depth,
                            data.num_classes, plan.loss == 'ldam',
                            config.model.conv4_filters)
  schedule = steps.lr_schedule(t.lr, plan.steps_per_epoch, t.warmup_epochs,
                               t.decay_epochs, t.decay_factors)
  tx = steps.make_optimizer(schedule, t.momentum, t.weight_decay)
  mean, std = _channel_stats(data.x_train)
  git_spec, git_params = None, None
  if plan.git and with_git:
    git_spec, git_params = load_git(config, data, plan, mesh)
  statics = steps.Statics(
      model=model, tx=tx, loss=plan.loss, ldam_scale=t.ldam_scale,
      focal_gamma=t.focal_gamma, mean=mean, std=std, crop_flip=t.crop_flip,
      oracle=data.transform if plan.oracle else None, seed=config.seed,
      git=git_spec)
  state = steps.init_state(model, tx, data.image_shape,
                           rngs.jax_key(config.seed, 'classifier-init'))
  state = jax.device_put(state, pipeline.replicated(mesh))
  return plan, schedule, statics, state, git_params


def load_git(config, data, plan, mesh):
  """(GitSpec, replicated {'gen', 'keep_prob'}) of the frozen generator in
  config.git.munit_workdir at iteration config.git.munit_step (0 = its
  last): only the networks a re-styling reads."""
  workdir = config.git.munit_workdir
  munit.check_generator(workdir, data.image_shape, config.git.munit_step)
  gen_statics, gen_params = munit.load_generator(
      workdir, munit.generator_step(workdir, config.git.munit_step))
  decoder = 'a'  # GIT's code loads only net a and re-styles a -> a
  gen_params = {net: gen_params[net]
                for net in munit_steps.restyle_nets(gen_statics, decoder)}
  spec = steps.GitSpec(mode=config.git.mode, generator=gen_statics,
                       decoder=decoder, source_flip=config.train.crop_flip)
  # Through the host: a process-local array cannot be placed on a mesh that
  # spans other processes' devices; the same numpy value on every process can.
  params = {'gen': jax.device_get(gen_params), 'keep_prob': plan.git_keep_prob}
  return spec, jax.device_put(params, pipeline.replicated(mesh))


def _mean_scalars(window):
  fetched = jax.device_get(window)
  return {k: float(np.mean([m[k] for m in fetched])) for k in fetched[0]}


def train(config, workdir, data, mesh):
  """Trains (resuming from the last checkpoint) and returns (state, speed)."""
  plan, schedule, statics, state, git_params = setup(config, data, mesh)
  replicated = pipeline.replicated(mesh)
  checkpointer, writer, state, start, branched = branch.start(
      config, workdir, state, plan, data)
  # The state at the switch, for siblings that share the steps before it.
  brancher = branch.saver(workdir, plan, data, start)
  step_fn = steps.jit_train_step(statics, replicated,
                                 pipeline.batch_sharding(mesh))
  git_step_fn = (steps.jit_git_train_step(
      statics, replicated, pipeline.batch_sharding(mesh)) if plan.git else
                 None)
  # Both phases' loss inputs live on the devices; a step picks one by phase.
  loss_params = {reweight: jax.device_put(params, replicated)
                 for reweight, params in plan.loss_params_by_phase.items()}
  arrays = {'image': data.x_train_clean if plan.oracle else data.x_train,
            'label': data.y_train}

  def make_batch(step):
    # Global indices, the same on every process; only this process's rows.
    batch = pipeline.take(arrays, pipeline.local_indices(plan.indices(step),
                                                         mesh))
    if plan.git_on(step):
      source = pipeline.local_indices(plan.source_indices(step), mesh)
      batch['source_image'] = data.x_train[source]
      batch['source_label'] = data.y_train[source]
    return batch

  progress = progress_lib.Progress(plan.total_steps, config.train.batch_size,
                                   start)
  eval_every = config.train.eval_every_epochs * plan.steps_per_epoch
  best = BestModel(workdir, enabled=len(data.y_val) > 0)
  speed = {'compile_and_first_step_s': None, 'train_images_per_s': None,
           'branched_from': branched}
  clock = progress_lib.TrainClock(checkpointer.restored_meta)
  window = []
  # Steady training: steps and seconds since last_log, compilations left out.
  last_log, timed = time.time(), 0
  try:
    with pipeline.Prefetcher(make_batch, mesh, start, config.run.prefetch,
                             local=True) as batches:
      for step in range(start, plan.total_steps):
        batch = next(batches)
        t0 = time.time()
        if plan.git_on(step):
          state, metrics = git_step_fn(state, batch,
                                       loss_params[plan.reweighting(step)],
                                       git_params)
        else:
          state, metrics = step_fn(state, batch,
                                   loss_params[plan.reweighting(step)])
          if plan.git:  # one set of keys in every logged window
            metrics = dict(metrics, git_fraction=0.0)
        if step == start or step == plan.git_start_step:
          # A step function compiles on its first call: not training time.
          if step > start:
            clock.add(timed, t0 - last_log)
          jax.block_until_ready(state)
          speed['compile_and_first_step_s' if step == start else
                'git_compile_and_first_step_s'] = time.time() - t0
          last_log, timed = time.time(), -1
        timed += 1
        window.append(metrics)
        done = step + 1
        log_now = done % config.run.log_every == 0 or done == plan.total_steps
        save_now = (done % config.run.checkpoint_every == 0 or
                    done == plan.total_steps)
        if log_now or save_now:
          scalars = _mean_scalars(window)
          now = time.time()
          clock.add(timed, now - last_log)
          last_log, timed, window = now, 0, []
          metrics_lib.check_finite(done, scalars, checkpointer.latest_step(),
                                   checkpointer.directory)
          scalars['lr'] = float(schedule(step))
          scalars['epoch'] = done / plan.steps_per_epoch
          writer.write(done, scalars)
          progress.report(done, {'epoch': scalars['epoch'],
                                 'loss': scalars['loss'], 'lr': scalars['lr']})
        if eval_every and (done % eval_every == 0 or
                           done == plan.total_steps):
          _periodic_eval(config, data, state, statics, mesh, writer, done,
                         best)
        if save_now:
          checkpointer.save(done, state, {'epoch': done / plan.steps_per_epoch,
                                          'branched_from': branched,
                                          **clock.meta()})
        if brancher is not None and done == plan.switch_step:
          brancher.save(done, state, {'epoch': done / plan.steps_per_epoch})
  finally:
    writer.close()
    checkpointer.close()
    best.close()
    if brancher is not None:
      brancher.close()
  if clock.rate:
    speed['train_images_per_s'] = clock.rate * config.train.batch_size
  speed.update(train_wall_s=clock.wall_s, train_segments=clock.segments)
  return state, statics, plan, speed


class BestModel:
  """Keeps the checkpoint with the best balanced accuracy on the held-out
  validation split (never the test set) in WORKDIR/checkpoints_best.

  A best model newer than the main checkpoint (a kill between the two
  saves) belongs to a stretch of training that the resumed run redoes: it
  is deleted, so the best model never runs ahead of the main checkpoint.
  """

  def __init__(self, workdir, enabled):
    self.enabled = enabled
    self._checkpointer = None
    self.score = -1.0
    if enabled:
      self._checkpointer = checkpoint_lib.Checkpointer(
          os.path.join(workdir, 'checkpoints_best'), keep=1)
      main = checkpoint_lib.Checkpointer(os.path.join(workdir, 'checkpoints'))
      resumed_at = main.latest_step()
      main.close()
      self._checkpointer.delete_after(resumed_at)
      step = self._checkpointer.latest_step()
      if step is not None:  # resumed: the best so far survives the kill
        meta = self._checkpointer.restore_meta(step)
        self.score = meta['val_balanced_accuracy']

  def offer(self, step, state, score):
    if self.enabled and score > self.score:
      self.score = score
      self._checkpointer.save(step, state, {'val_balanced_accuracy': score})

  def restore(self, target):
    if not self.enabled:
      return None, None
    return self._checkpointer.restore(target)

  def close(self):
    if self._checkpointer is not None:
      self._checkpointer.close()


def _periodic_eval(config, data, state, statics, mesh, writer, step, best):
  """Test (and validation) balanced accuracy during training."""
  test = evaluate(config, data, state, statics, mesh)
  scalars = {'test_balanced_accuracy': test['balanced_accuracy']}
  if best.enabled:
    val = evaluate(config, data, state, statics, mesh, split='val')
    scalars['val_balanced_accuracy'] = val['balanced_accuracy']
    best.offer(step, state, val['balanced_accuracy'])
  writer.write(step, scalars)
  print('  ' + ', '.join(f'{k} {v:.4f}' for k, v in scalars.items()),
        flush=True)


def evaluate_best(config, workdir, data, state, statics, mesh):
  """Test metrics of the best-on-validation checkpoint, or None."""
  best = BestModel(workdir, enabled=len(data.y_val) > 0)
  restored, meta = best.restore(state)
  best.close()
  if restored is None:
    return None
  test = evaluate(config, data, restored, statics, mesh)
  return {'step': meta['step'],
          'val_balanced_accuracy': meta['val_balanced_accuracy'],
          'balanced_accuracy': test['balanced_accuracy'],
          'accuracy': test['accuracy']}


def _variables(state):
  return {'params': state.params, 'batch_stats': state.batch_stats}


def evaluate(config, data, state, statics, mesh, split='test'):
  """Metrics of the model in `state` on the transformed test (or val) set."""
  images, labels = ((data.x_test, data.y_test) if split == 'test' else
                    (data.x_val, data.y_val))
  preds = steps.predict(statics.model, statics.mean, statics.std,
                        _variables(state), images,
                        config.train.eval_batch_size,
                        pipeline.batch_sharding(mesh))
  return steps.per_class_report(labels, preds, data.num_classes)


def measure_invariance(config, data, state, statics):
  """Per-class eKLD and consistency on clean test images, or None."""
  if not config.invariance.enabled:
    return None
  if not data.transform.names:
    print('eKLD skipped: data.transform is none, so there is no nuisance '
          'transformation to be invariant to', flush=True)
    return None
  fn = functools.partial(steps.logits_fn, statics.model, statics.mean,
                         statics.std)
  inv = config.invariance
  return invariance.measure(
      fn, _variables(state), data.x_test_clean, data.y_test, data.transform,
      steps.eval_key(config.seed),
      num_classes=data.num_classes, images_per_class=inv.images_per_class,
      transforms_per_image=inv.transforms_per_image,
      images_per_batch=inv.images_per_batch)


def run(config, workdir, data=None):
  """Trains, evaluates, measures invariance and writes the report.

  `data`: the data set `config.data` describes, when the caller has built
  it already (the git experiment).
  """
  if workdir_lib.finished(workdir):
    return
  data = data or build.build(config.data, config.seed)
  mesh = pipeline.make_mesh()
  munit_step = None
  if config_base.method_parts(config.method)[3]:  # bad GIT input: before work
    munit.check_generator(config.git.munit_workdir, data.image_shape,
                          config.git.munit_step)
    Plan(config, data)
    munit_step = munit.generator_step(config.git.munit_workdir,
                                      config.git.munit_step)
  report.preview_grid(
      os.path.join(workdir_lib.subdir(workdir, 'figures'), 'train_preview.png'),
      data.x_train, data.y_train, data.class_order, data.class_sizes,
      data.class_names, per_class=config.run.preview_per_class,
      title=f'{data.name} training images (transform '
      f'{"+".join(data.transform.names) or "none"})')
  print(f'{len(data.y_train)} training images, sizes by rank '
        f'{data.class_sizes[data.class_order].tolist()}; method '
        f'{config.method}', flush=True)
  state, statics, plan, speed = train(config, workdir, data, mesh)
  test = evaluate(config, data, state, statics, mesh)
  test['best'] = evaluate_best(config, workdir, data, state, statics, mesh)
  t0 = time.time()
  inv = measure_invariance(config, data, state, statics)
  speed['invariance_s'] = time.time() - t0
  results = classifier_report.write(config, workdir, data, plan, test, inv,
                                    speed, munit_step)
  workdir_lib.mark_done(workdir, {'experiment': 'classifier',
                                  'balanced_accuracy':
                                      results['balanced_accuracy']})
  summary = (f'balanced accuracy {results["balanced_accuracy"]:.4f}')
  if inv is not None:
    summary += (f'; eKLD vs class size Spearman '
                f'{results["ekld_spearman"]:.3f}')
  print(f'{summary}; outputs in {workdir}', flush=True)
