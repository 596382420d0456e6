"""What a classifier run writes: results, per-class table, figures, report."""
import os

import numpy as np

from gitjax import invariance
from gitjax import report
from gitjax.runtime import provenance
from gitjax.runtime import workdir as workdir_lib


def write(config, workdir, data, plan, test, inv, speed, munit_step=None):
  """Writes results.json, per_class.json, figures and report.md
  (`munit_step`: the MUNIT iteration a GIT method re-styled with).

  Returns the results dict.
  """
  sizes = data.class_sizes.tolist()
  per_class = []
  for c in range(data.num_classes):
    row = {'class': c, 'name': data.class_names[c], 'train_size': sizes[c],
           'test_accuracy': test['per_class_accuracy'][c]}
    if inv is not None:
      row.update(ekld=inv['ekld'][c], consistency=inv['consistency'][c],
                 invariance_images=inv['images'][c])
    per_class.append(row)
  results = {
      'method': config.method,
      'seed': config.seed,
      'data': data.name,
      'transform': '+'.join(data.transform.names) or 'none',
      'balanced_accuracy': test['balanced_accuracy'],
      'accuracy': test['accuracy'],
      'accuracy_spearman': invariance.spearman(sizes,
                                               test['per_class_accuracy']),
      'best_on_validation': test.get('best'),
      'steps': plan.total_steps,
      'steps_per_epoch': plan.steps_per_epoch,
      'switch_epoch': plan.switch_epoch if plan.rule in ('drs', 'drw') else None,
      'git': ({'mode': config.git.mode, 'start_epoch': plan.git_start_epoch,
               'munit_workdir': config.git.munit_workdir,
               'munit_step': munit_step,  # the iteration that re-styled
               'threshold_k': (config.git.threshold_k if
                               config.git.mode == 'threshold' else None),
               'keep_prob': plan.git_keep_prob.tolist()}
              if plan.git else None),
      'speed': speed,
      'devices': _devices(),
      'command': workdir_lib.command_line(),
  }
  if inv is not None:
    results['ekld_spearman'] = invariance.spearman(sizes, inv['ekld'])
    results['consistency_spearman'] = invariance.spearman(
        sizes, inv['consistency'])
    results['mean_ekld'] = float(np.nanmean(inv['ekld']))
  workdir_lib.write_json(os.path.join(workdir, 'results.json'), results)
  workdir_lib.write_json(os.path.join(workdir, 'per_class.json'), per_class)
  figures = workdir_lib.subdir(workdir, 'figures')
  title = f'{data.name}, {results["transform"]}, {config.method}'
  if inv is not None:
    report.ekld_figure(os.path.join(figures, 'ekld_vs_size.png'),
                       {config.method: (sizes, inv['ekld'],
                                        results['ekld_spearman'])},
                       title=title)
  report.ekld_figure(os.path.join(figures, 'accuracy_vs_size.png'),
                     {config.method: (sizes, test['per_class_accuracy'],
                                      results['accuracy_spearman'])},
                     title=title, ylabel='test accuracy')
  report.confusion_figure(os.path.join(figures, 'confusion.png'),
                          test['confusion'], data.class_names, title=title)
  _write_markdown(workdir, results, per_class, inv is not None)
  return results


def _devices():
  import jax  # pylint: disable=g-import-not-at-top
  return f'{jax.device_count()} x {jax.devices()[0].device_kind}'


def _fmt(value, digits=4):
  return 'n/a' if value is None else f'{value:.{digits}f}'


def _write_markdown(workdir, results, per_class, with_invariance):
  speed = results['speed']
  lines = [
      f'# Classifier: {results["method"]} on {results["data"]} '
      f'({results["transform"]})',
      '',
      f'Command: `{results["command"]}`',
      '',
      f'- seed {results["seed"]}, {results["steps"]} steps '
      f'({results["steps_per_epoch"]} per epoch) on {results["devices"]}',
      f'- balanced test accuracy (last model): '
      f'**{results["balanced_accuracy"]:.4f}** (plain accuracy '
      f'{results["accuracy"]:.4f})',
  ]
  if results['git']:
    g = results['git']
    lines.append(f'- GIT ({g["mode"]}) from epoch {g["start_epoch"]}: the '
                 'last batch_size // 2 examples re-styled by the MUNIT in '
                 f'`{g["munit_workdir"]}` after {g["munit_step"]} '
                 'iterations'
                 + (f', kept with probability max((K - n) / (K - n_min), 0),'
                    f' K = {g["threshold_k"]}' if g['threshold_k'] else ''))
  if results['best_on_validation']:
    b = results['best_on_validation']
    lines.append(f'- best model on the validation split (step {b["step"]}, '
                 f'val {b["val_balanced_accuracy"]:.4f}): balanced test '
                 f'accuracy {b["balanced_accuracy"]:.4f}')
  if with_invariance:
    lines.append(f'- eKLD vs class size: Spearman '
                 f'**{results["ekld_spearman"]:+.3f}** (mean eKLD '
                 f'{results["mean_ekld"]:.4f}); consistency vs size '
                 f'{results["consistency_spearman"]:+.3f}')
  lines += [
      f'- speed: {_fmt(speed.get("train_images_per_s"), 0)} training '
      f'images/s, first step incl. compilation '
      f'{_fmt(speed.get("compile_and_first_step_s"), 1)} s, training '
      f'{_fmt(speed.get("train_wall_s"), 0)} s, eKLD '
      f'{_fmt(speed.get("invariance_s"), 0)} s',
      '',
  ]
  if with_invariance:
    lines.append('![eKLD against class size](figures/ekld_vs_size.png)')
  lines += ['![accuracy against class size](figures/accuracy_vs_size.png)',
            '']
  header = ['class', 'train size', 'test accuracy']
  if with_invariance:
    header += ['eKLD', 'consistency']
  rows = []
  for row in sorted(per_class, key=lambda r: -r['train_size']):
    cells = [row['name'], row['train_size'], f'{row["test_accuracy"]:.3f}']
    if with_invariance:
      cells += [f'{row["ekld"]:.4f}', f'{row["consistency"]:.3f}']
    rows.append(cells)
  lines += [report.markdown_table(header, rows), '']
  lines += provenance.provenance_markdown(workdir)
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), '\n'.join(lines))
