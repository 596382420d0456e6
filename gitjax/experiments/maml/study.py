"""The invariance-transfer study with its controls, over seeds.

For each seed of `transfer_seeds`: meta-trains every meta-learner of
`transfer_learners` (`maml`, `maml++`, `anil`; the config's settings, with
the variant's own recipe: `config_maml.maml_plus_plus` with
`transfer_pp_steps` inner steps for MAML++, the head-only inner loop for
ANIL) on the same meta-train classes and Conv-4, each into
`<workdir>/seed<S>/<learner>/` (resumable); pre-trains the plain CNN and
tunes its fine-tuning on meta-val classes held out of meta-train
(`learners.tune_finetuning`); then runs every learner on the SAME meta-test
tasks (clean K-shot support sets for K in `transfer_shots`,
`transfer_tasks` tasks each, `transfer_draws` transformed copies of each
query image) and scores it with `transfer_stats` (eKLD after per-learner
temperature scaling on clean queries, raw eKLD, consistency, accuracy
clean and transformed, the fraction of above-chance accuracy kept). Seeds
change the initialisations, the meta-training tasks and the meta-test
tasks; the class split is fixed.
"""
import copy
import os

import jax
import numpy as np

from gitjax import config_maml
from gitjax import paired
from gitjax.data import pipeline
from gitjax.experiments.maml import learners
from gitjax.experiments.maml import steps
from gitjax.experiments.maml import transfer
from gitjax.experiments.maml import transfer_stats
from gitjax.runtime import processes
from gitjax.runtime import workdir as workdir_lib

_METRICS = ('ekld', 'ekld_raw', 'consistency', 'acc_clean',
            'acc_transformed')


def variant_config(config, name, seed):
  """The config of meta-learner `name` ('maml', 'maml++', 'anil')."""
  vc = copy.deepcopy(config)
  vc.seed = seed
  m = vc.maml
  if name == 'maml++':
    config_maml.maml_plus_plus(vc)
    m.inner_steps = m.transfer_pp_steps
  m.variant = name
  m.eval_every = 0  # no meta-val classes outside meta-train and meta-test
  return vc


def _score(out, class_ids, ways):
  """Per-task metrics of one learner's outputs, temperature-scaled."""
  temperature = transfer_stats.fit_temperature(out['clean'], out['labels'])
  scaled = transfer_stats.task_metrics(out['clean'], out['moved'],
                                       out['labels'], temperature)
  raw = transfer_stats.task_metrics(out['clean'], out['moved'],
                                    out['labels'])
  rows = class_ids[out['classes']]  # [T, N] source class ids
  by_class = {int(c): float(scaled['ekld_by_label'][rows == c].mean())
              for c in np.unique(rows)}
  per_task = {k: scaled[k] for k in ('ekld', 'consistency', 'acc_clean',
                                     'acc_transformed')}
  per_task['ekld_raw'] = raw['ekld']
  means = {k: float(v.mean()) for k, v in per_task.items()}
  means['kept'] = transfer_stats.kept_fraction(
      means['acc_clean'], means['acc_transformed'], ways)
  return {'temperature': temperature, 'ekld_by_class': by_class,
          'means': means, 'per_task': {k: v.tolist()
                                       for k, v in per_task.items()}}


def one_seed(config, workdir, splits, train_fn, seed):
  """{learner: {'K-shot': score}} and the tuning of one seed."""
  m = config.maml
  base = copy.deepcopy(config)
  base.seed = seed
  statics = steps.make_statics(base)
  pools = {s: None if p is None else jax.device_put(
      p, pipeline.replicated(statics.mesh)) for s, p in splits.pools.items()}
  runs, info = {}, {}
  for name in m.transfer_learners:
    if name in learners.META_LEARNERS:
      vc = variant_config(config, name, seed)
      sub = workdir_lib.subdir(workdir, os.path.join(f'seed{seed}', name))
      state, vstatics, _, speed = train_fn(vc, sub, splits)
      runs[name] = (learners.meta_learner(processes.fetch(state.params),
                                          vstatics), vstatics)
      info[name] = {'inner_steps': vstatics.inner_steps, 'speed': speed}
  if set(m.transfer_learners) & set(learners.CNN_LEARNERS):
    fast, slow, loss = learners.pretrain_classifier(
        m, statics, pools['train'], seed, m.ways)
    tuned = learners.tune_finetuning(m, statics, splits.pools['train'],
                                     splits.class_ids['train'], seed)
    info['cnn'] = {'pretrain_final_loss': loss, **tuned}
    made = {'cnn_head': lambda: learners.finetuned(
        fast, slow, *tuned['cnn_head'], head_only=True),
            'cnn_all': lambda: learners.finetuned(
                fast, slow, *tuned['cnn_all'], head_only=False),
            'cnn_centroid': lambda: learners.centroid(fast, slow)}
    for name in m.transfer_learners:
      if name in made:
        runs[name] = (made[name](), statics)
  scores = {}
  for name, (learner, lstatics) in runs.items():
    scores[name] = {}
    for i, shots in enumerate(m.transfer_shots):
      out = transfer.run_learner(
          learner, pools['test'], steps.task_key(seed, transfer.TRANSFER, i),
          statics=lstatics, shots=shots, num_tasks=m.transfer_tasks,
          num_draws=m.transfer_draws)
      scores[name][f'{shots}-shot'] = _score(out, splits.class_ids['test'],
                                             m.ways)
    print(f'seed {seed} {name}: ' + ', '.join(
        f'{k} eKLD {v["means"]["ekld"]:.3f} acc {v["means"]["acc_clean"]:.3f}'
        f'/{v["means"]["acc_transformed"]:.3f}'
        for k, v in scores[name].items()), flush=True)
  return scores, info


def summarise(per_seed, learner_names, shots):
  """{learner: {'K-shot': {metric: transfer_stats.interval}}}."""
  summary = {}
  for name in learner_names:
    summary[name] = {}
    for k in shots:
      key = f'{k}-shot'
      runs = [s[name][key] for s in per_seed]
      row = {}
      for metric in _METRICS:
        row[metric] = transfer_stats.interval(
            [r['means'][metric] for r in runs],
            np.concatenate([r['per_task'][metric] for r in runs]))
      row['kept'] = transfer_stats.interval([r['means']['kept']
                                             for r in runs])
      row['temperature'] = transfer_stats.interval([r['temperature']
                                                    for r in runs])
      summary[name][key] = row
  return summary


# Paired against the reference learner: (metric, higher is better).
PAIRED_METRICS = (('ekld', False), ('consistency', True),
                  ('acc_transformed', True), ('kept', True))


def paired_differences(result, reference='maml'):
  """{learner: {'K-shot': {metric: paired}}}: learner - reference on the
  same seeds and the same meta-test tasks (every learner of a seed meets
  the same tasks), from transfer.json's per-seed values.

  Each metric has 'seeds' (paired.paired_difference over the per-seed
  means: t interval with n_seeds - 1 degrees of freedom; training varies
  between seeds, so this is the interval of a claim about the learners)
  and, for per-task metrics, 'tasks' (over every seed's tasks: the
  interval of the task sampling alone). {} without the reference."""
  if reference not in result['learners']:
    return {}
  seeds = [str(s) for s in result['seeds']]
  out = {}
  for name in result['learners']:
    if name == reference:
      continue
    out[name] = {}
    for k in result['shots']:
      key = f'{k}-shot'
      runs = [result['per_seed'][s][name][key] for s in seeds]
      refs = [result['per_seed'][s][reference][key] for s in seeds]
      row = {}
      for metric, higher in PAIRED_METRICS:
        row[metric] = {'seeds': paired.paired_difference(
            [r['means'][metric] for r in runs],
            [r['means'][metric] for r in refs], higher)}
        if metric in runs[0]['per_task']:
          row[metric]['tasks'] = paired.paired_difference(
              np.concatenate([r['per_task'][metric] for r in runs]),
              np.concatenate([r['per_task'][metric] for r in refs]), higher)
      out[name][key] = row
  return out


def run_study(config, workdir, splits, train_fn):
  """Runs the study; returns the JSON-ready dict (transfer.json).

  `train_fn(config, workdir, splits) -> (state, statics, pools, speed)` is
  `maml.run.train` (passed in: run.py calls this module).
  """
  m = config.maml
  per_seed, infos = [], {}
  for seed in m.transfer_seeds:
    scores, info = one_seed(config, workdir, splits, train_fn, seed)
    per_seed.append(scores)
    infos[str(seed)] = info
  return {
      'learners': list(m.transfer_learners), 'shots': list(m.transfer_shots),
      'seeds': list(m.transfer_seeds),
      'classes': {s: splits.class_ids[s].tolist() for s in ('train', 'test')},
      'settings': {
          'transform': config.data.transform, 'ways': m.ways,
          'queries': m.queries, 'tasks_per_shot': m.transfer_tasks,
          'draws_per_image': m.transfer_draws, 'meta_steps': m.meta_steps,
          'meta_batch': m.meta_batch, 'maml_pp_steps': m.transfer_pp_steps,
          'pretrain_steps': m.pretrain_steps,
          'tune_classes': list(m.tune_classes),
          'finetune_lrs': list(m.finetune_lrs),
          'finetune_steps': list(m.finetune_steps),
          'support': 'clean', 'temperature': 'per learner, seed and K: '
                     'min NLL on the clean queries'},
      'per_seed': {str(s): sc for s, sc in zip(m.transfer_seeds, per_seed)},
      'runs': infos,
      'summary': summarise(per_seed, m.transfer_learners, m.transfer_shots),
  }


def write(workdir, result):
  """transfer.json in `workdir`."""
  workdir_lib.write_json(os.path.join(workdir, 'transfer.json'), result)
