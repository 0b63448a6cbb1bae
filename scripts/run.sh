#!/usr/bin/env bash
# `make run`: the GUI on the simulated rig when a display is present; otherwise a short headless
# acquisition on the simulated rig, then its summary and where the data went.
#
# Both use runs/demo.yaml: the simulated rig with a 480 x 480 region of interest, so that a run
# of 10 volumes of 40 planes is 184 MB (10 x 40 x 480 x 480 x 2 bytes), saved under runs/ of this
# folder. The file is written once and then left to the operator to edit.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
demo=runs/demo.yaml
if [[ ! -f "$demo" ]]; then
    cat > "$demo" <<EOF
# The demo rig of \`make run\`: the simulated rig, reading a 480 x 480 region of its 1024 x 1024
# sensor, so that 10 volumes of 40 planes take 184 MB. Runs are saved in $PWD/runs.
name: demo
camera:
  roi: {x: 272, y: 272, width: 480, height: 480}
saving:
  default_dir: $PWD/runs
EOF
fi
.venv/bin/lightsheet config check "$demo" >/dev/null
if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
    echo "lightsheet: opening the GUI on the simulated demo rig ($demo; runs are saved in runs/," \
        "10 volumes = 184 MB)"
    exec .venv/bin/lightsheet gui --config "$demo"
fi
out="runs/demo-$(date +%Y%m%d-%H%M%S)"
echo "lightsheet: no display, so no GUI: 10 volumes (184 MB) on the simulated rig into $out"
set +e
.venv/bin/lightsheet acquire --config "$demo" --volumes 10 --out "$out"
rc=$?
set -e
.venv/bin/lightsheet inspect "$out" || true
echo "lightsheet: data in $out ($(du -sh "$out" | cut -f1); open $out/dataset.h5; logs in $out/logs)"
exit $rc
