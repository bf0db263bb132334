#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for a short budget each
# (an execution count such as 2000x, or a duration).
# Seeds live in each package's testdata/fuzz/FuzzXxx (and run in every plain
# `go test` too); a crash fails the run and its full output is printed.
set -euo pipefail
fuzztime="${1:-2000x}"
cd "$(dirname "$0")/.."
status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
while IFS= read -r file; do
  pkg="$(dirname "$file")"
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    echo "== fuzz $pkg $target ($fuzztime)"
    if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >"$out" 2>&1; then
      tail -2 "$out"
    else
      tail -60 "$out"
      status=1
    fi
  done
done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | grep -v '/testdata/' | sort)
exit $status
