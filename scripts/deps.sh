#!/usr/bin/env bash
# Makes sure the real programs the tests drive are present: nginx (auth_request
# test), chromium + Xvfb (browser challenge tests), redis-server (the shared
# challenge replay store), curl, wget and python-requests (real bot clients),
# prometheus + promtool (deploy/prometheus alert tests), caddy (forward_auth
# test), helm, built from source (deploy/helm chart tests), and g++ (the
# analytics store, DuckDB, is C++ linked through cgo), node + npm (the
# stealth-Chromium adversary of e2e/browser; the test installs its npm
# packages with npm ci from the committed lockfile), xdotool (the human
# stand-in of e2e/wasm, driven only through the window system).
# On Debian as root it installs what is missing; elsewhere it says what is
# missing and the tests that need it skip with a message.
set -euo pipefail
declare -A pkg=(
  [nginx]=nginx-light [chromium]=chromium [Xvfb]=xvfb
  [redis-server]=redis-server [curl]=curl [wget]=wget
  [prometheus]=prometheus [promtool]=prometheus [caddy]=caddy
  [g++]=g++ [node]=nodejs [npm]=npm [xdotool]=xdotool
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

# helm from source at the version deploy/helm/HELM_VERSION names (no prebuilt
# binary), cached outside the tree: later runs reuse it. A cold build (empty
# Go build cache) took 3m06s on the shared 2-core machine, 2m57s of CPU,
# plus downloading helm's modules; most of it is client-go and kubectl.
helm_version=$(cat deploy/helm/HELM_VERSION)
helm_dir="${BOTWARDEN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/botwarden}/helm-$helm_version"
if [ ! -x "$helm_dir/helm" ]; then
  echo "building helm $helm_version from source into $helm_dir"
  start=$(date +%s)
  GOFLAGS= GOBIN="$helm_dir" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version" \
    "helm.sh/helm/v4/cmd/helm@$helm_version"
  echo "helm built in $(( $(date +%s) - start ))s"
fi
