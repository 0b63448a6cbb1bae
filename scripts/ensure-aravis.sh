#!/usr/bin/env bash
# Make sure the GenICam backend's parts are present: Aravis (library, GObject introspection data,
# the GigE Vision simulator the tests start) from apt, and PyGObject in the virtualenv.
# Installs through apt when missing and running as root; otherwise says what to install.
# PyGObject is built without pycairo (lightsheet draws nothing through cairo), so cairo's
# development files are not needed; releases from 3.51 on need a newer GLib than Debian 12 has.
set -euo pipefail

venv="${1:-.venv}"
packages=(gir1.2-aravis-0.8 aravis-tools-cli aravis-tools libgirepository1.0-dev pkg-config gcc)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null; then
        echo "lightsheet: the GenICam backend needs Aravis 0.8; install the equivalent of: ${missing[*]}" >&2
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "lightsheet: missing system packages for the GenICam backend. Run:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "lightsheet: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if "$venv/bin/python" -c "import gi; gi.require_version('Aravis', '0.8')" 2>/dev/null; then
    exit 0
fi
echo "lightsheet: installing PyGObject (without pycairo) into $venv"
"$venv/bin/python" -m pip install -q meson-python meson ninja
PATH="$(cd "$venv/bin" && pwd):$PATH" "$venv/bin/python" -m pip install -q --no-deps \
    --no-build-isolation -Csetup-args=-Dpycairo=disabled "PyGObject>=3.42,<3.51"
"$venv/bin/python" -c "import gi; gi.require_version('Aravis', '0.8')"
