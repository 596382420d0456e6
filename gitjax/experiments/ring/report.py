"""The unrolled-GAN ring's report.md and the comparison of finished runs:

    python -m gitjax.experiments.ring.report OUT_DIR WORKDIR [WORKDIR ...]
"""
import io
import json
import os
import sys

import numpy as np

from gitjax import report
from gitjax.experiments.ring import steps
from gitjax.runtime import paths
from gitjax.runtime import provenance
from gitjax.runtime import workdir as workdir_lib


def npy_bytes(array):
  """The bytes np.save writes for `array` (an .npy file)."""
  buffer = io.BytesIO()
  np.save(buffer, array)
  return buffer.getvalue()


def snapshot_panels(workdir, max_panels):
  """[(label, samples)] of up to max_panels evaluations, the last included."""
  files = sorted(paths.glob(os.path.join(workdir, 'snapshots', 'step_*.npy')))
  if len(files) > max_panels:  # evenly spaced, counted back from the last
    picks = np.linspace(len(files) - 1, 0, max_panels).round().astype(int)
    files = [files[i] for i in sorted(set(picks))]
  return [(f'step {int(os.path.basename(p)[5:12])}',
           np.load(io.BytesIO(paths.read_bytes(p)))) for p in files]


def write_markdown(workdir, results):
  speed, crit = results['speed'], results['criterion']
  rate, first = speed['iterations_per_s'], speed['compile_and_first_step_s']
  segments = speed.get('train_segments', 1)
  rows = [[h['step'], h['modes_covered'], f'{100 * h["hq_fraction"]:.1f}%',
           f'{h["mode_kl"]:.3f}'] for h in results['history']]
  lines = [
      f'# Unrolled GAN on a ring of Gaussians, K = {results["unroll_steps"]}',
      '', f'Command: `{results["command"]}`', '',
      f'- {results["steps"]} iterations, seed {results["seed"]}, generator '
      f'loss {results["gen_loss"]}, Adam lr G {results["gen_lr"]} / D '
      f'{results["dis_lr"]}, on {results["devices"]}',
      f'- modes covered: **{results["modes_covered"]}** of '
      f'{len(results["mode_counts"])}; high-quality samples: '
      f'**{100 * results["hq_fraction"]:.1f}%**; mode KL vs uniform '
      f'{results["mode_kl"]:.3f}',
      f'- high-quality samples per mode: {results["mode_counts"]}',
      f'- speed: {rate:.1f} it/s' if rate else '- speed: n/a',
      '  (' + (f'first step incl. compilation {first:.1f} s, '
               if first is not None else '') +
      f'training {speed["train_wall_s"]:.0f} s'
      + (f' in {segments} resumed segments' if segments > 1 else '') + ')',
      '',
      f'A sample is high quality within {crit["quality_stds"]} std of its '
      f'nearest centre; a mode is covered with at least '
      f'{crit["mode_min_samples"]} such samples of {crit["eval_samples"]}.',
      '',
      '![generated samples](figures/samples.png)', '',
      report.markdown_table(['step', 'modes', 'high quality', 'mode KL'],
                            rows), ''] + provenance.provenance_markdown(workdir)
  workdir_lib.write_text(os.path.join(workdir, 'report.md'), '\n'.join(lines))


def compare(out_dir, workdirs):
  """Table (compare.md) and final-sample figure of finished runs."""
  rows, panels, centres, radius = [], [], None, None
  for w in workdirs:
    res = json.loads(paths.read_text(os.path.join(w, 'results.json')))
    cfg = json.loads(paths.read_text(os.path.join(w, 'config.json')))['ring']
    rate = res['speed']['iterations_per_s']
    rows.append([res['unroll_steps'], res['steps'], res['modes_covered'],
                 f'{100 * res["hq_fraction"]:.1f}%', f'{res["mode_kl"]:.3f}',
                 f'{res["speed"]["train_wall_s"]:.0f}',
                 f'{rate:.1f}' if rate else 'n/a', w])
    panels.append((f'K = {res["unroll_steps"]}',
                   snapshot_panels(w, 1)[-1][1]))
    centres = steps.mode_centres(cfg['num_modes'], cfg['radius'])
    radius = cfg['std'] * cfg['quality_stds']
  table = report.markdown_table(
      ['K', 'iterations', 'modes covered', 'high quality', 'mode KL',
       'wall s', 'it/s', 'workdir'], rows)
  paths.makedirs(out_dir)
  paths.write_text(os.path.join(out_dir, 'compare.md'),
                   table + '\n\n![final samples](samples.png)\n')
  report.ring_samples_figure(os.path.join(out_dir, 'samples.png'), panels,
                             centres, radius, title='final samples')
  return table


if __name__ == '__main__':
  if len(sys.argv) < 3:
    sys.exit('usage: python -m gitjax.experiments.ring.report OUT_DIR '
             'WORKDIR [WORKDIR ...]')
  print(compare(sys.argv[1], sys.argv[2:]))
