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

# run_suite NAME COMMAND...: run one suite, take its "NAME: N passed, M failed".
run_suite() {
	local name=$1 line p f rc
	shift
	step "test suite: $name"
	"$@" 2>&1 | tee "$logs/$name.log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "$logs/$name.log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$name: no result line (exit status $rc); counted as 1 failure"
		p=0 f=1
	else
		p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		# A suite that failed without saying so still failed.
		[ "$rc" != 0 ] && [ "$f" = 0 ] && f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

run_suite e2e "$REPO/scripts/rig/e2e.sh"

echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$total_pass" -gt 0 ]
