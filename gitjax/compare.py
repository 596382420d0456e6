r"""Overlays finished classifier runs: eKLD against class size, one series
per run, with each run's Spearman correlation, and a summary table.

    python -m gitjax.compare /tmp/mnist_ce /tmp/mnist_drs --out /tmp/compare

Writes OUT/ekld_vs_size.png, OUT/accuracy_vs_size.png and OUT/compare.md.

    python -m gitjax.compare --study /tmp/git_study

prints the paired comparisons of a finished `git` study (each method
against CE+DRS, GIT methods against their twin: per-instance differences
in balanced accuracy and smallest-fifth eKLD, mean, 95% t interval, how
many instances favour each side), from its stage folders, without
training; with --out it also writes OUT/paired.md.
An evaluation of an unfinished run (`python -m gitjax.evaluate` on a run
still training or stopped early) is marked in its label, the table and a
printed warning.
"""
import argparse
import json
import os
import sys

from gitjax import invariance
from gitjax import report
from gitjax.runtime import paths


def _load(run):
  try:
    results = json.loads(paths.read_text(os.path.join(run, 'results.json')))
    per_class = json.loads(paths.read_text(os.path.join(run,
                                                        'per_class.json')))
  except FileNotFoundError:
    print(f'error: {run} is not a finished classifier run (results.json or '
          'per_class.json missing)', file=sys.stderr)
    sys.exit(2)
  return results, per_class


def compare(runs, out, labels=None):
  """Writes the overlay figures and table; returns the table rows."""
  paths.makedirs(out)
  ekld, accuracy, rows = {}, {}, []
  for i, run in enumerate(runs):
    results, per_class = _load(run)
    label = labels[i] if labels else results['method']
    if label in accuracy:
      label = f'{label} ({os.path.basename(os.path.normpath(run))})'
    if results.get('finished') is False:  # absent: a run's own results
      mark = (f'unfinished: step {results["checkpoint_step"]} of '
              f'{results["steps"]}')
      label = f'{label} [{mark}]'
      print(f'warning: {run} evaluates an {mark}', file=sys.stderr)
    sizes = [r['train_size'] for r in per_class]
    acc = [r['test_accuracy'] for r in per_class]
    accuracy[label] = (sizes, acc, invariance.spearman(sizes, acc))
    row = [label, results['data'], results['transform'], results['seed'],
           f'{results["balanced_accuracy"]:.4f}']
    if 'ekld' in per_class[0]:
      values = [r['ekld'] for r in per_class]
      rho = invariance.spearman(sizes, values)
      ekld[label] = (sizes, values, rho)
      row += [f'{results["mean_ekld"]:.4f}', f'{rho:+.3f}']
    else:
      row += ['n/a', 'n/a']
    rows.append(row)
  if ekld:
    report.ekld_figure(os.path.join(out, 'ekld_vs_size.png'), ekld)
  report.ekld_figure(os.path.join(out, 'accuracy_vs_size.png'), accuracy,
                     ylabel='test accuracy')
  header = ('run', 'data', 'transform', 'seed', 'balanced accuracy',
            'mean eKLD', 'eKLD-size Spearman')
  text = '\n'.join(['# Comparison', '', 'Runs: ' + ', '.join(runs), '',
                    report.markdown_table(header, rows), '',
                    '![eKLD](ekld_vs_size.png)',
                    '![accuracy](accuracy_vs_size.png)', ''])
  paths.write_text(os.path.join(out, 'compare.md'), text)
  return rows


def study(workdir, out=None):
  """Paired comparisons of a finished git study; returns the table rows."""
  from gitjax.experiments.git import report as git_report  # pylint: disable=g-import-not-at-top
  if not paths.exists(os.path.join(workdir, 'config.json')):
    print(f'error: {workdir} holds no git study (no config.json)',
          file=sys.stderr)
    sys.exit(2)
  try:
    rows = git_report.paired_rows(git_report.comparisons(workdir))
  except FileNotFoundError as e:
    print(f'error: {workdir} holds an unfinished stage ({e.filename} '
          'missing); finish the study first', file=sys.stderr)
    sys.exit(2)
  if out:
    paths.makedirs(out)
    paths.write_text(os.path.join(out, 'paired.md'), '\n'.join([
        f'# Paired comparisons: {workdir}', '',
        report.markdown_table(git_report.PAIRED_HEADER, rows), '']))
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('runs', nargs='*', help='finished classifier workdirs')
  parser.add_argument('--out', help='folder for the outputs')
  parser.add_argument('--labels', help='comma-separated series names')
  parser.add_argument('--study', help='a finished git study: print its '
                      'paired comparisons')
  args = parser.parse_args(argv)
  if args.study:
    for row in study(args.study, args.out):
      print(' | '.join(str(c) for c in row))
    if not args.runs:
      return
  if not args.runs or not args.out:
    print('error: give finished classifier workdirs and --out, or --study',
          file=sys.stderr)
    sys.exit(2)
  labels = args.labels.split(',') if args.labels else None
  if labels and len(labels) != len(args.runs):
    print('error: --labels needs one name per run', file=sys.stderr)
    sys.exit(2)
  for row in compare(args.runs, args.out, labels):
    print(' | '.join(str(c) for c in row))


if __name__ == '__main__':
  main()
