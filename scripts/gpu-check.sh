#!/usr/bin/env bash
# The GPU path in one go: CUDA as torch and ONNX Runtime see it, a model trained and exported, parity
# checked again with ONNX Runtime on CUDA, `bench decode --device cuda` and `bench serve` with the
# Translator replica on a GPU (num_gpus 1). Prints the figures; exits non-zero at the first failure, and
# before any step when a tool a step needs (wrk) is missing.
#   pip install -e ".[gpu]"          # onnxruntime-gpu; then, since both wheels ship the module onnxruntime:
#   pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu
#   scripts/gpu-check.sh             # on a machine with an NVIDIA GPU
#   scripts/gpu-check.sh --dry-run   # the same steps on the CPU with a tiny model (CI runs it)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${ATTNOPS_BIN:-.venv/bin}
device=cuda gpus=1 config=(pipelines/configs/translation/demo.yaml)
decode=(--sentences 200 --batch-sizes 1 32) serve=(--systems a b c --clients 1 64 --seconds 10 --rounds 1)
if [[ ${1:-} == --dry-run ]]; then
    device=cpu gpus=0
    config+=(--set data.max_train_examples=800 --set data.max_eval_examples=24 --set data.tokenizer.vocab_size=400
             --set model.embedding_dim=32 --set model.hidden_size=48 --set train.max_epochs=1
             --set train.batch_size=32 --set train.max_decode_length=20 --set tracking.heatmap_sentences=0
             --set tracking.system_metrics=false)
    # b is a as configured otherwise: the CPU run starts a and c only (one service less to start and stop).
    decode=(--sentences 16 --batch-sizes 1 8 --threads 1) serve=(--systems a c --clients 1 4 --seconds 2 --rounds 1)
elif [[ -n ${1:-} ]]; then
    echo "usage: scripts/gpu-check.sh [--dry-run]" >&2; exit 2
fi
command -v wrk > /dev/null || { echo "gpu-check: error: bench serve needs wrk (Debian: apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export MLFLOW_TRACKING_URI="sqlite:///$work/mlflow.db" HF_DATASETS_OFFLINE=1 MLFLOW_DISABLE_TELEMETRY=true

echo "== devices ($device)"
"$BIN/python" - "$device" <<'PY'
import sys

import onnxruntime as ort
import torch

gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()} ({gpu})")
print(f"onnxruntime {ort.__version__}, providers: {', '.join(ort.get_available_providers())}")
if sys.argv[1] == "cuda" and not torch.cuda.is_available():
    sys.exit("torch sees no CUDA device: this check needs an NVIDIA GPU and torch's CUDA build")
if sys.argv[1] == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
    sys.exit("onnxruntime has no CUDA provider: install the [gpu] extra as this script's header says")
PY

echo "== train, export (parity gate on the CPU), then parity again with ONNX Runtime on $device"
run_id=$("$BIN/attnops" train "${config[@]}" | tail -n 1)
"$BIN/attnops" export "$run_id" --quantize int8
"$BIN/attnops" export "$run_id" --parity-on "$device"
version=$("$BIN/attnops" register "$run_id" | awk '{print $4}')
"$BIN/attnops" promote translation-de-en-demo "$version"

echo "== bench decode on $device"
"$BIN/attnops" bench decode --model "runs:/$run_id" --device "$device" "${decode[@]}"

echo "== bench serve, Translator replica with num_gpus $gpus"
"$BIN/attnops" bench serve --model models:/translation-de-en-demo@champion --replica-gpus "$gpus" \
    "${serve[@]}"
echo "== gpu check done ($device)"
