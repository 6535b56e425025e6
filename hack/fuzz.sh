#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func Fuzz…` of a _test.go file) for
# FUZZTIME, one after another. A failing input is written to the package's
# testdata/fuzz/<target>/, to be committed with its fix; `go test` (make unit) runs that
# corpus from then on.
#
# Each package's test binary is built once, with the fuzzer's instrumentation, and run
# for each of its targets in the package's directory, as go test -fuzz runs it, but with
# a cache of interesting inputs of this run's own (-test.fuzzcachedir, which go test
# points at its build cache): each run starts from the seeds and testdata/fuzz, since
# the inputs kept from earlier runs, run again first, would soon take a short FUZZTIME.
#
# Go 1.26's fuzzer can fail a run that found nothing with a bare "context deadline
# exceeded" when FUZZTIME ends under load (golang/go#75804, fixed in Go 1.27): such a
# failure, with no failing input written, is reported and passed over.
set -uo pipefail
go=${GO:-go}
fuzztime=${FUZZTIME:-6s}
# FUZZFLAGS: more flags of the test binary, e.g. -test.parallel=1. New coverage is
# minimised in a few hundred runs, not Go's default minute, so that the time is spent
# fuzzing.
# shellcheck disable=SC2206 # flags are words
flags=(-test.fuzzminimizetime=500x ${FUZZFLAGS:-})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
while read -r dir; do
  bin=$tmp/$(echo "$dir" | tr / _).test
  if ! "$go" test -c -fuzz=. -o "$bin" "./$dir"; then
    rc=1
    continue
  fi
  for target in $(cat "$dir"/*_test.go | grep -o '^func Fuzz[A-Za-z0-9_]*' | cut -d' ' -f2); do
    echo "--- fuzz ./$dir $target ($fuzztime)"
    (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^$target\$" -test.fuzztime="$fuzztime" \
      -test.fuzzcachedir="$tmp/cache" "${flags[@]}") >"$tmp/out" 2>&1
    status=$?
    # The result and the last progress line (how many runs), not every three seconds'.
    grep -av '^fuzz: elapsed' "$tmp/out"
    grep -a '^fuzz: elapsed' "$tmp/out" | tail -1
    if [[ $status -ne 0 ]]; then
      if ! grep -aq 'Failing input written' "$tmp/out" && grep -aqx '    context deadline exceeded' "$tmp/out"; then
        echo "(Go's fuzzer ended with \"context deadline exceeded\" and no failing input: golang/go#75804, not the target's)"
        continue
      fi
      rc=1
    fi
  done
done < <(git ls-files --cached --others --exclude-standard -- '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u)
exit $rc
