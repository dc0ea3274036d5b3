/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * PVDMA pinning engine: guest ranges -> pinned pages -> coalesced host-physical
 * scatter list, plus the per-VM tracker that owns every pin.
 *
 * The engine knows nothing of KVM.  Whoever drives it supplies a
 * &struct pvdma_pin_backend that turns guest frames into host virtual
 * addresses and pins them; KVM uses memslots and pin_user_pages_fast(), the
 * KUnit suites use a fake.  Errors are returned as negative -KVM_E* or
 * -PVDMA_E* codes from <linux/pvdma.h>, ready to hand back to the guest.
 */
#ifndef _PVDMA_PIN_SG_H
#define _PVDMA_PIN_SG_H

#include <linux/interval_tree.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/xarray.h>
#include <linux/pvdma.h>

struct pvdma_mapping;

/**
 * struct pvdma_chunk - guest frames pinned through one host virtual range
 * @hva:	the host virtual pages, as page numbers (address >> PAGE_SHIFT):
 *		the key of &pvdma_vm.pinned, where invalidations find it.
 * @gfn:	the guest frame behind the first page.
 * @npages:	pages in the chunk.
 * @first:	index of its first page in the mapping's page array.
 * @m:		the mapping it belongs to.
 *
 * A range of a map is pinned in one chunk per host virtual range its frames
 * resolve to (one per memslot it crosses).
 */
struct pvdma_chunk {
	struct interval_tree_node hva;
	u64 gfn;
	unsigned long npages;
	unsigned long first;
	struct pvdma_mapping *m;
};

/**
 * struct pvdma_pin_backend - how the engine reaches guest memory
 * @resolve:	find the host virtual address backing guest frame @gfn.  Returns
 *		how many frames from @gfn (at most @max) are backed by one
 *		virtually contiguous host range starting at *@hva, or a negative
 *		-KVM_E* / -PVDMA_E* code (no memslot, private, read-only with
 *		@write, ...).
 * @pin:	pin @npages pages from @hva long-term, writable if @write.
 *		Returns how many were pinned (possibly fewer) or a negative
 *		-KVM_E* / -PVDMA_E* code.  Pinned pages go to @pages.
 * @unpin:	release @npages pins taken by @pin, marking them dirty if
 *		@dirty.
 * @mmu_seq:	optional, with @commit: snapshot the count of finished
 *		invalidations of guest memory, before anything is pinned.
 * @commit:	run @fn(@arg) under the lock that orders it against
 *		invalidations of guest memory, unless an invalidation that
 *		may concern the frames of @chunks finished since @seq was
 *		taken or is still running; then return false without calling
 *		@fn, and the engine pins again.  This is KVM's own protocol
 *		(mmu_invalidate_seq, mmu_invalidate_retry_gfn()) for pages it
 *		maps, applied to pages it hands to a device.
 * @dirty_room:	optional: how many frames may be logged now without losing
 *		one (KVM: room in the vCPU's dirty ring below its soft limit;
 *		ULONG_MAX when unbounded).  *@limit is set to the most there can
 *		ever be.  When it returns 0, the backend has arranged for the
 *		vCPU to exit to its VMM, which makes room, before the guest runs
 *		again.
 * @dirty_cost:	optional, with @dirty_room: how much room logging @npages
 *		frames from @gfn takes (frames in memslots without dirty
 *		logging take none).
 * @mark_dirty:	optional: log guest frames from @gfn as written by the
 *		device, in order, as long as *@room lasts, which it decreases.
 *		Returns how many of the @npages frames are done (logged, or
 *		needing no log).  Called on unmap of device-writable mappings
 *		while the VM is alive.
 *
 * @ctx is what the caller handed to the engine call (KVM: the vCPU).
 */
struct pvdma_pin_backend {
	long (*resolve)(void *ctx, u64 gfn, unsigned long max, bool write,
			unsigned long *hva);
	long (*pin)(void *ctx, unsigned long hva, unsigned long npages,
		    bool write, struct page **pages);
	void (*unpin)(struct page **pages, unsigned long npages, bool dirty);
	unsigned long (*mmu_seq)(void *ctx);
	bool (*commit)(void *ctx, unsigned long seq,
		       const struct pvdma_chunk *chunks, unsigned int nr,
		       void (*fn)(void *arg), void *arg);
	unsigned long (*dirty_room)(void *ctx, unsigned long *limit);
	unsigned long (*dirty_cost)(void *ctx, u64 gfn, unsigned long npages);
	unsigned long (*mark_dirty)(void *ctx, u64 gfn, unsigned long npages,
				    unsigned long *room);
};

/**
 * struct pvdma_limits - per-VM limits, fixed when the VM is opted in
 * @max_pinned_pages:	pages this VM may hold pinned at once.
 * @max_handles:	mappings this VM may hold at once.
 * @max_map_pages:	pages one map may cover.
 */
struct pvdma_limits {
	unsigned long max_pinned_pages;
	unsigned long max_handles;
	unsigned long max_map_pages;
};

/**
 * struct pvdma_counters - what the tracker counts, mirrored into KVM stats
 * @pinned_pages:	pages pinned now.
 * @live_handles:	mappings live now.
 * @tracker_bytes:	host memory the tracker uses for live mappings.
 * @maps:		successful maps.
 * @unmaps:		mappings released by the guest.
 * @fail_invalid:	maps/unmaps refused for malformed arguments.
 * @fail_fault:		maps refused for a GPA not pinnable as guest RAM.
 * @fail_limit:		maps refused by a limit.
 * @fail_nomem:		maps failed for lack of host memory.
 * @fail_handle:	unmaps of handles that were not live.
 */
struct pvdma_counters {
	u64 pinned_pages;
	u64 live_handles;
	u64 tracker_bytes;
	u64 maps;
	u64 unmaps;
	u64 fail_invalid;
	u64 fail_fault;
	u64 fail_limit;
	u64 fail_nomem;
	u64 fail_handle;
};

/* &pvdma_vm.flags */
#define PVDMA_VM_SHARED_UNLOGGED	0	/* status page written, not logged */
#define PVDMA_VM_SHARED_UNTOLD		1	/* lost, the guest may not read 0 */

/**
 * struct pvdma_vm - the pin tracker of one VM
 * @lock:	serialises handle insertion/removal against limit checks and
 *		@counters, and the dirty logging of unmaps; never held while
 *		pinning, so a slow fault in one vCPU does not stall the others.
 * @handles:	live mappings, indexed by handle.
 * @next_handle: cyclic allocation cursor, so a stale handle is unlikely to
 *		name a new mapping.
 * @gfn_lock:	protects @pinned, @epoch and the status page fields; a
 *		spinlock because invalidations arrive from MMU notifiers.
 * @pinned:	interval tree of the host virtual pages of every live
 *		mapping (&pvdma_chunk.hva), so an invalidation of host memory
 *		finds pinned frames in O(log n).
 * @epoch:	translation epoch, see &struct pvdma_shared.
 * @shared:	the guest's status page, or NULL; mapped through the direct
 *		map of @shared_page.
 * @shared_page: the pinned page behind @shared, or of a lost status page
 *		until it is reaped.
 * @shared_hva:	the host virtual page number of the status page.
 * @shared_gfn:	its guest frame.
 * @shared_lost: a status page was registered, but its memory went away: the
 *		guest must register one again; @shared is NULL.
 * @flags:	%PVDMA_VM_SHARED_UNLOGGED, %PVDMA_VM_SHARED_UNTOLD.
 * @mm:		the VMM's mm, charged in pinned_vm for every pinned page.
 *		Held with mmgrab() because the VM may be destroyed from a
 *		task other than the VMM.
 * @backend:	how guest memory is resolved and pinned.
 * @limits:	per-VM limits.
 * @counters:	statistics, protected by @lock.
 */
struct pvdma_vm {
	struct mutex lock;	/* limits, counters, handles, unmap logging */
	struct xarray handles;
	u32 next_handle;
	spinlock_t gfn_lock;	/* @pinned, @epoch, the status page */
	struct rb_root_cached pinned;
	u64 epoch;
	struct pvdma_shared *shared;
	struct page *shared_page;
	unsigned long shared_hva;
	u64 shared_gfn;
	bool shared_lost;
	unsigned long flags;
	struct mm_struct *mm;
	const struct pvdma_pin_backend *backend;
	struct pvdma_limits limits;
	struct pvdma_counters counters;
};

/**
 * struct pvdma_map_req - one map request, already copied from the guest
 * @ranges:	guest-physical ranges, validated by pvdma_validate_ranges().
 * @nr_ranges:	number of @ranges.
 * @dir:	%PVDMA_MAP_TO_DEVICE and/or %PVDMA_MAP_FROM_DEVICE.
 * @max_segs:	capacity of @segs.
 * @segs:	out: merged host-physical segments.
 * @nr_segs:	out: number of valid @segs.
 * @handle:	out: the new handle.
 */
struct pvdma_map_req {
	const struct pvdma_range *ranges;
	unsigned int nr_ranges;
	u32 dir;
	unsigned int max_segs;
	struct pvdma_seg *segs;
	unsigned int nr_segs;
	u64 handle;
};

/*
 * A page whose reference count is above this is not pinned again.  Every
 * FOLL_PIN of a small folio adds GUP_PIN_COUNTING_BIAS (1024) to it, so
 * without a bound some 2^21 pins of one page, by one VM or by several
 * sharing it, would overflow the count.  The margin above the bound takes
 * pins made concurrently by others before they see it.
 */
#define PVDMA_PAGE_REF_CEILING	(INT_MAX / 2)

/*
 * Pins of one map (or status page) that an invalidation may make stale
 * before the call gives up with -PVDMA_EAGAIN.  KVM's own faults retry
 * without bound, but each retry re-enters the guest; a map that keeps
 * losing the race to a stream of invalidations (of any memory of the VM:
 * KVM's sequence count does not say where) would keep the vCPU in the host
 * for as long as the stream lasts.  The guest repeats the call, or
 * bounces.
 */
#define PVDMA_PIN_TRIES		8

struct pvdma_vm *pvdma_vm_create(struct mm_struct *mm,
				 const struct pvdma_pin_backend *backend,
				 const struct pvdma_limits *limits);
void pvdma_vm_destroy(struct pvdma_vm *vm);
void pvdma_reset(struct pvdma_vm *vm);

long pvdma_validate_ranges(const struct pvdma_range *ranges,
			   unsigned int nr_ranges, unsigned long max_pages,
			   unsigned long *nr_pages);
long pvdma_map(struct pvdma_vm *vm, void *ctx, struct pvdma_map_req *req,
	       int (*publish)(void *ctx, const struct pvdma_map_req *req));
long pvdma_unmap(struct pvdma_vm *vm, void *ctx, const u64 *handles,
		 unsigned int nr);
long pvdma_unmap_one(struct pvdma_vm *vm, void *ctx, u64 handle);
void pvdma_count_failure(struct pvdma_vm *vm, long err);

long pvdma_set_shared(struct pvdma_vm *vm, void *ctx, u64 gfn);
void pvdma_clear_shared(struct pvdma_vm *vm);
void pvdma_reap_shared(struct pvdma_vm *vm);
bool pvdma_shared_lost(struct pvdma_vm *vm);
bool pvdma_shared_unlogged(struct pvdma_vm *vm, u64 *gfn);
bool pvdma_lost_gfn(struct pvdma_vm *vm, bool untold, u64 *gfn);
bool pvdma_tell_lost(struct pvdma_vm *vm, u64 gfn, bool (*zero)(void *ctx),
		     void *ctx);

void pvdma_bump_epoch(struct pvdma_vm *vm);
void pvdma_invalidate_start(struct pvdma_vm *vm, unsigned long start,
			    unsigned long end, enum mmu_notifier_event event);
void pvdma_invalidate_end(struct pvdma_vm *vm, unsigned long start,
			  unsigned long end, enum mmu_notifier_event event);
void pvdma_slot_changed(struct pvdma_vm *vm, unsigned long hva,
			unsigned long npages, bool gone);

#endif /* _PVDMA_PIN_SG_H */
