#!/usr/bin/env bash
# Make sure the system libraries the GUI tests need are present: Xvfb (a virtual screen), Mesa
# (software OpenGL for napari's canvas) and the X libraries Qt's xcb platform plugin loads.
# Installs them through apt when missing and running as root; otherwise says what to install.
set -euo pipefail

packages=(xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libxcb-icccm4
          libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0
          libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1)

source "$(dirname "$0")/apt-packages.sh"
ensure_packages "the GUI tests (Xvfb and Mesa)" "${packages[@]}"
