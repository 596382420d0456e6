"""The git report of a finished 3-instance study (stage folders written by
hand, no training): paired differences, the MUNIT iteration and label
preservation next to every GIT row, and `python -m gitjax.compare --study`."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import git_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import compare  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.git import report as git_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

METHODS = ('ce', 'ce_drs', 'ce_drs_git')
SIZES = [50, 20, 10, 5, 2]
# balanced accuracy and eKLD of the smallest fifth (class 4) per instance.
ACCURACY = {'ce': [0.80, 0.82, 0.78], 'ce_drs': [0.84, 0.83, 0.85],
            'ce_drs_git': [0.86, 0.86, 0.84]}
TAIL_EKLD = {'ce': [0.30, 0.20, 0.25], 'ce_drs': [0.20, 0.30, 0.10],
             'ce_drs_git': [0.10, 0.20, 0.15]}


def _write(path, value):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(value, f)


def _study(tmp_path, labels_kept):
  config = git_digits.get_config('bg,smoke')
  config.methods = METHODS
  config.num_instances = 3
  workdir = str(tmp_path / 'study')
  workdir_lib.prepare(workdir, config_lib.to_json(config))
  for i in range(3):
    for method in METHODS:
      folder = os.path.join(workdir, f'instance_{i}', method)
      _write(os.path.join(folder, 'results.json'), {
          'balanced_accuracy': ACCURACY[method][i], 'ekld_spearman': -0.5,
          'data': 'digits', 'transform': 'bg', 'devices': 'cpu',
          'speed': {'train_images_per_s': 100.0, 'branched_from': None},
          'git': ({'munit_step': 6} if method.endswith('_git') else None)})
      _write(os.path.join(folder, 'per_class.json'), [
          {'train_size': n, 'test_accuracy': 0.8,
           'ekld': TAIL_EKLD[method][i] if n == 2 else 0.05}
          for n in SIZES])
    _write(os.path.join(workdir, f'instance_{i}', 'munit', 'results.json'),
           {'iterations': 6, 'speed': {'iterations_per_s': 1.0},
            'labels': {'restyled': {'accuracy': labels_kept},
                       'real': {'accuracy': 0.95}}})
  return config, workdir


def test_report_shows_paired_differences_of_three_instances(tmp_path, capsys):
  config, workdir = _study(tmp_path, labels_kept=0.90)
  results = git_report.write(config, workdir, {})
  paired = {(c['method'], c['baseline'], c['metric']): c
            for c in results['paired']}
  # ce and ce_drs_git against ce_drs; ce_drs_git's twin is ce_drs: once.
  assert sorted(paired) == sorted(
      (m, 'ce_drs', k) for m in ('ce', 'ce_drs_git')
      for k in ('balanced_accuracy', 'tail_ekld'))
  git_acc = paired[('ce_drs_git', 'ce_drs', 'balanced_accuracy')]
  assert git_acc['differences'] == pytest.approx([0.02, 0.03, -0.01])
  assert git_acc['mean'] == pytest.approx(0.04 / 3)
  assert (git_acc['favour_method'], git_acc['favour_baseline']) == (2, 1)
  git_tail = paired[('ce_drs_git', 'ce_drs', 'tail_ekld')]
  assert git_tail['differences'] == pytest.approx([-0.1, -0.1, 0.05])
  assert (git_tail['favour_method'], git_tail['favour_baseline']) == (2, 1)
  low, high = git_tail['ci95']
  assert low < git_tail['mean'] < high
  assert results['methods']['ce_drs_git']['munit_step'] == [6, 6, 6]
  assert results['methods']['ce']['munit_step'] is None
  text = open(os.path.join(workdir, 'report.md')).read()
  assert '## Paired comparisons' in text
  assert 'ce_drs_git - ce_drs' in text and '+0.0200 +0.0300 -0.0100' in text
  row = next(l for l in text.splitlines() if l.startswith('| ce_drs_git |'))
  assert 'MUNIT iteration 6; labels kept 0.900 (probe on real 0.950)' in row
  assert results['munit']['labels_warning'] is None
  assert 'keeps labels in' not in text
  lines = git_report.summary_lines(results)
  assert 'paired ce_drs_git - ce_drs, balanced_accuracy: +0.0133' in lines
  # The same pairs from the finished study, without training.
  rows = compare.study(workdir, str(tmp_path / 'out'))
  assert rows == git_report.paired_rows(results['paired'])
  assert os.path.exists(tmp_path / 'out' / 'paired.md')
  compare.main(['--study', workdir])
  assert 'ce_drs_git - ce_drs | balanced_accuracy | +0.0133' in (
      capsys.readouterr().out)


def test_labels_lost_by_more_than_ten_points_warn_in_one_line(tmp_path):
  config, workdir = _study(tmp_path, labels_kept=0.80)
  results = git_report.write(config, workdir, {})
  warning = results['munit']['labels_warning']
  assert warning.startswith('warning:') and '\n' not in warning
  assert '15.0 points below' in warning
  assert warning in git_report.summary_lines(results)
  assert warning in open(os.path.join(workdir, 'report.md')).read()


def test_git_methods_are_paired_with_their_twin_too():
  assert git_report.pairs(['ce', 'ce_drs', 'ce_git', 'ldam_drw',
                           'ldam_drw_git']) == [
      ('ce', 'ce_drs'), ('ce_git', 'ce_drs'), ('ce_git', 'ce'),
      ('ldam_drw', 'ce_drs'), ('ldam_drw_git', 'ce_drs'),
      ('ldam_drw_git', 'ldam_drw')]
  assert git_report.pairs(['ce_drs_git', 'oracle']) == []


def test_adain_rows_pair_with_their_warp_twin_and_report_their_own_munit(
    tmp_path):
  # compare_adain on rot: ce_drs_git re-styled by the warp MUNIT, and
  # ce_drs_git_adain by the AdaIN-only one (stage folders written by hand).
  config = git_digits.get_config('rot,smoke')
  assert config.compare_adain and config.munit.warp == 'rotation'
  config.methods = ('ce_drs', 'ce_drs_git')
  config.num_instances = 3
  workdir = str(tmp_path / 'study')
  workdir_lib.prepare(workdir, config_lib.to_json(config))
  accuracy = {'ce_drs': [0.84, 0.83, 0.85], 'ce_drs_git': [0.86, 0.80, 0.84],
              'ce_drs_git_adain': [0.85, 0.82, 0.81]}
  for i in range(3):
    for row, values in accuracy.items():
      folder = os.path.join(workdir, f'instance_{i}', row)
      _write(os.path.join(folder, 'results.json'), {
          'balanced_accuracy': values[i], 'ekld_spearman': -0.5,
          'data': 'digits', 'transform': 'rot', 'devices': 'cpu',
          'speed': {'train_images_per_s': 100.0, 'branched_from': None},
          'git': {'munit_step': 6} if 'git' in row else None})
      _write(os.path.join(folder, 'per_class.json'), [
          {'train_size': n, 'test_accuracy': 0.8, 'ekld': 0.1}
          for n in SIZES])
    for munit, kept in (('munit', 0.50), ('munit_adain', 0.90)):
      _write(os.path.join(workdir, f'instance_{i}', munit, 'results.json'),
             {'iterations': 6, 'speed': {'iterations_per_s': 1.0},
              'labels': {'restyled': {'accuracy': kept},
                         'real': {'accuracy': 0.95}}})
  results = git_report.write(config, workdir, {})
  assert list(results['methods']) == ['ce_drs', 'ce_drs_git',
                                      'ce_drs_git_adain']
  paired = {(c['method'], c['baseline'], c['metric']): c
            for c in results['paired']}
  assert sorted({k[:2] for k in paired}) == [
      ('ce_drs_git', 'ce_drs'), ('ce_drs_git', 'ce_drs_git_adain'),
      ('ce_drs_git_adain', 'ce_drs')]
  warp_vs_adain = paired[('ce_drs_git', 'ce_drs_git_adain',
                          'balanced_accuracy')]
  assert warp_vs_adain['differences'] == pytest.approx([0.01, -0.02, 0.03])
  # Each row names the MUNIT that re-styled it, with that MUNIT's labels.
  assert results['munit']['labels_kept'] == pytest.approx(0.50)
  assert results['munit_adain']['labels_kept'] == pytest.approx(0.90)
  assert results['munit_adain']['labels_warning'] is None
  text = open(os.path.join(workdir, 'report.md')).read()
  row = next(l for l in text.splitlines()
             if l.startswith('| ce_drs_git_adain |'))
  assert 'AdaIN-only MUNIT iteration 6; labels kept 0.900' in row
  row = next(l for l in text.splitlines() if l.startswith('| ce_drs_git |'))
  assert 'labels kept 0.500' in row and 'AdaIN' not in row
  assert "## The AdaIN-only MUNIT (munit.warp='none'" in text
  assert 'instance_0/munit_adain' in text
  # Only the warp MUNIT loses labels: one warning, not named AdaIN-only.
  warnings = [l for l in git_report.summary_lines(results).splitlines()
              if 'keeps labels in' in l]
  assert len(warnings) == 1 and warnings[0].startswith('warning:')
