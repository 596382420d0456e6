#!/usr/bin/env bash
# Mutation check (a habit, not CI): mutmut over the modules that hold the
# maths and the wiring, with only their fast tests. README, "Development".
#
#   tools/mutation.sh                 # the core scope: losses, invariance, bilevel
#   tools/mutation.sh samplers        # the fast part of the wiring: samplers, checkpoints, resume, branching
#   tools/mutation.sh wiring          # the trainers' steps and the classifier's Plan (each mutant compiles)
#   tools/mutation.sh all             # every scope (several hours on a 2-core CPU)
#   MUTATION_ONLY='gitjax.runtime.resume.*' tools/mutation.sh samplers   # some mutants only
#   MUTATION_SAMPLE=40 tools/mutation.sh wiring   # a seeded random 40 (MUTATION_SEED, default 0),
#                                                 # survival with its Wilson 95% interval
#
# It works on a copy of the tree in $MUTATION_DIR (default /tmp/gitjax-mutation),
# so the checkout stays clean; mutmut's own `results` / `show NAME` run there.
# Needs mutmut (pip install 'mutmut==3.8.1'; MUTMUT_PATH may name a --target dir).
set -euo pipefail
cd "$(dirname "$0")/.."
SCOPE="${1:-core}"
DIR="${MUTATION_DIR:-/tmp/gitjax-mutation}"
case "$SCOPE" in
  core|wiring|samplers|all) ;;
  *) echo "usage: tools/mutation.sh [core|wiring|samplers|all]" >&2; exit 2 ;;
esac
# The modules and their tests: tools/scopes.py, shared with replace_check.py.
modules="$(python tools/scopes.py "$SCOPE" modules)"
tests="$(python tools/scopes.py "$SCOPE" tests)"
rm -rf "$DIR"
mkdir -p "$DIR"
cp -r gitjax configs tests launch.py pyproject.toml tools/mutation_sample.py "$DIR"/
cd "$DIR"
# Only the scoped files are mutated; tests run with the 8 fake devices of
# tests/conftest.py, -x stops at the first failure (a killed mutant).
cat >> pyproject.toml <<TOML

[tool.mutmut]
source_paths = ["gitjax"]
only_mutate = [$modules]
also_copy = ["configs", "launch.py"]
pytest_add_cli_args = ["-x", "-q", "-p", "no:cacheprovider", "-n", "0"]
pytest_add_cli_args_test_selection = [$tests]
process_isolation = "forkserver"
# The fork server must not import the tests: collecting them initialises
# JAX (meshes at module level), and a process forked from a JAX process
# that runs threads deadlocks. Those deadlocks read as timeouts (every
# "timeout" of the earlier wiring runs); each worker imports its own.
forkserver_warmup = "none"
# A mutant's tests get (their clean time + timeout_constant) x 30 CPU
# seconds. Its tests run alone, so they compile what the whole clean run
# had compiled earlier for them: without a floor, slow compilations read
# as timeouts (MUTATION_TIMEOUT_S, default 20: at least 10 CPU minutes).
timeout_constant = ${MUTATION_TIMEOUT_S:-20}
TOML
export PYTHONPATH="${MUTMUT_PATH:+$MUTMUT_PATH:}${PYTHONPATH:-}"
# One persistent XLA compilation cache for the clean run and every mutant:
# a mutant's tests run alone, and without it each recompiles every step the
# clean run compiled (minutes on 2 cores, read as timeouts). A mutant whose
# change alters the traced program misses the cache and compiles its own.
export JAX_COMPILATION_CACHE_DIR="$DIR/.jax_cache"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
# MUTATION_MINUTES=N stops the run after N minutes (0: no limit); the
# mutants run so far are counted.
# MUTATION_ONLY='GLOB ...' runs only the mutants whose names match, e.g.
# 'gitjax.runtime.resume.*' (names: mutmut results).
# MUTATION_SAMPLE=N runs a seeded random sample of N mutants of the scope
# (MUTATION_SEED, default 0): the scopes whose mutants each compile a step.
only="${MUTATION_ONLY:-}"
if [ -n "${MUTATION_SAMPLE:-}" ]; then
  python mutation_sample.py names "$MUTATION_SAMPLE" "${MUTATION_SEED:-0}" > /dev/null
  only="$(tr '\n' ' ' < sample.txt)"
fi
# shellcheck disable=SC2086
timeout "$(( ${MUTATION_MINUTES:-0} * 60 ))" \
  python -m mutmut run --max-children "${MUTATION_JOBS:-2}" $only || true
python -m mutmut results --all true > results.txt || python -m mutmut results > results.txt
python mutation_sample.py summary results.txt $(cat population.txt 2>/dev/null)
