#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# make check-install: prove that a fresh Debian 12 machine needs nothing but
# this repository.  A package the build machine happens to have hides a
# missing one from every other test, so this runs the real install in a
# clean root:
#
#   1. debootstrap --variant=minbase bookworm into $PVDMA_CACHE/check-root,
#      with the APT sources of a stock Debian 12 install;
#   2. as root there: scripts/install-deps.sh (what `make deps` runs);
#   3. a package removed again, then `make deps` as a normal user with sudo:
#      the path a developer without a root shell takes;
#   4. `make` as that user, with a cache of its own: every build step from
#      nothing.
#
# Ends with "check-install: N passed, M failed" and the time each step took.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ROOT=$PVDMA_CACHE/check-root
MIRROR=${PVDMA_MIRROR:-http://deb.debian.org/debian}
pass=0 fail=0

[ "$(id -u)" = 0 ] || die "check-install needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap is missing: run make deps"

check() {
	local name=$1 t0=$SECONDS
	shift
	if "$@"; then
		echo "check-install: $name: PASS ($((SECONDS - t0)) s)"
		pass=$((pass + 1))
	else
		echo "check-install: $name: FAIL (exit $?, $((SECONDS - t0)) s)"
		fail=$((fail + 1))
	fi
}

cleanup() {
	local m
	for m in dev/pts dev proc sys; do
		mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m"
	done
	return 0
}
trap cleanup EXIT

in_root() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
as_user() { in_root /usr/sbin/runuser -u pvdma -- /usr/bin/env HOME=/home/pvdma "$@"; }

bootstrap() {
	cleanup
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" > "$PVDMA_CACHE/check-root.log" 2>&1 ||
		{ tail -n 20 "$PVDMA_CACHE/check-root.log"; return 1; }
	# A stock Debian 12 install has the security and updates suites too.
	rm -f "$ROOT/etc/apt/sources.list"
	cat > "$ROOT/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $MIRROR
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: ${MIRROR%/debian}/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	mount -t proc proc "$ROOT/proc"
	mount -t sysfs sys "$ROOT/sys"
	mount --bind /dev "$ROOT/dev"
	mount --bind /dev/pts "$ROOT/dev/pts"
	cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
	# The repository, as a user would have it: a clone of the commit.
	git clone -q "$REPO" "$ROOT/src"
	git -C "$REPO" diff HEAD | git -C "$ROOT/src" apply --allow-empty
}

install_as_root() {
	in_root /bin/bash -c 'cd /src && scripts/install-deps.sh'
}

# A normal user with sudo, as on a developer's machine.
install_with_sudo() {
	in_root apt-get install -y -qq sudo > /dev/null &&
	in_root useradd -m -s /bin/bash pvdma &&
	echo 'pvdma ALL=(ALL) NOPASSWD: ALL' > "$ROOT/etc/sudoers.d/pvdma" &&
	in_root chown -R pvdma: /src &&
	in_root apt-get remove -y -qq busybox-static > /dev/null &&
	as_user /bin/bash -c 'cd /src && make deps' &&
	in_root dpkg -s busybox-static > /dev/null
}

build_as_user() {
	as_user /bin/bash -c 'cd /src && PVDMA_CACHE=/home/pvdma/cache make' \
		> "$PVDMA_CACHE/check-install-make.log" 2>&1 ||
		{ tail -n 30 "$PVDMA_CACHE/check-install-make.log"; return 1; }
}

step "debootstrap --variant=minbase bookworm into $ROOT"
check debootstrap bootstrap
if [ "$fail" = 0 ]; then
	step "scripts/install-deps.sh as root in the clean root"
	check install-deps-as-root install_as_root
	step "make deps as a normal user with sudo"
	check make-deps-with-sudo install_with_sudo
	step "make as a normal user, cold cache"
	check make-builds-everything build_as_user
fi
cleanup
[ "$fail" = 0 ] && [ -z "${KEEP_ROOT:-}" ] && rm -rf "$ROOT"
echo "check-install: $pass passed, $fail failed"
[ "$fail" = 0 ]
