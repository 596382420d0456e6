"""Figures and report.md of a MAML run."""
import os

from gitjax import report  # sets the Agg backend before pyplot
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-order
import numpy as np

from gitjax.runtime import workdir as workdir_lib


def accuracy_figure(path, results):
  """Meta-test accuracy (95% CI band) against adaptation steps."""
  acc = 100 * np.asarray(results['test_accuracy_by_steps'])
  ci = 100 * np.asarray(results['test_ci95_by_steps'])
  steps = np.arange(len(acc))
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(steps, acc, marker='o')
  ax.fill_between(steps, acc - ci, acc + ci, alpha=0.3)
  ax.axvline(results['inner_steps'], color='gray', ls=':',
             label=f'K = {results["inner_steps"]} (training)')
  ax.set_xlabel('adaptation steps at meta-test')
  ax.set_ylabel('query accuracy (%)')
  ax.set_title(f'{results["data"]}: {results["ways"]}-way '
               f'{results["shots"]}-shot, {results["test_tasks"]} tasks')
  ax.legend()
  report._save(fig, path)  # pylint: disable=protected-access


def _pct(value, ci=None):
  return f'{100 * value:.2f}%' + (f' +- {100 * ci:.2f}' if ci is not None
                                  else '')


def write_markdown(workdir, results):
  """report.md: command, settings, meta-test accuracy, speed."""
  speed = results['speed']
  rate = speed.get('meta_steps_per_s')
  order = 'first' if results['first_order'] else 'second'
  rows = [[k, _pct(a), f'{100 * c:.2f}'] for k, (a, c) in enumerate(zip(
      results['test_accuracy_by_steps'], results['test_ci95_by_steps']))]
  lines = [
      f'# MAML on {results["data"]}: {results["ways"]}-way '
      f'{results["shots"]}-shot', '',
      f'Command: `{results["command"]}`', '',
      f'- {results["meta_steps"]} meta-steps of {results["meta_batch"]} '
      f'tasks, {results["inner_steps"]} inner steps ({order} order), seed '
      f'{results["seed"]}, on {results["devices"]}',
      f'- classes meta-train / val / test: {results["classes"]["train"]} / '
      f'{results["classes"]["val"]} / {results["classes"]["test"]}; images '
      f'per class {results["images_per_class"]}',
      f'- **meta-test accuracy ({results["test_tasks"]} tasks, after K = '
      f'{results["inner_steps"]} steps): '
      f'{_pct(results["test_accuracy"], results["test_ci95"])}** (95% CI)',
      (f'- speed: {rate:.2f} meta-steps/s, {speed["tasks_per_s"]:.1f} '
       f'tasks/s (first step incl. compilation '
       f'{speed["compile_and_first_step_s"]:.1f} s, training '
       f'{speed["train_wall_s"]:.0f} s, ' if rate else
       '- speed: n/a (resumed after the last meta-step; ') +
      f'meta-test evaluation {speed["test_eval_s"]:.0f} s)', '',
      '![accuracy vs steps](figures/accuracy_vs_steps.png)', '',
      report.markdown_table(['adaptation steps', 'accuracy', '95% CI +-'],
                            rows), '']
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), '\n'.join(lines))
