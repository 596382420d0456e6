"""What a MUNIT run writes: figures, results.json and report.md."""
import os

import jax
import numpy as np

from gitjax import report
from gitjax.runtime import metrics as metrics_lib
from gitjax.runtime import paths
from gitjax.runtime import provenance
from gitjax.runtime import workdir as workdir_lib

plt = report.plt  # report selects the Agg backend before pyplot loads

_TITLES = {'rot': 'rotation angle (degrees)',
           'bg': 'background value (0..255)',
           'dil': 'morphology (id, erode2, dilate2, dilate3, dilate4)'}


def _display(images):
  """0..255 [..., H, W, C] -> uint8, channel axis dropped for grey."""
  images = np.clip(np.round(np.asarray(images, np.float32)), 0, 255)
  images = images.astype(np.uint8)
  return images[..., 0] if images.shape[-1] == 1 else images


def _grid(path, columns, row_labels, column_labels, title):
  """Images in a grid: columns is a list of [R, H, W, C] arrays."""
  rows, cols = len(row_labels), len(columns)
  fig, axes = plt.subplots(rows, cols, squeeze=False,
                           figsize=(cols * 0.75 + 1.4, rows * 0.75 + 0.7))
  shown = [_display(c) for c in columns]
  for r in range(rows):
    for j in range(cols):
      ax = axes[r, j]
      ax.imshow(shown[j][r], cmap='gray', vmin=0, vmax=255)
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(column_labels[j], fontsize=6)
    axes[r, 0].set_ylabel(row_labels[r], rotation=0, ha='right', va='center',
                          fontsize=6)
  fig.suptitle(title, fontsize=8)
  fig.subplots_adjust(wspace=0.04, hspace=0.04)
  return report._save(fig, path)  # pylint: disable=protected-access


def sample_grid(path, sources, recon, restyled, row_labels, title=''):
  """Rows: an image, its reconstruction, its re-stylings [R, S, H, W, C]."""
  columns = [sources, recon] + [restyled[:, j]
                                for j in range(restyled.shape[1])]
  labels = ['real', 'recon'] + [f'style {j + 1}'
                                for j in range(restyled.shape[1])]
  return _grid(path, columns, row_labels, labels, title)


def interpolation_grid(path, sources, frames, row_labels):
  """Rows: an image, then decodings under styles from s0 to s1."""
  t = frames.shape[1]
  columns = [sources] + [frames[:, j] for j in range(t)]
  labels = ['real'] + [f't={j / (t - 1):.2f}' for j in range(t)]
  return _grid(path, columns, row_labels, labels,
               'style interpolation (random s0 -> s1 per row)')


def losses_figure(path, records):
  """Training curves from metrics.jsonl."""
  fig, axes = plt.subplots(1, 3, figsize=(11, 3))
  steps = [r['step'] for r in records]
  groups = ((('d_loss', 'g_adv'), 'adversarial'),
            (('recon_x', 'recon_s', 'recon_c', 'recon_cyc'), 'reconstruction'),
            (('d_real', 'd_fake'), 'mean D output'))
  for ax, (keys, name) in zip(axes, groups):
    for key in keys:
      values = [r.get(key) for r in records]
      if all(isinstance(v, float) for v in values) and any(values):
        ax.plot(steps, values, label=key, lw=1)
    ax.set_xlabel('iteration')
    ax.set_title(name, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
  return report._save(fig, path)  # pylint: disable=protected-access


def recovery_figure(path, name, measured):
  """Histogram of recovered parameters: generator vs true T vs target."""
  learned, true = measured['learned'], measured['true']
  edges = np.asarray(learned['bin_edges'])
  centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
  fig, ax = plt.subplots(figsize=(6, 3.2))
  ax.bar(centres, learned['histogram'], widths * 0.9, alpha=0.6,
         label=f're-stylings (TV {learned["tv_distance"]:.3f})')
  ax.step(edges, np.r_[true['histogram'], true['histogram'][-1]], where='post',
          color='k', lw=1, label=f'true T(x) (TV {true["tv_distance"]:.3f})')
  ax.step(edges, np.r_[learned['target'], learned['target'][-1]],
          where='post', color='tab:red', ls='--', lw=1, label='target of T')
  ax.set_xlabel(f'recovered {_TITLES[name]}')
  ax.set_ylabel('fraction')
  ax.legend(fontsize=7)
  ax.grid(alpha=0.3)
  return report._save(fig, path)  # pylint: disable=protected-access


def labels_figure(path, class_sizes, restyled, real):
  """Probe accuracy on re-stylings and on real images against class size."""
  fig, ax = plt.subplots(figsize=(5.2, 3.4))
  sizes = np.asarray(class_sizes, np.float64)
  order = np.argsort(sizes)
  for values, label, marker in ((restyled, 're-styled test images', 'o'),
                                (real, 'real transformed test images', 's')):
    ax.plot(sizes[order], np.asarray(values)[order], marker=marker, ms=4,
            lw=1, label=label)
  ax.set_xscale('log')
  ax.set_xlabel('training images of the class (log scale)')
  ax.set_ylabel('oracle probe accuracy')
  ax.set_ylim(-0.02, 1.02)
  ax.grid(alpha=0.3, which='both')
  ax.legend(fontsize=7)
  return report._save(fig, path)  # pylint: disable=protected-access


def _param_count(tree):
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def write(config, workdir, data, statics, evaluation, speed, params=None):
  """Writes figures, results.json, recovered_values.json and report.md.

  Returns the results dict.
  """
  figures = workdir_lib.subdir(workdir, 'figures')
  records = metrics_lib.read(workdir)
  if records:
    losses_figure(os.path.join(figures, 'losses.png'), records)
  m = config.munit
  results = {
      'data': data.name, 'seed': config.seed,
      'transform': '+'.join(data.transform.names) or 'none',
      'iterations': m.iterations, 'batch_size': m.batch_size,
      'shared': m.shared, 'unroll_steps': m.unroll_steps,
      'restyle_decoder': m.restyle_decoder,
      'gan_type': m.gan_type, 'warp': m.warp, 'speed': speed,
      'devices': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'command': workdir_lib.command_line(),
      'final_metrics': records[-1] if records else None,
  }
  if params is not None:
    results['parameters'] = {k: _param_count(v) for k, v in params.items()}
  per_class = [{'class': c, 'name': data.class_names[c],
                'train_size': int(data.class_sizes[c])}
               for c in range(data.num_classes)]
  if evaluation is not None:
    recovery = evaluation['recovery']
    if recovery is not None:
      values = {}
      for name in [n for n in recovery if n != 'rot_match']:
        for kind in ('learned', 'true'):
          values[f'{name}_{kind}'] = recovery[name][kind].pop('values')
        recovery_figure(os.path.join(figures, f'recovered_{name}.png'), name,
                        recovery[name])
      workdir_lib.write_json(os.path.join(workdir, 'recovered_values.json'),
                             values)
      for name in [n for n in recovery if n != 'rot_match']:
        for kind in ('learned', 'true'):
          tvs = recovery[name][kind].get('per_class', {}).get('tv_distance')
          for c, row in enumerate(per_class if tvs else ()):
            row[f'{name}_tv_{kind}'] = tvs[c]
    results['recovery'] = recovery
    results['labels'] = evaluation['labels']
    results['evaluation'] = {k: v for k, v in evaluation.items()
                             if k not in ('recovery', 'labels')}
    labels = evaluation['labels']
    if labels is not None:
      for c, row in enumerate(per_class):
        row['label_restyled'] = labels['restyled']['per_class'][c]
        row['label_real'] = labels['real']['per_class'][c]
      labels_figure(os.path.join(figures, 'labels.png'), data.class_sizes,
                    labels['restyled']['per_class'],
                    labels['real']['per_class'])
  results['per_class'] = per_class
  workdir_lib.write_json(os.path.join(workdir, 'results.json'), results)
  _write_markdown(workdir, results)
  return results


def headline(results):
  """The few numbers done.json repeats."""
  out = {'iterations_per_s': results['speed'].get('iterations_per_s')}
  for name, measured in (results.get('recovery') or {}).items():
    if name != 'rot_match':
      out[f'{name}_tv_learned'] = measured['learned']['tv_distance']
      out[f'{name}_tv_true'] = measured['true']['tv_distance']
  if results.get('labels'):
    out['label_preservation'] = results['labels']['restyled']['accuracy']
    out['probe_accuracy_real'] = results['labels']['real']['accuracy']
  return out


def summary_line(results):
  parts = [f'{results["iterations"]} iterations']
  speed = results['speed'].get('iterations_per_s')
  if speed:
    parts.append(f'{speed:.2f} it/s')
  for key, value in headline(results).items():
    if key != 'iterations_per_s' and value is not None:
      parts.append(f'{key} {value:.3f}')
  return ', '.join(parts)


def _fmt(value, digits=3):
  return 'n/a' if value is None else f'{value:.{digits}f}'


def _recovery_lines(recovery):
  lines = ['## Transform recovery', '',
           'For clean test images x and re-stylings g (random styles), the '
           'parameter whose true transform best explains g; the same on true '
           'transforms T(x) of the same images is the reference (what a '
           'perfect generator scores). TV = total-variation distance of the '
           'histogram from the distribution T draws from.', '']
  rows = []
  for name, measured in recovery.items():
    if name == 'rot_match':
      continue
    for kind, label in (('learned', 're-stylings'), ('true', 'true T(x)')):
      r = measured[kind]
      if name == 'rot':
        extra = (f'abs(angle) > 45: {r["frac_abs_gt_45"]:.3f} (target '
                 f'{r["frac_abs_gt_45_target"]:.3f}); mean abs(angle) '
                 f'{r["mean_abs"]:.1f} (target {r["mean_abs_target"]:.1f})')
      elif name == 'bg':
        extra = (f'mean {r["mean"]:.1f} (target {r["mean_target"]:.1f}); in '
                 f'range {r["frac_in_range"]:.3f}')
      else:
        extra = 'frequencies ' + ', '.join(f'{p:.2f}' for p in r['frequencies'])
      rows.append((name, label, r['n'], f'{r["tv_distance"]:.3f}', extra))
  lines += [report.markdown_table(('transform', 'images', 'n', 'TV', 'stats'),
                                  rows), '']
  if 'rot_match' in recovery:
    match = recovery['rot_match']
    lines += [f'Mean best correlation of rot(x, angle) with g: '
              f'{match["learned"]:.3f} for re-stylings, {match["true"]:.3f} '
              'for true rotations (how much g looks like a rotation of x at '
              'all).', '']
  lines += [f'![recovered {n}](figures/recovered_{n}.png)' for n in recovery
            if n != 'rot_match']
  return lines + ['']


def _write_markdown(workdir, results):
  speed = results['speed']
  samples = sorted(paths.glob(os.path.join(workdir, 'figures',
                                           'samples_*.png')))
  lines = [
      f'# MUNIT for GIT on {results["data"]} ({results["transform"]})', '',
      f'Command: `{results["command"]}`', '',
      f'- {results["iterations"]} iterations at batch {results["batch_size"]}'
      f' per domain, {results["gan_type"]}, shared={results["shared"]}, '
      f'warp={results.get("warp", "none")}, '
      f'unrolled D steps K={results["unroll_steps"]}, seed {results["seed"]},'
      f' on {results["devices"]}',
      f'- re-stylings (figures and measurements): content of net a decoded '
      f'by net {results.get("restyle_decoder", "b")} under random styles',
      f'- speed: {_fmt(speed.get("iterations_per_s"), 2)} iterations/s '
      f'({_fmt(speed.get("images_per_s"), 1)} translated images/s); first '
      f'iteration incl. compilation '
      f'{_fmt(speed.get("compile_and_first_step_s"), 1)} s; training '
      f'{_fmt(speed.get("train_wall_s"), 0)} s; evaluation '
      f'{_fmt(speed.get("evaluation_s"), 0)} s',
  ]
  final = results['final_metrics']
  if final:
    lines.append('- last logged losses: ' + ', '.join(
        f'{k} {v:.4g}' for k, v in sorted(final.items())
        if k != 'step' and isinstance(v, float)))
  lines += ['']
  if samples:
    last = os.path.basename(samples[-1])
    lines += [f'![samples](figures/{last})', '',
              '![style interpolation](figures/interpolation.png)', '',
              '![losses](figures/losses.png)', '']
  if results.get('recovery'):
    lines += _recovery_lines(results['recovery'])
  labels = results.get('labels')
  if labels:
    lines += [
        '## Label preservation', '',
        'A probe classifier trained with the oracle (true T on the fly on '
        'clean balanced training images) labels re-stylings of transformed '
        'test images; its accuracy on the real transformed test images is '
        'the reference.', '',
        f'- re-stylings: accuracy **{labels["restyled"]["accuracy"]:.3f}** '
        f'(balanced {labels["restyled"]["balanced_accuracy"]:.3f})',
        f'- real images: accuracy {labels["real"]["accuracy"]:.3f} '
        f'(balanced {labels["real"]["balanced_accuracy"]:.3f})', '',
        '![labels](figures/labels.png)', '']
  lines += _per_class_lines(results)
  lines += provenance.provenance_markdown(workdir)
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), '\n'.join(lines))


def _per_class_lines(results):
  """One row per class, largest first: recovery TV and labels kept."""
  rows = sorted(results['per_class'], key=lambda r: -r['train_size'])
  columns = [key for key in rows[0] if '_tv_' in key] + [
      key for key in ('label_restyled', 'label_real') if key in rows[0]]
  if not columns:
    return []
  titles = {'label_restyled': 'label kept (re-styled)',
            'label_real': 'probe on real'}
  header = ['class', 'train size'] + [
      titles.get(k, k.replace('_tv_learned', ' TV (re-styled)')
                 .replace('_tv_true', ' TV (true T)')) for k in columns]
  table = [[r['name'], r['train_size']] + [_fmt(r[k], 3) for k in columns]
           for r in rows]
  return ['## Per class', '',
          'Transform recovery (TV distance of the recovered parameters from '
          'T, lower is better) and label preservation, per class.', '',
          report.markdown_table(header, table), '']
