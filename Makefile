# SPDX-License-Identifier: GPL-2.0-only
#
# PVDMA: paravirtual DMA for KVM guests with directly assigned devices on
# hosts without an IOMMU.  One entry point for everything:
#
#   make            build the patched KVM modules, the guest modules and
#                   the L2 kernel with the guest layer built in
#   make demo       install what is missing, build, run the nested rig
#   make e2e        the end-to-end test in the nested rig
#   make test       every test; ends with "N passed, M failed"
#   make kunit      the KUnit suites under qemu; ends with "kunit: N passed, M failed"
#   make bench      map/unmap costs in the rig's guest: table, JSON, PNG chart
#   make clean      remove the build cache ($(PVDMA_CACHE))
#
# Builds happen in $(PVDMA_CACHE), never in the source tree.

PVDMA_CACHE ?= /var/tmp/pvdma-cache
export PVDMA_CACHE

S := scripts

.PHONY: all deps host guest demo e2e test kunit bench clean

all: host guest

deps:
	@$(S)/install-deps.sh

host: deps
	@$(S)/build-kvm.sh
	@$(S)/build-host-abi.sh

guest: deps
	@$(S)/build-guest.sh
	@$(S)/build-l2-kernel.sh

demo: all
	@$(S)/rig/e2e.sh

e2e: all
	@$(S)/rig/e2e.sh

test: all
	@$(S)/run-tests.sh

kunit: deps
	@$(S)/kunit.sh

bench: all
	@$(S)/bench.sh

clean:
	rm -rf $(PVDMA_CACHE)
