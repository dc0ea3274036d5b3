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
 *
 * The host-physical address a device is given must stay backed by the page
 * the guest means.  Pins keep the pages, but the VMM's memory behind a guest
 * frame can be replaced (discarded, remapped).  Every pinned host virtual
 * range is therefore in an interval tree that MMU-notifier invalidations
 * look up; a map that raced with an invalidation is pinned again, using the
 * backend's sequence protocol (KVM's mmu_invalidate_seq), and an
 * invalidation that really concerns a pinned frame moves the translation
 * epoch the guest reads from its status page.
 */

#include <linux/capability.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/page-flags.h>
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
 * @logged:	frames (in @chunks order) an unmap already logged dirty;
 *		an unmap that ran out of dirty-ring room continues from here.
 * @nr_chunks:	number of @chunks.
 * @max_chunks:	room in @chunks.
 * @chunks:	the host virtual ranges the pages were pinned through, in
 *		&pvdma_vm.pinned while the mapping is pinned.
 */
struct pvdma_mapping {
	unsigned long nr_pages;
	struct page **pages;
	u32 dir;
	unsigned long logged;
	unsigned int nr_chunks;
	unsigned int max_chunks;
	struct pvdma_chunk *chunks;
};

static u64 pvdma_range_first_gfn(const struct pvdma_range *r)
{
	return r->gpa >> PAGE_SHIFT;
}

static u64 pvdma_range_last_gfn(const struct pvdma_range *r)
{
	/* gpa + len cannot overflow: pvdma_validate_ranges() checked it. */
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
 * gpa + len must not overflow, not even to exactly 2^64: the ABI says so,
 * and a guest computing the end of such a range would get 0.
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
		    check_add_overflow(ranges[i].gpa, ranges[i].len, &end))
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
 *
 * -%PVDMA_EAGAIN is no failure: the guest repeats the call.
 */
void pvdma_count_failure(struct pvdma_vm *vm, long err)
{
	if (err == -PVDMA_EAGAIN)
		return;
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
 * Each FOLL_PIN of a small folio adds GUP_PIN_COUNTING_BIAS to its
 * reference count: refuse a page pinned so often, by whoever, that more
 * pins could overflow it.
 */
static bool pvdma_pins_bounded(struct page **pages, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (folio_ref_count(page_folio(pages[i])) >
		    PVDMA_PAGE_REF_CEILING) {
			pr_warn_ratelimited("pvdma: refusing to pin a page whose reference count is %d: it is pinned too often already\n",
					    folio_ref_count(page_folio(pages[i])));
			return false;
		}
	}
	return true;
}

/*
 * Record that @npages pages from m->pages[@first] were pinned through host
 * virtual pages from @hva, backing guest frames from @gfn.  A piece that
 * continues the last chunk (the backend resolved or pinned in parts)
 * extends it.
 */
static long pvdma_add_chunk(struct pvdma_mapping *m, unsigned long hva,
			    u64 gfn, unsigned long npages, unsigned long first)
{
	struct pvdma_chunk *c;

	if (m->nr_chunks) {
		c = &m->chunks[m->nr_chunks - 1];
		if (c->hva.last + 1 == hva >> PAGE_SHIFT &&
		    c->gfn + c->npages == gfn && c->first + c->npages == first) {
			c->hva.last += npages;
			c->npages += npages;
			return 0;
		}
	}
	if (m->nr_chunks == m->max_chunks) {
		unsigned int max = m->max_chunks * 2;

		c = krealloc_array(m->chunks, max, sizeof(*c),
				   GFP_KERNEL_ACCOUNT);
		if (!c)
			return -PVDMA_ENOMEM;
		m->chunks = c;
		m->max_chunks = max;
	}
	c = &m->chunks[m->nr_chunks++];
	c->hva.start = hva >> PAGE_SHIFT;
	c->hva.last = c->hva.start + npages - 1;
	c->gfn = gfn;
	c->npages = npages;
	c->first = first;
	c->m = m;
	return 0;
}

/*
 * Pin every page of every range into m->pages, recording the chunks.
 * Returns 0, or a negative code with nothing left pinned.
 */
static long pvdma_pin_all(struct pvdma_vm *vm, void *ctx,
			  struct pvdma_mapping *m,
			  const struct pvdma_map_req *req, bool write)
{
	unsigned long done = 0;
	unsigned int i;
	long ret;

	m->nr_chunks = 0;
	for (i = 0; i < req->nr_ranges; i++) {
		const struct pvdma_range *r = &req->ranges[i];
		unsigned long left = pvdma_range_pages(r);
		u64 gfn = pvdma_range_first_gfn(r);

		while (left) {
			unsigned long hva;
			long n;

			n = vm->backend->resolve(ctx, gfn, left, write, &hva);
			if (n <= 0) {
				ret = n ? n : -KVM_EFAULT;
				goto unwind;
			}
			/* m->pages has room for the ranges, no more. */
			n = min_t(long, n, left);

			while (n > 0) {
				long got;

				got = vm->backend->pin(ctx, hva,
						       min_t(long, n,
							     PVDMA_PIN_BATCH),
						       write, m->pages + done);
				if (got <= 0) {
					ret = got ? got : -PVDMA_EIO;
					goto unwind;
				}
				done += got;
				if (!pvdma_pins_bounded(m->pages + done - got,
							got)) {
					ret = -PVDMA_ENOSPC;
					goto unwind;
				}
				ret = pvdma_add_chunk(m, hva, gfn, got,
						      done - got);
				if (ret)
					goto unwind;
				hva += got << PAGE_SHIFT;
				gfn += got;
				n -= got;
				left -= got;
				cond_resched();
			}
		}
	}
	return 0;

unwind:
	if (done)
		vm->backend->unpin(m->pages, done, false);
	m->nr_chunks = 0;
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

static size_t pvdma_alloc_bytes(const void *p, size_t size)
{
	return is_vmalloc_addr(p) ? PAGE_ALIGN(size) : kmalloc_size_roundup(size);
}

/*
 * Host memory that tracks one mapping, as allocated: what
 * kvm.pvdma_tracker_bytes reports and the per-page cost is measured by.
 */
static size_t pvdma_mapping_bytes(const struct pvdma_mapping *m)
{
	return kmalloc_size_roundup(sizeof(*m)) +
	       kmalloc_size_roundup(array_size(m->max_chunks,
					       sizeof(*m->chunks))) +
	       pvdma_alloc_bytes(m->pages,
				 array_size(m->nr_pages, sizeof(*m->pages)));
}

static void pvdma_mapping_free(struct pvdma_mapping *m)
{
	kvfree(m->pages);
	kfree(m->chunks);
	kfree(m);
}

/* Make the mapping's pages visible to invalidations, or hide them again. */
static void pvdma_track(struct pvdma_vm *vm, struct pvdma_mapping *m,
			bool track)
{
	unsigned int i;

	spin_lock(&vm->gfn_lock);
	for (i = 0; i < m->nr_chunks; i++) {
		if (track)
			interval_tree_insert(&m->chunks[i].hva, &vm->pinned);
		else
			interval_tree_remove(&m->chunks[i].hva, &vm->pinned);
	}
	spin_unlock(&vm->gfn_lock);
}

struct pvdma_track_arg {
	struct pvdma_vm *vm;
	struct pvdma_mapping *m;
};

static void pvdma_track_locked(void *arg)
{
	struct pvdma_track_arg *a = arg;

	pvdma_track(a->vm, a->m, true);
}

/* The status page was written: the backend logs it for dirty tracking. */
static void __pvdma_write_shared(struct pvdma_vm *vm, u64 epoch)
{
	lockdep_assert_held(&vm->gfn_lock);

	WRITE_ONCE(vm->shared->epoch, epoch);
	set_bit(PVDMA_VM_SHARED_UNLOGGED, &vm->flags);
}

static void __pvdma_bump_epoch(struct pvdma_vm *vm)
{
	lockdep_assert_held(&vm->gfn_lock);

	/* Never 0: a guest reads 0 from a page the host never wrote. */
	if (!++vm->epoch)
		vm->epoch = 1;
	if (vm->shared)
		__pvdma_write_shared(vm, vm->epoch);
}

/*
 * The memory behind the status page went away, or may have: the host can
 * no longer reach what the guest reads there.  It writes 0, which the
 * guest takes as "register again", into the page it has pinned (which may
 * still be the one the guest reads, as for shared memory, which keeps its
 * page) and stops writing to it.  The pin goes when the guest registers a
 * page again, or at the next hypercall (pvdma_reap_shared()): unpinning
 * may sleep.
 *
 * If the VMM put other memory behind the guest frame, with a copy of the
 * page in it (a new memslot, a new mapping), the guest reads the old
 * epoch there and would never learn; so the 0 must also reach the memory
 * the frame leads to now, which only the backend can write, once it is
 * there (pvdma_tell_lost()).
 */
static void __pvdma_lose_shared(struct pvdma_vm *vm)
{
	lockdep_assert_held(&vm->gfn_lock);

	if (!vm->shared)
		return;
	__pvdma_write_shared(vm, 0);
	vm->shared = NULL;
	vm->shared_lost = true;
	set_bit(PVDMA_VM_SHARED_UNTOLD, &vm->flags);
}

/*
 * The host memory behind a status page lost earlier changes again (the
 * VMM maps something new there): the guest must read 0 in that too.
 */
static void __pvdma_lost_page_changed(struct pvdma_vm *vm,
				      unsigned long first, unsigned long last)
{
	lockdep_assert_held(&vm->gfn_lock);

	if (vm->shared_lost && vm->shared_hva >= first &&
	    vm->shared_hva <= last)
		set_bit(PVDMA_VM_SHARED_UNTOLD, &vm->flags);
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

/*
 * Events after which every page is where it was: only the protection (or
 * the dirty tracking) of the mappings changed.  mprotect(), NUMA balancing
 * (change_prot_numa()), userfaultfd write protection and hugetlb
 * protection changes send PROTECTION_VMA; write-protection for writeback
 * and fork send PROTECTION_PAGE; clear_refs sends SOFT_DIRTY.
 */
static bool pvdma_event_keeps_pages(enum mmu_notifier_event event)
{
	switch (event) {
	case MMU_NOTIFY_PROTECTION_VMA:
	case MMU_NOTIFY_PROTECTION_PAGE:
	case MMU_NOTIFY_SOFT_DIRTY:
		return true;
	default:
		return false;
	}
}

/*
 * Can the end of an invalidation tell whether @page still backs its host
 * virtual address?  For a small anonymous page the VMM maps exclusively it
 * can: such a page is mapped by one page table entry of one mm, at the
 * address its anon rmap gives, so "still mapped" means "still there".
 * Pins make pages exclusive (FOLL_PIN unshares), so every pinned anonymous
 * page is one, except large folios, whose per-page mapcount is not
 * exposed, and pages the VMM shares with another process.
 */
static bool pvdma_page_checkable(struct page *page)
{
	struct folio *folio = page_folio(page);

	return !folio_test_large(folio) && folio_test_anon(folio) &&
	       PageAnonExclusive(page);
}

/*
 * The pinned pages of chunk @c within host virtual pages [@first, @last]:
 * m->pages[*@lo..*@hi].  The interval tree only returns overlapping chunks.
 */
static void pvdma_chunk_span(const struct pvdma_chunk *c, unsigned long first,
			     unsigned long last, unsigned long *lo,
			     unsigned long *hi)
{
	*lo = c->first + max(c->hva.start, first) - c->hva.start;
	*hi = c->first + min(c->hva.last, last) - c->hva.start;
}

static bool pvdma_chunk_checkable(const struct pvdma_chunk *c,
				  unsigned long first, unsigned long last)
{
	unsigned long i, lo, hi;

	pvdma_chunk_span(c, first, last, &lo, &hi);
	for (i = lo; i <= hi; i++)
		if (!pvdma_page_checkable(c->m->pages[i]))
			return false;
	return true;
}

/* Did the invalidation unmap a page whose fate it can tell? */
static bool pvdma_page_unmapped(struct page *page)
{
	struct folio *folio = page_folio(page);

	return !folio_test_large(folio) && folio_test_anon(folio) &&
	       !folio_mapped(folio);
}

static bool pvdma_chunk_unmapped(const struct pvdma_chunk *c,
				 unsigned long first, unsigned long last)
{
	unsigned long i, lo, hi;

	pvdma_chunk_span(c, first, last, &lo, &hi);
	for (i = lo; i <= hi; i++)
		if (pvdma_page_unmapped(c->m->pages[i]))
			return true;
	return false;
}

static bool pvdma_shared_in(struct pvdma_vm *vm, unsigned long first,
			    unsigned long last)
{
	lockdep_assert_held(&vm->gfn_lock);

	return vm->shared && vm->shared_hva >= first && vm->shared_hva <= last;
}

/**
 * pvdma_invalidate_start - host memory behind guest frames may go away
 * @vm:		the tracker.
 * @start:	first host virtual address.
 * @end:	one past the last.
 * @event:	what the invalidation does (&mmu_notifier_range.event).
 *
 * The pins keep the old pages, but a guest frame may come to be backed by
 * another: then the guest must drop what it kept (the epoch moves), and a
 * status page there is lost.  Protection changes keep every page.  A
 * PTE-clearing event (%MMU_NOTIFY_CLEAR) is sent by discards, but also by
 * KSM, khugepaged, migration and reclaim, which all give up on a pinned
 * page and put it back: for pages whose fate the end of the invalidation
 * can check (pvdma_page_checkable()), the decision waits until then.
 *
 * Context: an MMU notifier's invalidate_range_start, after KVM has made
 * the invalidation visible to pvdma_map()'s retry check.  May not sleep.
 */
void pvdma_invalidate_start(struct pvdma_vm *vm, unsigned long start,
			    unsigned long end, enum mmu_notifier_event event)
{
	struct interval_tree_node *node;
	unsigned long first, last;

	if (start >= end || pvdma_event_keeps_pages(event))
		return;
	first = start >> PAGE_SHIFT;
	last = (end - 1) >> PAGE_SHIFT;

	spin_lock(&vm->gfn_lock);
	for (node = interval_tree_iter_first(&vm->pinned, first, last); node;
	     node = interval_tree_iter_next(node, first, last)) {
		if (event != MMU_NOTIFY_CLEAR ||
		    !pvdma_chunk_checkable(container_of(node, struct pvdma_chunk,
							hva), first, last)) {
			__pvdma_bump_epoch(vm);
			break;
		}
	}
	if (pvdma_shared_in(vm, first, last) &&
	    (event != MMU_NOTIFY_CLEAR ||
	     !pvdma_page_checkable(vm->shared_page)))
		__pvdma_lose_shared(vm);
	__pvdma_lost_page_changed(vm, first, last);
	spin_unlock(&vm->gfn_lock);
}

/**
 * pvdma_invalidate_end - an invalidation of host memory is over
 * @vm:		the tracker.
 * @start:	first host virtual address.
 * @end:	one past the last.
 * @event:	what the invalidation did.
 *
 * For the pages pvdma_invalidate_start() left undecided: a page that is
 * no longer mapped was taken away (madvise(MADV_DONTNEED), munmap of a
 * part...), one that is mapped was put back (KSM merge, huge page
 * collapse, migration or reclaim given up because of the pin).
 *
 * Context: an MMU notifier's invalidate_range_end, before KVM lets the
 * guest fault the range in again.  May not sleep.
 */
void pvdma_invalidate_end(struct pvdma_vm *vm, unsigned long start,
			  unsigned long end, enum mmu_notifier_event event)
{
	struct interval_tree_node *node;
	unsigned long first, last;

	if (start >= end || event != MMU_NOTIFY_CLEAR)
		return;
	first = start >> PAGE_SHIFT;
	last = (end - 1) >> PAGE_SHIFT;

	spin_lock(&vm->gfn_lock);
	for (node = interval_tree_iter_first(&vm->pinned, first, last); node;
	     node = interval_tree_iter_next(node, first, last)) {
		if (pvdma_chunk_unmapped(container_of(node, struct pvdma_chunk,
						      hva), first, last)) {
			__pvdma_bump_epoch(vm);
			break;
		}
	}
	if (pvdma_shared_in(vm, first, last) &&
	    pvdma_page_unmapped(vm->shared_page))
		__pvdma_lose_shared(vm);
	spin_unlock(&vm->gfn_lock);
}

/**
 * pvdma_slot_changed - a memslot was deleted or moved, or its frames must
 *			now be logged
 * @vm:		the tracker.
 * @hva:	host virtual address of the memslot.
 * @npages:	its size in pages.
 * @gone:	the memslot was deleted or moved: its guest frames are no
 *		longer backed by its memory.
 *
 * Only a memslot with pinned pages moves the epoch: otherwise no
 * translation the guest keeps is concerned.  When dirty logging is
 * switched on (!@gone) the pinned pages stay, but their device writes must
 * now be logged at unmap, which a kept translation would never do.
 *
 * Context: process context.  The backend serializes memslot
 * changes (KVM's slots_lock, asserted in kvm_pvdma_memslot_changed()).
 */
void pvdma_slot_changed(struct pvdma_vm *vm, unsigned long hva,
			unsigned long npages, bool gone)
{
	unsigned long first = hva >> PAGE_SHIFT, last = first + npages - 1;

	if (!npages)
		return;
	spin_lock(&vm->gfn_lock);
	if (interval_tree_iter_first(&vm->pinned, first, last))
		__pvdma_bump_epoch(vm);
	if (gone && pvdma_shared_in(vm, first, last))
		__pvdma_lose_shared(vm);
	spin_unlock(&vm->gfn_lock);
}

/**
 * pvdma_shared_unlogged - take the note that the status page was written
 * @vm:		the tracker.
 * @gfn:	out: the guest frame to log.
 *
 * Writes to the status page happen where no vCPU may run (MMU notifiers,
 * memslot updates); the backend logs them when it can.
 *
 * Return: true if there was a write to log.
 */
bool pvdma_shared_unlogged(struct pvdma_vm *vm, u64 *gfn)
{
	if (!test_bit(PVDMA_VM_SHARED_UNLOGGED, &vm->flags) ||
	    !test_and_clear_bit(PVDMA_VM_SHARED_UNLOGGED, &vm->flags))
		return false;
	*gfn = READ_ONCE(vm->shared_gfn);
	return true;
}

/**
 * pvdma_shared_lost - did the status page the guest registered go away?
 * @vm:		the tracker.
 *
 * Until the guest registers one again it cannot learn that a translation
 * went stale, so it must keep none.
 *
 * Return: true if the status page was lost and none registered since.
 */
bool pvdma_shared_lost(struct pvdma_vm *vm)
{
	return READ_ONCE(vm->shared_lost);
}

/**
 * pvdma_lost_gfn - the guest frame of a lost status page
 * @vm:		the tracker.
 * @untold:	only if the guest may not have read 0 there yet.
 * @gfn:	out: the frame.
 *
 * Return: true if there is such a frame: pvdma_tell_lost() it.
 */
bool pvdma_lost_gfn(struct pvdma_vm *vm, bool untold, u64 *gfn)
{
	if (untold && !test_bit(PVDMA_VM_SHARED_UNTOLD, &vm->flags))
		return false;
	if (!READ_ONCE(vm->shared_lost))
		return false;
	*gfn = READ_ONCE(vm->shared_gfn);
	return true;
}

/**
 * pvdma_tell_lost - write 0 where the guest reads its lost status page now
 * @vm:		the tracker.
 * @gfn:	the frame pvdma_lost_gfn() gave.
 * @zero:	writes 0 to the epoch in the memory that backs @gfn now, without
 *		sleeping (the backend faults it in first); returns true if it
 *		did.
 * @ctx:	passed to @zero.
 *
 * The page is the guest's for as long as it is lost: the guest frees it
 * only after clearing it, which pvdma_clear_shared() does under the same
 * lock, as a new registration does.  So nothing is written once the guest
 * has let go of the frame.  The write is logged like the host's others.
 *
 * Return: true if the guest was told.
 */
bool pvdma_tell_lost(struct pvdma_vm *vm, u64 gfn, bool (*zero)(void *ctx),
		     void *ctx)
{
	bool told = false;

	spin_lock(&vm->gfn_lock);
	if (vm->shared_lost && vm->shared_gfn == gfn && zero(ctx)) {
		clear_bit(PVDMA_VM_SHARED_UNTOLD, &vm->flags);
		set_bit(PVDMA_VM_SHARED_UNLOGGED, &vm->flags);
		told = true;
	}
	spin_unlock(&vm->gfn_lock);
	return told;
}

/**
 * pvdma_reap_shared - unpin a lost status page
 * @vm:		the tracker.
 *
 * Context: process context.
 */
void pvdma_reap_shared(struct pvdma_vm *vm)
{
	struct page *page = NULL;

	if (!READ_ONCE(vm->shared_lost))
		return;
	spin_lock(&vm->gfn_lock);
	if (vm->shared_lost) {
		page = vm->shared_page;
		vm->shared_page = NULL;
	}
	spin_unlock(&vm->gfn_lock);
	if (page)
		vm->backend->unpin(&page, 1, true);
}

struct pvdma_shared_arg {
	struct pvdma_vm *vm;
	struct page *page;
	unsigned long hva;
	u64 gfn;
	struct page *old;
};

/* Install the new status page; called under the backend's commit lock. */
static void pvdma_install_shared(void *arg)
{
	struct pvdma_shared_arg *a = arg;
	struct pvdma_vm *vm = a->vm;

	spin_lock(&vm->gfn_lock);
	a->old = vm->shared_page;
	vm->shared_page = a->page;
	vm->shared = page_address(a->page);
	vm->shared_hva = a->hva >> PAGE_SHIFT;
	vm->shared_gfn = a->gfn;
	vm->shared_lost = false;
	clear_bit(PVDMA_VM_SHARED_UNTOLD, &vm->flags);
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
 * until replaced, cleared or the VM is destroyed, or soon after it is lost
 * (its memory goes away, see pvdma_invalidate_start()).  Like a map, it is
 * pinned again if an invalidation raced with the pin, at most
 * %PVDMA_PIN_TRIES times.
 *
 * Return: 0, -PVDMA_EAGAIN if every try raced (nothing changed), or a
 * negative -KVM_E* / -PVDMA_E* code from the backend.
 */
long pvdma_set_shared(struct pvdma_vm *vm, void *ctx, u64 gfn)
{
	struct pvdma_shared_arg arg = { .vm = vm, .gfn = gfn };
	struct pvdma_chunk c = { .gfn = gfn, .npages = 1 };
	unsigned long seq = 0;
	unsigned int tries;
	long ret;

	for (tries = 1;; tries++) {
		if (vm->backend->commit)
			seq = vm->backend->mmu_seq(ctx);
		ret = vm->backend->resolve(ctx, gfn, 1, true, &arg.hva);
		if (ret <= 0)
			return ret ? ret : -KVM_EFAULT;
		ret = vm->backend->pin(ctx, arg.hva, 1, true, &arg.page);
		if (ret != 1)
			return ret < 0 ? ret : -PVDMA_EIO;
		if (!pvdma_pins_bounded(&arg.page, 1)) {
			vm->backend->unpin(&arg.page, 1, false);
			return -PVDMA_ENOSPC;
		}
		if (!vm->backend->commit) {
			pvdma_install_shared(&arg);
			break;
		}
		c.hva.start = arg.hva >> PAGE_SHIFT;
		c.hva.last = c.hva.start;
		if (vm->backend->commit(ctx, seq, &c, 1, pvdma_install_shared,
					&arg))
			break;
		vm->backend->unpin(&arg.page, 1, false);
		if (tries == PVDMA_PIN_TRIES || fatal_signal_pending(current))
			return -PVDMA_EAGAIN;
		cond_resched();
	}

	if (arg.old)
		vm->backend->unpin(&arg.old, 1, true);
	return 0;
}

/**
 * pvdma_clear_shared - stop writing to the guest's status page and unpin it
 * @vm:		the tracker.
 *
 * The guest is about to free the page.  The epoch keeps counting, so a page
 * registered later starts from the current value.
 *
 * Context: process context.
 */
void pvdma_clear_shared(struct pvdma_vm *vm)
{
	struct page *old;

	spin_lock(&vm->gfn_lock);
	old = vm->shared_page;
	vm->shared_page = NULL;
	vm->shared = NULL;
	vm->shared_lost = false;
	clear_bit(PVDMA_VM_SHARED_UNTOLD, &vm->flags);
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
 * The pages become visible to invalidations (pvdma_invalidate_start())
 * only after they are pinned.  An invalidation in between would replace
 * the memory behind a frame without finding it, and the guest would be
 * handed the orphaned page: so the backend's sequence is taken before
 * pinning and checked when the pages are tracked, and the pages are
 * pinned again if an invalidation got in between, at most
 * %PVDMA_PIN_TRIES times (see there).
 *
 * Context: process context of the VMM (the vCPU thread): may sleep.
 * Return: 0, -PVDMA_EAGAIN if every try raced with an invalidation (then
 * nothing is pinned), or another negative -KVM_E* / -PVDMA_E* code.
 */
long pvdma_map(struct pvdma_vm *vm, void *ctx, struct pvdma_map_req *req,
	       int (*publish)(void *ctx, const struct pvdma_map_req *req))
{
	bool write = req->dir & PVDMA_MAP_FROM_DEVICE;
	struct pvdma_track_arg arg = { .vm = vm };
	struct pvdma_mapping *m;
	unsigned long nr_pages;
	unsigned int tries;
	long ret;
	u32 id;

	ret = pvdma_validate_ranges(req->ranges, req->nr_ranges,
				    vm->limits.max_map_pages, &nr_pages);
	if (ret)
		return ret;

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -PVDMA_ENOMEM;
	m->dir = req->dir;
	m->nr_pages = nr_pages;
	m->max_chunks = req->nr_ranges;
	m->chunks = kmalloc_array(m->max_chunks, sizeof(*m->chunks),
				  GFP_KERNEL_ACCOUNT);
	m->pages = kvmalloc_array(nr_pages, sizeof(*m->pages),
				  GFP_KERNEL_ACCOUNT);
	if (!m->chunks || !m->pages) {
		ret = -PVDMA_ENOMEM;
		goto out_free;
	}

	mutex_lock(&vm->lock);
	ret = pvdma_charge(vm, nr_pages);
	mutex_unlock(&vm->lock);
	if (ret)
		goto out_free;

	arg.m = m;
	for (tries = 1;; tries++) {
		unsigned long seq = 0;

		if (vm->backend->commit)
			seq = vm->backend->mmu_seq(ctx);
		ret = pvdma_pin_all(vm, ctx, m, req, write);
		if (ret)
			goto out_uncharge;
		ret = pvdma_build_segs(m, req);
		if (ret)
			goto out_unpin;
		if (!vm->backend->commit) {
			pvdma_track(vm, m, true);
			break;
		}
		if (vm->backend->commit(ctx, seq, m->chunks, m->nr_chunks,
					pvdma_track_locked, &arg))
			break;
		/* Host memory behind the frames changed meanwhile: again. */
		vm->backend->unpin(m->pages, nr_pages, false);
		if (tries == PVDMA_PIN_TRIES || fatal_signal_pending(current)) {
			ret = -PVDMA_EAGAIN;
			goto out_uncharge;
		}
		cond_resched();
	}

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
	pvdma_track(vm, m, false);
out_unpin:
	vm->backend->unpin(m->pages, nr_pages, false);
out_uncharge:
	mutex_lock(&vm->lock);
	pvdma_uncharge(vm, nr_pages);
	mutex_unlock(&vm->lock);
out_free:
	pvdma_mapping_free(m);
	return ret;
}

/* Must the device's writes to @m be logged at unmap? */
static bool pvdma_must_log(struct pvdma_vm *vm, void *ctx,
			   const struct pvdma_mapping *m)
{
	return (m->dir & PVDMA_MAP_FROM_DEVICE) && ctx &&
	       vm->backend->mark_dirty;
}

static unsigned long pvdma_dirty_room(struct pvdma_vm *vm, void *ctx,
				      unsigned long *limit)
{
	if (!vm->backend->dirty_room) {
		*limit = ULONG_MAX;
		return ULONG_MAX;
	}
	return vm->backend->dirty_room(ctx, limit);
}

/* Room logging the frames of @m not logged yet takes. */
static unsigned long pvdma_dirty_cost(struct pvdma_vm *vm, void *ctx,
				      const struct pvdma_mapping *m)
{
	unsigned long skip = m->logged, cost = 0;
	unsigned int i;

	if (!vm->backend->dirty_cost)
		return 0;
	for (i = 0; i < m->nr_chunks; i++) {
		const struct pvdma_chunk *c = &m->chunks[i];

		if (skip >= c->npages) {
			skip -= c->npages;
			continue;
		}
		cost += vm->backend->dirty_cost(ctx, c->gfn + skip,
						c->npages - skip);
		skip = 0;
	}
	return cost;
}

/*
 * Log the frames of @m from *@logged on, as far as *@room goes, advancing
 * both.  Returns true once every frame is logged.
 */
static bool pvdma_log_dirty(struct pvdma_vm *vm, void *ctx,
			    const struct pvdma_mapping *m,
			    unsigned long *logged, unsigned long *room)
{
	unsigned long skip = *logged;
	unsigned int i;

	lockdep_assert_held(&vm->lock);

	for (i = 0; i < m->nr_chunks; i++) {
		const struct pvdma_chunk *c = &m->chunks[i];
		unsigned long n;

		if (skip >= c->npages) {
			skip -= c->npages;
			continue;
		}
		n = vm->backend->mark_dirty(ctx, c->gfn + skip,
					    c->npages - skip, room);
		*logged += n;
		if (n < c->npages - skip)
			return false;
		skip = 0;
		cond_resched();
	}
	return true;
}

/* A mapping taken out of the tracker: count it gone. */
static void pvdma_count_unmap(struct pvdma_vm *vm, struct pvdma_mapping *m)
{
	lockdep_assert_held(&vm->lock);

	vm->counters.unmaps++;
	vm->counters.tracker_bytes -= pvdma_mapping_bytes(m);
}

/*
 * Unpin one mapping taken out of the tracker, and only then give the
 * charge back: until a page is really unpinned it must count against the
 * limits.  Unpinned outside vm->lock, so other vCPUs keep mapping
 * meanwhile.
 */
static void pvdma_release(struct pvdma_vm *vm, struct pvdma_mapping *m)
{
	unsigned long nr_pages = m->nr_pages;

	pvdma_track(vm, m, false);
	vm->backend->unpin(m->pages, nr_pages, m->dir & PVDMA_MAP_FROM_DEVICE);
	pvdma_mapping_free(m);
	mutex_lock(&vm->lock);
	pvdma_uncharge(vm, nr_pages);
	mutex_unlock(&vm->lock);
	cond_resched();
}

/**
 * pvdma_unmap_one - release one mapping, logging its device writes first
 * @vm:		the tracker.
 * @ctx:	passed to the backend (KVM: the calling vCPU).
 * @handle:	the handle.
 *
 * Pages the device may have written are logged dirty before the pins go.
 * If the backend has no room to log them all (KVM's dirty ring), as many as
 * fit are logged, the mapping remembers how far it got and -%PVDMA_EAGAIN
 * tells the guest to repeat the call once the backend made room (KVM: the
 * vCPU exits to its VMM, which harvests the ring).  The mapping is being
 * released from the first call on: the device must not touch it again.
 *
 * Context: process context: may sleep.
 * Return: 0, -%PVDMA_ENOENT for a handle that is not live, -%PVDMA_EAGAIN.
 */
long pvdma_unmap_one(struct pvdma_vm *vm, void *ctx, u64 handle)
{
	struct pvdma_mapping *m;
	unsigned long room, limit;

	mutex_lock(&vm->lock);
	m = handle > U32_MAX ? NULL : xa_load(&vm->handles, handle);
	if (!m) {
		mutex_unlock(&vm->lock);
		return -PVDMA_ENOENT;
	}
	if (pvdma_must_log(vm, ctx, m)) {
		room = pvdma_dirty_room(vm, ctx, &limit);
		if (!pvdma_log_dirty(vm, ctx, m, &m->logged, &room)) {
			mutex_unlock(&vm->lock);
			return -PVDMA_EAGAIN;
		}
	}
	xa_erase(&vm->handles, handle);
	pvdma_count_unmap(vm, m);
	mutex_unlock(&vm->lock);

	pvdma_release(vm, m);
	return 0;
}

/*
 * Log what fits of the batch's frames, without keeping the progress: the
 * ring reaches its soft limit, and KVM makes the vCPU exit to its VMM to
 * harvest it.  The frames really are dirty (the guest unmaps them because
 * the device is done), so logging them early loses nothing; the repeated
 * batch logs them again, as a batch that did not happen keeps no progress.
 */
static void pvdma_log_ahead(struct pvdma_vm *vm, void *ctx,
			    struct pvdma_mapping **found, unsigned int nr,
			    unsigned long room)
{
	unsigned long logged;
	unsigned int i;

	for (i = 0; i < nr && room; i++) {
		if (!pvdma_must_log(vm, ctx, found[i]))
			continue;
		logged = found[i]->logged;
		pvdma_log_dirty(vm, ctx, found[i], &logged, &room);
	}
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
 * -%KVM_EINVAL.  Device writes are logged before anything is released; if
 * the backend cannot log them all now (KVM: room in the dirty ring), the
 * call fails with -%PVDMA_EAGAIN once it made sure room will be made, or
 * with -%KVM_E2BIG if they are more than half of the most room there can
 * be (a batch that big could keep missing its chance): the guest then
 * releases the mappings one by one, with pvdma_unmap_one().
 *
 * Context: process context: may sleep.
 * Return: 0 or a negative -KVM_E* / -PVDMA_E* code.
 */
long pvdma_unmap(struct pvdma_vm *vm, void *ctx, const u64 *handles,
		 unsigned int nr)
{
	unsigned long cost = 0, room, limit, logged;
	struct pvdma_mapping **found;
	unsigned int i, marked;
	long ret = 0;

	found = kvmalloc_array(nr, sizeof(*found), GFP_KERNEL_ACCOUNT);
	if (!found)
		return -PVDMA_ENOMEM;

	mutex_lock(&vm->lock);
	/* XA_MARK_1 flags handles seen in this call, to catch duplicates. */
	for (marked = 0; marked < nr; marked++) {
		u64 h = handles[marked];

		found[marked] = h > U32_MAX ? NULL : xa_load(&vm->handles, h);
		if (!found[marked]) {
			ret = -PVDMA_ENOENT;
			goto out_clear;
		}
		if (xa_get_mark(&vm->handles, h, XA_MARK_1)) {
			ret = -KVM_EINVAL;
			goto out_clear;
		}
		xa_set_mark(&vm->handles, h, XA_MARK_1);
	}

	for (i = 0; i < nr; i++)
		if (pvdma_must_log(vm, ctx, found[i]))
			cost += pvdma_dirty_cost(vm, ctx, found[i]);
	if (cost) {
		room = pvdma_dirty_room(vm, ctx, &limit);
		if (cost > limit / 2) {
			ret = -KVM_E2BIG;
			goto out_clear;
		}
		if (cost > room) {
			pvdma_log_ahead(vm, ctx, found, nr, room);
			ret = -PVDMA_EAGAIN;
			goto out_clear;
		}
	}
	room = pvdma_dirty_room(vm, ctx, &limit);
	for (i = 0; i < nr; i++) {
		if (!pvdma_must_log(vm, ctx, found[i]))
			continue;
		logged = found[i]->logged;
		/* Only if logging was switched on meanwhile. */
		if (!pvdma_log_dirty(vm, ctx, found[i], &logged, &room)) {
			ret = -PVDMA_EAGAIN;
			goto out_clear;
		}
	}

	for (i = 0; i < nr; i++) {
		xa_erase(&vm->handles, handles[i]);
		pvdma_count_unmap(vm, found[i]);
	}
	mutex_unlock(&vm->lock);

	for (i = 0; i < nr; i++)
		pvdma_release(vm, found[i]);
	kvfree(found);
	return 0;

out_clear:
	while (marked--)
		xa_clear_mark(&vm->handles, handles[marked], XA_MARK_1);
	mutex_unlock(&vm->lock);
	kvfree(found);
	return ret;
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
	vm->pinned = RB_ROOT_CACHED;
	mmgrab(mm);
	vm->mm = mm;
	vm->backend = backend;
	vm->limits = *limits;
	return vm;
}

/* Release every mapping, without logging: no vCPU is there to log. */
static void pvdma_release_all(struct pvdma_vm *vm)
{
	struct pvdma_mapping *m;
	unsigned long id;
	void *entry;

	xa_for_each(&vm->handles, id, entry) {
		/* What is there now: another vCPU may have unmapped it. */
		mutex_lock(&vm->lock);
		m = xa_erase(&vm->handles, id);
		if (m)
			pvdma_count_unmap(vm, m);
		mutex_unlock(&vm->lock);
		if (m)
			pvdma_release(vm, m);
	}
}

/**
 * pvdma_reset - release every mapping and the status page of a VM
 * @vm:		the tracker.
 *
 * For %PVDMA_PROBE_RESET: a new guest kernel wants nothing of the old
 * one's, and promises that no device uses what is released.  The pages are
 * not logged dirty (what the device wrote there belongs to the kernel that
 * is gone), and the old status page is not written to again: it is the new
 * kernel's memory now.  The epoch keeps counting, so that a status page
 * registered afterwards never shows a value seen before.  A map that
 * another vCPU is making meanwhile may survive.
 *
 * Context: process context.
 */
void pvdma_reset(struct pvdma_vm *vm)
{
	pvdma_release_all(vm);
	pvdma_clear_shared(vm);
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
	if (!vm)
		return;

	pvdma_release_all(vm);
	WARN_ON_ONCE(vm->counters.pinned_pages || vm->counters.live_handles ||
		     vm->counters.tracker_bytes);
	if (vm->shared_page)
		vm->backend->unpin(&vm->shared_page, 1, true);
	xa_destroy(&vm->handles);
	mmdrop(vm->mm);
	mutex_destroy(&vm->lock);
	kfree(vm);
}
