// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma bounce pool: where a mapping goes when translation cannot serve it.
 *
 * pvdma's own pool, behind the interface of pvdma_bounce.h.  The stock
 * kernel's swiotlb exports nothing to modules, so the module keeps this
 * pool; built in, pvdma bounces through the kernel's swiotlb instead
 * (pvdma_bounce_swiotlb.c) and uses this pool only if swiotlb cannot
 * serve.  Both keep the same contract.  The pool is bounce_size bytes in
 * chunks of 256 KiB (fewer pages if the host maps fewer per call).  Each
 * chunk is physically contiguous in the guest and pinned with one
 * bidirectional KVM_HC_PVDMA_MAP when pvdma starts; it stays pinned until
 * pvdma stops.  The host address of every pool page is recorded, so
 * bouncing costs a copy and no hypercall.
 *
 * A chunk is contiguous in the guest but not necessarily on the host.  A
 * run of pool pages is therefore handed out only if it lies in one chunk,
 * is host-contiguous, ends below the device's DMA mask and does not cross
 * its segment boundary.  A bounced buffer keeps its offset within its page,
 * so any alignment up to a page survives bouncing.  Each handed-out run
 * remembers the bytes it serves, and no sync or unmap copies beyond them:
 * past them lie other data of the driver's page, or another mapping.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "pvdma_bounce.h"
#include "pvdma_bounce_frames.h"
#include "pvdma_internal.h"

#define PVDMA_CHUNK_SIZE	SZ_256K

/* The chunk handles are released from one page by KVM_HC_PVDMA_UNMAP_BATCH. */
#define PVDMA_MAX_CHUNKS	(PAGE_SIZE / sizeof(u64))

/* orig[] of pages from pvdma_bounce_alloc(): shared memory, never copied. */
#define PVDMA_NO_ORIG		((phys_addr_t)-1)

/*
 * The pool.  Everything but @bitmap, @used, @run, @head, @off, @size and
 * @orig is written only by pvdma_own_init() and pvdma_own_exit(), when no
 * device maps.  Runs of @fr never cross a chunk: chunks are apart in the
 * guest.
 */
struct pvdma_pool {
	unsigned long *bitmap;	/* pages handed out */
	unsigned int used;	/* pages handed out */
	unsigned int nr_pages;
	unsigned int chunk_pages;
	unsigned int nr_chunks;
	struct pvdma_pool_frames fr;
	struct page **chunks;
	u64 *handles;		/* one page: KVM_HC_PVDMA_UNMAP_BATCH reads it */
	u16 *run;		/* at a handed-out run's first page: its length */
	unsigned int *head;	/* first page of the run a page was handed in */
	u16 *off;		/* at a run's first page: where the bytes start */
	u32 *size;		/* at a run's first page: how many bytes */
	phys_addr_t *orig;	/* guest address each page shadows */
};

static struct pvdma_pool pool;
static DEFINE_SPINLOCK(pvdma_pool_lock);	/* protects bitmap, used, run */
/* Bytes copied to or from the pool since start: what bouncing costs. */
static atomic64_t pvdma_pool_copied = ATOMIC64_INIT(0);

static void *pvdma_pool_va(unsigned int i)
{
	return page_address(pool.chunks[i / pool.chunk_pages]) +
	       (i % pool.chunk_pages) * PAGE_SIZE;
}

/* Pool page holding DMA address @addr, or -1 if @addr is not in the pool. */
static long pvdma_pool_index(dma_addr_t addr)
{
	s64 off = pvdma_frames_offset(&pool.fr, addr);

	return off < 0 ? -1 : off >> PAGE_SHIFT;
}

static void pvdma_pool_free(void)
{
	bitmap_free(pool.bitmap);
	kfree(pool.chunks);
	free_page((unsigned long)pool.handles);
	pvdma_frames_free(&pool.fr);
	kfree(pool.run);
	kfree(pool.head);
	kfree(pool.off);
	kfree(pool.size);
	kfree(pool.orig);
	memset(&pool, 0, sizeof(pool));
}

static void pvdma_chunk_free(struct page *page)
{
	unsigned int i;

	for (i = 0; i < pool.chunk_pages; i++)
		__free_page(page + i);
}

/* Release chunks [0, @nr): unpin in as few exits as possible, then free. */
static void pvdma_pool_unpin(unsigned int nr)
{
	unsigned int i;

	pvdma_frames_unpin(pool.handles, nr, "bounce");
	for (i = 0; i < nr; i++)
		pvdma_chunk_free(pool.chunks[i]);
}

/*
 * Allocate chunk @c and pin it, recording the host address of each of its
 * pages.  @desc is a zeroed page for the MAP descriptors.
 */
static int pvdma_pool_pin(unsigned int c, void *desc)
{
	unsigned int order = get_order(PAGE_SIZE * pool.chunk_pages);
	struct page *page;
	int ret;

	page = alloc_pages(GFP_KERNEL, order);
	if (!page) {
		pr_err("no memory for the bounce pool; lower bounce_size\n");
		return -ENOMEM;
	}
	/*
	 * Pages of a pool allocation reach drivers (dma_alloc_pages()) and
	 * may be mapped to user space one by one: each needs its own count.
	 */
	split_page(page, order);

	ret = pvdma_frames_pin(&pool.fr, "bounce",
			       "lower bounce_size or raise the host's limits",
			       page_to_phys(page), c * pool.chunk_pages,
			       pool.chunk_pages, desc, &pool.handles[c]);
	if (ret) {
		pvdma_chunk_free(page);
		return ret;
	}
	pool.chunks[c] = page;
	return 0;
}

/**
 * pvdma_own_init() - allocate and pin the bounce pool
 * @size: bytes, rounded up to whole chunks; 0 means no pool.
 *
 * Must run after pvdma_host_limits is known and before any device is
 * attached.  Each chunk costs one hypercall, here and never again.
 *
 * Return: 0, -EINVAL if @size is too large, -ENOMEM, -ENOSPC if the host
 * refuses to pin, or -EPROTO if its answer is malformed.
 */
static int pvdma_own_init(unsigned long size)
{
	u32 max_pages;
	void *desc;
	unsigned int i;
	int ret;

	if (!size)
		return 0;

	max_pages = rounddown_pow_of_two(pvdma_host_limits.max_map_pages);
	pool.chunk_pages = min_t(u32, PVDMA_CHUNK_SIZE >> PAGE_SHIFT,
				 max_pages);
	pool.nr_chunks = DIV_ROUND_UP(size, PAGE_SIZE * pool.chunk_pages);
	if (pool.nr_chunks > PVDMA_MAX_CHUNKS) {
		pr_err("bounce_size %lu is too large; at most %lu bytes\n",
		       size, PVDMA_MAX_CHUNKS * PAGE_SIZE * pool.chunk_pages);
		memset(&pool, 0, sizeof(pool));
		return -EINVAL;
	}
	pool.nr_pages = pool.nr_chunks * pool.chunk_pages;

	ret = -ENOMEM;
	pool.bitmap = bitmap_zalloc(pool.nr_pages, GFP_KERNEL);
	pool.chunks = kcalloc(pool.nr_chunks, sizeof(*pool.chunks), GFP_KERNEL);
	pool.handles = (u64 *)get_zeroed_page(GFP_KERNEL);
	pool.run = kcalloc(pool.nr_pages, sizeof(*pool.run), GFP_KERNEL);
	pool.head = kcalloc(pool.nr_pages, sizeof(*pool.head), GFP_KERNEL);
	pool.off = kcalloc(pool.nr_pages, sizeof(*pool.off), GFP_KERNEL);
	pool.size = kcalloc(pool.nr_pages, sizeof(*pool.size), GFP_KERNEL);
	pool.orig = kcalloc(pool.nr_pages, sizeof(*pool.orig), GFP_KERNEL);
	desc = (void *)get_zeroed_page(GFP_KERNEL);
	if (!pool.bitmap || !pool.chunks || !pool.handles || !pool.run ||
	    !pool.head || !pool.off || !pool.size || !pool.orig || !desc ||
	    pvdma_frames_alloc(&pool.fr, pool.nr_pages, pool.chunk_pages))
		goto err_free;

	for (i = 0; i < pool.nr_chunks; i++) {
		ret = pvdma_pool_pin(i, desc);
		if (ret)
			goto err_unpin;
	}
	ret = pvdma_frames_index(&pool.fr, "bounce");
	if (ret)
		goto err_unpin;
	free_page((unsigned long)desc);
	return 0;

err_unpin:
	pvdma_pool_unpin(i);
err_free:
	free_page((unsigned long)desc);
	pvdma_pool_free();
	return ret;
}

/**
 * pvdma_own_exit() - unpin and free the bounce pool
 *
 * Runs when no device can map any more; a page still handed out would be
 * a leak in pvdma's accounting, and is freed all the same.
 */
static void pvdma_own_exit(void)
{
	if (!pool.nr_pages)
		return;
	WARN(pool.used, "pvdma: %u bounce pool pages still in use\n",
	     pool.used);
	pvdma_pool_unpin(pool.nr_chunks);
	pvdma_pool_free();
}

/**
 * pvdma_own_is() - is a DMA address in the bounce pool?
 * @addr: DMA address pvdma handed out
 *
 * Translated buffers are never pool pages, so this tells how @addr was
 * mapped.  Callable from any context.
 *
 * Return: true if @addr lies in the pool.
 */
static bool pvdma_own_is(dma_addr_t addr)
{
	return pvdma_pool_index(addr) >= 0;
}

/**
 * pvdma_own_max_size() - largest buffer the pool can take at any offset
 *
 * Return: bytes, 0 without a pool or if no two pool pages are contiguous.
 */
static size_t pvdma_own_max_size(void)
{
	return pvdma_frames_max_size(&pool.fr);
}

/**
 * pvdma_own_pages() - size of the pool
 *
 * Return: pages in the pool, 0 without one.
 */
static unsigned int pvdma_own_pages(void)
{
	return pool.nr_pages;
}

/**
 * pvdma_own_below() - can the pool serve a device with this DMA mask?
 * @mask: the device's DMA mask
 *
 * Return: true if some of the pool lies below @mask on the host.
 */
static bool pvdma_own_below(u64 mask)
{
	return pvdma_frames_below(&pool.fr, mask);
}

/**
 * pvdma_own_copied() - bytes copied through the pool so far
 *
 * Return: the count, for debugfs and the benchmark.
 */
static u64 pvdma_own_copied(void)
{
	return atomic64_read(&pvdma_pool_copied);
}

/**
 * pvdma_own_used() - pages of the pool handed out
 *
 * Return: pages handed out now; a snapshot.
 */
static unsigned int pvdma_own_used(void)
{
	return READ_ONCE(pool.used);
}

/* Can the device use pool pages from @i for bytes [off, off + size)? */
static bool pvdma_pool_fits(unsigned int i, unsigned int n, unsigned int off,
			    size_t size, u64 limit, u64 boundary, u64 align)
{
	u64 start = pool.fr.hpa[i] + off, end = start + size - 1;

	return pool.fr.contig[i] >= n && end <= limit &&
	       (start & ~boundary) == (end & ~boundary) &&
	       !(pool.fr.hpa[i] & (align - 1));
}

/*
 * Hand out a run of pool pages for bytes [off, off + size) of its first
 * page, aligned to 2^@order pages in the guest and on the host, usable by
 * @dev with @mask, and remember which bytes it serves.  Return its first
 * page, or -ENOSPC (logged if @warn).
 */
static long pvdma_pool_get(struct device *dev, unsigned int off, size_t size,
			   unsigned int order, u64 mask, bool warn)
{
	u64 limit = min_not_zero(mask, dev->bus_dma_limit);
	u64 boundary = dma_get_seg_boundary(dev);
	unsigned long n = PFN_UP(off + size);
	unsigned long flags, i, k, start = 0;

	if (!size || n > pool.fr.max_run)
		goto err_nospc;

	spin_lock_irqsave(&pvdma_pool_lock, flags);
	for (;;) {
		i = bitmap_find_next_zero_area(pool.bitmap, pool.nr_pages,
					       start, n, (1UL << order) - 1);
		if (i + n > pool.nr_pages)
			break;
		if (pvdma_pool_fits(i, n, off, size, limit, boundary,
				    PAGE_SIZE << order)) {
			bitmap_set(pool.bitmap, i, n);
			pool.used += n;
			pool.off[i] = off;
			pool.size[i] = size;
			for (k = i; k < i + n; k++)
				WRITE_ONCE(pool.head[k], i);
			/* Last: makes the run a mapping syncs may copy. */
			WRITE_ONCE(pool.run[i], n);
			spin_unlock_irqrestore(&pvdma_pool_lock, flags);
			return i;
		}
		start = i + 1;
	}
	spin_unlock_irqrestore(&pvdma_pool_lock, flags);

err_nospc:
	if (!warn)
		return -ENOSPC;
	if (!pool.nr_pages)
		dev_err_ratelimited(dev, "pvdma: no bounce pool (bounce_size=0); the mapping fails\n");
	else if (pool.fr.lowest + off + size - 1 > limit)
		dev_err_ratelimited(dev, "pvdma: the bounce pool has no memory below the DMA mask %#llx; the mapping fails\n",
				    limit);
	else if (n > pool.fr.max_run)
		dev_err_ratelimited(dev, "pvdma: %zu bytes are more than the bounce pool takes in one piece (%u pages); the mapping fails\n",
				    size, pool.fr.max_run);
	else
		dev_err_ratelimited(dev, "pvdma: the bounce pool has no room for %zu bytes; the mapping fails\n",
				    size);
	return -ENOSPC;
}

/*
 * The live mapping pool address @addr lies in: return its first page, or
 * -1 if @addr lies in none, and cut *@size to what of [@addr, @addr +
 * *@size) it serves.  A driver's sync or unmap may name more than it
 * mapped; copying that would write past its buffer, into its page's other
 * data or a stale mapping's.  Lockless: a live mapping's run is its
 * owner's, and a bogus @addr only reads a snapshot.
 */
static long pvdma_pool_clamp(dma_addr_t addr, size_t *size)
{
	long i = pvdma_pool_index(addr);
	unsigned int h, n;
	u64 start, end;

	if (i < 0)
		return -1;
	h = READ_ONCE(pool.head[i]);
	n = READ_ONCE(pool.run[h]);
	if (!n || i >= h + n)
		return -1;
	start = pool.fr.hpa[h] + pool.off[h];
	end = start + pool.size[h];
	if (addr < start || addr >= end)
		return -1;
	*size = min_t(u64, *size, end - addr);
	return h;
}

/* Copy between pool address @addr, in page @i, and the buffer it shadows. */
static void pvdma_pool_copy(long i, dma_addr_t addr, size_t size,
			    bool to_pool)
{
	void *bounce = pvdma_pool_va(i) + offset_in_page(addr);
	void *buf;

	if (pool.orig[i] == PVDMA_NO_ORIG)
		return;
	buf = phys_to_virt(pool.orig[i] + offset_in_page(addr));
	atomic64_add(size, &pvdma_pool_copied);
	if (to_pool)
		memcpy(bounce, buf, size);
	else
		memcpy(buf, bounce, size);
}

/**
 * pvdma_own_map() - bounce a buffer for the device
 * @dev: device that will do the DMA
 * @phys: guest-physical address of the buffer, physically contiguous
 * @size: bytes
 * @mask: DMA mask the device address must fit
 * @attrs: DMA attributes of the mapping; %DMA_ATTR_NO_WARN: no log
 *
 * The buffer is copied into the pool now, whatever the direction: if the
 * device writes less than @size, unmap copies back the pool's bytes, which
 * must be the buffer's own and not an earlier user's.  Callable from any
 * context.
 *
 * Return: the DMA address, or %DMA_MAPPING_ERROR if the pool has no fitting
 * room (logged, ratelimited).
 */
static dma_addr_t pvdma_own_map(struct device *dev, phys_addr_t phys,
				size_t size, u64 mask, unsigned long attrs)
{
	unsigned int off = offset_in_page(phys);
	unsigned int k;
	long i;

	i = pvdma_pool_get(dev, off, size, 0, mask,
			   !(attrs & DMA_ATTR_NO_WARN));
	if (i < 0)
		return DMA_MAPPING_ERROR;
	for (k = 0; k < pool.run[i]; k++)
		pool.orig[i + k] = phys - off + ((phys_addr_t)k << PAGE_SHIFT);
	pvdma_pool_copy(i, pool.fr.hpa[i] + off, size, true);
	return pool.fr.hpa[i] + off;
}

/**
 * pvdma_own_alloc() - allocate coherent memory from the pool
 * @dev: device that will share the memory
 * @size: bytes
 * @mask: coherent DMA mask the device address must fit
 * @addr: out: DMA address
 * @attrs: DMA attributes of the allocation; %DMA_ATTR_NO_WARN: no log
 *
 * For a coherent buffer translation cannot serve: CPU and device share the
 * pool pages themselves, so nothing is ever copied.  Zeroed, and aligned to
 * the order of @size in the guest and on the host, as dma_alloc_coherent()
 * promises.  Release with pvdma_own_unmap().
 *
 * Return: the kernel address, or %NULL if the pool has no fitting room.
 */
static void *pvdma_own_alloc(struct device *dev, size_t size, u64 mask,
			     dma_addr_t *addr, unsigned long attrs)
{
	unsigned int k;
	void *va;
	long i;

	i = pvdma_pool_get(dev, 0, size, get_order(size), mask,
			   !(attrs & DMA_ATTR_NO_WARN));
	if (i < 0)
		return NULL;
	for (k = 0; k < pool.run[i]; k++)
		pool.orig[i + k] = PVDMA_NO_ORIG;
	va = pvdma_pool_va(i);
	memset(va, 0, (size_t)pool.run[i] << PAGE_SHIFT);
	*addr = pool.fr.hpa[i];
	return va;
}

/**
 * pvdma_own_unmap() - release a bounced buffer or pool allocation
 * @dev: the device
 * @addr: DMA address pvdma_own_map() or pvdma_own_alloc() returned
 * @size: size given to it
 * @dir: direction of the mapping
 * @attrs: DMA attributes; %DMA_ATTR_SKIP_CPU_SYNC skips the copy back
 *
 * Copies what the device may have written back to the buffer, no more
 * than was mapped, then frees the pool pages.  Callable from any context.
 *
 * Return: true, or false (logged) if @addr/@size was not handed out by
 * the pool; nothing is then released.
 */
static bool pvdma_own_unmap(struct device *dev, dma_addr_t addr,
			    size_t size, enum dma_data_direction dir,
			    unsigned long attrs)
{
	unsigned long n = PFN_UP(offset_in_page(addr) + size);
	long i = pvdma_pool_index(addr);
	unsigned long flags;

	/* The run of a live mapping is its owner's: no lock to check it. */
	if (i < 0 || !size || pool.run[i] != n ||
	    addr != pool.fr.hpa[i] + pool.off[i]) {
		dev_err_ratelimited(dev, "pvdma: release of %zu bytes the bounce pool did not hand out; nothing released\n",
				    size);
		return false;
	}
	if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) &&
	    (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL))
		pvdma_pool_copy(i, addr, min_t(size_t, size, pool.size[i]),
				false);

	spin_lock_irqsave(&pvdma_pool_lock, flags);
	WRITE_ONCE(pool.run[i], 0);
	bitmap_clear(pool.bitmap, i, n);
	pool.used -= n;
	spin_unlock_irqrestore(&pvdma_pool_lock, flags);
	return true;
}

/* Sync [@addr, @addr + @size) of a bounced mapping, clamped to it. */
static void pvdma_own_sync(struct device *dev, dma_addr_t addr, size_t size,
			   bool to_pool)
{
	size_t n = size;

	if (!pvdma_own_is(addr))
		return;
	if (pvdma_pool_clamp(addr, &n) < 0) {
		dev_err_ratelimited(dev, "pvdma: sync of %zu bytes the bounce pool did not hand out; nothing copied\n",
				    size);
		return;
	}
	if (n < size)
		dev_err_ratelimited(dev, "pvdma: sync of %zu bytes past the end of a bounced mapping; %zu copied\n",
				    size, n);
	pvdma_pool_copy(pvdma_pool_index(addr), addr, n, to_pool);
}

/**
 * pvdma_own_sync_for_cpu() - give a bounced range back to the CPU
 * @dev: the device
 * @addr: DMA address within a bounced mapping
 * @size: bytes from @addr
 * @dir: direction of the mapping
 *
 * Copies what the device may have written into the buffer, no more than
 * the mapping @addr lies in.  Does nothing for an address outside the pool
 * (a translated mapping: the device wrote the buffer itself), for pool
 * allocations, or for pool pages no mapping holds.
 */
static void pvdma_own_sync_for_cpu(struct device *dev, dma_addr_t addr,
				   size_t size, enum dma_data_direction dir)
{
	if (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL)
		pvdma_own_sync(dev, addr, size, false);
}

/**
 * pvdma_own_sync_for_device() - give a bounced range to the device
 * @dev: the device
 * @addr: DMA address within a bounced mapping
 * @size: bytes from @addr
 * @dir: direction of the mapping
 *
 * Copies what the CPU wrote to the buffer into the pool, no more than the
 * mapping @addr lies in.  Does nothing for an address outside the pool or
 * for pool allocations.
 */
static void pvdma_own_sync_for_device(struct device *dev, dma_addr_t addr,
				      size_t size, enum dma_data_direction dir)
{
	if (dir == DMA_TO_DEVICE || dir == DMA_BIDIRECTIONAL)
		pvdma_own_sync(dev, addr, size, true);
}

const struct pvdma_bounce_ops pvdma_bounce_own = {
	.name			= "own pool",
	.init			= pvdma_own_init,
	.exit			= pvdma_own_exit,
	.is			= pvdma_own_is,
	.max_size		= pvdma_own_max_size,
	.below			= pvdma_own_below,
	.pages			= pvdma_own_pages,
	.used			= pvdma_own_used,
	.copied			= pvdma_own_copied,
	.map			= pvdma_own_map,
	.alloc			= pvdma_own_alloc,
	.unmap			= pvdma_own_unmap,
	.sync_for_cpu		= pvdma_own_sync_for_cpu,
	.sync_for_device	= pvdma_own_sync_for_device,
};
