"""What a `git` study writes: results.json, figures and report.md.

Reads the finished stages of every instance (each a run folder with its
own results.json / per_class.json) and summarises them per method as mean
+- std over instances, and per pair of methods (each against CE+DRS, GIT
methods against their twin without GIT) as paired differences over the
instances. `comparisons(workdir)` recomputes the pairs of a finished study
without training (also `python -m gitjax.compare --study WORKDIR`).
"""
import json
import math
import os

import ml_collections
import numpy as np

from gitjax import config_base
from gitjax import invariance
from gitjax import paired
from gitjax import report
from gitjax.experiments.git import layout
from gitjax.experiments.munit import report as munit_report
from gitjax.runtime import paths
from gitjax.runtime import provenance
from gitjax.runtime import processes
from gitjax.runtime import workdir as workdir_lib


def _read(path):
  return json.loads(paths.read_text(path))


def _stats(values):
  """{'mean', 'std' (sample std; 0 for one value), 'values'}, NaNs kept out
  of mean and std."""
  arr = np.asarray([np.nan if v is None else v for v in values], np.float64)
  finite = arr[np.isfinite(arr)]
  mean = float(finite.mean()) if len(finite) else float('nan')
  std = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
  return {'mean': mean, 'std': std, 'values': arr.tolist()}


def tail_classes(class_sizes):
  """The smallest fifth of the classes (at least one) by training size;
  ties broken by class index."""
  sizes = np.asarray(class_sizes)
  count = max(1, math.ceil(len(sizes) / 5))
  return sorted(np.lexsort((np.arange(len(sizes)), sizes))[:count].tolist())


def collect(config, workdir):
  """Per method and instance: the classifier stage's results and table."""
  runs = {}
  for method, _, _ in layout.rows(config):
    runs[method] = []
    for instance in range(config.num_instances):
      folder = os.path.join(workdir, f'instance_{instance}', method)
      runs[method].append({
          'folder': folder,
          'results': _read(os.path.join(folder, 'results.json')),
          'per_class': _read(os.path.join(folder, 'per_class.json'))})
  return runs


def summarise(runs):
  """{method: metrics as mean +- std over instances}."""
  out = {}
  for method, instances in runs.items():
    acc, ekld, tail, rho, speed = [], [], [], [], []
    for run in instances:
      results, table = run['results'], run['per_class']
      acc.append(results['balanced_accuracy'])
      speed.append(results['speed'].get('train_images_per_s'))
      sizes = [row['train_size'] for row in table]
      if 'ekld' in table[0]:
        values = [row['ekld'] for row in table]
        ekld.append(float(np.nanmean(values)))
        tail.append(float(np.nanmean([values[c] for c in
                                      tail_classes(sizes)])))
        rho.append(results.get('ekld_spearman'))
    git = instances[0]['results'].get('git')
    out[method] = {
        # The MUNIT iteration that re-styled each instance's GIT batches.
        'munit_step': ([(run['results']['git'] or {}).get('munit_step')
                        for run in instances] if git else None),
        'balanced_accuracy': _stats(acc),
        'mean_ekld': _stats(ekld) if ekld else None,
        'tail_ekld': _stats(tail) if tail else None,
        'ekld_spearman': _stats(rho) if rho else None,
        'train_images_per_s': _stats(speed),
    }
  return out


# (metric, higher is better) of the paired comparisons.
PAIRED_METRICS = (('balanced_accuracy', True), ('tail_ekld', False))
BASELINE = 'ce_drs'


def pairs(methods):
  """(method, baseline) pairs of the study's rows: every row against
  CE+DRS, every GIT row against its twin without GIT, and every GIT row
  against its AdaIN-only row (compare_adain); each pair once."""
  out = []
  for method in methods:
    if BASELINE in methods and method != BASELINE:
      out.append((method, BASELINE))
    base = layout.row_method(method)
    twin = base[:-len(config_base.GIT_SUFFIX)]
    if config_base.method_parts(base)[3] and twin in methods and (
        (method, twin) not in out):
      out.append((method, twin))
    adain = method + layout.ADAIN_SUFFIX
    if adain in methods:
      out.append((method, adain))
  return out


def paired_comparisons(summary):
  """[{'method', 'baseline', 'metric', **paired.paired_difference}] of the
  per-instance values in `summarise`'s output."""
  out = []
  for method, baseline in pairs(list(summary)):
    for metric, higher in PAIRED_METRICS:
      a, b = summary[method][metric], summary[baseline][metric]
      if a is None or b is None:
        continue
      out.append({'method': method, 'baseline': baseline, 'metric': metric,
                  **paired.paired_difference(a['values'], b['values'],
                                             higher)})
  return out


def comparisons(workdir):
  """The paired comparisons of a finished study, from its stage folders
  (no training)."""
  config = ml_collections.ConfigDict(
      _read(os.path.join(workdir, workdir_lib.CONFIG_FILE)))
  return paired_comparisons(summarise(collect(config, workdir)))


def paired_rows(comparisons_):
  """Table rows of the paired comparisons (differences method - baseline)."""
  rows = []
  for c in comparisons_:
    digits = 4 if c['metric'] == 'balanced_accuracy' else 3
    ci = ('n/a' if c['ci95'] is None else
          f'[{c["ci95"][0]:+.{digits}f}, {c["ci95"][1]:+.{digits}f}]')
    rows.append([f'{c["method"]} - {c["baseline"]}', c['metric'],
                 f'{c["mean"]:+.{digits}f}', ci,
                 ' '.join(f'{d:+.{digits}f}' for d in c['differences']),
                 f'{c["favour_method"]} / {c["favour_baseline"]}'
                 + (f' ({c["ties"]} tied)' if c['ties'] else '')])
  return rows


PAIRED_HEADER = ('method - baseline', 'metric', 'mean difference',
                 '95% interval (t)', 'per instance', 'instances favouring '
                 'method / baseline')


def _by_size(runs, key):
  """{method: (sizes, mean value per size over instances, Spearman)}."""
  series = {}
  for method, instances in runs.items():
    if key not in instances[0]['per_class'][0]:
      continue
    values = {}
    for run in instances:
      for row in run['per_class']:
        values.setdefault(row['train_size'], []).append(row[key])
    sizes = sorted(values)
    means = [float(np.nanmean(values[s])) for s in sizes]
    series[method] = (sizes, means, invariance.spearman(sizes, means))
  return series


def _munit_section(config, workdir, figures, variant=''):
  """MUNIT headline per instance and its figures copied into figures/
  (variant 'adain': the AdaIN-only MUNIT of compare_adain, figures named
  munit_adain_*)."""
  if not layout.uses_git(config) or variant not in layout.munit_variants(
      config):
    return None
  prefix = 'munit_adain_' if variant else 'munit_'
  out = {'instances': [], 'figures': [], 'labels_warning': None}
  for instance in range(config.num_instances):
    folder = layout.munit_folder(config, workdir, instance, variant)
    path = os.path.join(folder, 'results.json')
    results = _read(path) if paths.exists(path) else None
    out['instances'].append({
        'folder': folder,
        'headline': munit_report.headline(results) if results else None,
        'iterations': results['iterations'] if results else None,
        'restyle_decoder': 'a'})
    if config.git.munit_workdir and instance:
      break  # one given MUNIT serves every instance
  out.update(label_preservation(out['instances']))
  source = layout.munit_folder(config, workdir, 0, variant)
  samples = sorted(paths.glob(os.path.join(source, 'figures', 'samples_*.png')))
  picks = ([(f'{prefix}samples.png', samples[-1])] if samples else []) + [
      (f'{prefix}{os.path.basename(p)}', p) for p in
      sorted(paths.glob(os.path.join(source, 'figures', 'recovered_*.png')))
      + paths.glob(os.path.join(source, 'figures', 'labels.png'))
      + paths.glob(os.path.join(source, 'figures', 'interpolation.png'))]
  for name, path in picks:
    if processes.is_writer():
      paths.copy(path, os.path.join(figures, name))
    out['figures'].append(name)
  return out


LABELS_WARN_POINTS = 10


def label_preservation(instances):
  """{'labels_kept', 'labels_real' (means over the MUNITs, None when not
  measured), 'labels_warning' (one line when re-stylings keep labels more
  than LABELS_WARN_POINTS below the probe on real images, else None)}."""
  kept, real = [], []
  for item in instances:
    head = item['headline'] or {}
    if head.get('label_preservation') is not None:
      kept.append(head['label_preservation'])
      real.append(head['probe_accuracy_real'])
  if not kept:
    return {'labels_kept': None, 'labels_real': None, 'labels_warning': None}
  k, r = float(np.mean(kept)), float(np.mean(real))
  warning = None
  if (r - k) * 100 > LABELS_WARN_POINTS:
    warning = (f'warning: the MUNIT keeps labels in {k:.1%} of its '
               f're-stylings against {r:.1%} for the probe on real images '
               f'({(r - k) * 100:.1f} points below): GIT trains on '
               'mislabelled images')
  return {'labels_kept': k, 'labels_real': r, 'labels_warning': warning}


def write(config, workdir, stages):
  """Writes results.json, figures/*.png and report.md; returns results."""
  runs = collect(config, workdir)
  figures = workdir_lib.subdir(workdir, 'figures')
  first = runs[config.methods[0]][0]
  sizes = [row['train_size'] for row in first['per_class']]
  results = {
      'methods': summarise(runs),
      'seeds': [config.seed + i for i in range(config.num_instances)],
      'num_instances': config.num_instances,
      'data': first['results']['data'],
      'transform': first['results']['transform'],
      'class_sizes_instance_0': sizes,
      'tail_classes_instance_0': tail_classes(sizes),
      'stages': stages,
      'munit': _munit_section(config, workdir, figures),
      # compare_adain: the AdaIN-only MUNIT of the '_adain' rows.
      'munit_adain': _munit_section(config, workdir, figures, 'adain'),
      'paired': None,
      'command': workdir_lib.command_line(),
      'devices': first['results']['devices'],
      # {method: the method whose state at the switch it started from}
      'branched_from': {
          method: os.path.basename(run['results']['speed']['branched_from']
                                   ['run'])
          for method, instances in runs.items() for run in instances
          if run['results']['speed'].get('branched_from')},
  }
  results['paired'] = paired_comparisons(results['methods'])
  title = (f'{results["data"]}, {results["transform"]}, '
           f'{config.num_instances} instance(s)')
  ekld = _by_size(runs, 'ekld')
  if ekld:
    report.ekld_figure(os.path.join(figures, 'ekld_vs_size.png'), ekld,
                       title=title + ' (mean per class size)')
  report.ekld_figure(os.path.join(figures, 'accuracy_vs_size.png'),
                     _by_size(runs, 'test_accuracy'), title=title,
                     ylabel='test accuracy')
  workdir_lib.write_json(os.path.join(workdir, 'results.json'), results)
  _write_markdown(config, workdir, results, bool(ekld))
  return results


def _pm(stats, digits=3, scale=1.0):
  if stats is None:
    return 'n/a'
  mean, std = stats['mean'] * scale, stats['std'] * scale
  if len(stats['values']) == 1:
    return f'{mean:.{digits}f}'
  return f'{mean:.{digits}f} ± {std:.{digits}f}'


def _munit_cell(results, method):
  """'iteration(s); labels kept / probe on real' of a GIT row, else ''."""
  steps = results['methods'][method].get('munit_step')
  if not steps:
    return ''
  unique = sorted({s for s in steps if s is not None})
  variant = layout.row_variant(method)
  cell = ('AdaIN-only ' if variant else '') + 'MUNIT iteration ' + '/'.join(
      str(s) for s in unique)
  munit = results.get('munit_' + variant if variant else 'munit') or {}
  if munit.get('labels_kept') is not None:
    cell += (f'; labels kept {munit["labels_kept"]:.3f} (probe on real '
             f'{munit["labels_real"]:.3f}')
    measured = sorted({item['iterations'] for item in munit['instances']
                       if item['iterations'] is not None})
    if measured != unique:
      cell += ', measured after ' + '/'.join(str(s) for s in measured)
    cell += ')'
  return cell


def summary_lines(results):
  """One printed line per method, then the paired differences and the
  MUNIT's label warning."""
  lines = []
  for method, m in results['methods'].items():
    line = (f'{method}: balanced accuracy '
            f'{_pm(m["balanced_accuracy"], 4)}')
    if m['tail_ekld']:
      line += (f', eKLD all {_pm(m["mean_ekld"])}, smallest fifth '
               f'{_pm(m["tail_ekld"])}')
    if _munit_cell(results, method):
      line += f' [{_munit_cell(results, method)}]'
    lines.append(line)
  for row in paired_rows(results['paired'] or []):
    lines.append(f'paired {row[0]}, {row[1]}: {row[2]} (95% {row[3]}), '
                 f'instances favouring method / baseline {row[5]}')
  lines += _label_warnings(results)
  return '\n'.join(lines)


def _label_warnings(results):
  """The label warnings of the study's MUNITs (the AdaIN-only one named)."""
  out = []
  for key, name in (('munit', ''), ('munit_adain', 'AdaIN-only MUNIT: ')):
    if (results.get(key) or {}).get('labels_warning'):
      out.append(name + results[key]['labels_warning'])
  return out


def _write_markdown(config, workdir, results, with_ekld):
  n = config.num_instances
  t = config.train
  sizes = results['class_sizes_instance_0']
  tail = results['tail_classes_instance_0']
  lines = [
      f'# GIT study: {results["data"]} ({results["transform"]})', '',
      f'Command: `{results["command"]}`', '',
      f'- {n} long-tailed instance(s), seeds {results["seeds"]} (data set, '
      'initialisation, sampling, transforms); values are '
      + ('mean ± sample std over instances' if n > 1 else 'one instance'),
      f'- training class sizes (instance 0, largest first): '
      f'{sorted(sizes, reverse=True)}; smallest fifth = classes {tail} '
      f'(sizes {[sizes[c] for c in tail]})',
      f'- classifier: {config.model.arch}'
      + (f'-{config.model.depth}' if config.model.arch == 'resnet' else '')
      + f', {t.epochs} epochs, batch {t.batch_size}, lr {t.lr}, drops at '
      f'{tuple(t.decay_epochs)}; GIT ({config.git.mode}) from epoch '
      f'{_git_start(config)}', f'- devices: {results["devices"]}; resolved '
      'config: [config.json](config.json)', '',
      '## Results', '',
  ]
  header = ['method', 'balanced accuracy']
  if with_ekld:
    header += ['mean eKLD (all classes)', 'mean eKLD (smallest fifth)',
               'eKLD-size Spearman']
  header.append('train images/s')
  with_munit = any(_munit_cell(results, m) for m in results['methods'])
  if with_munit:
    header.append('GIT: MUNIT')
  rows = []
  for method, m in results['methods'].items():
    row = [method, _pm(m['balanced_accuracy'], 4)]
    if with_ekld:
      row += [_pm(m['mean_ekld']), _pm(m['tail_ekld']),
              _pm(m['ekld_spearman'], 2)]
    row.append(_pm(m['train_images_per_s'], 0))
    if with_munit:
      row.append(_munit_cell(results, method))
    rows.append(row)
  lines += [report.markdown_table(header, rows), '']
  for warning in _label_warnings(results):
    lines += [f'**{warning}**', '']
  if results['paired']:
    lines += ['## Paired comparisons', '',
              'Per instance (same data, seed and MUNIT), method minus '
              'baseline; mean with a 95% interval from the t distribution '
              '(n - 1 degrees of freedom; n/a for one instance). Balanced '
              'accuracy: higher favours the method; eKLD of the smallest '
              'fifth (tail_ekld): lower favours the method.', '',
              report.markdown_table(PAIRED_HEADER,
                                    paired_rows(results['paired'])), '']
  if with_ekld:
    lines += ['eKLD = KL(p(y|x) || p(y|T(x))) on clean test images x of the '
              'class (lower = more invariant); each point is the mean over '
              'instances of the classes of that training size.', '',
              '![eKLD against class size](figures/ekld_vs_size.png)', '']
  lines += ['![accuracy against class size](figures/accuracy_vs_size.png)',
            '']
  for key, title in (('munit', 'The MUNIT generator'),
                     ('munit_adain', "The AdaIN-only MUNIT (munit.warp='none', "
                      'the _adain rows)')):
    munit = results.get(key)
    if not munit:
      continue
    lines += [f'## {title}', '']
    for i, item in enumerate(munit['instances']):
      head = item['headline'] or {}
      parts = [f'{k} {v:.3f}' for k, v in head.items()
               if v is not None and k != 'iterations_per_s']
      lines.append(f'- instance {i}: `{item["folder"]}`, '
                   f'{item["iterations"]} iterations; re-styling a -> a; '
                   + (', '.join(parts) or 'not measured'))
    lines.append('')
    lines += [f'![{name}](figures/{name})' for name in munit['figures']]
    lines.append('')
  if results['munit']:
    lines += ['TV: total-variation distance of the transformation '
              'parameters recovered from re-stylings to the distribution T '
              'draws from (the `_true` value is the same measurement on real '
              'T(x), the floor); label_preservation: an oracle probe\'s '
              'accuracy on re-stylings.', '']
  lines += ['## Time per stage', '']
  stage_rows = [(name, f'{rec["seconds"]:.0f}',
                 'yes' if rec['done'] else 'no')
                for name, rec in results['stages'].items()]
  total = sum(rec['seconds'] for rec in results['stages'].values())
  stage_rows.append(('total', f'{total:.0f}', ''))
  lines += [report.markdown_table(('stage', 'seconds', 'finished'),
                                  stage_rows), '',
            'Each stage is a run folder of its own (instance_*/...): its '
            'report.md has the details. Seconds are wall time in this and '
            'earlier (resumed) processes; a stage killed before it finished '
            'counts from its restart.', '']
  if results['branched_from']:
    shared = ', '.join(f'{m} from {src}' for m, src in
                       results['branched_from'].items())
    lines += [f'Steps shared up to the DRS/DRW switch were trained once '
              f'({shared}, at the switch): those stages\' seconds cover '
              'only the steps after it (config.share_prefix).', '']
  lines += provenance.provenance_markdown(workdir)
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), '\n'.join(lines))


def _git_start(config):
  from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top
  return config_lib.git_start_epoch(config.train, config.git)
