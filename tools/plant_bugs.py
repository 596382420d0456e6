"""Plants, one at a time, the six bugs of issue 20 that once escaped every
test, and runs the tests that should now catch each (a habit, not CI).

    python tools/plant_bugs.py [--only NAME ...]

Each bug is a textual edit of one file, applied to a copy of the tree in
a temporary folder; the listed tests run there with pytest. A bug is
"caught" when at least one of its tests fails. Exit 1 if any escapes.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIRING = 'tests/experiments/classifier/test_classifier_wiring.py'

# name -> (file, old text, new text, tests)
BUGS = {
    'ldam_margins_not_in_loss': (
        'gitjax/experiments/classifier/steps.py',
        "losses.ldam_loss(logits, labels, loss_params['margins'],",
        "losses.ldam_loss(logits, labels, 0.0 * loss_params['margins'],",
        [WIRING + '::test_ldam_margins_and_weights_reach_the_loss_the_step_optimises']),
    'git_sources_uniform_after_drs_switch': (
        'gitjax/experiments/classifier/run.py',
        'sampler = (self.git_balanced if self.resampling(step) else\n'
        '               self.git_uniform)',
        'sampler = self.git_uniform',
        [WIRING + '::test_batch_and_git_source_frequencies_per_phase']),
    'class_weights_not_1_before_drw_switch': (
        'gitjax/experiments/classifier/run.py',
        "False: {'class_weights': ones, 'margins': margins},",
        "False: {'class_weights': effective, 'margins': margins},",
        [WIRING + '::test_loss_inputs_of_every_phase']),
    'munit_image_recon_weight_1': (
        'gitjax/config_base.py',
        'm.recon_x_w = 10.0',
        'm.recon_x_w = 1.0',
        ['tests/experiments/munit/test_munit_objective.py']),
    'resume_drops_bn_statistics': (
        'gitjax/runtime/resume.py',
        "state, first = restored, int(meta['step'])",
        "state, first = (restored.replace(batch_stats=state.batch_stats) if "
        "hasattr(restored, 'batch_stats') else restored), int(meta['step'])",
        ['tests/runtime/test_resume.py',
         'tests/experiments/classifier/test_classifier_run.py::'
         'test_resume_after_a_kill_gives_the_same_state']),
    'maml_silently_first_order': (
        'gitjax/experiments/maml/steps.py',
        'return (gradient(s.first_order)(state.params, tasks, weights),',
        'return (gradient(True)(state.params, tasks, weights),',
        ['tests/experiments/maml/test_maml_wiring.py']),
}


def plant(name, tree):
  path, old, new, _ = BUGS[name]
  full = os.path.join(tree, path)
  with open(full) as f:
    text = f.read()
  if text.count(old) != 1:
    raise SystemExit(f'{name}: the text to replace is not in {path} exactly '
                     'once: update tools/plant_bugs.py to the code')
  with open(full, 'w') as f:
    f.write(text.replace(old, new))


def run_one(name):
  _, _, _, tests = BUGS[name]
  with tempfile.TemporaryDirectory() as tmp:
    tree = os.path.join(tmp, 'tree')
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        '.git', '.venv', 'runs', '.data', '__pycache__', '*.egg-info'))
    plant(name, tree)
    start = time.time()
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-x', '-q', '-n', '0', '-p',
         'no:cacheprovider', *tests], cwd=tree, capture_output=True,
        text=True, env=dict(os.environ, PYTHONPATH=tree))
    failed = [l.split(' ')[1] for l in proc.stdout.splitlines()
              if l.startswith('FAILED ')]
    return proc.returncode != 0, failed, time.time() - start, proc


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--only', nargs='*', default=list(BUGS),
                      choices=list(BUGS))
  args = parser.parse_args()
  escaped = []
  for name in args.only:
    caught, failed, seconds, proc = run_one(name)
    if caught and not failed:  # an error, not a failing assertion
      failed = [proc.stdout.strip().splitlines()[-1] if proc.stdout else
                proc.stderr.strip().splitlines()[-1]]
    print(f'{name}: {"caught by " + ", ".join(failed) if caught else "ESCAPED"}'
          f' ({seconds:.0f} s)', flush=True)
    if not caught:
      escaped.append(name)
  print(f'{len(args.only) - len(escaped)} of {len(args.only)} planted bugs '
        'caught')
  return 1 if escaped else 0


if __name__ == '__main__':
  sys.exit(main())
