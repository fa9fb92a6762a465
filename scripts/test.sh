#!/usr/bin/env bash
# Set up .venv (created on first use) and run the whole test suite once per
# Keras backend: tensorflow, jax, torch. Exits non-zero if any backend fails.
# Each backend's tests run in KERAS_GEN_TEST_WORKERS pytest-xdist processes
# (default 2; whole files per process, `--dist loadfile`; 0 runs them in this
# process). Extra arguments go to pytest after these, so they win, e.g.
# `bash scripts/test.sh -x tests/models` or `bash scripts/test.sh -n 0`.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || exit 1
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[jax,torch,tests]" || exit 1

results=.test-results
rm -rf "$results" && mkdir -p "$results"
status=0
# JAX compiles every train step with XLA; tests build many models of the same
# shapes, so a compilation cache for this run (emptied with the results
# above; JAX's own on-disk cache, keyed by the program, the JAX version and
# XLA_FLAGS) skips the repeats. It changes no result: an entry that cannot
# be read (another worker writing it) is compiled again, with a warning.
# JAX child processes of the TensorFlow and PyTorch runs use it too.
export JAX_COMPILATION_CACHE_DIR="$PWD/$results/jax-cache"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python -m pytest -q \
    -p no:cacheprovider -n "${KERAS_GEN_TEST_WORKERS:-2}" --dist loadfile \
    --junitxml="$results/$backend.xml" "$@" || status=1
done
.venv/bin/python scripts/summarize_junit.py "$results"/*.xml || status=1
exit $status
