#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build the VMM side (tools/pvdma-qemu): the pvdma-qemu wrapper and the
# libpvdma-vfio.so preload library it runs QEMU with, side by side, as
# pvdma-qemu expects them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=$REPO/tools/pvdma-qemu
OUT=$PVDMA_CACHE/tools/pvdma-qemu
CFLAGS=(-O2 -g -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2
	-fstack-protector-strong -I"$REPO/include/uapi")
mkdir -p "$OUT"
step "building tools/pvdma-qemu"
ccache gcc "${CFLAGS[@]}" -o "$OUT/pvdma-qemu" "$SRC/pvdma-qemu.c"
ccache gcc "${CFLAGS[@]}" -shared -fPIC -o "$OUT/libpvdma-vfio.so" \
	"$SRC/pvdma_vfio_preload.c" -ldl
