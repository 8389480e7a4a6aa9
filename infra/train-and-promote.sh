#!/usr/bin/env bash
# Train CONFIG into $MLFLOW_TRACKING_URI, export it to ONNX, log its drift reference, register it and promote
# it to @champion.
#   bash infra/train-and-promote.sh CONFIG [--set KEY=VALUE ...]
# Prints the run id and the promoted model URI as its last two lines.
set -euo pipefail
ATTNOPS=${ATTNOPS:-attnops}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
$ATTNOPS train "$@" | tee "$out"
run_id=$(tail -n 1 "$out")
$ATTNOPS export "$run_id"
$ATTNOPS reference "$run_id"
$ATTNOPS register "$run_id" | tee "$out"
read -r _ name _ version _ < "$out"
$ATTNOPS promote "$name" "$version"
echo "$run_id"
echo "models:/$name@champion"
