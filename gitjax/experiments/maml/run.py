r"""Experiment `maml`: MAML / MAML++ / ANIL meta-training and meta-test evaluation.

    python launch.py --config configs/maml_digits.py --workdir /tmp/maml_digits

Meta-trains the Conv-4 on N-way K-shot tasks of the meta-train classes
(`gitjax.experiments.maml.steps`: one jitted call per meta-step, tasks drawn
on the device, meta-batch sharded over all devices), evaluates on meta-val
tasks every `eval_every` meta-steps, and finally on `test_tasks` fixed
meta-test tasks: mean query accuracy with a 95% confidence interval
(1.96 x standard error over tasks, as MAML reports) after 0..`test_steps`
adaptation steps. MAML++ (`variant='maml++'`) keeps the meta-parameters
with the best meta-val accuracy and tests those. With `transfer` it runs the
invariance-transfer study instead (`gitjax.experiments.maml.study`: every
learner over seeds; transfer.json, figures/invariance_transfer.png,
report.md).

Writes into the workdir: metrics.jsonl (+ TensorBoard), checkpoints/,
results.json, figures/accuracy_vs_steps.png, report.md and done.json.
"""
import dataclasses
import os
import time

import jax
import numpy as np

from gitjax.data import episodes
from gitjax.data import sources
from gitjax.errors import DataError
from gitjax.experiments.maml import host_loop
from gitjax.experiments.maml import report as maml_report
from gitjax.experiments.maml import steps
from gitjax.experiments.maml import study as maml_study
from gitjax.experiments.maml import transfer_report
from gitjax.experiments.maml import variants as maml_variants
from gitjax.runtime import metrics as metrics_lib
from gitjax.runtime import progress as progress_lib
from gitjax.runtime import resume
from gitjax.runtime import workdir as workdir_lib

VAL, TEST = 'val', 'test'  # task streams (steps.task_key)


def load_splits(config):
  """The meta-split pools of a config, checked against the task shape."""
  m = config.maml
  data = sources.load(config.data)
  splits = episodes.build_splits(
      data, m.split, train_classes=m.train_classes, val_classes=m.val_classes,
      test_classes=m.test_classes, num_val_classes=m.num_val_classes,
      rotations=m.rotations, max_images_per_class=m.max_images_per_class,
      image_size=m.image_size, invert=m.invert, split_sizes=m.split_sizes,
      split_seed=m.split_seed)
  episodes.check_tasks(splits, m.ways, m.shots, m.queries,
                       needed=('train', 'val', 'test'))
  if m.transfer:
    needed = max(m.transfer_shots) + m.queries
    if needed > splits.pools['test'].shape[1]:
      raise DataError(f'the transfer study needs {needed} images per '
                      f'meta-test class (max(transfer_shots) + queries) but '
                      f'there are {splits.pools["test"].shape[1]}; lower '
                      'config.maml.transfer_shots')
  return data, splits


def confidence_interval(accuracies):
  """(mean, 95% half-width) over tasks of per-task accuracies [T]."""
  acc = np.asarray(accuracies, np.float64)
  half = 1.96 * acc.std(ddof=1) / np.sqrt(len(acc)) if len(acc) > 1 else 0.0
  return float(acc.mean()), float(half)


def train(config, workdir, splits):
  """Meta-trains (resuming from a checkpoint); returns (state, statics,
  the split pools on the devices, speed)."""
  m = config.maml
  statics = steps.make_statics(config)
  train_step = (host_loop.train_step if statics.task_layout == 'host_loop'
                else steps.train_step_jit)
  image_shape = splits.pools['train'].shape[2:]
  state = steps.init_state(statics, image_shape)
  replicated = jax.sharding.NamedSharding(statics.mesh,
                                          jax.sharding.PartitionSpec())
  pools = {s: None if p is None else jax.device_put(p, replicated)
           for s, p in splits.pools.items()}
  checkpointer, writer, state, start = resume.start(
      workdir, state, config.run.keep_checkpoints, unit='meta-step')
  progress = progress_lib.Progress(m.meta_steps, m.meta_batch, start,
                                   unit='tasks/s')
  speed = {'compile_and_first_step_s': None, 'meta_steps_per_s': None}
  window, timed_steps, timed_s = [], 0, 0.0
  last_log = time.time()
  try:
    for step in range(start, m.meta_steps):
      t0 = time.time()
      state, metrics = train_step(state, pools['train'], statics=statics)
      if step == start:
        jax.block_until_ready(state)
        speed['compile_and_first_step_s'] = time.time() - t0
        last_log = time.time()
        progress.exclude_time()
      window.append(metrics)
      done = step + 1
      log_now = done % config.run.log_every == 0 or done == m.meta_steps
      save_now = (done % config.run.checkpoint_every == 0
                  or done == m.meta_steps)
      eval_now = (m.eval_every and pools['val'] is not None
                  and done % m.eval_every == 0)
      if not (log_now or save_now or eval_now):
        continue
      fetched = jax.device_get(window)  # also waits for the device
      scalars = {k: float(np.mean([x[k] for x in fetched]))
                 for k in fetched[0]}
      now = time.time()
      if step > start:
        timed_steps += len(window)
        timed_s += now - last_log
      window = []
      metrics_lib.check_finite(done, scalars, checkpointer.latest_step(),
                               checkpointer.directory)
      if eval_now:
        accs = steps.evaluate(state.params, pools['val'], statics=statics,
                              purpose=VAL, num_tasks=m.val_tasks,
                              num_steps=m.inner_steps, chunk=m.eval_chunk,
                              batch_stats=state.batch_stats,
                              rotate='val' in m.task_rotations)
        scalars['val_accuracy'], scalars['val_ci95'] = confidence_interval(
            accs[:, -1])
        if statics.features.select_best:
          state = steps.keep_best(state, scalars['val_accuracy'],
                                  statics.mesh)
          scalars['best_val_accuracy'] = float(state.best_val)
      writer.write(done, scalars)
      if log_now or eval_now:
        progress.report(done, {k: scalars[k] for k in (
            'loss', 'accuracy', 'val_accuracy', 'inner_lr_mean')
                               if k in scalars})
      if save_now:
        checkpointer.save(done, state)
      last_log = time.time()  # evaluation and saving are not training time
      progress.exclude_time()
  finally:
    writer.close()
    checkpointer.close()
  if timed_steps:
    speed['meta_steps_per_s'] = timed_steps / timed_s
    speed['tasks_per_s'] = timed_steps * m.meta_batch / timed_s
  return state, statics, pools, speed


def run(config, workdir):
  """Meta-trains, evaluates on meta-test tasks, runs the transfer study and
  writes results, figures and report."""
  if workdir_lib.finished(workdir):
    return
  m = config.maml
  data, splits = load_splits(config)
  if m.transfer:
    run_transfer_study(config, workdir, data, splits)
    return
  print(f'{m.variant.upper()} on {data.name}: {m.ways}-way {m.shots}-shot {m.queries}-query, '
        f'{splits.num_classes("train")} meta-train / '
        f'{splits.num_classes("val")} meta-val / '
        f'{splits.num_classes("test")} meta-test classes, '
        f'{m.inner_steps} inner steps '
        f'({"first" if m.first_order else "second"} order), '
        f'{m.meta_steps} meta-steps of {m.meta_batch} tasks', flush=True)
  start = time.time()
  state, statics, pools, speed = train(config, workdir, splits)
  speed['train_wall_s'] = time.time() - start
  t0 = time.time()
  # MAML++ tests the best meta-val checkpoint (the last one if none beat -1).
  chosen = {'params': state.params, 'batch_stats': state.batch_stats}
  if statics.features.select_best and float(state.best_val) >= 0:
    chosen = state.best
  accs = steps.evaluate(chosen['params'], pools['test'], statics=statics,
                        purpose=TEST, num_tasks=m.test_tasks,
                        num_steps=m.test_steps, chunk=m.eval_chunk,
                        batch_stats=chosen['batch_stats'],
                        rotate='test' in m.task_rotations)
  speed['test_eval_s'] = time.time() - t0
  per_step = [confidence_interval(accs[:, k]) for k in range(accs.shape[1])]
  at_k = per_step[min(m.inner_steps, m.test_steps)]
  rates = jax.device_get(chosen['params']['rates'])
  results = {
      'variant': m.variant,
      'features': dataclasses.asdict(maml_variants.features(m)),
      'inner_loss': m.inner_loss, 'bn_mode': m.bn_mode,
      'best_val_accuracy': (float(state.best_val)
                            if statics.features.select_best else None),
      'data': data.name, 'ways': m.ways, 'shots': m.shots,
      'queries': m.queries, 'inner_steps': m.inner_steps,
      'first_order': m.first_order, 'meta_steps': m.meta_steps,
      'meta_batch': m.meta_batch, 'seed': config.seed,
      'classes': {s: splits.num_classes(s) for s in episodes.SPLITS},
      'images_per_class': {s: (0 if p is None else int(p.shape[1]))
                           for s, p in splits.pools.items()},
      'test_tasks': m.test_tasks,
      'test_accuracy': at_k[0], 'test_ci95': at_k[1],
      'test_accuracy_by_steps': [a for a, _ in per_step],
      'test_ci95_by_steps': [c for _, c in per_step],
      'inner_lrs': {k: np.asarray(v).tolist()
                    for k, v in _flat_rates(rates).items()},
      'speed': speed,
      'devices': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'command': workdir_lib.command_line(),
  }
  figures = workdir_lib.subdir(workdir, 'figures')
  maml_report.accuracy_figure(os.path.join(figures, 'accuracy_vs_steps.png'),
                              results)
  workdir_lib.write_json(os.path.join(workdir, 'results.json'), results)
  maml_report.write_markdown(workdir, results)
  workdir_lib.mark_done(workdir, {'experiment': 'maml',
                                  'test_accuracy': results['test_accuracy'],
                                  'test_ci95': results['test_ci95']})
  print(f'meta-test ({m.test_tasks} tasks, {m.ways}-way {m.shots}-shot) '
        f'after {min(m.inner_steps, m.test_steps)} steps: '
        f'{100 * at_k[0]:.2f} +- {100 * at_k[1]:.2f}%; best over 0..'
        f'{m.test_steps} steps {100 * max(a for a, _ in per_step):.2f}%; '
        f'outputs in {workdir}', flush=True)


def run_transfer_study(config, workdir, data, splits):
  """The study (`maml_study.run_study`) and its report."""
  m = config.maml
  print(f'invariance-transfer study on {data.name} ({config.data.transform}):'
        f' {", ".join(m.transfer_learners)}; seeds {tuple(m.transfer_seeds)};'
        f' {m.ways}-way, meta-test classes '
        f'{splits.class_ids["test"].tolist()}', flush=True)
  start = time.time()
  result = maml_study.run_study(config, workdir, splits, train)
  result['wall_s'] = time.time() - start
  result['data'] = data.name
  result['command'] = workdir_lib.command_line()
  result['paired'] = maml_study.paired_differences(result)
  maml_study.write(workdir, result)
  transfer_report.write_outputs(workdir, result)
  workdir_lib.mark_done(workdir, {'experiment': 'maml', 'study': 'transfer',
                                  'seeds': list(m.transfer_seeds)})
  print(f'transfer study done in {result["wall_s"]:.0f} s; outputs in '
        f'{workdir}', flush=True)


def _flat_rates(rates):
  """{'conv1/kernel': [rate per step], ...}."""
  flat = {}
  for layer, leaves in rates.items():
    for name, value in leaves.items():
      flat[f'{layer}/{name}'] = value
  return flat
