#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make stress: the host stress suite (tests/stress) in the nested rig's L1,
# the host with the patched KVM (scripts/rig/l1-stress).  Prints the rig's
# console as it goes, then one line per scenario with its figures and
# "stress: N passed, M failed".  Exits non-zero on any failure.
#
# The size is set from the environment: STRESS_CALLS (fuzz hypercalls,
# 100000), STRESS_RACE_ITERS (300), STRESS_KILLS (5), STRESS_REFCOUNT (1: pin
# one page 2^21 times), STRESS_VCPUS (2); STRESS_SEED replays a run and
# STRESS_ONLY=fuzz,race runs some scenarios only.  L1 gets two CPUs
# (L1_SMP), so the races really run in parallel.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$REPO/scripts/build-stress.sh"
conf=$PVDMA_CACHE/stress/stress.conf
: > "$conf"
for v in STRESS_SEED STRESS_CALLS STRESS_RACE_ITERS STRESS_KILLS STRESS_VCPUS \
	 STRESS_REFCOUNT STRESS_ONLY STRESS_TIMEOUT; do
	[ -z "${!v:-}" ] || echo "$v=${!v}" >> "$conf"
done

log=$PVDMA_CACHE/rig/console-stress.log
start=$(date +%s)
set +e
L1_SMP=${L1_SMP:-2} L0_TIMEOUT=${L0_TIMEOUT:-1800} "$REPO/scripts/rig/boot.sh" stress
rc=$?
set -e

echo
grep -E '^stress: (seed |size: )' "$log" || true
grep -E '^stress: [a-z0-9-]+: (PASS|FAIL)' "$log" || true
fail=0
sum=$(grep -E '^stress: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
grep -E '^stress: hung' "$log" && fail=1
# A run that never reached its end (a crash, a timeout) is a failure.
grep -q '^host: done' "$log" || { echo "stress: the host did not finish the run"; fail=1; }
[ -n "$sum" ] || { echo "stress: no result line"; sum="stress: 0 passed, 1 failed"; }
[ "$rc" = 0 ] || { echo "stress: the rig exited with status $rc"; fail=1; }
echo "stress: rig time $(( $(date +%s) - start )) s (console: $log)"
echo "$sum"
[ "$fail" = 0 ] && [ "${sum#*passed, }" = "0 failed" ]
