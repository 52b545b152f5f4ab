#!/usr/bin/env bash
# Runs every test, with the real services they need: installs the build's system packages and
# the browser (Debian's chromium + chromium-driver), starts a local PostgreSQL for the server's
# PostgreSQL suite, then `cargo test --workspace`. Needs root (or sudo) the first time.
# Extra arguments go to `cargo test` (`bash scripts/test.sh -p chipmix-plan`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ -z "${CHIPMIX_TEST_POSTGRES_URL:-}" ]; then
  CHIPMIX_TEST_POSTGRES_URL="$(bash scripts/start-postgres.sh | tail -1)"
  export CHIPMIX_TEST_POSTGRES_URL
fi
export CHIPMIX_ARTIFACTS_DIR="${CHIPMIX_ARTIFACTS_DIR:-$PWD/ci-artifacts}"
mkdir -p "$CHIPMIX_ARTIFACTS_DIR"
exec cargo test --workspace --locked "$@"
