"""Figures (matplotlib, PNG) and report.md pieces shared by the experiments.

Figures are rendered into memory and written through runtime/paths.py, so a
run folder on gs:// gets them as a local one does.
"""
import os

import matplotlib

matplotlib.use('Agg')  # no screen on servers; must precede pyplot
import matplotlib.ticker  # pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax.runtime import paths  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import processes  # pylint: disable=g-import-not-at-top,wrong-import-position


def _save(fig, path):
  """Writes `fig` as the PNG `path` (on the writer process) and closes it."""
  if processes.is_writer():  # one process writes the run folder
    paths.makedirs(os.path.dirname(path) or '.')
    paths.save_figure(fig, path, dpi=110, bbox_inches='tight')
  plt.close(fig)
  return path


def _as_display(images):
  """uint8/float [N, H, W, C] -> what imshow takes ([H, W] for C = 1)."""
  images = np.asarray(images)
  if images.dtype != np.uint8:
    images = np.clip(images, 0, 255).astype(np.uint8)
  return images[..., 0] if images.shape[-1] == 1 else images


def preview_grid(path, images, labels, class_order, class_sizes, class_names,
                 per_class=10, title=''):
  """A row of samples per class, largest class on top.

  Args:
    path: PNG file to write.
    images: uint8 [N, H, W, C]; labels: int [N].
    class_order: classes by rank (largest first).
    class_sizes: int [C] training size of each class (shown per row).
    class_names: names of the classes.
    per_class: samples per row.
    title: figure title.
  """
  rows = len(class_order)
  fig, axes = plt.subplots(rows, per_class,
                           figsize=(per_class * 0.6 + 1.6, rows * 0.6 + 0.6),
                           squeeze=False)
  shown = _as_display(images)
  for r, c in enumerate(class_order):
    idx = np.flatnonzero(labels == c)[:per_class]
    for j in range(per_class):
      ax = axes[r, j]
      ax.set_xticks([])
      ax.set_yticks([])
      for spine in ax.spines.values():
        spine.set_visible(False)
      if j < len(idx):
        ax.imshow(shown[idx[j]], cmap='gray', vmin=0, vmax=255)
    axes[r, 0].set_ylabel(f'{class_names[c]}\nn={class_sizes[c]}',
                          rotation=0, ha='right', va='center', fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.subplots_adjust(wspace=0.05, hspace=0.05)
  return _save(fig, path)


def class_size_chart(path, class_order, class_sizes, class_names, title=''):
  """Bar chart of training images per class by rank, log scale."""
  sizes = np.asarray(class_sizes)[class_order]
  fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * len(sizes) + 2), 3.2))
  ax.bar(np.arange(len(sizes)), sizes, color='tab:blue')
  ax.set_yscale('log')
  ax.set_xlabel('class (by rank)')
  ax.set_ylabel('training images')
  if len(sizes) <= 20:
    ax.set_xticks(np.arange(len(sizes)))
    ax.set_xticklabels([class_names[c] for c in class_order], fontsize=7,
                       rotation=90 if len(sizes) > 10 else 0)
  ax.set_title(title or f'{int(sizes.sum())} training images, '
               f'{len(sizes)} classes', fontsize=9)
  ax.grid(axis='y', alpha=0.3, which='both')
  return _save(fig, path)


def markdown_table(header, rows):
  """A Markdown table from a header and rows of cells."""
  lines = ['| ' + ' | '.join(str(h) for h in header) + ' |',
           '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines)


def size_ticks(sizes, max_labels=12):
  """Class sizes to label on a log axis: the smallest and the largest, and
  between them each size at least 1/max_labels of the axis (in log) from
  the previous label, so that no two labels overlap."""
  sizes = sorted({float(s) for s in sizes if s > 0})
  if not sizes:
    return []
  ratio = (sizes[-1] / sizes[0]) ** (1.0 / max_labels)
  ticks = [sizes[0]]
  for s in sizes[1:-1]:
    if s >= ticks[-1] * ratio and sizes[-1] >= s * ratio:
      ticks.append(s)
  if sizes[-1] > sizes[0]:
    ticks.append(sizes[-1])
  return ticks


def ekld_figure(path, series, title='', ylabel='eKLD'):
  """Per-class eKLD against class size (log x), one series per method.

  Args:
    path: PNG file to write.
    series: {label: (class_sizes, values, spearman)}; the Spearman rank
      correlation of size and value goes in the legend.
    title: figure title.
    ylabel: what the values are.
  """
  fig, ax = plt.subplots(figsize=(5.2, 3.6))
  for i, (label, (sizes, values, rho)) in enumerate(series.items()):
    sizes = np.asarray(sizes, np.float64)
    values = np.asarray(values, np.float64)
    order = np.argsort(sizes)
    ax.plot(sizes[order], values[order], marker='o', ms=4, lw=1.2,
            color=f'C{i}', label=f'{label} (Spearman {rho:+.2f})')
  ax.set_xscale('log')
  # Ticks at the class sizes themselves, printed plainly ('120', not
  # '1.2x10^2'), thinned so that neighbouring labels do not overlap.
  ticks = size_ticks([s for sizes, _, _ in series.values() for s in sizes])
  ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
  ax.set_xticks(ticks, [f'{t:g}' for t in ticks], fontsize=7)
  ax.set_xlabel('training images of the class (log scale)')
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3, which='both')
  ax.legend(fontsize=8)
  if title:
    ax.set_title(title, fontsize=9)
  return _save(fig, path)


def confusion_figure(path, confusion, class_names, title=''):
  """Row-normalised confusion matrix."""
  confusion = np.asarray(confusion, np.float64)
  rows = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
  n = len(class_names)
  fig, ax = plt.subplots(figsize=(max(3.5, 0.3 * n + 1.5),) * 2)
  im = ax.imshow(rows, cmap='viridis', vmin=0, vmax=1)
  if n <= 20:
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(class_names, fontsize=7, rotation=90)
    ax.set_yticklabels(class_names, fontsize=7)
  ax.set_xlabel('predicted')
  ax.set_ylabel('true')
  fig.colorbar(im, ax=ax, fraction=0.046)
  if title:
    ax.set_title(title, fontsize=9)
  return _save(fig, path)


def ring_samples_figure(path, panels, centres, quality_radius, title=''):
  """Generated 2-D points over the mode centres, one panel per snapshot.

  Args:
    path: PNG file to write.
    panels: [(label, samples [N, 2])], e.g. snapshots over training.
    centres: [M, 2] mode centres (drawn as red crosses).
    quality_radius: radius of the high-quality disc around each centre.
    title: figure title.
  """
  centres = np.asarray(centres, np.float64)
  lim = 1.5 * float(np.max(np.abs(centres))) + 0.5
  fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9),
                           squeeze=False)
  for ax, (label, samples) in zip(axes[0], panels):
    samples = np.asarray(samples, np.float64)
    for c in centres:
      ax.add_patch(plt.Circle(c, quality_radius, color='tab:red', alpha=0.25,
                              lw=0))
    ax.scatter(samples[:, 0], samples[:, 1], s=1.5, alpha=0.4,
               color='tab:blue', lw=0)
    ax.scatter(centres[:, 0], centres[:, 1], marker='x', s=18, lw=0.8,
               color='tab:red')
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect('equal')
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(label, fontsize=8)
  if title:
    fig.suptitle(title, fontsize=9)
  return _save(fig, path)
