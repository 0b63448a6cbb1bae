#!/usr/bin/env bash
# Shared by the ensure-*.sh scripts: `ensure_packages WHAT PKG...` installs the Debian packages
# that are missing, through apt when running as root; otherwise it says what to install and fails.
ensure_packages() {
    local what="$1"; shift
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        echo "lightsheet: $what needs the equivalent of: ${missing[*]}" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "lightsheet: missing system packages for $what. Run:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
    echo "lightsheet: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
