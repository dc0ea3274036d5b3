// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma bounce pool, built in: the kernel's own swiotlb.
 *
 * Built into the kernel, pvdma can call swiotlb directly, so it bounces
 * through the kernel's default swiotlb pool instead of keeping a second
 * pool of its own (pvdma_bounce_own.c, which the module must use: swiotlb
 * exports nothing).  Like swiotlb-xen, which makes its pool
 * machine-contiguous segment by segment, pvdma pins the pool once, one
 * KVM_HC_PVDMA_MAP per 256 KiB segment (IO_TLB_SEGSIZE slots; fewer pages
 * per call if the host maps fewer), records the host address of each page,
 * and keeps it pinned for the guest's life.  Bouncing then costs a copy and
 * no hypercall.
 *
 * Where the pool comes from:
 *  - x86 sets swiotlb up at boot only when it needs it (more than 4 GiB of
 *    RAM, or confidential computing).  Otherwise pvdma creates it at
 *    arch_initcall with swiotlb_init_late(), pinning each segment from the
 *    remap callback, and sets x86_swiotlb_enable, as iommu=soft would:
 *    otherwise pci_iommu_init() (rootfs_initcall) would tear the pool down
 *    under pvdma with swiotlb_exit().  (Only an AMD GART, which KVM does
 *    not emulate, would clear it again there.)
 *  - If the pool exists already, pvdma pins it as it is, whatever its size
 *    (swiotlb= sizes it; bounce_size is ignored), after stopping swiotlb
 *    from growing into unpinned pools (default_swiotlb_base()).
 * If either fails, pvdma_bounce_start() falls back to its own pool.
 *
 * A swiotlb mapping lies within one segment, which is contiguous in the
 * guest but not necessarily on the host.  So a mapping swiotlb hands out is
 * kept only if it lies in the pinned pool, its pages are host-contiguous,
 * and it ends below the device's DMA mask without crossing its segment
 * boundary.  Otherwise pvdma holds on to it and asks swiotlb again, a few
 * times (holding makes swiotlb pick other slots), then releases what it
 * held; if no try fits, the bounce fails and the caller counts
 * fail_no_bounce_space.  Unlike the own pool, a bounced buffer keeps only
 * the offset swiotlb keeps (the device's min_align_mask), as it does for
 * every other device.
 *
 * The pool is shared: dma-direct may bounce other devices' DMA through it
 * too.  bounce_used counts only what pvdma holds.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/dma-mapping.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>
#include <asm/iommu.h>

#include "pvdma_bounce.h"
#include "pvdma_bounce_frames.h"
#include "pvdma_internal.h"

/* One swiotlb segment: no mapping crosses it.  256 KiB. */
#define PVDMA_SEG_BYTES		(IO_TLB_SEGSIZE << IO_TLB_SHIFT)
#define PVDMA_SEG_PAGES		(PVDMA_SEG_BYTES >> PAGE_SHIFT)
#define PVDMA_SLOTS_PER_PAGE	(PAGE_SIZE >> IO_TLB_SHIFT)

/* swiotlb_init_late() cannot allocate a pool of 1 MiB or less. */
#define PVDMA_SW_MIN_SIZE	SZ_2M

/* Mappings held while asking swiotlb again for one the device can use. */
#define PVDMA_SW_TRIES		4

/* orig_addr of pvdma_sw_alloc() memory: swiotlb never copies it. */
#define PVDMA_SW_NO_ORIG	(~(phys_addr_t)0)

/*
 * What pvdma handed out at a slot: @nr slots from here, within a swiotlb
 * mapping of @bytes that starts @lead slots before (coherent memory is cut
 * from a larger mapping, see pvdma_sw_alloc()).  @nr is 0 when free.
 */
struct pvdma_sw_slot {
	u16 nr;
	u16 lead;
	u32 bytes;
};

/*
 * The pinned pool.  Everything but @slots, @coherent, @used and @copied
 * is written only by init and exit, when no device maps.  Runs of @fr
 * never cross a segment: swiotlb maps within one.
 */
struct pvdma_sw {
	phys_addr_t start;	/* guest-physical start of the pool */
	unsigned int pin_pages;	/* pages per KVM_HC_PVDMA_MAP */
	unsigned int nr_pins;	/* live handles in @handles */
	struct pvdma_pool_frames fr;
	u64 *handles;
	struct pvdma_sw_slot *slots;
	unsigned long *coherent; /* slots of pvdma_sw_alloc() memory */
	atomic_t used;		/* slots pvdma handed out */
	atomic64_t copied;	/* bytes swiotlb copied for pvdma */
};

static struct pvdma_sw sw;

/* Is DMA address @addr in the pool?  If so, *@tlb is its guest address. */
static bool pvdma_sw_tlb(dma_addr_t addr, phys_addr_t *tlb)
{
	s64 off = pvdma_frames_offset(&sw.fr, addr);

	if (off < 0)
		return false;
	*tlb = sw.start + off;
	return true;
}

static unsigned int pvdma_sw_slot(phys_addr_t tlb)
{
	return (tlb - sw.start) >> IO_TLB_SHIFT;
}

/* Slots a mapping of @size bytes at @tlb occupies. */
static unsigned int pvdma_sw_nr_slots(phys_addr_t tlb, size_t size)
{
	return DIV_ROUND_UP((tlb & (IO_TLB_SIZE - 1)) + size, IO_TLB_SIZE);
}

static void pvdma_sw_free(void)
{
	pvdma_frames_free(&sw.fr);
	kfree(sw.handles);
	kfree(sw.slots);
	bitmap_free(sw.coherent);
	memset(&sw, 0, sizeof(sw));
}

/* Pin the swiotlb pool at @start, @bytes long: one MAP per segment. */
static int pvdma_sw_pin(phys_addr_t start, size_t bytes)
{
	unsigned int nr_slots = bytes >> IO_TLB_SHIFT, nr_pages, first, nr;
	void *desc;
	int ret;

	if (!PAGE_ALIGNED(start) || !bytes || bytes % PVDMA_SEG_BYTES) {
		pr_err("the swiotlb pool at %pa is not made of whole segments; boot without pvdma=on or report it\n",
		       &start);
		return -EINVAL;
	}
	sw.start = start;
	nr_pages = bytes >> PAGE_SHIFT;
	sw.pin_pages = min_t(u32, PVDMA_SEG_PAGES,
			     rounddown_pow_of_two(pvdma_host_limits.max_map_pages));
	nr = DIV_ROUND_UP(nr_pages, sw.pin_pages);

	ret = -ENOMEM;
	sw.handles = kcalloc(nr, sizeof(*sw.handles), GFP_KERNEL);
	sw.slots = kcalloc(nr_slots, sizeof(*sw.slots), GFP_KERNEL);
	sw.coherent = bitmap_zalloc(nr_slots, GFP_KERNEL);
	desc = (void *)get_zeroed_page(GFP_KERNEL);
	if (!sw.handles || !sw.slots || !sw.coherent || !desc ||
	    pvdma_frames_alloc(&sw.fr, nr_pages, PVDMA_SEG_PAGES)) {
		pr_err("no memory to track the swiotlb pool; boot with a smaller swiotlb=\n");
		goto err;
	}

	for (first = 0; first < nr_pages; first += sw.pin_pages) {
		ret = pvdma_frames_pin(&sw.fr, "swiotlb",
				       "raise the host's pin limits or boot with a smaller swiotlb=",
				       sw.start + PFN_PHYS(first), first,
				       sw.pin_pages, desc,
				       &sw.handles[sw.nr_pins]);
		if (ret)
			goto err;
		sw.nr_pins++;
	}
	ret = pvdma_frames_index(&sw.fr, "swiotlb");
	if (ret)
		goto err;
	free_page((unsigned long)desc);
	pr_info("swiotlb pool [mem %pa] %u KiB pinned with %u MAPs; host addresses from %#llx, runs up to %u pages\n",
		&sw.start, sw.fr.nr_pages << (PAGE_SHIFT - 10), sw.nr_pins,
		sw.fr.lowest, sw.fr.max_run);
	return 0;

err:
	if (sw.handles)
		pvdma_frames_unpin(sw.handles, sw.nr_pins, "swiotlb");
	free_page((unsigned long)desc);
	pvdma_sw_free();
	return ret;
}

/* swiotlb_init_late()'s remap callback: pin the new pool. */
static int pvdma_sw_remap(void *tlb, unsigned long nslabs)
{
	return pvdma_sw_pin(virt_to_phys(tlb), nslabs << IO_TLB_SHIFT);
}

/**
 * pvdma_sw_init() - pin the kernel's swiotlb pool, creating it if needed
 * @size: bytes of a pool pvdma creates (at least 2 MiB, a power of two);
 *	  0 means no pool.  Ignored if swiotlb has a pool already.
 *
 * Must run after pvdma_host_limits is known and before any device is
 * attached.  Built in, at arch_initcall; may run again after
 * pvdma_sw_exit() (KUnit), and then pins the pool it created the first
 * time.
 *
 * Return: 0, -ENOMEM, -ENOSPC if the host refuses to pin, -EPROTO if its
 * answer is malformed, or -EINVAL if the pool is unusable.
 */
static int pvdma_sw_init(unsigned long size)
{
	phys_addr_t base;
	size_t bytes;
	int ret;

	if (!size)
		return 0;

	if (is_swiotlb_allocated()) {
		/* Also stops swiotlb from growing into unpinned pools. */
		base = default_swiotlb_base();
		bytes = default_swiotlb_limit() + 1 - base;
		pr_info("pinning the kernel's swiotlb pool as it is: %zu KiB (size it with swiotlb=, not bounce_size)\n",
			bytes >> 10);
		return pvdma_sw_pin(base, bytes);
	}

	size = roundup_pow_of_two(max_t(unsigned long, size,
					PVDMA_SW_MIN_SIZE));
	/*
	 * Until initcalls are done, the boot task's memory policy interleaves
	 * allocations over all NUMA nodes (numa_policy_init()), which would
	 * put the pool on whichever node comes next.  __GFP_THISNODE keeps it
	 * on this CPU's node, like the rest of the boot-time kernel, so where
	 * it lies on the host does not depend on allocation order.  If that
	 * node has no room, swiotlb tries smaller pools, then pvdma falls back
	 * to its own.
	 */
	ret = swiotlb_init_late(size, GFP_KERNEL | __GFP_THISNODE,
				pvdma_sw_remap);
	if (!ret && !is_swiotlb_allocated())
		ret = -ENODEV;	/* swiotlb=noforce */
	if (!ret && (default_swiotlb_base() != sw.start ||
		     default_swiotlb_limit() + 1 != sw.start +
						   PFN_PHYS(sw.fr.nr_pages)))
		ret = -EINVAL;
	if (ret) {
		/* The pool may have been pinned, then freed by swiotlb. */
		if (sw.nr_pins)
			pvdma_frames_unpin(sw.handles, sw.nr_pins, "swiotlb");
		pvdma_sw_free();
		pr_err("cannot set up swiotlb as the bounce pool (%d); boot with swiotlb=noforce removed or a smaller bounce_size\n",
		       ret);
		return ret;
	}
	/* Keep pci_iommu_init() from freeing the pool: as iommu=soft. */
	x86_swiotlb_enable = true;
	return 0;
}

/**
 * pvdma_sw_exit() - unpin the swiotlb pool
 *
 * swiotlb keeps the pool: it has no way to free it after boot, and may
 * bounce other devices' DMA through it.  Runs with no mapping live.
 */
static void pvdma_sw_exit(void)
{
	if (!sw.fr.nr_pages)
		return;
	WARN(atomic_read(&sw.used), "pvdma: %d swiotlb slots still in use\n",
	     atomic_read(&sw.used));
	pvdma_frames_unpin(sw.handles, sw.nr_pins, "swiotlb");
	pvdma_sw_free();
}

/**
 * pvdma_sw_is() - is a DMA address in the pinned swiotlb pool?
 * @addr: DMA address pvdma handed out
 *
 * Return: true if @addr lies in the pool.
 */
static bool pvdma_sw_is(dma_addr_t addr)
{
	phys_addr_t tlb;

	return pvdma_sw_tlb(addr, &tlb);
}

/**
 * pvdma_sw_max_size() - largest buffer the pool can take at any offset
 *
 * Return: bytes, 0 without a pool or if no two pool pages are contiguous.
 */
static size_t pvdma_sw_max_size(void)
{
	return pvdma_frames_max_size(&sw.fr);
}

/**
 * pvdma_sw_below() - can the pool serve a device with this DMA mask?
 * @mask: the device's DMA mask
 *
 * Return: true if some of the pool lies below @mask on the host.
 */
static bool pvdma_sw_below(u64 mask)
{
	return pvdma_frames_below(&sw.fr, mask);
}

/**
 * pvdma_sw_copied() - bytes swiotlb copied for pvdma so far
 *
 * Return: the count, for debugfs and the benchmark.
 */
static u64 pvdma_sw_copied(void)
{
	return atomic64_read(&sw.copied);
}

/**
 * pvdma_sw_pages() - size of the pinned pool
 *
 * Return: pages pinned, 0 without a pool.
 */
static unsigned int pvdma_sw_pages(void)
{
	return sw.fr.nr_pages;
}

/**
 * pvdma_sw_used() - pool memory pvdma holds
 *
 * Return: pages' worth of swiotlb slots held now; a snapshot.
 */
static unsigned int pvdma_sw_used(void)
{
	return DIV_ROUND_UP(atomic_read(&sw.used), PVDMA_SLOTS_PER_PAGE);
}

/*
 * The DMA address of @size bytes of the pool at @tlb, if the device can use
 * them: in the pinned pool, host-contiguous, below @limit, within the
 * segment boundary and aligned to @align on the host.
 */
static dma_addr_t pvdma_sw_dma(phys_addr_t tlb, size_t size, u64 limit,
			       u64 boundary, u64 align)
{
	unsigned long i;
	u64 start, end;

	if (tlb < sw.start || tlb - sw.start + size > PFN_PHYS(sw.fr.nr_pages))
		return DMA_MAPPING_ERROR;
	i = PFN_DOWN(tlb - sw.start);
	if (sw.fr.contig[i] < PFN_UP(offset_in_page(tlb) + size))
		return DMA_MAPPING_ERROR;
	start = sw.fr.hpa[i] + offset_in_page(tlb);
	end = start + size - 1;
	if (end > limit || (start & ~boundary) != (end & ~boundary) ||
	    (start & (align - 1)))
		return DMA_MAPPING_ERROR;
	return start;
}

/*
 * Find @size bytes in swiotlb's mapping of @bytes at @map that the device
 * can use, aligned to @align (a power of two, at most a page unless
 * coherent) in the guest and on the host.  Return the DMA address, with
 * the pool address in *@tlb, or %DMA_MAPPING_ERROR.
 */
static dma_addr_t pvdma_sw_fit(phys_addr_t map, size_t bytes, size_t size,
			       u64 limit, u64 boundary, u64 align,
			       phys_addr_t *tlb)
{
	dma_addr_t addr;
	size_t off;

	for (off = 0; off + size <= bytes; off += PAGE_SIZE) {
		if ((map + off) & (align - 1))
			continue;
		addr = pvdma_sw_dma(map + off, size, limit, boundary, align);
		if (addr != DMA_MAPPING_ERROR) {
			*tlb = map + off;
			return addr;
		}
	}
	return DMA_MAPPING_ERROR;
}

/*
 * Map @bytes at @orig through swiotlb (which copies them in unless @orig
 * is PVDMA_SW_NO_ORIG) and keep @size of them the device can use (see
 * pvdma_sw_fit()).  If none fit, hold the mapping and ask again: swiotlb
 * then picks other slots.  Return the DMA address and the pool address
 * (*@tlb), or %DMA_MAPPING_ERROR (logged unless @caller_attrs has
 * %DMA_ATTR_NO_WARN).
 */
static dma_addr_t pvdma_sw_get(struct device *dev, phys_addr_t orig,
			       size_t bytes, size_t size, u64 mask, u64 align,
			       phys_addr_t *tlb, unsigned long caller_attrs)
{
	bool coherent = orig == PVDMA_SW_NO_ORIG;
	u64 limit = min_not_zero(mask, dev->bus_dma_limit);
	u64 boundary = dma_get_seg_boundary(dev);
	/* Page-aligned at most: larger alignments make swiotlb warn. */
	unsigned int align_mask = coherent ? PAGE_SIZE - 1 : 0;
	unsigned long attrs = DMA_ATTR_NO_WARN;
	dma_addr_t addr = DMA_MAPPING_ERROR;
	phys_addr_t held[PVDMA_SW_TRIES], map = 0;
	struct pvdma_sw_slot *slot;
	unsigned int n = 0, k;

	if (!sw.fr.nr_pages || !size)
		goto err_log;
	if (coherent)
		attrs |= DMA_ATTR_SKIP_CPU_SYNC;
	while (n < ARRAY_SIZE(held)) {
		map = swiotlb_tbl_map_single(dev, orig, bytes, align_mask,
					     DMA_BIDIRECTIONAL, attrs);
		if (map == (phys_addr_t)DMA_MAPPING_ERROR)
			break;
		if (!coherent)
			atomic64_add(bytes, &sw.copied);
		addr = pvdma_sw_fit(map, bytes, size, limit, boundary, align,
				    tlb);
		if (addr != DMA_MAPPING_ERROR)
			break;
		held[n++] = map;
	}
	for (k = 0; k < n; k++)
		swiotlb_tbl_unmap_single(dev, held[k], bytes, DMA_BIDIRECTIONAL,
					 DMA_ATTR_SKIP_CPU_SYNC);
	if (addr != DMA_MAPPING_ERROR) {
		k = pvdma_sw_nr_slots(*tlb, size);
		slot = &sw.slots[pvdma_sw_slot(*tlb)];
		slot->lead = (*tlb - map) >> IO_TLB_SHIFT;
		slot->bytes = bytes;
		/* Last: makes the mapping releasable. */
		smp_store_release(&slot->nr, k);
		atomic_add(k, &sw.used);
		return addr;
	}

err_log:
	if (caller_attrs & DMA_ATTR_NO_WARN)
		return DMA_MAPPING_ERROR;
	if (!sw.fr.nr_pages)
		dev_err_ratelimited(dev, "pvdma: no bounce pool (bounce_size=0); the mapping fails\n");
	else if (sw.fr.lowest + size - 1 > limit)
		dev_err_ratelimited(dev, "pvdma: the swiotlb pool has no memory below the DMA mask %#llx; the mapping fails\n",
				    limit);
	else
		dev_err_ratelimited(dev, "pvdma: the swiotlb pool has no room for %zu bytes on host-contiguous pages; the mapping fails (raise bounce_size or swiotlb=)\n",
				    size);
	return DMA_MAPPING_ERROR;
}

/**
 * pvdma_sw_map() - bounce a buffer for the device through swiotlb
 * @dev: device that will do the DMA
 * @phys: guest-physical address of the buffer, physically contiguous
 * @size: bytes
 * @mask: DMA mask the device address must fit
 * @attrs: DMA attributes of the mapping; %DMA_ATTR_NO_WARN: no log
 *
 * swiotlb copies the buffer into the pool now, whatever the direction.
 *
 * Return: the DMA address, or %DMA_MAPPING_ERROR if no fitting room.
 */
static dma_addr_t pvdma_sw_map(struct device *dev, phys_addr_t phys,
			       size_t size, u64 mask, unsigned long attrs)
{
	phys_addr_t tlb;

	return pvdma_sw_get(dev, phys, size, size, mask, 1, &tlb, attrs);
}

/**
 * pvdma_sw_alloc() - allocate coherent memory from the swiotlb pool
 * @dev: device that will share the memory
 * @size: bytes
 * @mask: coherent DMA mask the device address must fit
 * @addr: out: DMA address
 * @attrs: DMA attributes of the allocation; %DMA_ATTR_NO_WARN: no log
 *
 * Slots mapped for no buffer (orig_addr all ones, which swiotlb never
 * copies), marked so that syncs leave them alone.  Zeroed, and aligned to
 * the order of @size in the guest and on the host, as dma_alloc_coherent()
 * promises.  swiotlb aligns only to a page without warning, so pvdma maps
 * nearly twice the size (at most a segment) and cuts an aligned window
 * from it.  A device with a min_align_mask gets none.
 *
 * Return: the kernel address, or %NULL if the pool has no fitting room.
 */
static void *pvdma_sw_alloc(struct device *dev, size_t size, u64 mask,
			    dma_addr_t *addr, unsigned long attrs)
{
	unsigned int order = get_order(size), k, n;
	size_t bytes;
	phys_addr_t tlb;
	dma_addr_t dma;

	bytes = PFN_PHYS(max(1U << order,
			     min((2U << order) - 1, (u32)PVDMA_SEG_PAGES)));
	dma = pvdma_sw_get(dev, PVDMA_SW_NO_ORIG, bytes, size, mask,
			   PAGE_SIZE << order, &tlb, attrs);
	if (dma == DMA_MAPPING_ERROR)
		return NULL;
	n = pvdma_sw_nr_slots(tlb, size);
	for (k = pvdma_sw_slot(tlb); n--; k++)
		set_bit(k, sw.coherent);
	memset(phys_to_virt(tlb), 0, PAGE_ALIGN(size));
	*addr = dma;
	return phys_to_virt(tlb);
}

/**
 * pvdma_sw_unmap() - release a bounced buffer or pool allocation
 * @dev: the device
 * @addr: DMA address pvdma_sw_map() or pvdma_sw_alloc() returned
 * @size: size given to it
 * @dir: direction of the mapping
 * @attrs: DMA attributes; %DMA_ATTR_SKIP_CPU_SYNC skips the copy back
 *
 * Return: true, or false (logged) if @addr/@size was not handed out by
 * pvdma; nothing is then released.
 */
static bool pvdma_sw_unmap(struct device *dev, dma_addr_t addr, size_t size,
			   enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma_sw_slot *slot;
	unsigned int k, n, i;
	phys_addr_t tlb;

	if (!pvdma_sw_tlb(addr, &tlb) || !size)
		goto err_bad;
	k = pvdma_sw_slot(tlb);
	n = pvdma_sw_nr_slots(tlb, size);
	slot = &sw.slots[k];
	/* Claims the release: a second unmap of the same mapping fails. */
	if (cmpxchg(&slot->nr, n, 0) != n)
		goto err_bad;
	if (test_bit(k, sw.coherent)) {
		for (i = k; i < k + n; i++)
			clear_bit(i, sw.coherent);
		/* The whole mapping the window was cut from. */
		swiotlb_tbl_unmap_single(dev, tlb - (slot->lead << IO_TLB_SHIFT),
					 slot->bytes, dir,
					 attrs | DMA_ATTR_SKIP_CPU_SYNC);
	} else {
		if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) &&
		    (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL))
			atomic64_add(size, &sw.copied);
		swiotlb_tbl_unmap_single(dev, tlb, size, dir, attrs);
	}
	atomic_sub(n, &sw.used);
	return true;

err_bad:
	dev_err_ratelimited(dev, "pvdma: release of %zu bytes the swiotlb pool did not hand out; nothing released\n",
			    size);
	return false;
}

/**
 * pvdma_sw_sync_for_cpu() - give a bounced range back to the CPU
 * @dev: the device
 * @addr: DMA address within a bounced mapping
 * @size: bytes from @addr
 * @dir: direction of the mapping
 */
static void pvdma_sw_sync_for_cpu(struct device *dev, dma_addr_t addr,
				  size_t size, enum dma_data_direction dir)
{
	phys_addr_t tlb;

	if (dir != DMA_FROM_DEVICE && dir != DMA_BIDIRECTIONAL)
		return;
	if (pvdma_sw_tlb(addr, &tlb) &&
	    !test_bit(pvdma_sw_slot(tlb), sw.coherent)) {
		atomic64_add(size, &sw.copied);
		swiotlb_sync_single_for_cpu(dev, tlb, size, dir);
	}
}

/**
 * pvdma_sw_sync_for_device() - give a bounced range to the device
 * @dev: the device
 * @addr: DMA address within a bounced mapping
 * @size: bytes from @addr
 * @dir: direction of the mapping
 */
static void pvdma_sw_sync_for_device(struct device *dev, dma_addr_t addr,
				     size_t size, enum dma_data_direction dir)
{
	phys_addr_t tlb;

	if (dir != DMA_TO_DEVICE && dir != DMA_BIDIRECTIONAL)
		return;
	if (pvdma_sw_tlb(addr, &tlb) &&
	    !test_bit(pvdma_sw_slot(tlb), sw.coherent)) {
		atomic64_add(size, &sw.copied);
		swiotlb_sync_single_for_device(dev, tlb, size, dir);
	}
}

const struct pvdma_bounce_ops pvdma_bounce_swiotlb = {
	.name			= "swiotlb",
	.init			= pvdma_sw_init,
	.exit			= pvdma_sw_exit,
	.is			= pvdma_sw_is,
	.max_size		= pvdma_sw_max_size,
	.below			= pvdma_sw_below,
	.pages			= pvdma_sw_pages,
	.used			= pvdma_sw_used,
	.copied			= pvdma_sw_copied,
	.map			= pvdma_sw_map,
	.alloc			= pvdma_sw_alloc,
	.unmap			= pvdma_sw_unmap,
	.sync_for_cpu		= pvdma_sw_sync_for_cpu,
	.sync_for_device	= pvdma_sw_sync_for_device,
};
