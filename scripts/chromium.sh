#!/usr/bin/env bash
# Debian's Chromium for Slipway's browser tests (tests/e2e), driven by playwright-core.
#
#   scripts/chromium.sh install   install the `chromium` package if /usr/bin/chromium is missing
set -euo pipefail

case "${1:-}" in
  install)
    if [[ -x /usr/bin/chromium ]]; then exit 0; fi
    echo "installing Chromium from Debian's packages" >&2
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
    [[ -x /usr/bin/chromium ]] || { echo "Chromium did not install" >&2; exit 1; }
    ;;
  *)
    echo "usage: scripts/chromium.sh install" >&2
    exit 2
    ;;
esac
