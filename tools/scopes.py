"""The scopes of the habit checks: each module with the fast tests that pin it.

One table for tools/mutation.sh (mutmut mutates the modules and runs their
tests) and tools/replace_check.py (replaces each function of a module and
runs its tests), so the two checks look at the same code with the same
tests.

    python tools/scopes.py SCOPE modules   # TOML list of module files
    python tools/scopes.py SCOPE tests     # TOML list of the tests
"""
import json
import sys

SCOPES = {
    'core': {  # the maths
        'gitjax.losses': ['tests/test_losses.py', 'tests/test_bilevel.py',
                          'tests/experiments/munit/test_munit_objective.py'],
        'gitjax.invariance': ['tests/test_invariance.py'],
        'gitjax.bilevel': ['tests/test_bilevel.py'],
        'gitjax.paired': ['tests/test_paired.py'],
    },
    'samplers': {  # the fast part of the wiring
        'gitjax.data.pipeline': ['tests/data/test_pipeline.py'],
        'gitjax.runtime.checkpoint': ['tests/runtime/test_checkpoint.py'],
        'gitjax.runtime.resume': ['tests/runtime/test_resume.py'],
        'gitjax.runtime.metrics': ['tests/runtime/test_metrics.py'],
        'gitjax.experiments.classifier.branch': [
            'tests/experiments/git/test_share_prefix.py',
            'tests/experiments/classifier/test_branch_start.py'],
    },
    'wiring': {  # the trainers' steps and plans (each mutant compiles)
        'gitjax.experiments.classifier.steps': [
            'tests/experiments/classifier/test_classifier_wiring.py',
            'tests/experiments/classifier/test_classifier_steps.py',
            'tests/experiments/classifier/test_classifier_git_step.py'],
        'gitjax.experiments.classifier.run': [  # Plan: phases, samplers; run, load_git
            'tests/experiments/classifier/test_classifier_wiring.py',
            'tests/experiments/classifier/test_classifier_run.py'],
        'gitjax.experiments.munit.steps': [
            'tests/experiments/munit/test_munit_objective.py',
            'tests/experiments/munit/test_munit_steps.py'],
        'gitjax.experiments.maml.steps': [
            'tests/experiments/maml/test_maml_wiring.py',
            'tests/experiments/maml/test_maml_steps.py',
            'tests/experiments/maml/test_maml_variants.py',
            'tests/experiments/maml/test_maml_run.py'],  # train_step, keep_best
    },
}


def scope(name):
  """module -> tests of a scope ('all': every scope)."""
  if name == 'all':
    merged = {}
    for part in SCOPES.values():
      for module, tests in part.items():
        merged.setdefault(module, [])
        merged[module] += [t for t in tests if t not in merged[module]]
    return merged
  return SCOPES[name]


def path(module):
  return module.replace('.', '/') + '.py'


def main(argv):
  if len(argv) != 3 or argv[1] not in list(SCOPES) + ['all'] or argv[2] not in (
      'modules', 'tests'):
    print(f'usage: python tools/scopes.py {{{"|".join(SCOPES)}|all}} '
          '{modules|tests}', file=sys.stderr)
    return 2
  modules = scope(argv[1])
  if argv[2] == 'modules':
    items = [path(m) for m in modules]
  else:
    items = list(dict.fromkeys(t for ts in modules.values() for t in ts))
  print(', '.join(json.dumps(i) for i in items))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
