#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make install: put the DKMS source packages pvdma-host-<version> and
# pvdma-guest-<version> into $DESTDIR/usr/src and, without DESTDIR, add
# them to DKMS.  "dkms install pvdma-host/<version>" on the host (or
# pvdma-guest in the guest) then builds and installs the modules for the
# running kernel, and DKMS rebuilds them for every kernel installed later.
#
# Each package is the subset of this repository its build needs, laid out
# as here, so that its scripts are the very ones "make" runs.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSION=${PVDMA_VERSION:?PVDMA_VERSION is not set (make install sets it)}
DESTDIR=${DESTDIR:-}
D=$REPO/scripts/dkms
FORCE_DIR=/usr/share/dkms/modules_to_force_install

[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] ||
	{ echo "pvdma: make install writes to /usr/src and runs dkms: run it as root (sudo make install)" >&2; exit 1; }
[ -n "$DESTDIR" ] || command -v dkms >/dev/null ||
	{ echo "pvdma: dkms is not installed: apt-get install dkms (or run make deps)" >&2; exit 1; }

# package NAME FILE...: copy repository files (paths relative to it) into
# the package's source tree, replacing an older copy of this version.
package() {
	local name=$1 dst=$DESTDIR/usr/src/$1-$VERSION
	shift
	if [ -z "$DESTDIR" ] && dkms status -m "$name" -v "$VERSION" | grep -q .; then
		echo "==> dkms remove $name/$VERSION --all (replacing it)"
		dkms remove "$name/$VERSION" --all >/dev/null
	fi
	rm -rf "$dst"
	mkdir -p "$dst"
	(cd "$REPO" && cp -a --parents "$@" "$dst/")
	sed "s/@PVDMA_VERSION@/$VERSION/" "$D/$name.conf" > "$dst/dkms.conf"
	echo "==> $dst"
}

package pvdma-host host include/uapi/linux/pvdma.h scripts/lib.sh \
	scripts/prepare-source.sh scripts/build-kvm.sh scripts/build-vfio.sh
cp "$D/pvdma-host-build.sh" "$DESTDIR/usr/src/pvdma-host-$VERSION/build.sh"
# kvm.ko and vfio.ko carry the stock version (none, or vfio's "0.3"), and
# DKMS does not replace a module of equal version unless told to: this is
# its file for packages that replace in-kernel modules on purpose.
mkdir -p "$DESTDIR$FORCE_DIR"
echo pvdma-host_version-override > "$DESTDIR$FORCE_DIR/pvdma-host"
package pvdma-guest guest include/uapi/linux/pvdma.h
cp "$D/pvdma-guest-modprobe-conf.sh" "$DESTDIR/usr/src/pvdma-guest-$VERSION/modprobe-conf.sh"

[ -z "$DESTDIR" ] || exit 0
for name in pvdma-host pvdma-guest; do
	dkms add "$name/$VERSION" >/dev/null
	echo "==> dkms add $name/$VERSION"
done
cat <<-END
	Now build and install the modules for the running kernel, on the host:
	    dkms install pvdma-host/$VERSION
	and in a guest:
	    dkms install pvdma-guest/$VERSION
END
