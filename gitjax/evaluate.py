r"""Re-measures a trained classifier run: test metrics and per-class eKLD.

    python -m gitjax.evaluate --workdir /tmp/c
    python -m gitjax.evaluate --workdir /tmp/c --transform bg \
        --images_per_class 20 --transforms_per_image 50

Restores the run's latest checkpoint (a finished run or one still training),
rebuilds its data set from its saved config, and writes the results into a
new folder WORKDIR/evaluations/<name>/ (results.json, per_class.json,
figures, report.md). Nothing the run wrote is overwritten; an evaluation
folder that already exists is an error. The step of the evaluated checkpoint
is printed and recorded (results.json: checkpoint_step, finished); a run
that is still training, or stopped early (a NaN), is called unfinished, and
`gitjax.compare` marks it.
"""
import argparse
import json
import os
import sys

import ml_collections

from gitjax.errors import UserError
from gitjax.runtime import paths
from gitjax.runtime import provenance


def _load_config(workdir):
  path = os.path.join(workdir, 'config.json')
  if not paths.exists(path):
    raise UserError(f'{workdir} holds no config.json; give the workdir of '
                    'a classifier run')
  config = ml_collections.ConfigDict(json.loads(paths.read_text(path)))
  if config.experiment != 'classifier':
    raise UserError(f'{workdir} is a {config.experiment!r} run; evaluate '
                    'takes classifier runs')
  return config


def evaluate(workdir, name=None, transform=None, images_per_class=None,
             transforms_per_image=None):
  """Evaluates the latest checkpoint of a classifier run; returns results."""
  # pylint: disable=g-import-not-at-top
  from gitjax.data import build
  from gitjax.data import pipeline
  from gitjax.experiments.classifier import run as classifier
  from gitjax.experiments.classifier import report as classifier_report
  from gitjax.runtime import checkpoint as checkpoint_lib
  from gitjax.runtime import workdir as workdir_lib
  # pylint: enable=g-import-not-at-top
  trained = _load_config(workdir)
  config = ml_collections.ConfigDict(trained.to_dict())
  if transform is not None:
    config.data.transform = transform
  if images_per_class is not None:
    config.invariance.images_per_class = images_per_class
  if transforms_per_image is not None:
    config.invariance.transforms_per_image = transforms_per_image
  config.invariance.enabled = True
  name = name or (f'{config.data.transform}_{config.invariance.images_per_class}'
                  f'x{config.invariance.transforms_per_image}')
  out = os.path.join(workdir, 'evaluations', name)
  if paths.exists(out):
    raise UserError(f'{out} exists; pass another --name')
  mesh = pipeline.make_mesh()
  # The model, its input statistics and its state come from the data set it
  # was trained on; only the test set and eKLD use the requested transform.
  train_data = build.build(trained.data, trained.seed)
  plan, _, statics, state, _ = classifier.setup(trained, train_data, mesh,
                                                with_git=False)
  data = (train_data if config.data.transform == trained.data.transform else
          build.build(config.data, config.seed))
  checkpointer = checkpoint_lib.Checkpointer(
      os.path.join(workdir, 'checkpoints'))
  state, meta = checkpointer.restore(state)
  checkpointer.close()
  if state is None:
    raise UserError(f'{workdir}/checkpoints holds no checkpoint yet')
  test = classifier.evaluate(config, data, state, statics, mesh)
  inv = classifier.measure_invariance(config, data, state, statics)
  paths.makedirs(out)
  step, total = int(meta['step']), plan.total_steps
  results = classifier_report.write(config, out, data, plan, test, inv,
                                    {'checkpoint_step': step})
  results.update(checkpoint_step=step, finished=step >= total)
  workdir_lib.write_json(os.path.join(out, 'results.json'), results)
  _amend_report(out, workdir, step, total)
  state_of_run = ('the final model' if step >= total else
                  f'UNFINISHED run: checkpoint at step {step} of {total}, '
                  'not the final model')
  print(f'step {step} of {total} ({state_of_run}): balanced accuracy '
        f'{results["balanced_accuracy"]:.4f}, eKLD Spearman '
        f'{results.get("ekld_spearman", float("nan")):.3f}; written to {out}')
  return results


def _amend_report(out, workdir, step, total):
  """States which checkpoint report.md describes, and the provenance."""
  path = os.path.join(out, 'report.md')
  lines = paths.read_text(path).split('\n')
  if step < total:
    note = (f'**Unfinished run: this evaluates the checkpoint at step {step} '
            f'of {total} (training stopped early or is still running), not '
            'the final model.**')
  else:
    note = f'Evaluates the final checkpoint (step {step} of {total}).'
  lines = [l.replace('(last model)', f'(checkpoint at step {step})')
           for l in lines]
  lines[1:1] = ['', note]
  lines += provenance.provenance_markdown(workdir)
  paths.write_text(path, '\n'.join(lines))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', required=True, help='a classifier run')
  parser.add_argument('--name', help='evaluation folder name')
  parser.add_argument('--transform', help="e.g. 'rot', 'bg' (default: the "
                      "run's own)")
  parser.add_argument('--images_per_class', type=int)
  parser.add_argument('--transforms_per_image', type=int)
  args = parser.parse_args(argv)
  for name in ('images_per_class', 'transforms_per_image'):
    if getattr(args, name) is not None and getattr(args, name) < 1:
      print(f'error: --{name} must be >= 1', file=sys.stderr)
      sys.exit(2)
  try:
    evaluate(paths.resolve(args.workdir), args.name, args.transform,
             args.images_per_class, args.transforms_per_image)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  main()
