#!/usr/bin/env bash
# Installs Debian's headless browser for the dashboard's browser test
# (crates/chipmix-server/tests/browser.rs): `chromium`, `chromium-driver` (chromedriver) and a
# font for the screenshot. Safe to run repeatedly; does nothing when everything is present.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=()
need() { dpkg -s "$1" >/dev/null 2>&1 || packages+=("$1"); }
need chromium
need chromium-driver
need fonts-dejavu-core

if [ "${#packages[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
command -v chromedriver >/dev/null 2>&1 || {
  echo "install-browser.sh: chromedriver is not on PATH after installing chromium-driver" >&2
  exit 1
}
