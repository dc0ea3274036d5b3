#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the host stress suite (a small VMM, tests/stress) into the cache.  It
# runs inside the rig's L1 host, where the patched KVM is loaded
# (scripts/rig/l1-stress, scripts/stress.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OUT=$PVDMA_CACHE/stress
mkdir -p "$OUT"
step "building tests/stress"
ccache gcc -O2 -g -Wall -Wextra -Werror -pthread -I"$REPO/include/uapi" \
	-o "$OUT/pvdma_stress" "$REPO"/tests/stress/*.c \
	"$REPO/tests/lib/pvdma_vmm.c"
