#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make docs: build Documentation/pvdma/ with Sphinx into
# $PVDMA_CACHE/docs/html, every warning an error.  The ABI reference comes
# from the kernel-doc of include/uapi/linux/pvdma.h, through the kernel's
# kernel-doc extension (Documentation/sphinx/ of linux-source-6.12).
# Ends with "docs: N passed, M failed" (one check: the build).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
"$REPO/scripts/prepare-source.sh" >/dev/null || die "cannot unpack linux-source-6.12: run make deps"
command -v sphinx-build >/dev/null || die "sphinx-build is missing: run make deps"

OUT=$PVDMA_CACHE/docs
rm -rf "$OUT"
mkdir -p "$OUT"
step "building Documentation/pvdma with Sphinx (warnings are errors)"
if PVDMA_KSRC=$KSRC sphinx-build -q -W --keep-going -b html -d "$OUT/doctrees" \
	"$REPO/Documentation/pvdma" "$OUT/html" 2>&1 | tee "$OUT/build.log"; then
	step "documentation in $OUT/html/index.html"
	echo "docs: 1 passed, 0 failed"
else
	echo "docs: 0 passed, 1 failed (see $OUT/build.log)"
	exit 1
fi
