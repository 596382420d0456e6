"""evaluate (any checkpoint, new transform) and compare (overlay of runs)."""
import json
import os
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'configs'))

import classifier_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

from gitjax import compare  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax import evaluate  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.errors import UserError  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.experiments.classifier import run as classifier  # pylint: disable=g-import-not-at-top,wrong-import-position
from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  config = classifier_digits.get_config('ce,smoke')
  config.train.epochs = 1
  config.train.decay_epochs = ()
  config.train.decay_factors = ()
  config_lib.validate(config, num_devices=jax.device_count())
  workdir = str(tmp_path_factory.mktemp('run'))
  workdir_lib.prepare(workdir, config_lib.to_json(config))
  classifier.run(config, workdir)
  return workdir


def test_evaluate_with_another_transform_writes_a_new_folder(run_dir):
  before = open(os.path.join(run_dir, 'results.json')).read()
  results = evaluate.evaluate(run_dir, transform='bg', images_per_class=3,
                              transforms_per_image=4)
  out = os.path.join(run_dir, 'evaluations', 'bg_3x4')
  assert results['transform'] == 'bg'
  per_class = json.load(open(os.path.join(out, 'per_class.json')))
  assert all(r['invariance_images'] == 3 for r in per_class)
  assert open(os.path.join(run_dir, 'results.json')).read() == before
  with pytest.raises(UserError, match='exists'):
    evaluate.evaluate(run_dir, transform='bg', images_per_class=3,
                      transforms_per_image=4)


def test_compare_overlays_runs(run_dir, tmp_path):
  # A second run that differs: a copy whose results say 0.1234 and whose
  # per-class eKLD is doubled; each row must carry its own run's numbers.
  import shutil  # pylint: disable=g-import-not-at-top
  other = str(tmp_path / 'other')
  shutil.copytree(run_dir, other, ignore=shutil.ignore_patterns('evaluations'))
  results = json.load(open(os.path.join(run_dir, 'results.json')))
  edited = dict(results, balanced_accuracy=0.1234,
                mean_ekld=2 * results['mean_ekld'])
  json.dump(edited, open(os.path.join(other, 'results.json'), 'w'))
  per_class = json.load(open(os.path.join(run_dir, 'per_class.json')))
  for r in per_class:
    r['ekld'] *= 2
  json.dump(per_class, open(os.path.join(other, 'per_class.json'), 'w'))
  out = tmp_path / 'out'
  rows = compare.compare([run_dir, other], str(out), labels=['a', 'b'])
  assert [r[0] for r in rows] == ['a', 'b']
  assert rows[0][4] == f'{results["balanced_accuracy"]:.4f}'
  assert rows[1][4] == '0.1234'
  assert rows[1][5] == f'{2 * results["mean_ekld"]:.4f}' != rows[0][5]
  tmp_path = out
  for name in ('ekld_vs_size.png', 'accuracy_vs_size.png', 'compare.md'):
    assert (tmp_path / name).exists()


def test_an_unfinished_run_is_evaluated_at_its_step_and_marked(
    run_dir, tmp_path, capsys):
  """A run stopped early (here: its final checkpoint and done.json taken
  away): the evaluation names the checkpoint step, says the run is
  unfinished, and compare marks it."""
  import shutil  # pylint: disable=g-import-not-at-top
  run = str(tmp_path / 'stopped')
  shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns('evaluations'))
  os.remove(os.path.join(run, 'done.json'))
  steps = sorted(int(s) for s in os.listdir(os.path.join(run, 'checkpoints'))
                 if s.isdigit())
  assert len(steps) == 2
  shutil.rmtree(os.path.join(run, 'checkpoints', str(steps[-1])))
  results = evaluate.evaluate(run, images_per_class=2, transforms_per_image=2)
  assert results['checkpoint_step'] == steps[0] < results['steps']
  assert results['finished'] is False
  printed = capsys.readouterr().out
  assert f'UNFINISHED run: checkpoint at step {steps[0]} of' in printed
  out = os.path.join(run, 'evaluations', os.listdir(
      os.path.join(run, 'evaluations'))[0])
  report = open(os.path.join(out, 'report.md')).read()
  assert ('Unfinished run: this evaluates the checkpoint at step '
          f'{steps[0]}') in report
  assert '(last model)' not in report
  rows = compare.compare([out], str(tmp_path / 'cmp'))
  assert f'unfinished: step {steps[0]} of' in rows[0][0]
