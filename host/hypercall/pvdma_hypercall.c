// SPDX-License-Identifier: GPL-2.0-only
/*
 * PVDMA hypercalls: dispatch, argument validation, per-VM opt-in and stats.
 *
 * Runs in the vCPU thread from kvm_emulate_hypercall(): process context,
 * preemptible, inside kvm->srcu and with current->mm == kvm->mm, so guest
 * memory can be pinned with pin_user_pages_fast() right here.  Never take
 * kvm->slots_lock on this path: memslot updates wait for SRCU readers while
 * holding it.
 *
 * Everything the guest hands us is hostile until checked.  Each check maps to
 * one documented error code of <linux/pvdma.h>, and nothing is pinned before
 * all arguments have passed.
 */

#include <linux/capability.h>
#include <linux/kvm_dirty_ring.h>
#include <linux/kvm_host.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "pvdma_kvm.h"
#include "../pin_sg/pvdma_pin_sg.h"

#define CREATE_TRACE_POINTS
#include "pvdma_trace.h"

static bool pvdma_unsafe_all_vms;
module_param(pvdma_unsafe_all_vms, bool, 0644);
MODULE_PARM_DESC(pvdma_unsafe_all_vms,
		 "Opt every VM in to PVDMA, for VMMs that cannot enable KVM_CAP_PVDMA. A PVDMA guest with an assigned device can DMA anywhere in host memory. (default: N)");

static unsigned long pvdma_max_pinned_pages = 262144;
module_param(pvdma_max_pinned_pages, ulong, 0644);
MODULE_PARM_DESC(pvdma_max_pinned_pages,
		 "Pages one VM may keep pinned through PVDMA, on top of RLIMIT_MEMLOCK; read when the VM is opted in. However high, no page is pinned once its reference count passed 2^30 (each pin of a small page adds 1024), so that pins of one page by any number of VMs cannot overflow it. (default: 262144, 1 GiB)");

static unsigned long pvdma_max_handles = 65535;
module_param(pvdma_max_handles, ulong, 0644);
MODULE_PARM_DESC(pvdma_max_handles,
		 "Live PVDMA mappings one VM may hold, like VFIO's dma_entry_limit; read when the VM is opted in. (default: 65535)");

/* The tracker's page array of one map must stay well below INT_MAX bytes. */
#define PVDMA_MAP_PAGES_CEILING	BIT(20)

static unsigned int pvdma_max_map_pages = 8192;
module_param(pvdma_max_map_pages, uint, 0444);
MODULE_PARM_DESC(pvdma_max_map_pages,
		 "Pages one PVDMA map may cover, 1..1048576; bounds the work of one hypercall. (default: 8192, 32 MiB)");

/*
 * What one hypercall hands the pinning backend.  @no_cache is set by
 * resolve when a range lies in a dirty-logged memslot.
 */
struct pvdma_kvm_call {
	struct kvm_vcpu *vcpu;
	struct pvdma_vm *vm;
	u64 result_gpa;
	bool no_cache;
};

static long pvdma_kvm_resolve(void *ctx, u64 gfn, unsigned long max,
			      bool write, unsigned long *hva)
{
	struct pvdma_kvm_call *call = ctx;
	struct kvm_memory_slot *slot;

	slot = kvm_vcpu_gfn_to_memslot(call->vcpu, gfn);
	if (!kvm_is_visible_memslot(slot))
		return -KVM_EFAULT;
	/* The host cannot pin guest_memfd memory through an HVA. */
	if (kvm_slot_can_be_private(slot))
		return -KVM_EOPNOTSUPP;
	if (write && (slot->flags & KVM_MEM_READONLY))
		return -PVDMA_EACCES;
	/* Device writes are logged at unmap, so the guest must not keep it. */
	if (kvm_slot_dirty_track_enabled(slot))
		call->no_cache = true;

	*hva = __gfn_to_hva_memslot(slot, gfn);
	return min_t(u64, max, slot->base_gfn + slot->npages - gfn);
}

/*
 * pin_user_pages() answers -EFAULT both for a hole and for VM_IO/VM_PFNMAP
 * mappings, which FOLL_LONGTERM refuses.  Tell the guest which it was: a
 * PFNMAP range is device memory, not RAM it may hand to a device.
 */
static long pvdma_kvm_classify_fault(unsigned long hva)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	long ret = -KVM_EFAULT;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, hva);
	if (vma && (vma->vm_flags & (VM_IO | VM_PFNMAP)))
		ret = -PVDMA_EIO;
	mmap_read_unlock(mm);
	return ret;
}

static long pvdma_kvm_pin(void *ctx, unsigned long hva, unsigned long npages,
			  bool write, struct page **pages)
{
	unsigned int flags = FOLL_LONGTERM | (write ? FOLL_WRITE : 0);
	int ret;

	ret = pin_user_pages_fast(hva, npages, flags, pages);
	if (ret >= 0)
		return ret;
	if (ret == -ENOMEM)
		return -PVDMA_ENOMEM;
	if (ret == -EFAULT)
		return pvdma_kvm_classify_fault(hva);
	return -PVDMA_EIO;
}

static void pvdma_kvm_unpin(struct page **pages, unsigned long npages,
			    bool dirty)
{
	unpin_user_pages_dirty_lock(pages, npages, dirty);
}

/*
 * KVM's protocol for pages it maps (see kvm_faultin_pfn()): snapshot the
 * count of finished invalidations before looking the pages up...
 */
static unsigned long pvdma_kvm_mmu_seq(void *ctx)
{
	struct pvdma_kvm_call *call = ctx;
	unsigned long seq = call->vcpu->kvm->mmu_invalidate_seq;

	/* Pairs with the smp_wmb() in kvm_mmu_invalidate_end(). */
	smp_rmb();
	return seq;
}

/* ... and under mmu_lock, check that none ran or runs over the frames. */
static bool pvdma_kvm_stale(struct kvm *kvm, unsigned long seq, gfn_t gfn,
			    unsigned long npages)
{
	lockdep_assert_held(&kvm->mmu_lock);

	/* As mmu_invalidate_retry_gfn(), for a run of frames. */
	if (unlikely(kvm->mmu_invalidate_in_progress) &&
	    (kvm->mmu_invalidate_range_start == INVALID_GPA ||
	     kvm->mmu_invalidate_range_end == INVALID_GPA ||
	     (gfn < kvm->mmu_invalidate_range_end &&
	      gfn + npages > kvm->mmu_invalidate_range_start)))
		return true;
	return kvm->mmu_invalidate_seq != seq;
}

/*
 * Track the pinned frames (@fn) under mmu_lock, which every invalidation
 * takes (for write) before it looks for them: one that starts later finds
 * them, one that ran since @seq or still runs makes the engine pin again.
 */
static bool pvdma_kvm_commit(void *ctx, unsigned long seq,
			     const struct pvdma_chunk *chunks, unsigned int nr,
			     void (*fn)(void *arg), void *arg)
{
	struct pvdma_kvm_call *call = ctx;
	struct kvm *kvm = call->vcpu->kvm;
	bool stale = false;
	unsigned int i;

	read_lock(&kvm->mmu_lock);
	for (i = 0; i < nr && !stale; i++)
		stale = pvdma_kvm_stale(kvm, seq, chunks[i].gfn,
					chunks[i].npages);
	if (!stale)
		fn(arg);
	read_unlock(&kvm->mmu_lock);
	return !stale;
}

/*
 * Room in the vCPU's dirty ring below its soft limit: the entries beyond it
 * are KVM's reserve for its own writes while the vCPU runs, and pushing
 * into a full ring overwrites entries the VMM has not harvested.
 */
static unsigned long pvdma_kvm_dirty_room(void *ctx, unsigned long *limit)
{
	struct pvdma_kvm_call *call = ctx;
	struct kvm_vcpu *vcpu = call->vcpu;
	struct kvm_dirty_ring *ring = &vcpu->dirty_ring;
	u32 used;

	if (!vcpu->kvm->dirty_ring_size) {
		*limit = ULONG_MAX;
		return ULONG_MAX;
	}
	/* Only this vCPU pushes; the VMM's reset can only make room. */
	used = READ_ONCE(ring->dirty_index) - READ_ONCE(ring->reset_index);
	*limit = ring->soft_limit;
	if (used < ring->soft_limit)
		return ring->soft_limit - used;
	/* Soft full: the vCPU exits to its VMM to harvest before it re-enters. */
	kvm_make_request(KVM_REQ_DIRTY_RING_SOFT_FULL, vcpu);
	return 0;
}

/* Frames from @gfn, at most @max, that lie in @slot (1 outside any). */
static unsigned long pvdma_kvm_slot_span(const struct kvm_memory_slot *slot,
					 u64 gfn, unsigned long max)
{
	return slot ? min_t(u64, max, slot->base_gfn + slot->npages - gfn) : 1;
}

static bool pvdma_kvm_slot_logged(const struct kvm_memory_slot *slot)
{
	return slot && kvm_slot_dirty_track_enabled(slot);
}

static unsigned long pvdma_kvm_dirty_cost(void *ctx, u64 gfn,
					  unsigned long npages)
{
	struct pvdma_kvm_call *call = ctx;
	struct kvm_vcpu *vcpu = call->vcpu;
	unsigned long done = 0, cost = 0, n;
	struct kvm_memory_slot *slot;

	if (!vcpu->kvm->dirty_ring_size)
		return 0;
	while (done < npages) {
		slot = kvm_vcpu_gfn_to_memslot(vcpu, gfn + done);
		n = pvdma_kvm_slot_span(slot, gfn + done, npages - done);
		if (pvdma_kvm_slot_logged(slot))
			cost += n;
		done += n;
	}
	return cost;
}

/*
 * Log device writes as kvm_vcpu_mark_page_dirty() does, but only as far as
 * the dirty ring has room: each frame of a logged memslot takes one entry.
 */
static unsigned long pvdma_kvm_mark_dirty(void *ctx, u64 gfn,
					  unsigned long npages,
					  unsigned long *room)
{
	struct pvdma_kvm_call *call = ctx;
	struct kvm_vcpu *vcpu = call->vcpu;
	struct kvm *kvm = vcpu->kvm;
	struct kvm_memory_slot *slot;
	unsigned long done = 0, n, i;

	while (done < npages) {
		slot = kvm_vcpu_gfn_to_memslot(vcpu, gfn + done);
		n = pvdma_kvm_slot_span(slot, gfn + done, npages - done);
		if (pvdma_kvm_slot_logged(slot)) {
			if (kvm->dirty_ring_size) {
				n = min(n, *room);
				if (!n)
					break;
				*room -= n;
			}
			for (i = 0; i < n; i++)
				mark_page_dirty_in_slot(kvm, slot, gfn + done + i);
		}
		done += n;
	}
	return done;
}

static const struct pvdma_pin_backend pvdma_kvm_backend = {
	.resolve = pvdma_kvm_resolve,
	.pin = pvdma_kvm_pin,
	.unpin = pvdma_kvm_unpin,
	.mmu_seq = pvdma_kvm_mmu_seq,
	.commit = pvdma_kvm_commit,
	.dirty_room = pvdma_kvm_dirty_room,
	.dirty_cost = pvdma_kvm_dirty_cost,
	.mark_dirty = pvdma_kvm_mark_dirty,
};

/*
 * The status page was written where no vCPU of the VM may run (an MMU
 * notifier, a memslot update): only a vCPU can log into its dirty ring, so
 * the write is logged here when one runs, else by the next hypercall.
 */
static void pvdma_kvm_log_shared(struct kvm *kvm, struct pvdma_vm *vm)
{
	struct kvm_vcpu *vcpu = kvm_get_running_vcpu();
	u64 gfn;
	int idx;

	if (!vcpu || vcpu->kvm != kvm || !pvdma_shared_unlogged(vm, &gfn))
		return;
	idx = srcu_read_lock(&kvm->srcu);
	kvm_vcpu_mark_page_dirty(vcpu, gfn);
	srcu_read_unlock(&kvm->srcu, idx);
}

struct pvdma_kvm_epoch {
	u64 __user *epoch;
};

/* Called under the tracker's spinlock: the page was faulted in before. */
static bool pvdma_kvm_zero_epoch(void *ctx)
{
	const struct pvdma_kvm_epoch *at = ctx;
	u64 zero = 0;

	return !copy_to_user_nofault(at->epoch, &zero, sizeof(zero));
}

/*
 * The guest reads its lost status page at @hva now (&pvdma_shared.epoch
 * is at its start): write 0 there, in the VMM's memory, which is
 * current->mm.  Should the page go again between the fault and the write,
 * the write fails and the next hypercall tries again.
 */
static void pvdma_kvm_tell_lost_at(struct pvdma_vm *vm, u64 gfn,
				   unsigned long hva)
{
	struct pvdma_kvm_epoch at = { .epoch = (u64 __user *)hva };

	if (fault_in_safe_writeable((const char __user *)at.epoch,
				    sizeof(*at.epoch)))
		return;
	pvdma_tell_lost(vm, gfn, pvdma_kvm_zero_epoch, &at);
}

/*
 * A status page lost through an MMU notifier (the VMM discarded or
 * remapped its memory) could not be told there: the new memory did not
 * exist yet, and notifiers may not sleep.  Tell it now, in whatever
 * backs the frame for this vCPU, if that is writable guest RAM.
 */
static void pvdma_kvm_tell_lost(struct kvm_vcpu *vcpu, struct pvdma_vm *vm)
{
	unsigned long hva;
	bool writable;
	u64 gfn;

	if (!pvdma_lost_gfn(vm, true, &gfn))
		return;
	hva = kvm_vcpu_gfn_to_hva_prot(vcpu, gfn, &writable);
	if (!kvm_is_error_hva(hva) && writable)
		pvdma_kvm_tell_lost_at(vm, gfn, hva);
}

/*
 * A memslot of guest RAM now backs the frame of a lost status page: the
 * VMM replaced the memory, perhaps with a copy of the page and its old
 * epoch.  Write 0 there before the ioctl returns.  Not into KVM's own
 * memslots, nor SMM's, nor read-only ones the guest cannot write either.
 */
static void pvdma_kvm_tell_lost_slot(struct pvdma_vm *vm,
				     const struct kvm_memory_slot *slot)
{
	u64 gfn;

	if (slot->id >= KVM_USER_MEM_SLOTS || slot->as_id ||
	    (slot->flags & KVM_MEM_READONLY) ||
	    !pvdma_lost_gfn(vm, false, &gfn) ||
	    gfn - slot->base_gfn >= slot->npages)
		return;
	pvdma_kvm_tell_lost_at(vm, gfn, __gfn_to_hva_memslot(slot, gfn));
}

static struct pvdma_vm *pvdma_kvm_vm_create(struct kvm *kvm)
{
	struct pvdma_limits limits = {
		.max_pinned_pages = READ_ONCE(pvdma_max_pinned_pages),
		.max_handles = READ_ONCE(pvdma_max_handles),
		.max_map_pages = clamp_t(unsigned int, pvdma_max_map_pages, 1,
				       PVDMA_MAP_PAGES_CEILING),
	};

	return pvdma_vm_create(kvm->mm, &pvdma_kvm_backend, &limits);
}

/*
 * The tracker of an opted-in VM, or NULL.  With kvm.pvdma_unsafe_all_vms set,
 * a VM is opted in by its first PVDMA hypercall; two vCPUs racing there both
 * end up with the same tracker.
 */
static struct pvdma_vm *pvdma_kvm_vm(struct kvm *kvm)
{
	/* Pairs with the release in kvm_pvdma_enable_cap() and below. */
	struct pvdma_vm *vm = smp_load_acquire(&kvm->arch.pvdma);
	struct pvdma_vm *old;

	if (vm || !READ_ONCE(pvdma_unsafe_all_vms))
		return vm;

	vm = pvdma_kvm_vm_create(kvm);
	if (!vm)
		return NULL;
	old = cmpxchg_release(&kvm->arch.pvdma, NULL, vm);
	if (old) {
		pvdma_vm_destroy(vm);
		return old;
	}
	pr_warn("kvm: pvdma: VM %s opted in by kvm.pvdma_unsafe_all_vms: its assigned devices can DMA to any host memory\n",
		kvm->stats_id);
	return vm;
}

/* A guest descriptor must be aligned and must not cross a page. */
static bool pvdma_desc_ok(u64 gpa, u64 size, u64 align)
{
	return IS_ALIGNED(gpa, align) && offset_in_page(gpa) + size <= PAGE_SIZE;
}

static long pvdma_hc_probe(struct kvm_vcpu *vcpu, struct pvdma_vm *vm,
			   u64 info_gpa, u64 flags)
{
	struct pvdma_info info = {
		.abi_version = PVDMA_ABI_VERSION,
		.max_ranges = PVDMA_MAX_RANGES,
		.max_segs = PVDMA_MAX_SEGS,
		.max_map_pages = vm->limits.max_map_pages,
		.max_batch = PVDMA_MAX_BATCH,
		.max_pinned_pages = vm->limits.max_pinned_pages,
		.max_handles = vm->limits.max_handles,
	};

	if ((flags & ~(u64)PVDMA_PROBE_RESET) ||
	    !pvdma_desc_ok(info_gpa, sizeof(info), 8))
		return -KVM_EINVAL;
	if (kvm_vcpu_write_guest(vcpu, info_gpa, &info, sizeof(info)))
		return -KVM_EFAULT;
	/* The answer does not depend on it: a failed probe resets nothing. */
	if (flags & PVDMA_PROBE_RESET)
		pvdma_reset(vm);
	return 0;
}

/*
 * Every page the result may take must be writable guest RAM before anything
 * is pinned: a result written half-way would leave host-physical addresses
 * in guest memory with no handle to them.  Faulting the pages in for write
 * (without writing) also catches a VMM mapping that is read-only.
 */
static long pvdma_result_writable(struct kvm_vcpu *vcpu, u64 gpa, u64 size)
{
	u64 end = gpa + size;

	while (gpa < end) {
		unsigned long len = min_t(u64, end - gpa,
					  PAGE_SIZE - offset_in_page(gpa));
		unsigned long hva;
		bool writable;

		hva = kvm_vcpu_gfn_to_hva_prot(vcpu, gpa_to_gfn(gpa), &writable);
		if (kvm_is_error_hva(hva) || !writable ||
		    fault_in_safe_writeable((const char __user *)hva +
					    offset_in_page(gpa), len))
			return -KVM_EFAULT;
		gpa += len;
	}
	return 0;
}

/* Take back what a failed publish wrote: zeroes over all of it. */
static void pvdma_scrub(struct kvm_vcpu *vcpu, u64 gpa, u64 size)
{
	const void *zeroes = page_address(ZERO_PAGE(0));
	u64 end = gpa + size;

	while (gpa < end) {
		unsigned long len = min_t(u64, end - gpa,
					  PAGE_SIZE - offset_in_page(gpa));

		kvm_vcpu_write_guest_page(vcpu, gpa_to_gfn(gpa), zeroes,
					  offset_in_page(gpa), len);
		gpa += len;
	}
}

/*
 * Hand a finished map to the guest: segments first, then the header.  The
 * result was checked writable before pinning, so this fails only if the
 * VMM changed its memory meanwhile; then nothing written may stay.
 */
static int pvdma_publish(void *ctx, const struct pvdma_map_req *req)
{
	struct pvdma_kvm_call *call = ctx;
	struct pvdma_map_result hdr = {
		.handle = req->handle,
		.nr_segs = req->nr_segs,
		.max_segs = req->max_segs,
		.flags = call->no_cache || pvdma_shared_lost(call->vm) ?
			 PVDMA_RESULT_NO_CACHE : 0,
	};
	u64 size = array_size(req->nr_segs, sizeof(*req->segs));

	if (kvm_vcpu_write_guest(call->vcpu, call->result_gpa + sizeof(hdr),
				 req->segs, size) ||
	    kvm_vcpu_write_guest(call->vcpu, call->result_gpa, &hdr,
				 sizeof(hdr))) {
		pvdma_scrub(call->vcpu, call->result_gpa + sizeof(hdr), size);
		return -KVM_EFAULT;
	}
	return 0;
}

static long pvdma_hc_map(struct kvm_vcpu *vcpu, struct pvdma_vm *vm,
			 u64 ranges_gpa, u64 nr_ranges, u64 result_gpa,
			 u64 dir)
{
	struct pvdma_kvm_call call = {
		.vcpu = vcpu, .vm = vm, .result_gpa = result_gpa,
	};
	struct pvdma_map_req req = { .nr_ranges = nr_ranges, .dir = dir };
	struct pvdma_map_result hdr;
	struct pvdma_range *ranges;
	u64 ranges_size, result_end;
	long ret;

	if (!dir || (dir & ~(u64)PVDMA_MAP_BIDIRECTIONAL) || !nr_ranges)
		return -KVM_EINVAL;
	if (nr_ranges > PVDMA_MAX_RANGES)
		return -KVM_E2BIG;
	ranges_size = nr_ranges * sizeof(*ranges);
	if (!pvdma_desc_ok(ranges_gpa, ranges_size, 16) ||
	    !IS_ALIGNED(result_gpa, 16))
		return -KVM_EINVAL;

	if (kvm_vcpu_read_guest(vcpu, result_gpa, &hdr, sizeof(hdr)))
		return -KVM_EFAULT;
	if (!hdr.max_segs)
		return -KVM_EINVAL;
	if (hdr.max_segs > PVDMA_MAX_SEGS)
		return -KVM_E2BIG;
	if (check_add_overflow(result_gpa,
			       (u64)struct_size(&hdr, segs, hdr.max_segs),
			       &result_end))
		return -KVM_EINVAL;
	/* The result must not overwrite the ranges it is computed from. */
	if (result_gpa < ranges_gpa + ranges_size && ranges_gpa < result_end)
		return -KVM_EINVAL;
	if (pvdma_result_writable(vcpu, result_gpa, result_end - result_gpa))
		return -KVM_EFAULT;
	req.max_segs = hdr.max_segs;

	ranges = kmalloc(ranges_size, GFP_KERNEL_ACCOUNT);
	req.segs = kvmalloc_array(req.max_segs, sizeof(*req.segs),
				  GFP_KERNEL_ACCOUNT);
	if (!ranges || !req.segs) {
		ret = -PVDMA_ENOMEM;
		goto out_free;
	}
	if (kvm_vcpu_read_guest(vcpu, ranges_gpa, ranges, ranges_size)) {
		ret = -KVM_EFAULT;
		goto out_free;
	}
	req.ranges = ranges;
	ret = pvdma_map(vm, &call, &req, pvdma_publish);
	if (!ret)
		trace_pvdma_map(vcpu, req.handle, req.nr_ranges, req.nr_segs,
				req.dir);
out_free:
	kvfree(req.segs);
	kfree(ranges);
	return ret;
}

static long pvdma_hc_unmap(struct kvm_vcpu *vcpu, struct pvdma_vm *vm,
			   u64 handle, u64 flags)
{
	long ret;

	if (flags)
		return -KVM_EINVAL;
	ret = pvdma_unmap_one(vm, &(struct pvdma_kvm_call){ .vcpu = vcpu },
			      handle);
	if (!ret)
		trace_pvdma_unmap(vcpu, handle, 1);
	return ret;
}

static long pvdma_hc_unmap_batch(struct kvm_vcpu *vcpu, struct pvdma_vm *vm,
				 u64 handles_gpa, u64 nr, u64 flags)
{
	u64 *handles;
	long ret;

	if (flags || !nr)
		return -KVM_EINVAL;
	if (nr > PVDMA_MAX_BATCH)
		return -KVM_E2BIG;
	if (!pvdma_desc_ok(handles_gpa, nr * sizeof(*handles), 8))
		return -KVM_EINVAL;

	handles = kmalloc_array(nr, sizeof(*handles), GFP_KERNEL_ACCOUNT);
	if (!handles)
		return -PVDMA_ENOMEM;
	if (kvm_vcpu_read_guest(vcpu, handles_gpa, handles,
				nr * sizeof(*handles))) {
		ret = -KVM_EFAULT;
	} else {
		ret = pvdma_unmap(vm, &(struct pvdma_kvm_call){ .vcpu = vcpu },
				  handles, nr);
		if (!ret)
			trace_pvdma_unmap(vcpu, handles[0], nr);
	}
	kfree(handles);
	return ret;
}

static long pvdma_hc_set_shared(struct kvm_vcpu *vcpu, struct pvdma_vm *vm,
				u64 gpa, u64 flags)
{
	if (flags == PVDMA_SHARED_CLEAR && !gpa) {
		pvdma_clear_shared(vm);
		return 0;
	}
	if (flags || !PAGE_ALIGNED(gpa))
		return -KVM_EINVAL;
	return pvdma_set_shared(vm, &(struct pvdma_kvm_call){ .vcpu = vcpu },
				gpa_to_gfn(gpa));
}

static void pvdma_kvm_sync_stats(struct kvm *kvm, struct pvdma_vm *vm)
{
	const struct pvdma_counters *c = &vm->counters;

	mutex_lock(&vm->lock);
	kvm->stat.pvdma_pinned_pages = c->pinned_pages;
	kvm->stat.pvdma_live_handles = c->live_handles;
	kvm->stat.pvdma_tracker_bytes = c->tracker_bytes;
	kvm->stat.pvdma_maps = c->maps;
	kvm->stat.pvdma_unmaps = c->unmaps;
	kvm->stat.pvdma_fail_invalid = c->fail_invalid;
	kvm->stat.pvdma_fail_fault = c->fail_fault;
	kvm->stat.pvdma_fail_limit = c->fail_limit;
	kvm->stat.pvdma_fail_nomem = c->fail_nomem;
	kvm->stat.pvdma_fail_handle = c->fail_handle;
	mutex_unlock(&vm->lock);
}

/*
 * What backs [gpa, gpa + len): host RAM, device memory (the VMM's mapping of
 * a VFIO BAR is VM_IO | VM_PFNMAP), or nothing the guest reaches directly.
 * Walks the memslots the range overlaps and, in each, the VMM's mappings.
 * Read-only: nothing is pinned or faulted in.
 */
static long pvdma_hc_query(struct kvm_vcpu *vcpu, u64 gpa, u64 len, u64 flags)
{
	struct kvm_memslots *slots = kvm_vcpu_memslots(vcpu);
	const long all = PVDMA_QUERY_RAM | PVDMA_QUERY_DEVICE;
	struct mm_struct *mm = current->mm;
	struct kvm_memslot_iter iter;
	u64 last, start, end;
	long ret = 0;

	if (flags || !len || check_add_overflow(gpa, len - 1, &last))
		return -KVM_EINVAL;
	start = gpa_to_gfn(gpa);
	end = gpa_to_gfn(last) + 1;

	mmap_read_lock(mm);
	kvm_for_each_memslot_in_gfn_range(&iter, slots, start, end) {
		struct kvm_memory_slot *slot = iter.slot;
		unsigned long hva, hva_end;
		struct vm_area_struct *vma;
		struct vma_iterator vmi;

		if (!kvm_is_visible_memslot(slot))
			continue;
		/* guest_memfd memory has no VMM mapping to look at. */
		if (kvm_slot_can_be_private(slot)) {
			ret |= PVDMA_QUERY_RAM;
			continue;
		}
		hva = __gfn_to_hva_memslot(slot, max(start, slot->base_gfn));
		hva_end = __gfn_to_hva_memslot(slot, min(end, slot->base_gfn +
							 slot->npages) - 1) +
			  PAGE_SIZE;
		vma_iter_init(&vmi, mm, hva);
		for_each_vma_range(vmi, vma, hva_end) {
			ret |= vma->vm_flags & (VM_IO | VM_PFNMAP) ?
			       PVDMA_QUERY_DEVICE : PVDMA_QUERY_RAM;
			if (ret == all)
				break;
		}
		if (ret == all)
			break;
	}
	mmap_read_unlock(mm);
	return ret;
}

/**
 * kvm_pvdma_hypercall - handle one PVDMA hypercall
 * @vcpu:	the calling vCPU, at CPL 0.
 * @nr:		the hypercall number, kvm_pvdma_is_hypercall(@nr) is true.
 * @a0:		first argument (RBX).
 * @a1:		second argument (RCX).
 * @a2:		third argument (RDX).
 * @a3:		fourth argument (RSI).
 * @op_64_bit:	whether the guest called from 64-bit mode.
 *
 * Context: vCPU thread, inside kvm->srcu; may sleep.
 * Return: the value for RAX: 0 or a negative -KVM_E* / -PVDMA_E* code.
 */
unsigned long kvm_pvdma_hypercall(struct kvm_vcpu *vcpu, unsigned long nr,
				  unsigned long a0, unsigned long a1,
				  unsigned long a2, unsigned long a3,
				  int op_64_bit)
{
	struct pvdma_vm *vm = pvdma_kvm_vm(vcpu->kvm);
	long ret;

	/*
	 * A VM that was not opted in learns that the host has PVDMA
	 * (-KVM_EPERM, not -KVM_ENOSYS), so that its guest can say why it
	 * cannot use it, and nothing else: not even our limits.
	 */
	if (!vm)
		return -KVM_EPERM;

	/* Finish here what invalidations could only take note of. */
	pvdma_reap_shared(vm);
	pvdma_kvm_tell_lost(vcpu, vm);
	pvdma_kvm_log_shared(vcpu->kvm, vm);

	/* The ABI passes 64-bit GPAs in registers. */
	if (!op_64_bit) {
		ret = -KVM_EINVAL;
		goto out;
	}

	switch (nr) {
	case KVM_HC_PVDMA_PROBE:
		ret = pvdma_hc_probe(vcpu, vm, a0, a1);
		break;
	case KVM_HC_PVDMA_MAP:
		ret = pvdma_hc_map(vcpu, vm, a0, a1, a2, a3);
		break;
	case KVM_HC_PVDMA_UNMAP:
		ret = pvdma_hc_unmap(vcpu, vm, a0, a1);
		break;
	case KVM_HC_PVDMA_UNMAP_BATCH:
		ret = pvdma_hc_unmap_batch(vcpu, vm, a0, a1, a2);
		break;
	case KVM_HC_PVDMA_SET_SHARED:
		ret = pvdma_hc_set_shared(vcpu, vm, a0, a1);
		break;
	case KVM_HC_PVDMA_QUERY:
		ret = pvdma_hc_query(vcpu, a0, a1, a2);
		break;
	default:
		ret = -KVM_ENOSYS;
		break;
	}
	/* SET_SHARED and a reset write the status page. */
	pvdma_kvm_log_shared(vcpu->kvm, vm);
out:
	if (ret < 0) {
		pvdma_count_failure(vm, ret);
		trace_pvdma_fail(vcpu, nr, ret);
	}
	pvdma_kvm_sync_stats(vcpu->kvm, vm);
	return ret;
}

/**
 * kvm_pvdma_enable_cap - opt a VM in to PVDMA (%KVM_CAP_PVDMA)
 * @kvm:	the VM.
 * @cap:	the request; every argument must be 0.
 *
 * Only a VMM with CAP_SYS_ADMIN may do this, because the guest of an opted-in
 * VM can make its assigned devices DMA anywhere in host memory, and only
 * before the first vCPU exists, so no vCPU ever sees the VM half opted in.
 *
 * Return: 0, -EINVAL for bad arguments or vCPUs already created, -EPERM
 * without CAP_SYS_ADMIN, -ENOMEM.
 */
int kvm_pvdma_enable_cap(struct kvm *kvm, struct kvm_enable_cap *cap)
{
	struct pvdma_vm *vm;
	int ret = 0;

	if (cap->args[0] || cap->args[1] || cap->args[2] || cap->args[3])
		return -EINVAL;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;

	mutex_lock(&kvm->lock);
	if (kvm->created_vcpus) {
		ret = -EINVAL;
	} else if (!kvm->arch.pvdma) {
		vm = pvdma_kvm_vm_create(kvm);
		if (vm) {
			/* Publish the tracker only once it is initialised. */
			smp_store_release(&kvm->arch.pvdma, vm);
		} else {
			ret = -ENOMEM;
		}
	}
	mutex_unlock(&kvm->lock);
	return ret;
}

/**
 * kvm_pvdma_destroy_vm - release every pin of a dying VM
 * @kvm:	the VM; no vCPU is left.
 *
 * current->mm may not be the VM's here: the tracker charges the mm it
 * recorded when the VM was opted in.
 */
void kvm_pvdma_destroy_vm(struct kvm *kvm)
{
	pvdma_vm_destroy(kvm->arch.pvdma);
	kvm->arch.pvdma = NULL;
}

/**
 * kvm_pvdma_memslot_changed - a memslot was created, deleted, moved or
 *			       changed flags
 * @kvm:	the VM.
 * @old:	the memslot before, or NULL.
 * @new:	the memslot after, or NULL.
 * @change:	what happened to the memslot.
 *
 * Pins hold pages, not memslots: after a delete or move, the guest frames
 * of the memslot are no longer backed by the pinned pages the guest was
 * told about; after dirty logging is switched on, device writes to them
 * must be logged at unmap.  Either way, translations the guest kept there
 * are stale, and a status page there is lost.  Other memslots, dirty
 * logging switched off, and memslots without pins (KVM's internal ones
 * included) concern no translation.  A memslot created or moved where a
 * lost status page was gets the 0 the guest must read there.
 *
 * Context: the VMM's ioctl, with kvm->slots_lock held.
 */
void kvm_pvdma_memslot_changed(struct kvm *kvm,
			       const struct kvm_memory_slot *old,
			       const struct kvm_memory_slot *new,
			       enum kvm_mr_change change)
{
	/* Pairs with the release in kvm_pvdma_enable_cap(). */
	struct pvdma_vm *vm = smp_load_acquire(&kvm->arch.pvdma);

	lockdep_assert_held(&kvm->slots_lock);

	if (!vm)
		return;
	switch (change) {
	case KVM_MR_DELETE:
		pvdma_slot_changed(vm, old->userspace_addr, old->npages, true);
		break;
	case KVM_MR_MOVE:
		pvdma_slot_changed(vm, old->userspace_addr, old->npages, true);
		fallthrough;
	case KVM_MR_CREATE:
		/* Its memory is the VMM's, which is ours in its ioctl. */
		if (current->mm == kvm->mm)
			pvdma_kvm_tell_lost_slot(vm, new);
		break;
	case KVM_MR_FLAGS_ONLY:
		if (!kvm_slot_dirty_track_enabled(old) &&
		    kvm_slot_dirty_track_enabled(new))
			pvdma_slot_changed(vm, new->userspace_addr, new->npages,
					   false);
		break;
	default:
		break;
	}
}

/**
 * kvm_pvdma_invalidate_range_start - host memory of the VM may change
 * @kvm:	the VM.
 * @range:	the MMU-notifier invalidation.
 *
 * Pinned pages stay, but the guest frames they back may get other memory:
 * see pvdma_invalidate_start() for which invalidations concern them.
 *
 * Context: kvm_mmu_notifier_invalidate_range_start(), after KVM took the
 * invalidation into mmu_invalidate_in_progress (under mmu_lock), so a map
 * racing with it either is found here or pins again.  May not sleep.
 */
void kvm_pvdma_invalidate_range_start(struct kvm *kvm,
				      const struct mmu_notifier_range *range)
{
	/* Pairs with the release in kvm_pvdma_enable_cap(). */
	struct pvdma_vm *vm = smp_load_acquire(&kvm->arch.pvdma);

	if (!vm)
		return;
	pvdma_invalidate_start(vm, range->start, range->end, range->event);
	pvdma_kvm_log_shared(kvm, vm);
}

/**
 * kvm_pvdma_invalidate_range_end - an invalidation of host memory is over
 * @kvm:	the VM.
 * @range:	the MMU-notifier invalidation.
 *
 * Context: kvm_mmu_notifier_invalidate_range_end(), before KVM ends the
 * invalidation: the guest cannot fault the range in again yet.  May not
 * sleep.
 */
void kvm_pvdma_invalidate_range_end(struct kvm *kvm,
				    const struct mmu_notifier_range *range)
{
	/* Pairs with the release in kvm_pvdma_enable_cap(). */
	struct pvdma_vm *vm = smp_load_acquire(&kvm->arch.pvdma);

	if (!vm)
		return;
	pvdma_invalidate_end(vm, range->start, range->end, range->event);
	pvdma_kvm_log_shared(kvm, vm);
}
