"""Figures and report.md of a MAML run."""
import os

from gitjax import report  # sets the Agg backend before pyplot
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-order
import numpy as np

from gitjax.runtime import processes
from gitjax.runtime import workdir as workdir_lib

_ARM_LABELS = {'maml': 'MAML (meta-learned init)',
               'finetuned_cnn': 'plain CNN, fine-tuned',
               'scratch_cnn': 'CNN from scratch'}


def _save(fig, path):
  if processes.is_writer():  # one process writes the run folder
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches='tight')
  plt.close(fig)


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
  _save(fig, path)


def transfer_figure(path, transfer):
  """eKLD and accuracy on meta-test classes against shots, per learner."""
  shots = transfer['shots']
  fig, (ax_kl, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
  for name, arm in transfer['arms'].items():
    label = _ARM_LABELS.get(name, name)
    line, = ax_kl.plot(shots, arm['ekld'], marker='o', label=label)
    for k, by_class in zip(shots, arm['ekld_by_class']):
      ax_kl.scatter([k] * len(by_class), list(by_class.values()), s=8,
                    color=line.get_color(), alpha=0.4)
    ax_acc.plot(shots, 100 * np.asarray(arm['acc_clean']), marker='o',
                color=line.get_color(), label=f'{label}, clean')
    ax_acc.plot(shots, 100 * np.asarray(arm['acc_transformed']), marker='x',
                ls='--', color=line.get_color(), label=f'{label}, transformed')
  ax_kl.set_xlabel('shots K (clean support images per class)')
  ax_kl.set_ylabel('eKLD on meta-test classes (dots: per class)')
  ax_kl.set_xscale('log')
  ax_kl.legend(fontsize=7)
  ax_acc.set_xlabel('shots K')
  ax_acc.set_ylabel('query accuracy (%)')
  ax_acc.set_xscale('log')
  ax_acc.legend(fontsize=6)
  fig.suptitle(f'invariance transfer to new classes '
               f'({transfer["settings"]["transform"]})')
  _save(fig, path)


def _pct(value, ci=None):
  return f'{100 * value:.2f}%' + (f' +- {100 * ci:.2f}' if ci is not None
                                  else '')


def write_markdown(workdir, results, transfer=None):
  """report.md: command, settings, meta-test accuracy, speed, transfer."""
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
  if transfer:
    t_rows = []
    for name, arm in transfer['arms'].items():
      for i, k in enumerate(transfer['shots']):
        t_rows.append([_ARM_LABELS.get(name, name), k, f'{arm["ekld"][i]:.3f}',
                       f'{arm["consistency"][i]:.3f}',
                       _pct(arm['acc_clean'][i]),
                       _pct(arm['acc_transformed'][i])])
    st = transfer['settings']
    lines += [
        f'## Invariance transfer ({st["transform"]})', '',
        f'Meta-test classes, clean K-shot support, {st["tasks_per_shot"]} '
        f'tasks per K, {st["draws_per_image"]} draws per query image. MAML '
        f'adapts {st["maml_steps"]} step(s); the CNNs fine-tune '
        f'{st["finetune_steps"]} SGD steps at lr {st["finetune_lr"]} (plain '
        f'CNN pre-trained {st["pretrain_steps"]} steps on the meta-train '
        f'classes under the transform, final loss '
        f'{st["pretrain_final_loss"]:.3f}).', '',
        '![invariance transfer](figures/invariance_transfer.png)', '',
        report.markdown_table(['learner', 'K', 'eKLD', 'consistency',
                               'acc clean', 'acc transformed'], t_rows), '']
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), '\n'.join(lines))
