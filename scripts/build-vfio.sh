#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Build vfio.ko with VFIO no-IOMMU support, out of tree against the stock
# Debian headers, as a drop-in beside the patched KVM modules.
#
# Debian builds vfio.ko without CONFIG_VFIO_NOIOMMU, and with no IOMMU VFIO
# then refuses every device.  The option only changes code inside vfio.ko
# (drivers/vfio/vfio.h is private to it), so the same sources rebuilt with
# it export exactly the stock symbols with the stock CRCs, and the stock
# vfio-pci-core, vfio-pci and vfio_iommu_type1 load on top: this script
# checks that every export matches the headers' Module.symvers.
#
# The sources come from linux-source-6.12 of the same Debian version.  The
# headers' .config has no CONFIG_VFIO_NOIOMMU to flip, so it is set on the
# command line for Kbuild and as a define for the C code, and every other
# object of drivers/vfio/ is switched off: only vfio.ko is built.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$REPO/scripts/prepare-source.sh"

B=${PVDMA_VFIO_BUILD:-$PVDMA_CACHE/vfio-build}
OUT=${PVDMA_HOST_MODS:-$PVDMA_CACHE/modules/host}
step "building vfio.ko with no-IOMMU support for $KVER"
rm -rf "$B"
mkdir -p "$B" "$OUT"
cp "$KSRC"/drivers/vfio/*.[ch] "$KSRC/drivers/vfio/Makefile" "$B/"
make -s -C "$KHDR" M="$B" CC="$KCC" -j"$NPROC" ${W:+W=$W} ${C:+C=$C} \
	CONFIG_VFIO_NOIOMMU=y KCFLAGS=-DCONFIG_VFIO_NOIOMMU=1 \
	CONFIG_VFIO_IOMMU_TYPE1= CONFIG_VFIO_IOMMU_SPAPR_TCE= \
	CONFIG_VFIO_PCI_CORE= CONFIG_VFIO_PLATFORM_BASE= CONFIG_VFIO_MDEV= \
	CONFIG_VFIO_FSL_MC= CONFIG_VFIO_CDX= modules

# The stock modules that sit on top were built against the stock exports.
stock=$(awk '$3 == "drivers/vfio/vfio" {print $1, $2}' "$KHDR/Module.symvers" | sort)
ours=$(awk '{print $1, $2}' "$B/Module.symvers" | sort)
[ -n "$stock" ] || die "no vfio exports in $KHDR/Module.symvers"
if [ "$stock" != "$ours" ]; then
	diff <(echo "$stock") <(echo "$ours") >&2 || true
	die "vfio.ko exports differ from the stock ones: the stock vfio-pci would not load on it"
fi
modinfo -F parm "$B/vfio.ko" | grep -q '^enable_unsafe_noiommu_mode:' ||
	die "vfio.ko was built without no-IOMMU support"
cp "$B/vfio.ko" "$OUT/vfio.ko"
step "vfio.ko ready in $OUT ($(echo "$stock" | wc -l) exports equal to the stock ones)"
