#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Run every test suite and add up their results.  Each suite prints its own
# "<suite>: N passed, M failed" line; the last line is the total.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

total_pass=0
total_fail=0
logs=$PVDMA_CACHE/test-logs
mkdir -p "$logs"

# run_suite "NAMES" COMMAND...: run a command that reports one or more suites,
# each with a line "<name>: N passed, M failed", and add them up.
run_suite() {
	local names=$1 name log line p f rc cmd_fail=0
	shift
	log=$logs/${names%% *}.log
	step "test suites: $names"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	for name in $names; do
		line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1)
		if [ -z "$line" ]; then
			echo "$name: no result line (exit status $rc); counted as 1 failure"
			p=0 f=1
		else
			p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
			f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		fi
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
		cmd_fail=$((cmd_fail + f))
		summary+=("$name: $p passed, $f failed")
	done
	# A command that failed without a failing count still failed.
	if [ "$rc" != 0 ] && [ "$cmd_fail" = 0 ]; then
		summary+=("${names%% *}: exit status $rc")
		total_fail=$((total_fail + 1))
	fi
}

summary=()
# The guest side's files call only the files below them.
run_suite layers "$REPO/scripts/check-layers.sh"
# The documentation builds without a warning (make docs).
run_suite docs "$REPO/scripts/build-docs.sh"
run_suite kunit "$REPO/scripts/kunit.sh"
run_suite "e2e host-abi" "$REPO/scripts/rig/e2e.sh"
# The host stress suite, bounded (about half the full run): a tenth of the
# fuzz calls, a third of the race iterations, two kills.  Sizes given in
# the environment win, as for "make stress".
run_suite stress env STRESS_CALLS="${STRESS_CALLS:-10000}" \
	STRESS_RACE_ITERS="${STRESS_RACE_ITERS:-100}" \
	STRESS_KILLS="${STRESS_KILLS:-2}" STRESS_TIMEOUT="${STRESS_TIMEOUT:-600}" \
	"$REPO/scripts/stress.sh"
# The DKMS packages, as an administrator installs them (make dkms-check).
run_suite dkms-check "$REPO/scripts/dkms-check.sh"

echo
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$total_pass" -gt 0 ]
