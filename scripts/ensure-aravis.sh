#!/usr/bin/env bash
# Make sure the GenICam backend's parts are present: Aravis (library, GObject introspection data,
# the GigE Vision simulator the tests start) from apt, and PyGObject in the virtualenv.
# Installs through apt when missing and running as root; otherwise says what to install.
# PyGObject is built without pycairo (lightsheet draws nothing through cairo), so cairo's
# development files are not needed; releases from 3.51 on need a newer GLib than Debian 12 has.
set -euo pipefail

venv="${1:-.venv}"
packages=(gir1.2-aravis-0.8 aravis-tools-cli aravis-tools libgirepository1.0-dev pkg-config gcc)

source "$(dirname "$0")/apt-packages.sh"
ensure_packages "the GenICam backend (Aravis 0.8)" "${packages[@]}"

if "$venv/bin/python" -c "import gi; gi.require_version('Aravis', '0.8')" 2>/dev/null; then
    exit 0
fi
echo "lightsheet: installing PyGObject (without pycairo) into $venv"
"$venv/bin/python" -m pip install -q meson-python meson ninja
PATH="$(cd "$venv/bin" && pwd):$PATH" "$venv/bin/python" -m pip install -q --no-deps \
    --no-build-isolation -Csetup-args=-Dpycairo=disabled "PyGObject>=3.42,<3.51"
"$venv/bin/python" -c "import gi; gi.require_version('Aravis', '0.8')"
