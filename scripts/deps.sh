#!/usr/bin/env bash
# Makes sure the real programs the tests drive are present: nginx (auth_request
# test), chromium + Xvfb (browser challenge tests), redis-server (the shared
# challenge replay store), curl, wget and python-requests (real bot clients),
# g++ (the analytics store, DuckDB, is C++ linked through cgo).
# On Debian as root it installs what is missing; elsewhere it says what is
# missing and the tests that need it skip with a message.
set -euo pipefail
declare -A pkg=(
  [nginx]=nginx-light [chromium]=chromium [Xvfb]=xvfb
  [redis-server]=redis-server [curl]=curl [wget]=wget
  [g++]=g++
)
missing=()
for bin in "${!pkg[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("${pkg[$bin]}")
done
python3 -c 'import requests' >/dev/null 2>&1 || missing+=(python3-requests)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing (tests needing them will skip): ${missing[*]}" >&2
  fi
fi
go mod download
