"""The git experiment end to end: smoke study, report, cached stages,
kill and resume, bad GIT input."""
import json
import os
import shutil
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import git_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
import pins  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.data import build  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.errors import ConfigError  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import run as classifier  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import steps as classifier_steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.git import run as git  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.git import report as git_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.munit import run as munit  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


METHODS = ('ce_drs_git', 'oracle')


def _config(**overrides):
  config = git_digits.get_config('bg,smoke')
  config.munit.evaluate = False  # measured by the MUNIT tests; saves time
  for key, value in overrides.items():
    node = config
    *path, last = key.split('.')
    for part in path:
      node = node[part]
    node[last] = value
  config_lib.validate(config, num_devices=jax.device_count())
  return config


def _run(config, workdir):
  workdir_lib.prepare(str(workdir), config_lib.to_json(config))
  git.run(config, str(workdir))
  return str(workdir)


@pytest.fixture(scope='module')
def study(tmp_path_factory):
  # Two of the four methods: every stage kind, half the compilations.
  return _run(_config(methods=METHODS), tmp_path_factory.mktemp('git') /
              'study')


def _read(path):
  with open(path) as f:
    return json.load(f)


def test_smoke_study_writes_the_report(study):
  for name in ('report.md', 'results.json', 'done.json', 'stages.json',
               'figures/ekld_vs_size.png', 'figures/accuracy_vs_size.png',
               'figures/munit_samples.png',
               'instance_0/dataset/summary.json',
               'instance_0/munit/done.json'):
    assert os.path.exists(os.path.join(study, name)), name
  results = _read(os.path.join(study, 'results.json'))
  assert list(results['methods']) == list(METHODS)
  for m in results['methods'].values():
    assert 0 <= m['balanced_accuracy']['mean'] <= 1
    assert m['tail_ekld']['mean'] >= 0
  # Seeded values: MUNIT's first logged losses (what GIT's generator trained
  # on) and each method's first classifier losses and final metrics.
  values = pins.first_losses(
      os.path.join(study, 'instance_0', 'munit', 'metrics.jsonl'), 1,
      key='g_loss')
  for method, m in results['methods'].items():
    losses = pins.first_losses(
        os.path.join(study, 'instance_0', method, 'metrics.jsonl'), 1)
    values.update({f'{k}:{method}': v for k, v in losses.items()})
    values[f'balanced_accuracy:{method}'] = m['balanced_accuracy']['mean']
    values[f'tail_ekld:{method}'] = m['tail_ekld']['mean']
  pins.check('git_digits:bg,smoke:ce_drs_git,oracle', values)
  text = open(os.path.join(study, 'report.md')).read()
  for method in ('ce_drs_git', 'oracle', 'Time per stage', 'seeds [0]',
                 'MUNIT iteration 6'):
    assert method in text
  # Which MUNIT iteration re-styled the GIT classifier's images.
  stage = _read(os.path.join(study, 'instance_0', 'ce_drs_git',
                             'results.json'))
  assert stage['git']['munit_step'] == 6
  assert results['methods']['ce_drs_git']['munit_step'] == [6]
  # GIT batches only from one epoch after the first lr drop (epoch 1 -> 2).
  records = [json.loads(l) for l in open(os.path.join(
      study, 'instance_0', 'ce_drs_git', 'metrics.jsonl'))]
  per_epoch = 11
  assert all(r['git_fraction'] == 0 for r in records
             if r['step'] <= 2 * per_epoch)
  assert all(r['git_fraction'] == 0.5 for r in records
             if r['step'] > 2 * per_epoch + 4)


def test_tail_classes_are_the_smallest_fifth():
  assert git_report.tail_classes([50, 5, 20, 5, 40, 9, 7, 100, 60, 30]) == [
      1, 3]
  assert git_report.tail_classes([3, 1, 2]) == [1]


def test_a_finished_stage_is_not_rerun(study, monkeypatch):
  os.remove(os.path.join(study, 'done.json'))

  def fail(*args, **kwargs):
    raise AssertionError('a finished stage ran again')

  monkeypatch.setattr(classifier, 'train', fail)
  monkeypatch.setattr(munit, 'train', fail)
  git.run(_config(methods=METHODS), study)
  assert os.path.exists(os.path.join(study, 'done.json'))


def test_killed_study_resumes_to_the_same_result(study, tmp_path, monkeypatch):
  munit_dir = os.path.join(study, 'instance_0', 'munit')
  config = _config(methods=('ce_drs_git',), **{'git.munit_workdir': munit_dir})
  real_jit = classifier_steps.jit_git_train_step

  def killed_after_five_calls(*args, **kwargs):
    fn = real_jit(*args, **kwargs)
    calls = []

    def step(*a):
      calls.append(1)
      if len(calls) > 5:
        raise KeyboardInterrupt('killed')
      return fn(*a)
    return step

  monkeypatch.setattr(classifier_steps, 'jit_git_train_step',
                      killed_after_five_calls)
  workdir = tmp_path / 'killed'
  with pytest.raises(KeyboardInterrupt):
    _run(config, workdir)
  monkeypatch.setattr(classifier_steps, 'jit_git_train_step', real_jit)
  stage = os.path.join(str(workdir), 'instance_0', 'ce_drs_git')
  assert not os.path.exists(os.path.join(stage, 'done.json'))
  git.run(config, str(workdir))
  resumed = _read(os.path.join(stage, 'per_class.json'))
  uninterrupted = _read(os.path.join(study, 'instance_0', 'ce_drs_git',
                                     'per_class.json'))
  for a, b in zip(resumed, uninterrupted):
    assert a['test_accuracy'] == pytest.approx(b['test_accuracy'])
    assert a['ekld'] == pytest.approx(b['ekld'], rel=1e-4, abs=1e-6)
  assert not os.path.exists(os.path.join(str(workdir), 'instance_0', 'munit'))


def test_bad_munit_workdir_is_one_line_before_training(study, tmp_path):
  data_shape = (28, 28, 1)
  with pytest.raises(ConfigError, match='does not exist'):
    munit.check_generator(str(tmp_path / 'nowhere'), data_shape)
  with pytest.raises(ConfigError, match='holds no MUNIT run'):
    munit.check_generator(os.path.join(study, 'instance_0', 'oracle'),
                          data_shape)
  unfinished = tmp_path / 'unfinished'
  shutil.copytree(os.path.join(study, 'instance_0', 'munit'), unfinished)
  os.remove(unfinished / 'done.json')
  with pytest.raises(ConfigError, match='unfinished'):
    munit.check_generator(str(unfinished), data_shape)
  finished = os.path.join(study, 'instance_0', 'munit')
  with pytest.raises(ConfigError, match='shape'):
    munit.check_generator(finished, (32, 32, 3))
  assert munit.check_generator(finished, data_shape) == data_shape
  # Through the study: nothing is trained, no stage folder is made.
  config = _config(**{'git.munit_workdir': str(unfinished)})
  workdir = tmp_path / 'refused'
  with pytest.raises(ConfigError, match='unfinished'):
    _run(config, workdir)
  assert not os.path.exists(workdir / 'instance_0')


def test_munit_step_selects_a_saved_checkpoint_or_fails_before_training(
    study, tmp_path):
  finished = os.path.join(study, 'instance_0', 'munit')
  shape = (28, 28, 1)
  assert munit.generator_step(finished) == 6  # 0: the last
  assert munit.generator_step(finished, 6) == 6
  munit.check_generator(finished, shape, 6)
  with pytest.raises(ConfigError, match=r'git.munit_step=3: .* \[6\]'):
    munit.check_generator(finished, shape, 3)
  for overrides in ({'git.munit_workdir': finished, 'git.munit_step': 3},
                    {'git.munit_step': 5}):  # own MUNIT: 6 iterations
    workdir = tmp_path / str(len(overrides))
    with pytest.raises(ConfigError, match='git.munit_step'):
      _run(_config(**overrides), workdir)
    assert not os.path.exists(workdir / 'instance_0')


def test_threshold_k_at_or_below_the_smallest_class_is_refused(tmp_path):
  config = _config(**{'git.mode': 'threshold', 'git.threshold_k': 12})
  workdir = tmp_path / 'k'
  with pytest.raises(ConfigError, match='threshold_k=12'):
    _run(config, workdir)
  assert not os.path.exists(workdir / 'instance_0')


@pytest.mark.parametrize('overrides, match', [
    ({'methods': ('ce', 'ce_dr')}, 'config.methods'),
    ({'methods': ('oracle_git',)}, 'config.methods'),
    ({'methods': ('ce_git',), 'train.decay_epochs': (),
      'train.decay_factors': ()},
     'starts GIT one epoch after the first lr drop'),
    ({'git.start_epoch': 3}, 'would start GIT at epoch 3'),
    ({'git.mode': 'halfbatch'}, 'git.mode'),
    ({'compare_adain': True}, "munit.warp='none' is that MUNIT already"),
    ({'compare_adain': True, 'munit.warp': 'rotation',
      'methods': ('ce', 'oracle')}, 'has none: add one such as ce_drs_git'),
    ({'compare_adain': True, 'munit.warp': 'rotation',
      'git.munit_workdir': '/m'}, 'cannot use the given git.munit_workdir'),
])
def test_bad_git_config_is_one_line(overrides, match):
  with pytest.raises(ConfigError, match=match) as e:
    _config(**overrides)
  assert '\n' not in str(e.value)


def test_classifier_git_method_needs_a_munit_and_plain_methods_no_git_keys():
  import classifier_digits  # pylint: disable=g-import-not-at-top
  config = classifier_digits.get_config('ce_drs_git,smoke')
  config.train.epochs = 3
  with pytest.raises(ConfigError, match='munit_workdir'):
    config_lib.validate(config)
  config = classifier_digits.get_config('ce_drs,smoke')
  config.git.mode = 'threshold'
  with pytest.raises(ConfigError, match='only read by GIT methods'):
    config_lib.validate(config)


def test_batch_half_must_split_over_the_devices():
  with pytest.raises(ConfigError, match='batch_size // 2'):
    config = _config()
    config.train.batch_size = 8
    config_lib.validate(config, num_devices=8)
  # The rule is the half, not the batch: 16 splits (8 per half), and 8
  # passes on 4 devices.
  config = _config()
  config.train.batch_size = 16
  config_lib.validate(config, num_devices=8)
  config.train.batch_size = 8
  config_lib.validate(config, num_devices=4)


def test_methods_that_train_alike_up_to_the_switch_share_those_steps():
  config = _config(methods=('ce', 'ce_drs', 'ce_drs_git', 'oracle',
                            'ldam_drw', 'ldam_drw_git', 'ce_rs'))
  data = build.build(config.data, config.seed)
  sources = git.branch_sources(config, '/r', config.seed, data, '/m')
  assert sources == {'ce_drs': '/r/ce', 'ce_drs_git': '/r/ce',
                     'ldam_drw_git': '/r/ldam_drw'}
  config.share_prefix = False
  assert not git.branch_sources(config, '/r', config.seed, data, '/m')


def test_branch_from_is_the_experiments_to_set():
  with pytest.raises(ConfigError, match='train.branch_from'):
    _config(**{'train.branch_from': '/x'})


def test_compare_adain_runs_each_git_method_with_both_munits(tmp_path,
                                                            monkeypatch):
  # The stages the study runs and what each is fed, with the runners
  # replaced by recorders (no training): the AdaIN-only MUNIT differs from
  # the warp MUNIT in munit.warp alone, and the _adain row is the same
  # classifier method, re-styled by it, branched from the same source.
  config = git_digits.get_config('rot,smoke')
  config.methods = ('ce', 'ce_drs_git', 'oracle')
  config_lib.validate(config)
  stages = {}

  def recorder(kind):
    def run(stage, folder, data):
      del data
      stages[os.path.relpath(folder, str(tmp_path))] = (kind, stage)
    return run

  monkeypatch.setattr(git.dataset, 'run', recorder('dataset'))
  monkeypatch.setattr(git.munit, 'run', recorder('munit'))
  monkeypatch.setattr(git.classifier, 'run', recorder('classifier'))
  monkeypatch.setattr(git.git_report, 'write', lambda *a: {'methods': {}})
  monkeypatch.setattr(git.git_report, 'summary_lines', lambda r: '')
  git.run(config, str(tmp_path))
  assert list(stages) == [
      'instance_0/dataset', 'instance_0/munit', 'instance_0/munit_adain',
      'instance_0/ce', 'instance_0/ce_drs_git', 'instance_0/ce_drs_git_adain',
      'instance_0/oracle']
  warp, adain = stages['instance_0/munit'][1], stages['instance_0/munit_adain'][1]
  assert (warp.munit.warp, adain.munit.warp) == ('rotation', 'none')
  adain.munit.warp = 'rotation'
  assert adain.to_dict() == warp.to_dict()
  git_row = stages['instance_0/ce_drs_git'][1]
  adain_row = stages['instance_0/ce_drs_git_adain'][1]
  assert adain_row.method == git_row.method == 'ce_drs_git'
  assert git_row.git.munit_workdir == str(tmp_path / 'instance_0' / 'munit')
  assert adain_row.git.munit_workdir == str(
      tmp_path / 'instance_0' / 'munit_adain')
  assert adain_row.train.branch_from == git_row.train.branch_from == str(
      tmp_path / 'instance_0' / 'ce')
  adain_row.git.munit_workdir = git_row.git.munit_workdir
  assert adain_row.to_dict() == git_row.to_dict()
  # Without compare_adain: one MUNIT, no _adain row.
  config.compare_adain = False
  stages.clear()
  git.run(config, str(tmp_path / 'plain'))
  assert not any('adain' in k for k in stages)
