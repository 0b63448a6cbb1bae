#!/usr/bin/env bash
# Check that python3 is new enough and can create virtual environments (Debian splits venv out).
set -euo pipefail
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || {
    echo "lightsheet: Python >= 3.10 is required (found $(python3 --version 2>&1))" >&2; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null && exit 0
ver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    echo "lightsheet: installing python${ver}-venv"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${ver}-venv" >/dev/null
else
    echo "lightsheet: python3 cannot create a virtualenv; install python${ver}-venv" >&2; exit 1
fi
