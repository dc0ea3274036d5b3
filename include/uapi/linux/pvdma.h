/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * PVDMA: paravirtual DMA for KVM guests that drive directly assigned devices
 * on hosts without an IOMMU.
 *
 * This header is the single source of truth for the guest/host ABI: the
 * hypercall numbers, the KVM capability that opts a VM in, the descriptor
 * layouts in guest memory and the error codes.  See
 * Documentation/pvdma/abi.rst for the full contract.
 *
 * Register convention (x86-64, the KVM hypercall ABI): RAX holds the
 * hypercall number, RBX/RCX/RDX/RSI hold arguments a0..a3, and the result is
 * returned in RAX: 0 on success or a negative error code (-KVM_E* or -PVDMA_E*)
 * on failure.  Only 64-bit guests at CPL 0 may use PVDMA.
 *
 * Every descriptor lives in guest-physical memory and is addressed by its
 * guest-physical address (GPA).  Host-physical addresses (HPAs) are only ever
 * written into a &struct pvdma_map_result of a VM that was opted in.
 */
#ifndef _UAPI_LINUX_PVDMA_H
#define _UAPI_LINUX_PVDMA_H

#include <linux/types.h>
#include <linux/kvm_para.h>

/**
 * define PVDMA_ABI_VERSION - version of the ABI in this header
 *
 * Reported by %KVM_HC_PVDMA_PROBE in &struct pvdma_info.abi_version.  A guest
 * must refuse to use a host that reports a different version.
 */
#define PVDMA_ABI_VERSION		0

/**
 * define KVM_HC_PVDMA_BASE - first PVDMA hypercall number
 *
 * Upstream KVM hypercall numbers end at 12 (%KVM_HC_MAP_GPA_RANGE); PVDMA
 * numbers start far above them ("PD" in ASCII) so they can never collide.
 * A host without PVDMA answers all of them with -%KVM_ENOSYS.
 */
#define KVM_HC_PVDMA_BASE		0x50440000

/**
 * define KVM_HC_PVDMA_PROBE - probe the host and read its limits
 *
 * - a0: GPA of a &struct pvdma_info, 8-byte aligned, not crossing a page.
 * - a1: flags: 0, or %PVDMA_PROBE_RESET.
 *
 * Returns 0 and fills in the &struct pvdma_info.  Returns -%KVM_ENOSYS on a
 * host without PVDMA and -%KVM_EPERM if this VM was not opted in (in which
 * case nothing is written), -%KVM_EINVAL for unknown flags or a misaligned
 * or page-crossing &struct pvdma_info, -%KVM_EFAULT if it is not writable
 * guest RAM (then nothing is reset either).
 */
#define KVM_HC_PVDMA_PROBE		(KVM_HC_PVDMA_BASE + 0)

/**
 * define PVDMA_PROBE_RESET - flag of %KVM_HC_PVDMA_PROBE to start from a clean slate
 *
 * Before probing, the host releases every mapping of this VM and forgets
 * its status page, as if the VM had just been created.  A guest kernel
 * sets it when it starts (after a reboot or kexec nothing of an earlier
 * kernel of the same VM is wanted) and when it shuts down, once no device
 * can DMA any more.  The caller guarantees that no device of the VM still
 * uses what is released: a crash (kdump) kernel, whose devices may still
 * be running, must not set it.
 *
 * The released pages are not logged dirty (what a device wrote there was
 * for the kernel that is gone), and the old status page is never written
 * again (it is the new kernel's memory).  The epoch keeps counting, so a
 * status page registered afterwards never shows a value seen before.  A
 * map another vCPU makes at the same moment may survive the reset.
 */
#define PVDMA_PROBE_RESET		(1U << 0)

/**
 * define KVM_HC_PVDMA_MAP - pin guest ranges and return their host physical segments
 *
 * - a0: GPA of an array of a1 &struct pvdma_range, 16-byte aligned, the whole
 *   array within one guest page.
 * - a1: number of ranges, 1..%PVDMA_MAX_RANGES.
 * - a2: GPA of a &struct pvdma_map_result, 16-byte aligned, whose max_segs the
 *   guest has set; it may span pages but must not overlap the ranges.
 * - a3: direction flags, a non-empty combination of %PVDMA_MAP_TO_DEVICE and
 *   %PVDMA_MAP_FROM_DEVICE.
 *
 * All ranges are pinned, or none: on any error nothing stays pinned and the
 * result is not written.  Every page the result may take (with max_segs
 * segments) must be writable guest RAM, which is checked before anything
 * is pinned (-%KVM_EFAULT).  On success the host writes the handle, nr_segs
 * and segs[] of the result, merging host frames that are contiguous (also
 * across ranges) into one segment, and returns 0.  The segments are backed
 * by the pages that back the ranges when the call returns: host memory that
 * changes while the host pins (a discard, say) is pinned again.  If it
 * keeps changing, the host gives up after a few tries and returns
 * -%PVDMA_EAGAIN with nothing pinned; the guest may repeat the call, or
 * serve the mapping otherwise.
 */
#define KVM_HC_PVDMA_MAP		(KVM_HC_PVDMA_BASE + 1)

/**
 * define KVM_HC_PVDMA_UNMAP - release one mapping
 *
 * - a0: handle returned by %KVM_HC_PVDMA_MAP.
 * - a1: flags, must be 0.
 *
 * Unpins every page of the mapping; pages the device may have written are
 * logged dirty first, for dirty logging (migration).  If the VMM logs with
 * KVM's dirty ring and it has no room for them all, the host logs what
 * fits, keeps the pins and returns -%PVDMA_EAGAIN; the vCPU exits to the
 * VMM, which harvests the ring, and the guest repeats the same call until
 * it returns 0.  From the first call on the mapping is being released: the
 * device must not access it again.  Returns 0, -%PVDMA_EAGAIN,
 * -%PVDMA_ENOENT for a handle that is not live, -%KVM_EINVAL for flags.
 */
#define KVM_HC_PVDMA_UNMAP		(KVM_HC_PVDMA_BASE + 2)

/**
 * define KVM_HC_PVDMA_UNMAP_BATCH - release many mappings in one exit
 *
 * - a0: GPA of an array of a1 __u64 handles, 8-byte aligned, within one page.
 * - a1: number of handles, 1..%PVDMA_MAX_BATCH.
 * - a2: flags, must be 0.
 *
 * All or nothing: if any handle is not live, or appears twice, nothing is
 * released and -%PVDMA_ENOENT (resp. -%KVM_EINVAL) is returned.  With
 * KVM's dirty ring, the pages the device may have written must all be
 * logged by this one call: if they do not fit the room the ring has now,
 * nothing is released and -%PVDMA_EAGAIN returned (the vCPU exits to the
 * VMM to harvest the ring; the guest repeats the call); if they are more
 * than half of what the ring holds below its soft limit, -%KVM_E2BIG (the
 * guest releases the mappings one by one with %KVM_HC_PVDMA_UNMAP).
 */
#define KVM_HC_PVDMA_UNMAP_BATCH	(KVM_HC_PVDMA_BASE + 3)

/**
 * define KVM_HC_PVDMA_SET_SHARED - register the page the host writes status to
 *
 * - a0: GPA of a &struct pvdma_shared, page aligned; 0 with
 *   %PVDMA_SHARED_CLEAR.
 * - a1: flags: 0, or %PVDMA_SHARED_CLEAR.
 *
 * The host pins the page until it is cleared or the VM is destroyed (a
 * second call replaces the first page), sets &pvdma_shared.epoch to a
 * non-zero value and from then on increments it whenever a translation it
 * returned may have gone stale (see &struct pvdma_shared).  Its writes are
 * logged dirty like the guest's own.  If the memory behind the page goes
 * away, the host writes 0 to the epoch and stops writing: the guest then
 * registers the page again.  The 0 also reaches memory the VMM puts
 * behind the page's frame instead (a copy of the page, say): a memslot
 * created there gets it before the VMM's ioctl returns, a new mapping by
 * the next PVDMA hypercall.  A guest that keeps translations after unmap
 * (a pin cache) must register one, and clear it before it frees the page.
 *
 * Returns 0, or -%KVM_EINVAL for a misaligned page, unknown flags, or
 * %PVDMA_SHARED_CLEAR with a0 other than 0; -%KVM_EFAULT if the page is
 * outside every visible memslot; -%KVM_EOPNOTSUPP if it is private
 * (guest_memfd) memory; -%PVDMA_EACCES if its memslot is read-only;
 * -%PVDMA_EIO if it is not pinnable RAM; -%PVDMA_ENOSPC if the page is
 * pinned too often already; -%PVDMA_ENOMEM; -%PVDMA_EAGAIN, with the
 * earlier page still registered, if the memory behind the page kept
 * changing while the host pinned it (repeat the call).
 */
#define KVM_HC_PVDMA_SET_SHARED		(KVM_HC_PVDMA_BASE + 4)

/**
 * define PVDMA_SHARED_CLEAR - flag of %KVM_HC_PVDMA_SET_SHARED to forget the page
 *
 * The host stops writing to the registered page and unpins it, so the guest
 * may free it.  Clearing when no page is registered succeeds.
 */
#define PVDMA_SHARED_CLEAR		(1U << 0)

/**
 * define KVM_HC_PVDMA_QUERY - what backs a guest physical range
 *
 * - a0: GPA of the range's first byte, any alignment.
 * - a1: length in bytes, at least 1; a0 + a1 must not exceed 2^64.
 * - a2: flags, must be 0.
 *
 * Returns a non-negative combination of %PVDMA_QUERY_RAM and
 * %PVDMA_QUERY_DEVICE, for whatever part of the range some visible memslot
 * backs: 0 if none does (a hole, or MMIO the VMM emulates), or -%KVM_EINVAL
 * for bad arguments.  Nothing is pinned, and nothing about host addresses
 * is told.  A guest finds the devices assigned to it this way: the VMM maps
 * their BARs from the device's own memory, while an emulated or virtio
 * device's BARs are trapped, not mapped.
 */
#define KVM_HC_PVDMA_QUERY		(KVM_HC_PVDMA_BASE + 5)

/**
 * define PVDMA_QUERY_RAM - answer of %KVM_HC_PVDMA_QUERY when part of the range is host memory
 */
#define PVDMA_QUERY_RAM			(1U << 0)

/**
 * define PVDMA_QUERY_DEVICE - answer of %KVM_HC_PVDMA_QUERY when part of the range is device memory
 *
 * The VMM backs that part with a mapping of device memory (%VM_IO or
 * %VM_PFNMAP, such as a VFIO device's BAR): the guest reaches a directly
 * assigned device there.
 */
#define PVDMA_QUERY_DEVICE		(1U << 1)

/**
 * define KVM_CAP_PVDMA - the per VM opt in, enabled with KVM_ENABLE_CAP
 *
 * args[0] must be 0.  Only a caller with CAP_SYS_ADMIN may enable it, and
 * only before the VM has vCPUs.  %KVM_CHECK_EXTENSION returns 1 if the host
 * supports PVDMA.  Upstream capabilities end at 238 in Linux 6.12; this
 * number is chosen far above them.
 */
#define KVM_CAP_PVDMA			0x5044

/* Limits of the ABI; a host may report lower ones in &struct pvdma_info. */

/**
 * define PVDMA_MAX_RANGES - most ranges per %KVM_HC_PVDMA_MAP (one page)
 */
#define PVDMA_MAX_RANGES		256

/**
 * define PVDMA_MAX_SEGS - most segments a &struct pvdma_map_result holds
 */
#define PVDMA_MAX_SEGS			1023

/**
 * define PVDMA_MAX_BATCH - most handles per %KVM_HC_PVDMA_UNMAP_BATCH
 */
#define PVDMA_MAX_BATCH			512

/**
 * define PVDMA_MAP_TO_DEVICE - the device reads the ranges
 */
#define PVDMA_MAP_TO_DEVICE		(1U << 0)

/**
 * define PVDMA_MAP_FROM_DEVICE - the device writes the ranges
 *
 * The host refuses read-only memslots and pins with FOLL_WRITE.
 */
#define PVDMA_MAP_FROM_DEVICE		(1U << 1)

/**
 * define PVDMA_MAP_BIDIRECTIONAL - the device reads and writes the ranges
 */
#define PVDMA_MAP_BIDIRECTIONAL	(PVDMA_MAP_TO_DEVICE | PVDMA_MAP_FROM_DEVICE)

/**
 * DOC: Generic error codes
 *
 * Error codes are returned negated in RAX.  The generic ones come from
 * <linux/kvm_para.h>; the PVDMA_E* ones follow.
 *
 * -KVM_ENOSYS
 *	the host has no PVDMA.
 * -KVM_EPERM
 *	the VM is not opted in, or the caller is not at CPL 0.  A VM that is
 *	not opted in thus learns that the host has PVDMA, and nothing else.
 * -KVM_EINVAL
 *	malformed arguments: unknown flags, zero or overflowing length,
 *	misaligned descriptor, descriptor crossing a page or overlapping the
 *	result, 32-bit caller, duplicate handle.
 * -KVM_E2BIG
 *	too many ranges, pages or handles in one call, the result needs more
 *	segments than max_segs, or a batched unmap has more pages to log than
 *	the dirty ring takes.
 * -KVM_EFAULT
 *	a GPA is not backed by a visible memslot, or the result is not
 *	writable guest RAM.
 * -KVM_EOPNOTSUPP
 *	a range lies in a private (guest_memfd) memslot.
 *
 * On any error nothing is pinned, nothing is charged, and the result is
 * not written.
 */

/**
 * define PVDMA_ENOENT - the handle is not live
 */
#define PVDMA_ENOENT			2

/**
 * define PVDMA_EIO - the range is not pinnable RAM (PFNMAP or IO mapping)
 */
#define PVDMA_EIO			5

/**
 * define PVDMA_EAGAIN - nothing went wrong, but the call must be repeated
 *
 * The host could not finish the call now without losing information, for
 * instance because KVM's dirty ring has no room for the pages an unmap
 * must log.  The guest issues the same call again; the host makes the
 * vCPU exit to its VMM in between, so the condition clears.  A map or a
 * status page whose host memory kept changing while the host pinned it
 * fails the same way, with nothing pinned.
 */
#define PVDMA_EAGAIN			11

/**
 * define PVDMA_ENOMEM - the host ran out of memory
 */
#define PVDMA_ENOMEM			12

/**
 * define PVDMA_EACCES - a mapping the device writes, of a read only memslot
 */
#define PVDMA_EACCES			13

/**
 * define PVDMA_ENOSPC - a pin limit was reached
 *
 * The per-VM page or handle limit, the VMM's RLIMIT_MEMLOCK, or a page that
 * is pinned so often already (by this VM or others) that more pins could
 * overflow its reference count.  Nothing was pinned; the guest should fall
 * back to bouncing.
 */
#define PVDMA_ENOSPC			28

/**
 * struct pvdma_info - what %KVM_HC_PVDMA_PROBE reports
 * @abi_version:	%PVDMA_ABI_VERSION of the host.
 * @flags:		reserved, 0.
 * @max_ranges:		most ranges per map.
 * @max_segs:		most segments per map result.
 * @max_map_pages:	most pages per map.
 * @max_batch:		most handles per batched unmap.
 * @max_pinned_pages:	this VM's limit of pinned pages.
 * @max_handles:	this VM's limit of live handles.
 */
struct pvdma_info {
	__u32 abi_version;
	__u32 flags;
	__u32 max_ranges;
	__u32 max_segs;
	__u32 max_map_pages;
	__u32 max_batch;
	__u64 max_pinned_pages;
	__u64 max_handles;
};

/**
 * struct pvdma_range - a guest-physical range to map
 * @gpa:	guest-physical start address, any alignment.
 * @len:	length in bytes, at least 1; gpa + len must not overflow, not
 *		even to exactly 2^64.
 */
struct pvdma_range {
	__u64 gpa;
	__u64 len;
};

/**
 * struct pvdma_seg - a host-physical segment, as the device must see it
 * @addr:	host-physical start address.
 * @len:	length in bytes.
 *
 * The segments of a result cover the ranges in order, byte for byte; the
 * first segment starts at the offset of the first range within its page.
 */
struct pvdma_seg {
	__u64 addr;
	__u64 len;
};

/**
 * define PVDMA_RESULT_NO_CACHE - do not keep this mapping after use
 *
 * Set in &pvdma_map_result.flags when a range lies in a memslot with dirty
 * logging enabled: the host marks device-written pages dirty at unmap, so the
 * guest must unmap as soon as the device is done instead of caching the
 * mapping.  Also set while the guest's status page is lost (see
 * &struct pvdma_shared): the guest could not learn that the mapping went
 * stale.
 */
#define PVDMA_RESULT_NO_CACHE		(1U << 0)

/**
 * struct pvdma_map_result - output of %KVM_HC_PVDMA_MAP
 * @handle:	out: names the mapping for unmap; never 0.
 * @nr_segs:	out: number of valid entries in @segs.
 * @max_segs:	in: capacity of @segs, 1..%PVDMA_MAX_SEGS.
 * @flags:	out: %PVDMA_RESULT_NO_CACHE or 0.
 * @segs:	out: the host-physical segments.
 */
struct pvdma_map_result {
	__u64 handle;
	__u32 nr_segs;
	__u16 max_segs;
	__u16 flags;
	struct pvdma_seg segs[];
};

/**
 * struct pvdma_shared - status the host writes for the guest, without exits
 * @epoch:	the translation epoch.  The host increments it whenever a
 *		guest-physical address of a live mapping may now be backed by
 *		different host memory, or its device writes must now be
 *		logged: a memslot with pinned pages was deleted or moved, or
 *		had dirty logging switched on; or the host memory behind a
 *		pinned page was replaced (discarded or remapped by the VMM).
 *		It does not move for changes that keep every page where it is:
 *		memslots without pins, dirty logging switched off, protection
 *		changes (mprotect(), NUMA balancing), and KSM, migration or
 *		reclaim, which leave pinned pages alone.  (A change the host
 *		cannot tell apart, such as the split of a transparent huge
 *		page, moves it too.)  A guest must stop using every
 *		translation it kept from an older epoch, and unmap it, before
 *		mapping anew.
 *
 *		0 means the host lost the page: its memslot was deleted or
 *		moved, or the VMM discarded or remapped its memory.  The
 *		guest reads 0 in whatever memory backs the page's frame
 *		afterwards (see %KVM_HC_PVDMA_SET_SHARED).  The host
 *		no longer writes to it otherwise and flags every map result
 *		%PVDMA_RESULT_NO_CACHE; the guest keeps nothing and registers
 *		the page again with %KVM_HC_PVDMA_SET_SHARED, which makes the
 *		host write a newer epoch.
 *
 * The rest of the page is reserved.
 */
struct pvdma_shared {
	__u64 epoch;
};

#endif /* _UAPI_LINUX_PVDMA_H */
