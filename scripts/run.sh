#!/usr/bin/env bash
# `make run`: a short headless acquisition on the simulated rig, then its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
out="runs/demo-$(date +%Y%m%d-%H%M%S)"
echo "lightsheet: headless acquisition on the simulated rig into $out"
set +e
.venv/bin/lightsheet acquire --volumes 10 --out "$out"
rc=$?
set -e
.venv/bin/lightsheet inspect "$out" || true
echo "lightsheet: data in $out (open $out/dataset.h5; logs in $out/logs)"
exit $rc
