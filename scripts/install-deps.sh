#!/usr/bin/env bash
# Installs the system packages chipmix needs to build and test. Safe to run repeatedly; does
# nothing when everything is present. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=()
need() { dpkg -s "$1" >/dev/null 2>&1 || packages+=("$1"); }
# HiGHS (the MILP solver, built from source by the `highs-sys` crate) needs CMake, a C++
# compiler and libclang for its bindings.
need cmake
need g++
need libclang-dev

if [ "${#packages[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# The dashboard's end-to-end test drives a real headless Chromium.
bash "$(dirname "$0")/install-browser.sh"
