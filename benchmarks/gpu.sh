#!/usr/bin/env bash
# One command for the GPU figures of benchmarks/handwritten_loops.py (keras-gen
# vs hand-written loops), benchmarks/peers.py (keras-gen vs the keras.io and
# pytorch/examples DCGANs on their own networks) and, with several GPUs,
# benchmarks/distributed.py (one process per GPU vs one process). handwritten_loops.py: keras-gen
# vs hand-written loops (images/s, ratio, device peak memory, DCGAN FLOP/s
# against a float32 matmul peak) on TensorFlow (XLA off and on), JAX and
# PyTorch, at batch 256 and 64x64x3 with the DCGAN paper's widths.
#
#   bash benchmarks/gpu.sh                   # on a machine with an NVIDIA GPU
#   BENCH_QUICK=1 bash benchmarks/gpu.sh     # CPU dry run of the same path (seconds per backend)
#   bash benchmarks/gpu.sh --models dcgan    # extra arguments go to handwritten_loops.py
#
# Environment (defaults in brackets):
#   BENCH_BATCH [256]  BENCH_IMAGE [64]  BENCH_CHANNELS [3]  BENCH_WIDTHS [paper|auto: paper]
#   BENCH_STEPS [20]   BENCH_REPEATS [5]  BENCH_WARMUP [3]   BENCH_MODELS [vae,dcgan]
#   BENCH_BACKENDS [tensorflow,jax,torch]  BENCH_TF_XLA [both|on|off: both]
#   BENCH_OUT [outputs/benchmarks/gpu-<date>.txt]: the printed tables (+ .json raw results)
#   BENCH_VENV: the Python environment. Default: .venv for a dry run or without a
#     GPU (created like scripts/test.sh does); .venv-gpu on a GPU machine, created
#     on first use with the CUDA builds (jax[cuda12], tensorflow[and-cuda], PyTorch's
#     Linux wheel from PyPI, which is a CUDA build).
#   BENCH_ALLOW_CPU=1: run the full-size benchmark even where no GPU is found.
#
# A backend that does not see the GPU is skipped (and named) rather than timed
# on the CPU, so that every row of the table is a GPU figure.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
PYTHON=${PYTHON:-python3}

gpu_name=""
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu_name=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || true)
fi

if [ "$QUICK" = 1 ] || [ -z "$gpu_name" ]; then
  if [ "$QUICK" != 1 ] && [ "${BENCH_ALLOW_CPU:-0}" != 1 ]; then
    echo "gpu.sh: no NVIDIA GPU found (nvidia-smi). Run BENCH_QUICK=1 bash benchmarks/gpu.sh for a CPU dry run," >&2
    echo "or set BENCH_ALLOW_CPU=1 to time the full-size benchmark on the CPU." >&2
    exit 2
  fi
  VENV=${BENCH_VENV:-.venv}
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[jax,torch]"
  fi
else
  VENV=${BENCH_VENV:-.venv-gpu}
  if [ ! -x "$VENV/bin/python" ]; then
    echo "gpu.sh: creating $VENV with the CUDA builds of JAX, TensorFlow and PyTorch ..."
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[jax,torch]" \
      "jax[cuda12]" "tensorflow[and-cuda]"
  fi
fi
PY="$VENV/bin/python"

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}
# One process at a time holds the GPU; let each allocate what it uses, so the
# device peak-memory column means the same thing on every backend.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
export TF_FORCE_GPU_ALLOW_GROWTH=true

# Which backends see a GPU.
backends=""
skipped=""
for b in $(echo "${BENCH_BACKENDS:-tensorflow,jax,torch}" | tr ',' ' '); do
  device=$(KERAS_BACKEND=$b "$PY" - <<'EOF' 2>/dev/null || echo "error"
import keras
b = keras.backend.backend()
if b == "tensorflow":
    import tensorflow as tf
    print("gpu" if tf.config.list_physical_devices("GPU") else "cpu")
elif b == "jax":
    import jax
    print("gpu" if jax.devices()[0].platform == "gpu" else "cpu")
else:
    import torch
    print("gpu" if torch.cuda.is_available() else "cpu")
EOF
)
  device=$(echo "$device" | tail -n 1)
  if [ "$QUICK" = 1 ] || [ -z "$gpu_name" ] || [ "$device" = gpu ]; then
    backends="${backends:+$backends,}$b"
  else
    skipped="$skipped $b($device)"
  fi
done
if [ -z "$backends" ]; then
  echo "gpu.sh: no backend sees the GPU in $VENV (skipped:$skipped); check its CUDA packages." >&2
  exit 1
fi

if [ "$QUICK" = 1 ]; then
  size_args=(--quick)
else
  widths=()
  [ "${BENCH_WIDTHS:-paper}" = paper ] && widths=(--paper-widths)
  size_args=(--batch-size "${BENCH_BATCH:-256}" --image-size "${BENCH_IMAGE:-64}"
             --channels "${BENCH_CHANNELS:-3}" --steps "${BENCH_STEPS:-20}"
             --repeats "${BENCH_REPEATS:-5}" --warmup-steps "${BENCH_WARMUP:-3}" "${widths[@]}")
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${BENCH_OUT:-outputs/benchmarks/gpu-$stamp.txt}
mkdir -p "$(dirname "$out")"
{
  echo "GPU: ${gpu_name:-none (CPU dry run)}"
  echo "Date: $stamp; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); venv $VENV"
  [ -n "$skipped" ] && echo "Skipped (backend does not see the GPU):$skipped"
  echo
} | tee "$out"
"$PY" benchmarks/handwritten_loops.py --backends "$backends" \
  --models "${BENCH_MODELS:-vae,dcgan}" --tf-xla "${BENCH_TF_XLA:-both}" \
  "${size_args[@]}" --json "${out%.txt}.json" "$@" | tee -a "$out"

# keras-gen against the examples people copy (benchmarks/peers.py): the keras.io
# DCGAN and pytorch/examples' dcgan on their own networks and batch sizes,
# keras-gen with and without reuse_fakes, images/s and the ratio to the peer.
# BENCH_PEERS [kerasio,pytorch]  BENCH_PEERS_STEPS [50]  BENCH_PEERS_REPEATS [5]
# BENCH_PEERS_TF_XLA [both]  BENCH_PEERS_LAYERS [both: keras_gen.layers and keras.layers
# for the pytorch/examples rebuild]; BENCH_PEERS=none skips it.
if [ "${BENCH_PEERS:-kerasio,pytorch}" != none ]; then
  if [ "$QUICK" = 1 ]; then
    peer_args=(--quick)
  else
    peer_args=(--steps "${BENCH_PEERS_STEPS:-50}" --repeats "${BENCH_PEERS_REPEATS:-5}" --warmup 3)
  fi
  echo | tee -a "$out"
  echo "## keras-gen against the peers' own networks (benchmarks/peers.py)" | tee -a "$out"
  "$PY" benchmarks/peers.py --backends "$backends" --peers "${BENCH_PEERS:-kerasio,pytorch}" \
    --tf-xla "${BENCH_PEERS_TF_XLA:-both}" --layers "${BENCH_PEERS_LAYERS:-both}" "${peer_args[@]}" --json "${out%.txt}-peers.json" | tee -a "$out"
fi
# Several GPUs (benchmarks/distributed.py --gpus): one process per GPU, started
# as `torchrun --nproc-per-node N` starts them (keras_gen.distribute.initialize()
# + data_parallel()), against one process on one GPU with the same global batch
# and one process on one GPU with 1/N of it; step times, speed-up and the
# communication share. N = every GPU nvidia-smi lists (BENCH_GPUS to choose);
# skipped (and said) with fewer than 2. A dry run (BENCH_QUICK=1) runs the same
# script on 2 CPU cores with its --quick network.
# BENCH_DISTRIBUTED [auto|none]  BENCH_GPUS [all]  BENCH_DIST_BATCH [256]
# BENCH_DIST_IMAGE [64]  BENCH_DIST_STEPS [20]  BENCH_DIST_ROUNDS [5]
dist_json="${out%.txt}-distributed.json"
if [ "${BENCH_DISTRIBUTED:-auto}" != none ]; then
  echo | tee -a "$out"
  if [ "$QUICK" = 1 ] || [ -z "$gpu_name" ]; then
    echo "## Data-parallel across processes on 2 CPU cores (benchmarks/distributed.py --quick)" | tee -a "$out"
    "$PY" benchmarks/distributed.py --quick --backends "$backends" --json "$dist_json" | tee -a "$out"
  else
    ngpus=${BENCH_GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)}
    if [ "${ngpus:-0}" -ge 2 ]; then
      echo "## Data-parallel across $ngpus GPUs, one process each (benchmarks/distributed.py --gpus)" | tee -a "$out"
      "$PY" benchmarks/distributed.py --gpus --processes "$ngpus" --backends "$backends" \
        --batch-size "${BENCH_DIST_BATCH:-256}" --image-size "${BENCH_DIST_IMAGE:-64}" --channels 3 \
        --steps "${BENCH_DIST_STEPS:-20}" --rounds "${BENCH_DIST_ROUNDS:-5}" \
        --json "$dist_json" | tee -a "$out"
    else
      echo "## Data-parallel across GPUs: skipped, $ngpus GPU(s) found (needs 2 or more)" | tee -a "$out"
    fi
  fi
fi
echo
echo "gpu.sh: tables saved to $out (raw results: ${out%.txt}.json, ${out%.txt}-peers.json, $dist_json)"
