#!/usr/bin/env bash
# Runs make targets one after another, each as a stage with its wall time, and prints the
# times of all stages at the end (for CI's log); stops at the first stage that fails. A
# stage is a make command line: a target and its variables ("critest DOCKER=29").
set -uo pipefail
make=${MAKE:-make}
times=()
rc=0
begin=$SECONDS
for stage in "$@"; do
  start=$SECONDS
  echo "=== stage $stage"
  # shellcheck disable=SC2086 # a stage is words
  "$make" --no-print-directory $stage
  rc=$?
  took=$((SECONDS - start))
  result=ok
  [[ $rc -eq 0 ]] || result=FAILED
  times+=("$(printf '%-40s %3dm%02ds  %s' "$stage" $((took / 60)) $((took % 60)) "$result")")
  [[ $rc -eq 0 ]] || break
done
took=$((SECONDS - begin))
echo "=== stage times"
printf '  %s\n' "${times[@]}"
printf '  %-40s %3dm%02ds\n' total $((took / 60)) $((took % 60))
exit $rc
