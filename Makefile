# SPDX-License-Identifier: GPL-2.0-only
#
# PVDMA: paravirtual DMA for KVM guests with directly assigned devices on
# hosts without an IOMMU.  One entry point for everything:
#
#   make            build the patched KVM modules, vfio.ko with no-IOMMU
#                   support, pvdma-qemu, the guest modules and
#                   the L2 kernel with the guest layer built in (installs
#                   nothing: "make deps" installs the Debian packages)
#   make deps       install the Debian packages building and testing need
#   make demo       install what is missing, build, run the nested rig
#   make e2e        the end-to-end test in the nested rig
#   make test       every test (a bounded stress run among them); ends with
#                   "N passed, M failed"
#   make kunit      the KUnit suites under qemu; ends with "kunit: N passed, M failed"
#   make bench      map/unmap costs in the rig's guest: table, JSON, PNG chart
#   make stress     the host stress suite in the rig's L1 (fuzz, races,
#                   faults, confidentiality); ends with "stress: N passed,
#                   M failed"; STRESS_CALLS=... etc. size it
#   make mutants    break the host's translation on purpose: the rig's NVMe
#                   and NIC clients must notice
#   make install    put the DKMS packages pvdma-host and pvdma-guest into
#                   /usr/src and add them to DKMS (then: dkms install
#                   pvdma-host/$(PVDMA_VERSION), or pvdma-guest in a guest)
#   make uninstall  dkms remove both, and remove their sources
#   make dkms-check the DKMS packages' add, build, install, kernel-update
#                   rebuild and remove, in a private mount namespace
#   make check-install  run the install and a cold build in a fresh
#                   debootstrap root, as on a new Debian 12 machine
#   make docs       Documentation/pvdma/ as HTML with Sphinx, warnings as
#                   errors, in $(PVDMA_CACHE)/docs/html
#   make clean      remove the build cache ($(PVDMA_CACHE))
#
# Builds happen in $(PVDMA_CACHE), never in the source tree.

PVDMA_CACHE ?= /var/tmp/pvdma-cache
export PVDMA_CACHE
# The version of the DKMS packages.
PVDMA_VERSION := 0.1
export PVDMA_VERSION

S := scripts

.PHONY: all deps host guest demo e2e test kunit bench stress mutants \
	install uninstall dkms-check check-install docs clean

all: host guest

deps:
	@$(S)/install-deps.sh

host:
	@$(S)/build-kvm.sh
	@$(S)/build-vfio.sh
	@$(S)/build-vmm.sh
	@$(S)/build-host-abi.sh
	@$(S)/build-stress.sh

guest:
	@$(S)/build-guest.sh
	@$(S)/build-l2-kernel.sh

# The targets that run something install what is missing first; plain
# "make" only builds, and says "make deps" if something is missing.
demo: deps
	@$(MAKE) --no-print-directory all
	@$(S)/rig/e2e.sh demo

e2e: deps
	@$(MAKE) --no-print-directory all
	@$(S)/rig/e2e.sh

test: deps
	@$(MAKE) --no-print-directory all
	@$(S)/run-tests.sh

kunit: deps
	@$(S)/kunit.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@$(S)/bench.sh

stress: deps
	@$(MAKE) --no-print-directory all
	@$(S)/stress.sh
mutants: deps
	@$(MAKE) --no-print-directory all
	@$(S)/mutants.sh

install:
	@$(S)/install-dkms.sh

uninstall:
	@$(S)/uninstall-dkms.sh

dkms-check: deps
	@$(MAKE) --no-print-directory all
	@$(S)/dkms-check.sh

check-install:
	@$(S)/check-install.sh

docs: deps
	@$(S)/build-docs.sh

clean:
	rm -rf $(PVDMA_CACHE)
