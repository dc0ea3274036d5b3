#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The end-to-end test: a guest's DMA really lands through PVDMA on a host
# without an IOMMU, in the nested rig (scripts/rig/boot.sh).  Then one line
# per check, and the summaries "host-abi: ..." and "e2e: N passed, M failed".
# Exits non-zero on any failure.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

log=$PVDMA_CACHE/rig/console-e2e.log
set +e
"$REPO/scripts/rig/boot.sh" e2e
rc=$?
set -e

# One line per check: the guest's DMA cases and the host's pin checks.
pass=$(grep -cE '^(pvdma-e2e|host-check): [a-z0-9-]+: PASS' "$log" || true)
fail=$(grep -cE '^(pvdma-e2e|host-check): [a-z0-9-]+: FAIL' "$log" || true)
echo
echo "e2e: checks"
grep -E '^(pvdma-e2e|host-check): [a-z0-9-]+: (PASS|FAIL)' "$log" | sed 's/^/  /' || true
# FOLL_PIN pins the host saw not released after each L2 run, added up.
leaks=$(sed -n 's/^host: [a-z-]*: pins leaked: \(-\{0,1\}[0-9]*\)$/\1/p' "$log")
if [ -n "$leaks" ]; then
	echo "pins leaked: $(echo "$leaks" | paste -sd+ | bc)"
else
	echo "pins leaked: unknown (the host never reported)"
	fail=$((fail + 1))
fi
# Every run must have reported: a check that never printed is a failure.
for want in 'pvdma-e2e: done' 'pvdma-e2e: bounce-done' 'pvdma-e2e: builtin-done' \
	    'pvdma-e2e: bounce-dma-went-through-pool' \
	    'pvdma-e2e: small-mask-bounced' 'pvdma-e2e: small-mask-served-by-bouncing' \
	    'pvdma-e2e: builtin-small-mask-bounced' 'pvdma-e2e: builtin-small-mask-served-by-bouncing' \
	    'pvdma-e2e: refuses-when-not-opted-in' 'pvdma-e2e: refuses-on-stock-kvm' \
	    'host-check: module-no-pins-leaked' 'host-check: bounce-no-pins-leaked' \
	    'host-check: builtin-no-pins-leaked' \
	    'pvdma-e2e: builtin-bounce-done' 'pvdma-e2e: builtin-bounce-dma-went-through-pool' \
	    'host-check: builtin-bounce-no-pins-leaked'; do
	grep -q "^$want:" "$log" || { echo "e2e: missing: $want"; fail=$((fail + 1)); }
done
# The run must have reached its end, or a crash would read as success.
grep -q '^host: done' "$log" || { echo "e2e: the host did not finish the run"; fail=$((fail + 1)); }
[ "$rc" = 0 ] || fail=$((fail + 1))

# The host ABI test ran in the same L1; it prints its own lines.
abi=$(grep -E '^host-abi: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
echo
echo "host-abi: checks"
grep -E '^host-abi: [a-z0-9-]+: (PASS|FAIL)' "$log" | sed 's/^/  /' || true
echo "${abi:-host-abi: 0 passed, 1 failed}"
echo
echo "e2e: $pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ] && [ -n "$abi" ] && [ "${abi#*passed, }" = "0 failed" ]
