#!/usr/bin/env bash
# Appends "<name> <passed> <failed>" for one test run to the results file,
# read from the closing line of busted, cargo test or a host test log.
# usage: record.sh <name> <log> <results-file>
set -euo pipefail
name=$1 log=$2 results=$3
passed=0 failed=0
if grep -q '^test result:' "$log"; then
  # cargo test: one "test result: ok. N passed; M failed; ..." line per test binary
  passed=$(grep '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END{print s+0}')
  failed=$(grep '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END{print s+0}')
elif line=$(grep -E '[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors?' "$log" | tail -n 1); then
  # busted: "N successes / M failures / K errors / P pending : T seconds"
  # (the terminal output colours the numbers, so strip escape codes first)
  line=$(printf '%s' "$line" | sed -E 's/\x1b\[[0-9;]*m//g')
  passed=$(printf '%s' "$line" | sed -E 's/^([0-9]+) success.*/\1/')
  f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
  e=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) errors?.*/\1/')
  failed=$((f + e))
elif line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1); then
  passed=$(printf '%s' "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
  failed=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
else
  echo "record.sh: no closing line in $log" >&2
  failed=1
fi
echo "$name $passed $failed" >> "$results"
