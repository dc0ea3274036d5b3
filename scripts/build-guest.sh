#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the guest modules out of tree against the stock Debian headers:
# pvdma.ko (guest/pvdma_ops), the e2e test driver pvdma_edu_test.ko and
# the benchmark pvdma_bench.ko (tests/bench).
# Sources are copied to the cache first: nothing is built inside the repo.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$PVDMA_CACHE/modules/guest
mkdir -p "$OUT"
for src in guest/pvdma_ops tests/e2e/edu_dma_test tests/bench/pvdma_bench; do
	b=$PVDMA_CACHE/guest-build/$(basename "$src")
	step "building $src for $KVER"
	mkdir -p "$b"
	rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='*.cmd' \
		--exclude='*.mod*' --exclude='modules.order' --exclude='Module.symvers' \
		"$REPO/$src/" "$b/src/"
	make -s -C "$KHDR" M="$b/src" CC="$KCC" -j"$NPROC" ${W:+W=$W} ${C:+C=$C} \
		PVDMA_INCLUDE="$REPO/include/uapi" modules
	cp "$b"/src/*.ko "$OUT/"
done
step "guest modules ready in $OUT"
