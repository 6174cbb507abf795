#!/usr/bin/env bash
# Prints what `make test` ran, one line per suite, then the total as
# "make test: N passed, M failed"; fails when anything failed or nothing ran.
set -euo pipefail
results=$1
passed=0 failed=0
while read -r name p f; do
  printf '  %-16s %5d passed %3d failed\n' "$name" "$p" "$f"
  passed=$((passed + p)) failed=$((failed + f))
done < "$results"
echo "make test: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
