/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The hooks through which arch/x86/kvm reaches PVDMA.  KVM itself only
 * dispatches to these; everything else lives in host/.
 */
#ifndef _PVDMA_KVM_H
#define _PVDMA_KVM_H

#include <linux/kvm_host.h>
#include <linux/mmu_notifier.h>
#include <linux/pvdma.h>

/**
 * kvm_pvdma_is_hypercall - does @nr name a PVDMA hypercall?
 * @nr:	hypercall number from RAX.
 *
 * Return: true for the PVDMA hypercall numbers.
 */
static inline bool kvm_pvdma_is_hypercall(unsigned long nr)
{
	return nr >= KVM_HC_PVDMA_PROBE && nr <= KVM_HC_PVDMA_QUERY;
}

unsigned long kvm_pvdma_hypercall(struct kvm_vcpu *vcpu, unsigned long nr,
				  unsigned long a0, unsigned long a1,
				  unsigned long a2, unsigned long a3,
				  int op_64_bit);
int kvm_pvdma_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap);
void kvm_pvdma_destroy_vm(struct kvm *kvm);
void kvm_pvdma_memslot_changed(struct kvm *kvm,
			       const struct kvm_memory_slot *old,
			       const struct kvm_memory_slot *new,
			       enum kvm_mr_change change);
void kvm_pvdma_invalidate_range_start(struct kvm *kvm,
				      const struct mmu_notifier_range *range);
void kvm_pvdma_invalidate_range_end(struct kvm *kvm,
				    const struct mmu_notifier_range *range);

#endif /* _PVDMA_KVM_H */
