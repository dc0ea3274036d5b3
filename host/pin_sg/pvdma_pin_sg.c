// SPDX-License-Identifier: GPL-2.0-only
/*
 * PVDMA pinning engine and per-VM pin tracker.
 *
 * A map pins every page of a list of guest-physical ranges long-term, or
 * none of them, merges host frames that turn out to be physically contiguous
 * into one segment and records the pins under a handle.  An unmap releases
 * them.  pvdma_vm_destroy() releases whatever the guest left behind, so a
 * guest that dies mid-I/O leaks nothing.
 *
 * Every pinned page is charged to the VMM's mm->pinned_vm, as RDMA and
 * io_uring do, and checked against RLIMIT_MEMLOCK unless the VMM has
 * CAP_IPC_LOCK.  The charge is taken before pinning and returned on every
 * error path, so a failed map never leaves a page or a charge behind: legacy
 * KVM device assignment got exactly this wrong (CVE-2014-3601).
 */

#include <linux/capability.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include <asm/io.h>

#include "pvdma_pin_sg.h"

/*
 * Pin at most this many pages per call into the backend, as VFIO does, so a
 * large map yields the CPU between batches and the page array stays cheap.
 */
#define PVDMA_PIN_BATCH		512

/**
 * struct pvdma_mapping - the pins behind one handle
 * @nr_pages:	number of @pages.
 * @pages:	every pinned page, in range order: 8 bytes per page.
 * @dir:	direction flags of the map; decides dirtying on release.
 * @nr_gfns:	number of @gfns, one per guest range.
 * @gfns:	the guest frames of each range, in &pvdma_vm.pinned_gfns while
 *		the mapping is pinned; also what is logged dirty on unmap.
 */
struct pvdma_mapping {
	unsigned long nr_pages;
	struct page **pages;
	u32 dir;
	unsigned int nr_gfns;
	struct interval_tree_node gfns[] __counted_by(nr_gfns);
};

static u64 pvdma_range_first_gfn(const struct pvdma_range *r)
{
	return r->gpa >> PAGE_SHIFT;
}

static u64 pvdma_range_last_gfn(const struct pvdma_range *r)
{
	/* gpa + len - 1 cannot overflow: pvdma_validate_ranges() checked it. */
	return (r->gpa + r->len - 1) >> PAGE_SHIFT;
}

static unsigned long pvdma_range_pages(const struct pvdma_range *r)
{
	return pvdma_range_last_gfn(r) - pvdma_range_first_gfn(r) + 1;
}

/**
 * pvdma_validate_ranges - check guest ranges before anything is pinned
 * @ranges:	the ranges, already copied from guest memory.
 * @nr_ranges:	number of @ranges.
 * @max_pages:	most pages the ranges may cover together.
 * @nr_pages:	out: pages the ranges cover.
 *
 * Return: 0, -%KVM_EINVAL for no ranges or a zero-length or overflowing range, or
 * -%KVM_E2BIG if the ranges cover more than @max_pages pages.
 */
long pvdma_validate_ranges(const struct pvdma_range *ranges,
			   unsigned int nr_ranges, unsigned long max_pages,
			   unsigned long *nr_pages)
{
	unsigned long total = 0;
	unsigned int i;
	u64 end;

	if (!nr_ranges)
		return -KVM_EINVAL;
	for (i = 0; i < nr_ranges; i++) {
		if (!ranges[i].len ||
		    check_add_overflow(ranges[i].gpa, ranges[i].len - 1, &end))
			return -KVM_EINVAL;
		total += pvdma_range_pages(&ranges[i]);
		if (total > max_pages)
			return -KVM_E2BIG;
	}
	*nr_pages = total;
	return 0;
}

/**
 * pvdma_count_failure - account a refused hypercall by cause
 * @vm:		the tracker.
 * @err:	the negative -KVM_E* / -PVDMA_E* code returned to the guest.
 */
void pvdma_count_failure(struct pvdma_vm *vm, long err)
{
	mutex_lock(&vm->lock);
	switch (-err) {
	case PVDMA_ENOSPC:
		vm->counters.fail_limit++;
		break;
	case PVDMA_ENOMEM:
		vm->counters.fail_nomem++;
		break;
	case PVDMA_ENOENT:
		vm->counters.fail_handle++;
		break;
	case KVM_EFAULT:
	case KVM_EOPNOTSUPP:
	case PVDMA_EACCES:
	case PVDMA_EIO:
		vm->counters.fail_fault++;
		break;
	default:
		vm->counters.fail_invalid++;
		break;
	}
	mutex_unlock(&vm->lock);
}

/*
 * Reserve @nr_pages pins and one handle against the VM's limits and the
 * VMM's RLIMIT_MEMLOCK.  The reservation is what the counters show, so two
 * vCPUs mapping at once cannot both slip under a limit.
 */
static long pvdma_charge(struct pvdma_vm *vm, unsigned long nr_pages)
{
	unsigned long lock_limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	s64 pinned_vm;

	lockdep_assert_held(&vm->lock);

	if (vm->counters.live_handles >= vm->limits.max_handles ||
	    vm->counters.pinned_pages + nr_pages > vm->limits.max_pinned_pages) {
		pr_warn_ratelimited("pvdma: a VM reached its limit of %lu pinned pages or %lu mappings; its guest bounces instead (raise kvm.pvdma_max_pinned_pages or kvm.pvdma_max_handles to pin more)\n",
				    vm->limits.max_pinned_pages,
				    vm->limits.max_handles);
		return -PVDMA_ENOSPC;
	}

	pinned_vm = atomic64_add_return(nr_pages, &vm->mm->pinned_vm);
	if (pinned_vm > lock_limit && !capable(CAP_IPC_LOCK)) {
		atomic64_sub(nr_pages, &vm->mm->pinned_vm);
		pr_warn_ratelimited("pvdma: pinning %lu more pages would exceed the VMM's RLIMIT_MEMLOCK of %lu pages; raise it or give the VMM CAP_IPC_LOCK\n",
				    nr_pages, lock_limit);
		return -PVDMA_ENOSPC;
	}

	vm->counters.pinned_pages += nr_pages;
	vm->counters.live_handles++;
	return 0;
}

static void pvdma_uncharge(struct pvdma_vm *vm, unsigned long nr_pages)
{
	lockdep_assert_held(&vm->lock);

	atomic64_sub(nr_pages, &vm->mm->pinned_vm);
	vm->counters.pinned_pages -= nr_pages;
	vm->counters.live_handles--;
}

/*
 * Pin every page of one range into @pages.  Returns the number of pages
 * pinned, or a negative code with nothing of this range left pinned.
 */
static long pvdma_pin_range(struct pvdma_vm *vm, void *ctx,
			    const struct pvdma_range *r, bool write,
			    struct page **pages)
{
	unsigned long npages = pvdma_range_pages(r);
	u64 gfn = pvdma_range_first_gfn(r);
	unsigned long done = 0;
	long ret;

	while (done < npages) {
		unsigned long hva;
		long n;

		n = vm->backend->resolve(ctx, gfn + done, npages - done, write,
					 &hva);
		if (n <= 0) {
			ret = n ? n : -KVM_EFAULT;
			goto unwind;
		}

		while (n > 0) {
			long got;

			got = vm->backend->pin(ctx, hva,
					       min_t(long, n, PVDMA_PIN_BATCH),
					       write, pages + done);
			if (got <= 0) {
				ret = got ? got : -PVDMA_EIO;
				goto unwind;
			}
			done += got;
			hva += got << PAGE_SHIFT;
			n -= got;
			cond_resched();
		}
	}
	return done;

unwind:
	if (done)
		vm->backend->unpin(pages, done, false);
	return ret;
}

/*
 * Walk the pinned pages in range order and emit host-physical segments,
 * merging a page into the previous segment when its frame follows directly.
 */
static long pvdma_build_segs(const struct pvdma_mapping *m,
			     struct pvdma_map_req *req)
{
	struct pvdma_seg *cur = NULL;
	unsigned int nr_segs = 0;
	unsigned long p = 0;
	unsigned int i;

	for (i = 0; i < req->nr_ranges; i++) {
		const struct pvdma_range *r = &req->ranges[i];
		u64 off = offset_in_page(r->gpa);
		u64 left = r->len;

		while (left) {
			u64 addr = page_to_phys(m->pages[p++]) + off;
			u64 len = min_t(u64, left, PAGE_SIZE - off);

			if (cur && cur->addr + cur->len == addr) {
				cur->len += len;
			} else {
				if (nr_segs == req->max_segs)
					return -KVM_E2BIG;
				cur = &req->segs[nr_segs++];
				cur->addr = addr;
				cur->len = len;
			}
			left -= len;
			off = 0;
		}
	}
	req->nr_segs = nr_segs;
	return 0;
}

/*
 * Host memory that tracks one mapping, as allocated: what
 * kvm.pvdma_tracker_bytes reports and the per-page cost is measured by.
 */
static size_t pvdma_mapping_bytes(const struct pvdma_mapping *m)
{
	size_t pages = array_size(m->nr_pages, sizeof(*m->pages));

	return kmalloc_size_roundup(struct_size(m, gfns, m->nr_gfns)) +
	       (is_vmalloc_addr(m->pages) ? PAGE_ALIGN(pages) :
					    kmalloc_size_roundup(pages));
}

static void pvdma_mapping_free(struct pvdma_mapping *m)
{
	kvfree(m->pages);
	kfree(m);
}

/* Make the mapping's frames visible to invalidations, or hide them again. */
static void pvdma_track_gfns(struct pvdma_vm *vm, struct pvdma_mapping *m,
			     bool track)
{
	unsigned int i;

	spin_lock(&vm->gfn_lock);
	for (i = 0; i < m->nr_gfns; i++) {
		if (track)
			interval_tree_insert(&m->gfns[i], &vm->pinned_gfns);
		else
			interval_tree_remove(&m->gfns[i], &vm->pinned_gfns);
	}
	spin_unlock(&vm->gfn_lock);
}

static void __pvdma_bump_epoch(struct pvdma_vm *vm)
{
	lockdep_assert_held(&vm->gfn_lock);

	/* Never 0: a guest reads 0 from a page the host never wrote. */
	if (!++vm->epoch)
		vm->epoch = 1;
	if (vm->shared)
		WRITE_ONCE(vm->shared->epoch, vm->epoch);
}

/**
 * pvdma_bump_epoch - tell the guest its kept translations may be stale
 * @vm:		the tracker.
 *
 * Context: any context that may take a spinlock.
 */
void pvdma_bump_epoch(struct pvdma_vm *vm)
{
	spin_lock(&vm->gfn_lock);
	__pvdma_bump_epoch(vm);
	spin_unlock(&vm->gfn_lock);
}

/**
 * pvdma_invalidate_gfns - host memory behind guest frames is going away
 * @vm:		the tracker.
 * @start:	first guest frame.
 * @end:	one past the last guest frame.
 *
 * The pins keep the old pages, but the guest's frames will be backed by
 * others: bump the epoch if any pinned mapping covers a frame in the range.
 *
 * Context: any context that may take a spinlock; KVM calls it under its
 * mmu_lock.
 */
void pvdma_invalidate_gfns(struct pvdma_vm *vm, u64 start, u64 end)
{
	if (start >= end)
		return;
	spin_lock(&vm->gfn_lock);
	if (interval_tree_iter_first(&vm->pinned_gfns, start, end - 1))
		__pvdma_bump_epoch(vm);
	spin_unlock(&vm->gfn_lock);
}

/**
 * pvdma_set_shared - pin the guest's status page and publish the epoch there
 * @vm:		the tracker.
 * @ctx:	passed to the backend.
 * @gfn:	the guest frame of the page.
 *
 * Replaces (and unpins) a page registered earlier.  The page stays pinned
 * until replaced or until the VM is destroyed.
 *
 * Return: 0 or a negative -KVM_E* / -PVDMA_E* code from the backend.
 */
long pvdma_set_shared(struct pvdma_vm *vm, void *ctx, u64 gfn)
{
	struct page *page, *old;
	unsigned long hva;
	long ret;

	ret = vm->backend->resolve(ctx, gfn, 1, true, &hva);
	if (ret <= 0)
		return ret ? ret : -KVM_EFAULT;
	ret = vm->backend->pin(ctx, hva, 1, true, &page);
	if (ret != 1)
		return ret < 0 ? ret : -PVDMA_EIO;

	spin_lock(&vm->gfn_lock);
	old = vm->shared_page;
	vm->shared_page = page;
	vm->shared = page_address(page);
	__pvdma_bump_epoch(vm);
	spin_unlock(&vm->gfn_lock);

	if (old)
		vm->backend->unpin(&old, 1, true);
	return 0;
}

/**
 * pvdma_clear_shared - stop writing to the guest's status page and unpin it
 * @vm:		the tracker.
 *
 * The guest is about to free the page.  The epoch keeps counting, so a page
 * registered later starts from the current value.
 */
void pvdma_clear_shared(struct pvdma_vm *vm)
{
	struct page *old;

	spin_lock(&vm->gfn_lock);
	old = vm->shared_page;
	vm->shared_page = NULL;
	vm->shared = NULL;
	spin_unlock(&vm->gfn_lock);

	if (old)
		vm->backend->unpin(&old, 1, true);
}

/**
 * pvdma_map - pin guest ranges and record them under a new handle
 * @vm:		the tracker.
 * @ctx:	passed to the backend (KVM: the calling vCPU).
 * @req:	the request; on success its segs, nr_segs and handle are set.
 * @publish:	called with the finished request before the handle becomes
 *		live, to hand the result to the guest; if it fails, the map is
 *		undone and its error returned.
 *
 * All or nothing: on any error no page stays pinned, no charge stays taken
 * and no handle exists.
 *
 * Context: process context of the VMM (the vCPU thread): may sleep.
 * Return: 0 or a negative -KVM_E* / -PVDMA_E* code.
 */
long pvdma_map(struct pvdma_vm *vm, void *ctx, struct pvdma_map_req *req,
	       int (*publish)(void *ctx, const struct pvdma_map_req *req))
{
	bool write = req->dir & PVDMA_MAP_FROM_DEVICE;
	struct pvdma_mapping *m;
	unsigned long nr_pages, done = 0;
	unsigned int i;
	long ret;
	u32 id;

	ret = pvdma_validate_ranges(req->ranges, req->nr_ranges,
				    vm->limits.max_map_pages, &nr_pages);
	if (ret)
		return ret;

	m = kzalloc(struct_size(m, gfns, req->nr_ranges), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -PVDMA_ENOMEM;
	m->nr_gfns = req->nr_ranges;
	for (i = 0; i < m->nr_gfns; i++) {
		m->gfns[i].start = pvdma_range_first_gfn(&req->ranges[i]);
		m->gfns[i].last = pvdma_range_last_gfn(&req->ranges[i]);
	}
	m->dir = req->dir;
	m->nr_pages = nr_pages;
	m->pages = kvmalloc_array(nr_pages, sizeof(*m->pages),
				  GFP_KERNEL_ACCOUNT);
	if (!m->pages) {
		ret = -PVDMA_ENOMEM;
		goto out_free;
	}

	mutex_lock(&vm->lock);
	ret = pvdma_charge(vm, nr_pages);
	mutex_unlock(&vm->lock);
	if (ret)
		goto out_free;

	for (i = 0; i < req->nr_ranges; i++) {
		ret = pvdma_pin_range(vm, ctx, &req->ranges[i], write,
				      m->pages + done);
		if (ret < 0)
			goto out_unpin;
		done += ret;
	}

	ret = pvdma_build_segs(m, req);
	if (ret)
		goto out_unpin;
	pvdma_track_gfns(vm, m, true);

	/* Reserve the handle first: it is not live until the guest knows it. */
	ret = xa_alloc_cyclic(&vm->handles, &id, NULL, XA_LIMIT(1, U32_MAX),
			      &vm->next_handle, GFP_KERNEL_ACCOUNT);
	if (ret < 0) {
		ret = ret == -ENOMEM ? -PVDMA_ENOMEM : -PVDMA_ENOSPC;
		goto out_untrack;
	}
	req->handle = id;

	ret = publish ? publish(ctx, req) : 0;
	if (ret)
		goto out_release;

	xa_store(&vm->handles, id, m, GFP_KERNEL_ACCOUNT);
	mutex_lock(&vm->lock);
	vm->counters.maps++;
	vm->counters.tracker_bytes += pvdma_mapping_bytes(m);
	mutex_unlock(&vm->lock);
	return 0;

out_release:
	xa_release(&vm->handles, id);
out_untrack:
	pvdma_track_gfns(vm, m, false);
out_unpin:
	if (done)
		vm->backend->unpin(m->pages, done, false);
	mutex_lock(&vm->lock);
	pvdma_uncharge(vm, nr_pages);
	mutex_unlock(&vm->lock);
out_free:
	pvdma_mapping_free(m);
	return ret;
}

/* Unpin one mapping taken out of the tracker; @ctx is NULL at VM teardown. */
static void pvdma_release(struct pvdma_vm *vm, void *ctx,
			  struct pvdma_mapping *m)
{
	bool dirty = m->dir & PVDMA_MAP_FROM_DEVICE;
	unsigned int i;

	pvdma_track_gfns(vm, m, false);
	vm->backend->unpin(m->pages, m->nr_pages, dirty);
	if (dirty && ctx && vm->backend->mark_dirty) {
		for (i = 0; i < m->nr_gfns; i++)
			vm->backend->mark_dirty(ctx, m->gfns[i].start,
						m->gfns[i].last -
						m->gfns[i].start + 1);
	}
	pvdma_mapping_free(m);
	cond_resched();
}

/**
 * pvdma_unmap - release one or more mappings, all or nothing
 * @vm:		the tracker.
 * @ctx:	passed to the backend (KVM: the calling vCPU).
 * @handles:	the handles, already copied from guest memory.
 * @nr:		number of @handles, at least 1.
 *
 * Every handle is checked before any is released: a handle that is not live
 * fails the whole call with -%PVDMA_ENOENT, a handle given twice with
 * -%KVM_EINVAL.
 *
 * Context: process context: may sleep.
 * Return: 0 or a negative -KVM_E* / -PVDMA_E* code.
 */
long pvdma_unmap(struct pvdma_vm *vm, void *ctx, const u64 *handles,
		 unsigned int nr)
{
	struct pvdma_mapping **found;
	unsigned int i;
	long ret = 0;

	found = kvmalloc_array(nr, sizeof(*found), GFP_KERNEL_ACCOUNT);
	if (!found)
		return -PVDMA_ENOMEM;

	mutex_lock(&vm->lock);
	/* XA_MARK_1 flags handles seen in this call, to catch duplicates. */
	for (i = 0; i < nr; i++) {
		if (handles[i] > U32_MAX || !xa_load(&vm->handles, handles[i])) {
			ret = -PVDMA_ENOENT;
			break;
		}
		if (xa_get_mark(&vm->handles, handles[i], XA_MARK_1)) {
			ret = -KVM_EINVAL;
			break;
		}
		xa_set_mark(&vm->handles, handles[i], XA_MARK_1);
	}
	if (ret) {
		while (i--)
			xa_clear_mark(&vm->handles, handles[i], XA_MARK_1);
		mutex_unlock(&vm->lock);
		kvfree(found);
		return ret;
	}

	for (i = 0; i < nr; i++) {
		found[i] = xa_erase(&vm->handles, handles[i]);
		vm->counters.unmaps++;
		vm->counters.tracker_bytes -= pvdma_mapping_bytes(found[i]);
	}
	mutex_unlock(&vm->lock);

	/*
	 * Unpin outside the lock, so other vCPUs keep mapping meanwhile, and
	 * only then give the charge back: until a page is really unpinned it
	 * must count against the limits.
	 */
	for (i = 0; i < nr; i++) {
		unsigned long nr_pages = found[i]->nr_pages;

		pvdma_release(vm, ctx, found[i]);
		mutex_lock(&vm->lock);
		pvdma_uncharge(vm, nr_pages);
		mutex_unlock(&vm->lock);
	}
	kvfree(found);
	return 0;
}

/**
 * pvdma_vm_create - create the pin tracker of a VM
 * @mm:		the VMM's mm, charged for every pin; a reference is taken.
 * @backend:	how guest memory is resolved and pinned.
 * @limits:	the VM's limits.
 *
 * Return: the tracker, or NULL if out of memory.
 */
struct pvdma_vm *pvdma_vm_create(struct mm_struct *mm,
				 const struct pvdma_pin_backend *backend,
				 const struct pvdma_limits *limits)
{
	struct pvdma_vm *vm;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return NULL;

	mutex_init(&vm->lock);
	xa_init_flags(&vm->handles, XA_FLAGS_ALLOC1);
	spin_lock_init(&vm->gfn_lock);
	vm->pinned_gfns = RB_ROOT_CACHED;
	mmgrab(mm);
	vm->mm = mm;
	vm->backend = backend;
	vm->limits = *limits;
	return vm;
}

/**
 * pvdma_vm_destroy - release every pin a VM still holds and free its tracker
 * @vm:		the tracker, or NULL.
 *
 * Pages a device may have written are dirtied; the charge goes back to the
 * mm recorded at creation, whichever task runs this.
 *
 * Context: process context, no vCPU of the VM left running.
 */
void pvdma_vm_destroy(struct pvdma_vm *vm)
{
	struct pvdma_mapping *m;
	unsigned long id;

	if (!vm)
		return;

	xa_for_each(&vm->handles, id, m) {
		xa_erase(&vm->handles, id);
		mutex_lock(&vm->lock);
		vm->counters.tracker_bytes -= pvdma_mapping_bytes(m);
		pvdma_uncharge(vm, m->nr_pages);
		mutex_unlock(&vm->lock);
		pvdma_release(vm, NULL, m);
	}
	WARN_ON_ONCE(vm->counters.pinned_pages || vm->counters.live_handles ||
		     vm->counters.tracker_bytes);
	if (vm->shared_page)
		vm->backend->unpin(&vm->shared_page, 1, true);
	xa_destroy(&vm->handles);
	mmdrop(vm->mm);
	mutex_destroy(&vm->lock);
	kfree(vm);
}
