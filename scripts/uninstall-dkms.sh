#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make uninstall: remove what "make install" put in place.  dkms remove
# takes the modules out of every kernel (the stock ones take over again at
# the next depmod, which dkms runs), then the sources go.
set -euo pipefail
VERSION=${PVDMA_VERSION:?PVDMA_VERSION is not set (make uninstall sets it)}
DESTDIR=${DESTDIR:-}

[ -n "$DESTDIR" ] || [ "$(id -u)" = 0 ] ||
	{ echo "pvdma: make uninstall runs dkms: run it as root (sudo make uninstall)" >&2; exit 1; }
for name in pvdma-guest pvdma-host; do
	if [ -z "$DESTDIR" ] && command -v dkms >/dev/null &&
	   dkms status -m "$name" -v "$VERSION" | grep -q .; then
		echo "==> dkms remove $name/$VERSION --all"
		dkms remove "$name/$VERSION" --all >/dev/null
	fi
	rm -rf "$DESTDIR/usr/src/$name-$VERSION"
done
rm -f "$DESTDIR/usr/share/dkms/modules_to_force_install/pvdma-host"
