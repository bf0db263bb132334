#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for a short time each.
# Seeds live in each package's testdata/fuzz/FuzzXxx; a crash fails the run.
set -euo pipefail
fuzztime="${1:-5s}"
cd "$(dirname "$0")/.."
status=0
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    echo "== fuzz $pkg $target ($fuzztime)"
    if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" 2>&1 | tail -3; then
      status=1
    fi
  done
done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(' --include='*_test.go' . | grep -v '/testdata/' | sort)
exit $status
