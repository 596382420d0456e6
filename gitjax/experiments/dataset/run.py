"""Experiment `dataset`: build the long-tailed, transformed data set and show it.

Writes into the workdir:
  figures/preview.png       a row of transformed samples per class, by size
  figures/preview_clean.png the same images before the transform
  figures/class_sizes.png   training images per class (log scale)
  summary.json              class order and sizes, totals, transform, seed
  report.md                 the same in words, with the command
"""
import os

from gitjax import report
from gitjax.data import build
from gitjax.runtime import workdir as workdir_lib


def run(config, workdir, data=None):
  """Builds the data set of `config.data` (or takes `data`, already built
  from it) and writes its figures and summary."""
  if workdir_lib.finished(workdir):
    return
  data = data or build.build(config.data, config.seed)
  summary = data.summary()
  figures = workdir_lib.subdir(workdir, 'figures')
  transform = '+'.join(data.transform.names) or 'none'
  title = f'{data.name}, transform {transform}, seed {data.seed}'
  per_class = config.run.preview_per_class
  common = dict(labels=data.y_train, class_order=data.class_order,
                class_sizes=data.class_sizes, class_names=data.class_names,
                per_class=per_class)
  report.preview_grid(os.path.join(figures, 'preview.png'), data.x_train,
                      title=title, **common)
  report.preview_grid(os.path.join(figures, 'preview_clean.png'),
                      data.x_train_clean, title=f'{data.name}, untransformed',
                      **common)
  report.class_size_chart(os.path.join(figures, 'class_sizes.png'),
                          data.class_order, data.class_sizes,
                          data.class_names)
  workdir_lib.write_json(os.path.join(workdir, 'summary.json'), summary)
  _write_report(workdir, summary)
  workdir_lib.mark_done(workdir, {'experiment': 'dataset'})
  print(f'{summary["train_total"]} training images in '
        f'{summary["num_classes"]} classes, sizes by rank '
        f'{summary["class_sizes_by_rank"]}; test {summary["test_total"]}; '
        f'outputs in {workdir}')


def _write_report(workdir, summary):
  rows = [(rank + 1, summary['class_names'][c], summary['class_sizes'][c],
           summary['test_per_class'][c])
          for rank, c in enumerate(summary['class_order'])]
  text = '\n'.join([
      f'# Data set: {summary["name"]}',
      '',
      f'Command: `{workdir_lib.command_line()}`',
      '',
      f'- transform: {"+".join(summary["transform"])}, seed {summary["seed"]}',
      f'- training images: {summary["train_total"]} in '
      f'{summary["num_classes"]} classes ({summary["classes_at_min_size"]} at '
      'the smallest size)',
      f'- test images: {summary["test_total"]}; validation images: '
      f'{summary["val_total"]}',
      '',
      '![samples](figures/preview.png)',
      '![class sizes](figures/class_sizes.png)',
      '',
      report.markdown_table(('rank', 'class', 'train', 'test'), rows),
      '',
  ])
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), text)
