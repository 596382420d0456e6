r"""Runs one gitjax experiment from an ml_collections config file.

    python launch.py --config configs/dataset_digits.py --workdir /tmp/d
    python launch.py --config configs/dataset_mnist.py:rot \
        --config.data.path=/tmp/gitjax-data/mnist.npz --workdir /tmp/m

A run over many processes (hosts) gives each process the same command plus
--coordinator_address=HOST:PORT --num_processes=N --process_id=I (or
--distributed_auto where the cluster describes itself: Cloud TPU, SLURM,
Open MPI); process 0 writes the run folder (README, "Many hosts").

The config is locked after loading: `--config.KEY=VALUE` may only change keys
the config declares. Before any work the config is checked; a bad key or
value exits with code 2 and one line naming the key and what is allowed.
"""
import importlib
import importlib.util
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file, e.g. configs/dataset_digits.py.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Folder of the run: config, metrics, checkpoints, figures.')

_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None,
    'host:port of process 0, for a run over several processes (hosts).')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', None, 'How many processes the run spans.')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', None, 'Index of this process, 0 .. num_processes - 1.')
_DISTRIBUTED_AUTO = flags.DEFINE_bool(
    'distributed_auto', False,
    'Start jax.distributed from the environment (Cloud TPU, SLURM, Open MPI).')

# config.experiment -> module with run(config, workdir).
_RUNNERS = {
    'dataset': 'gitjax.experiments.dataset.run',
    'classifier': 'gitjax.experiments.classifier.run',
    'munit': 'gitjax.experiments.munit.run',
    'unrolled_ring': 'gitjax.experiments.ring.run',
    'git': 'gitjax.experiments.git.run',
    'maml': 'gitjax.experiments.maml.run',
}


def _fail(message):
  """Prints ONE line and exits 2. Library errors may embed a traceback (a
  config file that raised); its last line is the one that says what."""
  lines = [l.strip() for l in str(message).splitlines() if l.strip()]
  tail = [l for l in lines if not l.startswith(('File ', 'Traceback', '^'))]
  # Every process of a run meets the same user error; process 0 says it.
  if _process_index() == 0:
    print(f'error: {(tail or lines or [""])[-1]}', file=sys.stderr)
  sys.exit(2)


def _process_index():
  """This process's index in a run over several processes (0 when alone)."""
  try:
    if flags.FLAGS.distributed_auto and 'jax' in sys.modules:
      import jax  # pylint: disable=g-import-not-at-top
      return jax.process_index()
    return flags.FLAGS.process_id or 0
  except flags.UnparsedFlagAccessError:
    return 0


def _config_file(argv):
  for i, arg in enumerate(argv):
    if arg.startswith('--config='):
      return arg.split('=', 1)[1]
    if arg == '--config' and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _diagnose_override(argv):
  """Names the --config.KEY override that the loaded config lacks."""
  from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top
  path = _config_file(argv)
  if path is None:
    return None
  file_path, _, arg = path.partition(':')
  spec = importlib.util.spec_from_file_location('_gitjax_cfg', file_path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg) if arg else module.get_config()
  known = config_lib.flat_keys(config)
  for a in argv:
    if a.startswith('--config.'):
      key = a[len('--config.'):].split('=', 1)[0]
      if key not in known and not any(k.startswith(key + '.') for k in known):
        return config_lib.unknown_key_message(key, known)
  return None


def _parse_flags(argv):
  """absl flag parsing, with every user error turned into one line + exit 2."""
  try:
    return flags.FLAGS(argv)
  except flags.IllegalFlagValueError as e:
    if 'Traceback' in str(e):  # the config file itself raised
      _fail(e)
    _fail(f'{e}; check the type the key takes in the config file')
  except flags.Error as e:
    _fail(f'{e}; see --helpshort')
  except (AttributeError, KeyError) as e:
    message = None
    try:
      message = _diagnose_override(argv)
    except Exception:  # pylint: disable=broad-except
      pass
    _fail(message or f'unknown config key: {e}')
  except (TypeError, ValueError) as e:
    _fail(f'bad --config override: {e}')
  except SyntaxError as e:  # the config file is not valid Python
    _fail(f'config file {e.filename} line {e.lineno}: {e.msg}; fix the file')


def main(argv):
  if 'verbosity' not in ' '.join(sys.argv):
    logging.set_verbosity(logging.WARNING)  # JAX's backend probing is noise
  if len(argv) > 1:
    _fail(f'unexpected arguments {argv[1:]}; use --config and --workdir')
  try:
    config = _CONFIG.value
    if config is not None:
      config.to_dict()  # a file that failed to load raises here
  except Exception as e:  # pylint: disable=broad-except
    reason = [l.strip() for l in str(e).splitlines() if l.strip()][-1:]
    _fail(f'could not load --config {_config_file(sys.argv)!r} '
          f'({"".join(reason)}); give a file such as '
          'configs/dataset_digits.py')
  if config is None:
    _fail('--config is required, e.g. --config configs/dataset_digits.py')
  if not _WORKDIR.value:
    _fail('--workdir is required: the folder where the run writes its '
          'outputs')
  # Imported after flag parsing so that `--help` and config errors are fast.
  import jax  # pylint: disable=g-import-not-at-top
  from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top
  from gitjax import errors  # pylint: disable=g-import-not-at-top
  from gitjax.runtime import paths  # pylint: disable=g-import-not-at-top
  from gitjax.runtime import processes  # pylint: disable=g-import-not-at-top
  from gitjax.runtime import provenance  # pylint: disable=g-import-not-at-top
  from gitjax.runtime import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  workdir = paths.resolve(_WORKDIR.value)  # a local folder or gs://
  try:
    # Before anything else touches JAX; nothing happens without the flags.
    processes.initialize(_COORDINATOR.value, _NUM_PROCESSES.value,
                         _PROCESS_ID.value, auto=_DISTRIBUTED_AUTO.value)
    provenance.resolve_data_path(config)  # config.json holds the absolute path
    # The global device count: a batch must split over processes and devices.
    config_lib.validate(config, num_devices=jax.device_count())

    def prepare():
      # Takes the workdir's lock for the life of this process.
      resumed = workdir_lib.prepare(workdir, config_lib.to_json(config))
      provenance.write(workdir, config, resumed)
      return resumed
    # Process 0 checks and writes the folder; the others get its answer.
    resumed = processes.on_writer(prepare)
    logging.info('devices: %s', jax.devices())
    if not processes.is_writer():  # process 0 tells the run's progress
      sys.stdout = open(os.devnull, 'w')  # pylint: disable=consider-using-with
    processes_note = (f' in {processes.count()} processes'
                      if processes.count() > 1 else '')
    print(f'gitjax: {config.experiment} run in {workdir} on '
          f'{jax.device_count()} {jax.default_backend()} device(s)'
          f'{processes_note}{" (resuming)" if resumed else ""}', flush=True)
    runner = importlib.import_module(_RUNNERS[config.experiment])
    runner.run(config, workdir)
  except errors.UserError as e:
    _fail(str(e))
  except OSError as e:  # a full disk, a folder gone read-only: I/O faults
    where = f' ({e.filename})' if e.filename else ''
    print(f'error: {e.strerror or e}{where}; free space or fix the '
          f'permissions of {workdir}, then run the same command again to '
          'resume', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
