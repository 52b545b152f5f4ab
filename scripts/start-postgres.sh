#!/usr/bin/env bash
# Installs (Debian's `postgresql`), starts a local PostgreSQL and creates the database the
# server's API tests run against when CHIPMIX_TEST_POSTGRES_URL is set. Idempotent. Prints the
# URL to use. Needs root (or sudo).
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
$sudo service postgresql start >/dev/null
for _ in $(seq 1 30); do
  $sudo su postgres -c "pg_isready -q" && break
  sleep 1
done
$sudo su postgres -c "psql -v ON_ERROR_STOP=1 -q" <<'SQL'
SELECT 'CREATE ROLE chipmix LOGIN PASSWORD ''chipmix''' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chipmix')\gexec
DROP DATABASE IF EXISTS chipmix_test;
CREATE DATABASE chipmix_test OWNER chipmix;
SQL
echo "postgres://chipmix:chipmix@127.0.0.1:5432/chipmix_test"
