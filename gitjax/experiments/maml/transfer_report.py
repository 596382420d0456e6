"""Figure and report.md of the invariance-transfer study (maml/study.py)."""
import os
import sys

from gitjax import report  # sets the Agg backend before pyplot
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-order

from gitjax.experiments.maml import study
from gitjax.runtime import workdir as workdir_lib

LABELS = {'maml': 'MAML', 'maml++': 'MAML++', 'anil': 'ANIL',
          'cnn_head': 'plain CNN, head fine-tuned',
          'cnn_all': 'plain CNN, all layers fine-tuned',
          'cnn_centroid': 'plain CNN features, nearest centroid'}


def _ci(cell):
  """The seeds' t interval, else the tasks' (None: 0)."""
  for key in ('ci95_seeds', 'ci95_tasks'):
    if cell.get(key) is not None:
      return cell[key]
  return 0.0


def figure(path, result):
  """eKLD (temperature-scaled), accuracy clean / transformed and the
  fraction of above-chance accuracy kept, against shots, per learner."""
  shots = result['shots']
  fig, axes = plt.subplots(1, 3, figsize=(14, 4))
  for name in result['learners']:
    rows = [result['summary'][name][f'{k}-shot'] for k in shots]
    label = LABELS.get(name, name)
    line = axes[0].errorbar(shots, [r['ekld']['mean'] for r in rows],
                            yerr=[_ci(r['ekld']) for r in rows], marker='o',
                            capsize=3, label=label)[0]
    color = line.get_color()
    for key, style in (('acc_clean', '-'), ('acc_transformed', '--')):
      axes[1].errorbar(shots, [100 * r[key]['mean'] for r in rows],
                       yerr=[100 * _ci(r[key]) for r in rows], ls=style,
                       marker='o' if style == '-' else 'x', capsize=2,
                       color=color)
    axes[2].errorbar(shots, [r['kept']['mean'] for r in rows],
                     yerr=[_ci(r['kept']) for r in rows], marker='o',
                     capsize=3, color=color)
  for ax in axes:
    ax.set_xscale('log')
    ax.set_xlabel('shots K (clean support images per class)')
  axes[0].set_ylabel('eKLD on meta-test classes (T-scaled)')
  axes[0].legend(fontsize=7)
  axes[1].set_ylabel('query accuracy % (solid clean, dashed transformed)')
  axes[2].set_ylabel('above-chance accuracy kept under the transform')
  st = result['settings']
  fig.suptitle(f'invariance transfer to new classes ({st["transform"]}; '
               f'{len(result["seeds"])} seed(s), 95% intervals)')
  report._save(fig, path)  # pylint: disable=protected-access


def _cell(cell, scale=1.0, digits=3):
  text = f'{scale * cell["mean"]:.{digits}f}'
  ci = _ci(cell)
  return text + (f' +- {scale * ci:.{digits}f}' if ci else '')


def _paired_cell(p, scale=1.0, digits=3):
  if p['ci95'] is None:
    return f'{scale * p["mean"]:+.{digits}f}'
  lo, hi = (scale * v for v in p['ci95'])
  return f'{scale * p["mean"]:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]'


def paired_lines(result, reference='maml'):
  """The paired-difference table (learner - reference, same seeds and
  tasks) as Markdown lines; [] without the reference learner."""
  diffs = result.get('paired') or study.paired_differences(result, reference)
  if not diffs:
    return []
  rows = []
  for name, by_k in diffs.items():
    for key, row in by_k.items():
      rows.append([f'{LABELS.get(name, name)} - {LABELS[reference]}',
                   key.split('-')[0],
                   _paired_cell(row['ekld']['seeds']),
                   _paired_cell(row['ekld']['tasks']),
                   _paired_cell(row['consistency']['seeds']),
                   _paired_cell(row['acc_transformed']['seeds'], 100, 1),
                   _paired_cell(row['kept']['seeds'], digits=2)])
  n = len(result['seeds'])
  return [
      f'Paired differences against {LABELS[reference]} (same seeds, same '
      f'meta-test tasks): mean [95% interval], t over the {n} seeds\' '
      'per-seed means (training varies between seeds), and for eKLD also '
      'over all tasks (the task sampling alone). eKLD: below 0 is more '
      'invariant than the reference; the others: above 0 is better.', '',
      report.markdown_table(
          ['learner - reference', 'K', 'eKLD (seeds)', 'eKLD (tasks)',
           'consistency', 'acc transformed (points)', 'kept'], rows), '']


def write_markdown(workdir, result):
  """report.md of the study: design, the table, the figure."""
  st = result['settings']
  seeds = result['seeds']
  rows = []
  for name in result['learners']:
    for k in result['shots']:
      r = result['summary'][name][f'{k}-shot']
      rows.append([LABELS.get(name, name), k, _cell(r['ekld']),
                   _cell(r['ekld_raw']), _cell(r['temperature'], digits=2),
                   _cell(r['consistency']), _cell(r['acc_clean'], 100, 1),
                   _cell(r['acc_transformed'], 100, 1),
                   _cell(r['kept'], digits=2)])
  tuning = '; '.join(
      f'seed {s}: head lr {i["cnn"]["cnn_head"][0]} x '
      f'{i["cnn"]["cnn_head"][1]} steps, all layers lr '
      f'{i["cnn"]["cnn_all"][0]} x {i["cnn"]["cnn_all"][1]} steps'
      for s, i in result['runs'].items() if 'cnn' in i)
  interval = ('Student t over the seeds' if len(seeds) > 1 else
              '1.96 standard errors over the tasks (one seed)')
  lines = [
      f'# Invariance transfer on {result["data"]} ({st["transform"]})', '',
      f'Command: `{result["command"]}`', '',
      f'- meta-train classes {result["classes"]["train"]} under the '
      f'transform; meta-test classes {result["classes"]["test"]} with clean '
      f'{st["ways"]}-way K-shot support sets, {st["tasks_per_shot"]} tasks '
      f'per K and seed (the same tasks for every learner), '
      f'{st["queries"]} queries per class, {st["draws_per_image"]} '
      f'transformed copies of each query',
      f'- meta-learners: {st["meta_steps"]} meta-steps of '
      f'{st["meta_batch"]} tasks each (MAML++ with {st["maml_pp_steps"]} '
      f'inner steps); plain CNN: {st["pretrain_steps"]} Adam steps; its '
      f'fine-tuning picked from lr {st["finetune_lrs"]} x steps '
      f'{st["finetune_steps"]} on meta-val classes {st["tune_classes"]} held '
      f'out of meta-train ({tuning})',
      f'- eKLD after per-learner temperature scaling ({st["temperature"]}); '
      f'kept = (acc transformed - 1/N) / (acc clean - 1/N)',
      f'- seeds {seeds}; +- is the 95% interval: {interval}; '
      f'{result["wall_s"]:.0f} s in all', '',
      '![invariance transfer](figures/invariance_transfer.png)', '',
      report.markdown_table(['learner', 'K', 'eKLD (T-scaled)', 'eKLD raw',
                             'T', 'consistency', 'acc clean %',
                             'acc transformed %', 'kept'], rows), '']
  lines += paired_lines(result)
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), '\n'.join(lines))


def write_outputs(workdir, result):
  """figures/invariance_transfer.png and report.md of a study's result."""
  figure(os.path.join(workdir_lib.subdir(workdir, 'figures'),
                      'invariance_transfer.png'), result)
  write_markdown(workdir, result)


def main(argv):
  """python -m gitjax.experiments.maml.transfer_report WORKDIR: draws the
  figure and writes report.md again from WORKDIR/transfer.json (a pure
  function of it; transfer.json itself is not touched)."""
  import json  # pylint: disable=import-outside-toplevel
  if len(argv) != 2:
    print('usage: python -m gitjax.experiments.maml.transfer_report WORKDIR',
          file=sys.stderr)
    return 2
  path = os.path.join(argv[1], 'transfer.json')
  if not os.path.exists(path):
    print(f'{path} does not exist: give the workdir of a finished transfer '
          'study', file=sys.stderr)
    return 2
  with open(path) as f:
    result = json.load(f)
  write_outputs(argv[1], result)
  print(f'wrote {os.path.join(argv[1], "report.md")}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
