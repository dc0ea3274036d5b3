/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tracepoints of the PVDMA hypercalls: every map, unmap and refusal, with
 * the VM and vCPU it came from.  Host-physical addresses are left out: the
 * counts say what a map cost, and tracing must not become a way to collect
 * the host's memory layout.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM pvdma

#if !defined(_PVDMA_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _PVDMA_TRACE_H

#include <linux/kvm_host.h>
#include <linux/tracepoint.h>

TRACE_EVENT(pvdma_map,
	TP_PROTO(struct kvm_vcpu *vcpu, u64 handle, unsigned int nr_ranges,
		 unsigned int nr_segs, u32 dir),
	TP_ARGS(vcpu, handle, nr_ranges, nr_segs, dir),

	TP_STRUCT__entry(
		__field(pid_t, vm_pid)
		__field(int, vcpu_id)
		__field(u64, handle)
		__field(unsigned int, nr_ranges)
		__field(unsigned int, nr_segs)
		__field(u32, dir)
	),

	TP_fast_assign(
		__entry->vm_pid = vcpu->kvm->userspace_pid;
		__entry->vcpu_id = vcpu->vcpu_id;
		__entry->handle = handle;
		__entry->nr_ranges = nr_ranges;
		__entry->nr_segs = nr_segs;
		__entry->dir = dir;
	),

	TP_printk("vm %d vcpu %d handle %llu ranges %u segs %u dir %s",
		  __entry->vm_pid, __entry->vcpu_id, __entry->handle,
		  __entry->nr_ranges, __entry->nr_segs,
		  __print_flags(__entry->dir, "|",
				{ PVDMA_MAP_TO_DEVICE, "to_device" },
				{ PVDMA_MAP_FROM_DEVICE, "from_device" }))
);

TRACE_EVENT(pvdma_unmap,
	TP_PROTO(struct kvm_vcpu *vcpu, u64 first_handle, unsigned int nr),
	TP_ARGS(vcpu, first_handle, nr),

	TP_STRUCT__entry(
		__field(pid_t, vm_pid)
		__field(int, vcpu_id)
		__field(u64, first_handle)
		__field(unsigned int, nr)
	),

	TP_fast_assign(
		__entry->vm_pid = vcpu->kvm->userspace_pid;
		__entry->vcpu_id = vcpu->vcpu_id;
		__entry->first_handle = first_handle;
		__entry->nr = nr;
	),

	TP_printk("vm %d vcpu %d handles %u first %llu",
		  __entry->vm_pid, __entry->vcpu_id, __entry->nr,
		  __entry->first_handle)
);

TRACE_EVENT(pvdma_fail,
	TP_PROTO(struct kvm_vcpu *vcpu, unsigned long nr, long err),
	TP_ARGS(vcpu, nr, err),

	TP_STRUCT__entry(
		__field(pid_t, vm_pid)
		__field(int, vcpu_id)
		__field(unsigned long, nr)
		__field(long, err)
	),

	TP_fast_assign(
		__entry->vm_pid = vcpu->kvm->userspace_pid;
		__entry->vcpu_id = vcpu->vcpu_id;
		__entry->nr = nr;
		__entry->err = err;
	),

	TP_printk("vm %d vcpu %d hypercall %#lx error %ld",
		  __entry->vm_pid, __entry->vcpu_id, __entry->nr,
		  __entry->err)
);

#endif /* _PVDMA_TRACE_H */

/*
 * The include path is relative to include/uapi, which both the in-tree build
 * and the out-of-tree copy of scripts/build-kvm.sh put on the search path
 * (as for KVM's own trace.h).
 */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH ../../arch/x86/kvm/pvdma/hypercall
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE pvdma_trace
#include <trace/define_trace.h>
