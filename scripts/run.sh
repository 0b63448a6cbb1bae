#!/usr/bin/env bash
# `make run`: the GUI on the simulated rig when a display is present; otherwise a short headless
# acquisition on the simulated rig, then its summary and where the data went.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
    echo "lightsheet: opening the GUI on the simulated rig (display ${DISPLAY:-$WAYLAND_DISPLAY})"
    exec .venv/bin/lightsheet gui
fi
out="runs/demo-$(date +%Y%m%d-%H%M%S)"
echo "lightsheet: no display, so no GUI: headless acquisition on the simulated rig into $out"
set +e
.venv/bin/lightsheet acquire --volumes 10 --out "$out"
rc=$?
set -e
.venv/bin/lightsheet inspect "$out" || true
echo "lightsheet: data in $out (open $out/dataset.h5; logs in $out/logs)"
exit $rc
