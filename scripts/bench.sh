#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make bench: run pvdma_bench in the rig's guest for every workload and mode,
# then print the table, write the figures as JSON and draw them as a PNG.
# The last line names the JSON file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$PVDMA_CACHE/bench
mkdir -p "$OUT"
"$REPO/scripts/rig/boot.sh" bench
log=${PVDMA_RIG:-$PVDMA_CACHE/rig}/console-bench.log
grep -q '^bench: done' "$log" || die "the guest did not finish the benchmark (see $log)"
/usr/bin/python3 "$REPO/scripts/bench-report.py" "$log" "$OUT"
