/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The hooks through which arch/x86/kvm reaches PVDMA.  KVM itself only
 * dispatches to these; everything else lives in host/.
 */
#ifndef _PVDMA_KVM_H
#define _PVDMA_KVM_H

#include <linux/kvm_host.h>
#include <linux/pvdma.h>

/**
 * kvm_pvdma_is_hypercall - does @nr name a PVDMA hypercall?
 * @nr:	hypercall number from RAX.
 */
static inline bool kvm_pvdma_is_hypercall(unsigned long nr)
{
	return nr >= KVM_HC_PVDMA_PROBE && nr <= KVM_HC_PVDMA_UNMAP_BATCH;
}

unsigned long kvm_pvdma_hypercall(struct kvm_vcpu *vcpu, unsigned long nr,
				  unsigned long a0, unsigned long a1,
				  unsigned long a2, unsigned long a3,
				  int op_64_bit);
int kvm_pvdma_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap);
void kvm_pvdma_destroy_vm(struct kvm *kvm);

/* The per-VM binary stats (and so debugfs files) of PVDMA. */
#define KVM_PVDMA_VM_STATS_DESC()				\
	STATS_DESC_ICOUNTER(VM, pvdma_pinned_pages),		\
	STATS_DESC_ICOUNTER(VM, pvdma_live_handles),		\
	STATS_DESC_COUNTER(VM, pvdma_maps),			\
	STATS_DESC_COUNTER(VM, pvdma_unmaps),			\
	STATS_DESC_COUNTER(VM, pvdma_fail_invalid),		\
	STATS_DESC_COUNTER(VM, pvdma_fail_fault),		\
	STATS_DESC_COUNTER(VM, pvdma_fail_limit),		\
	STATS_DESC_COUNTER(VM, pvdma_fail_nomem),		\
	STATS_DESC_COUNTER(VM, pvdma_fail_handle)

#endif /* _PVDMA_KVM_H */
