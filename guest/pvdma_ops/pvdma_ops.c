// SPDX-License-Identifier: GPL-2.0
/*
 * PVDMA dma_map_ops: translate guest-physical buffers to host-physical
 * segments by hypercall, and bounce what translation cannot serve.
 *
 * Every map pins the buffer on the host with one KVM_HC_PVDMA_MAP (one per
 * scatterlist, not per entry) and hands the device the host-physical
 * addresses the host returns.  Every unmap releases the pin with
 * KVM_HC_PVDMA_UNMAP, or keeps it idle in the pin cache (pvdma_cache.c).
 * The device only gives back DMA addresses, so each mapping's host handle
 * is kept in a per-device table keyed by DMA address (pvdma_live.c).
 *
 * When translation cannot serve a mapping as the caller needs it - the host
 * refuses (limit reached, out of memory), the host frames are not contiguous
 * where one segment is needed, a scatterlist would need more entries than
 * it has or is longer than the host takes in one call, or a host address is
 * beyond the device's DMA mask - the buffer is bounced through the bounce
 * pool (pvdma_bounce.h), which was pinned once at start: no hypercall.
 * Coherent allocations are then served from the pool itself.  Any other
 * host error (a bad address) fails the mapping: bouncing would hide a bug.
 *
 * x86 is cache-coherent and translated buffers are the caller's own pages,
 * so syncs copy only for bounced buffers.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "pvdma_bounce.h"
#include "pvdma_internal.h"

#include "pvdma_trace.h"

bool pvdma_force_bounce;
module_param_named(force_bounce, pvdma_force_bounce, bool, 0644);
MODULE_PARM_DESC(force_bounce,
		 "Bounce every streaming mapping instead of translating it, to compare (default off)");

/*
 * Can the device reach [addr, addr + len) with @mask, at an address
 * aligned to @align (a power of two)?
 */
static bool pvdma_capable(struct device *dev, u64 addr, u64 len, u64 mask,
			  u64 align)
{
	u64 end = addr + len - 1;

	return len && end >= addr && IS_ALIGNED(addr, align) &&
	       end <= min_not_zero(mask, dev->bus_dma_limit);
}

/* Why a host segment cannot serve a mapping, given pvdma_capable() failed. */
static enum pvdma_stat pvdma_incapable(u64 addr, u64 align)
{
	return IS_ALIGNED(addr, align) ? PVDMA_STAT_BEYOND_MASK :
					 PVDMA_STAT_MISALIGNED;
}

/* What a failed KVM_HC_PVDMA_MAP means for the mapping. */
static enum pvdma_stat pvdma_cause(long ret)
{
	switch (ret) {
	case -PVDMA_ENOSPC:
	case -PVDMA_ENOMEM:
	case -PVDMA_EAGAIN:
		return PVDMA_STAT_HOST_REFUSED;
	case -KVM_E2BIG:
		return PVDMA_STAT_NOT_CONTIGUOUS;
	default:
		return PVDMA_STAT_HOST_ERROR;
	}
}

/* Translation could not serve the mapping, but the pool may. */
static bool pvdma_may_bounce(enum pvdma_stat cause)
{
	return cause == PVDMA_STAT_HOST_REFUSED ||
	       cause == PVDMA_STAT_NOT_CONTIGUOUS ||
	       cause == PVDMA_STAT_BEYOND_MASK ||
	       cause == PVDMA_STAT_MISALIGNED ||
	       cause == PVDMA_STAT_LONG_LIST;
}

/*
 * Count and trace why a mapping was not translated.  Only host errors are
 * logged: the other causes are served by the pool, or logged by it.  A
 * caller that passed DMA_ATTR_NO_WARN handles the failure itself, so it is
 * counted and traced but not logged.
 */
static void pvdma_fail(struct pvdma_dev *pd, enum pvdma_stat cause,
		       phys_addr_t phys, size_t size, long err,
		       unsigned long attrs)
{
	pvdma_stat_inc(pd, cause);
	trace_pvdma_guest_fail(pd->dev, phys, size, pvdma_stat_names[cause], err);
	if (cause == PVDMA_STAT_HOST_ERROR && !(attrs & DMA_ATTR_NO_WARN))
		dev_err_ratelimited(pd->dev, "pvdma: KVM_HC_PVDMA_MAP of %zu bytes failed: %s (%ld)\n",
				    size, pvdma_strerror(err), err);
}

/* The attrs of an allocation: __GFP_NOWARN asks for silence as NO_WARN does. */
static unsigned long pvdma_gfp_attrs(gfp_t gfp, unsigned long attrs)
{
	return gfp & __GFP_NOWARN ? attrs | DMA_ATTR_NO_WARN : attrs;
}

/*
 * After pvdma_host_release_all() the host has let go of every pin, the bounce
 * pool's included: nothing may be mapped any more, translated or bounced.
 */
static bool pvdma_refuse_stopped(struct pvdma_dev *pd, size_t size,
				 unsigned long attrs)
{
	if (likely(!READ_ONCE(pvdma_stopped)))
		return false;
	pvdma_stat_inc(pd, PVDMA_STAT_FAILURES);
	if (!(attrs & DMA_ATTR_NO_WARN))
		dev_err_ratelimited(pd->dev, "pvdma: mapping of %zu bytes refused: the system is going down and the host has released every pin\n",
				    size);
	return true;
}

/*
 * One KVM_HC_PVDMA_MAP.  *@epoch is read before it: if the host bumps the
 * epoch while it translates, the translation is tagged with the older one
 * and is never kept, where a read after the call would tag a stale
 * translation as current, to be handed out again and again.
 */
static long pvdma_pin_once(struct pvdma_dev *pd, struct pvdma_desc *desc,
			   unsigned int nr, u32 max_segs, u32 dir,
			   u64 *epoch)
{
	desc->result->max_segs = max_segs;
	pvdma_stat_inc(pd, PVDMA_STAT_HYPERCALLS);
	pvdma_stat_inc(pd, PVDMA_STAT_MAP_HYPERCALLS);
	*epoch = pvdma_host_epoch();
	return pvdma_call_map(virt_to_phys(desc->ranges), nr,
			       virt_to_phys(desc->result), dir);
}

/*
 * Map the @nr ranges already written to @desc, accepting at most @max_segs
 * segments: the host then refuses (-KVM_E2BIG) rather than pin something
 * the caller cannot use.  If the host is at its pin limit while devices
 * keep idle translations, those of every device are released (they all
 * count against the VM's limits) and the map tried once more: the cache
 * must never cost a mapping.  A host whose memory kept changing while it
 * pinned (-PVDMA_EAGAIN) is asked again, up to %PVDMA_MAP_TRIES calls in
 * all; each call exits, so the host gets on between them, and after the
 * last the mapping is bounced.  On success, @map records the translation.
 * Called with interrupts disabled (see pvdma_descs).
 */
static long pvdma_pin(struct pvdma_dev *pd, struct pvdma_desc *desc,
		      unsigned int nr, u32 max_segs, u32 dir,
		      struct pvdma_xlat *map)
{
	struct pvdma_map_result *res = desc->result;
	unsigned int tries = 1;
	u64 epoch;
	long ret;

	ret = pvdma_pin_once(pd, desc, nr, max_segs, dir, &epoch);
	while (ret == -PVDMA_EAGAIN && tries++ < PVDMA_MAP_TRIES)
		ret = pvdma_pin_once(pd, desc, nr, max_segs, dir, &epoch);
	/* The result block doubles as the handle array of the flush. */
	if (ret == -PVDMA_ENOSPC && pvdma_cache_flush_all((u64 *)res))
		ret = pvdma_pin_once(pd, desc, nr, max_segs, dir, &epoch);
	if (!ret && WARN_ON_ONCE(!res->nr_segs || res->nr_segs > max_segs)) {
		pvdma_host_unmap(pd, res->handle);
		ret = -EPROTO;
	}
	if (!ret) {
		pvdma_cache_record(map, desc->ranges, nr, dir, res, epoch);
		pvdma_stat_add(pd, PVDMA_STAT_PINS, map->nr_pages);
		pvdma_stat_add(pd, PVDMA_STAT_SEGS, res->nr_segs);
	}
	return ret;
}

/* How a mapping given back was found. */
enum pvdma_found {
	PVDMA_FOUND_NONE,
	PVDMA_FOUND_TRANSLATED,
	PVDMA_FOUND_POOL,
};

/*
 * Release a single-address mapping, translated or bounced.  @keep: the
 * translation may stay in the cache (the caller does not free the pages).
 * The table of translations is asked first: a translated address may lie
 * in the pool too, when a driver maps pool memory it was given (a coherent
 * buffer exported with dma_get_sgtable(), say), and taking that for a
 * bounce would free the driver's buffer and leak the translation.
 */
static enum pvdma_found pvdma_end_single(struct pvdma_dev *pd, dma_addr_t addr,
					 size_t size,
					 enum dma_data_direction dir,
					 unsigned long attrs, bool keep)
{
	struct pvdma_xlat *map = pvdma_live_take(pd, addr, size, dir, NULL, 0);

	if (map) {
		pvdma_xlat_end(pd, map, size, dir, keep);
		return PVDMA_FOUND_TRANSLATED;
	}
	if (!pvdma_bounce_is(addr)) {
		pvdma_live_bad(pd, size);
		return PVDMA_FOUND_NONE;
	}
	if (!pvdma_bounce_unmap(pd->dev, addr, size, dir, attrs)) {
		pvdma_stat_inc(pd, PVDMA_STAT_BAD_UNMAP);
		return PVDMA_FOUND_NONE;
	}
	pvdma_live_end(pd, size, dir, true);
	return PVDMA_FOUND_POOL;
}

static struct pvdma_dev *pvdma_dev_of(struct device *dev)
{
	struct pvdma_dev *pd = pvdma_find(dev);

	/* Ops are installed only while the device is on the list. */
	WARN_ON_ONCE(!pd);
	return pd;
}

/* Host pages one range pins. */
static u32 pvdma_buf_pages(phys_addr_t phys, size_t size)
{
	struct pvdma_range range = { .gpa = phys, .len = size };

	return pvdma_pages(&range, 1);
}

/*
 * Translate one physically contiguous guest buffer that the device must see
 * as one segment, at an address aligned to @align.  Return its DMA address,
 * or DMA_MAPPING_ERROR with *@cause saying why not.  @gfp is for
 * bookkeeping only.
 */
static dma_addr_t pvdma_translate(struct pvdma_dev *pd, phys_addr_t phys,
				  size_t size, enum dma_data_direction dir,
				  u64 mask, u64 align, gfp_t gfp,
				  unsigned long attrs, enum pvdma_stat *cause)
{
	struct pvdma_range range = { .gpa = phys, .len = size };
	struct pvdma_xlat *map, *hit;
	struct pvdma_desc *desc;
	struct pvdma_seg seg;
	unsigned long flags;
	long ret;

	/* The host would take more, but a MAP's pages are bounded here. */
	if (pvdma_buf_pages(phys, size) > pvdma_host_limits.max_map_pages) {
		*cause = PVDMA_STAT_LONG_LIST;
		pvdma_fail(pd, *cause, phys, size, 0, attrs);
		return DMA_MAPPING_ERROR;
	}

	/* A kept translation of the buffer: nothing to pin, no exit. */
	local_irq_save(flags);
	desc = this_cpu_ptr(&pvdma_descs);
	hit = pvdma_cache_take(pd, &range, 1, pvdma_map_dir(dir),
			       (u64 *)desc->result);
	local_irq_restore(flags);
	if (hit) {
		seg = hit->segs[0];
		if (pvdma_capable(pd->dev, seg.addr, seg.len, mask, align)) {
			/* It may have been kept by unmap_sg of one entry. */
			map = hit;
			map->sg = false;
			goto track;
		}
		/*
		 * Mapped before under a wider mask or for a smaller buffer: a
		 * fresh translation would return the same frames, so fail as
		 * it would.
		 */
		pvdma_cache_put_back(pd, hit);
		*cause = pvdma_incapable(seg.addr, align);
		pvdma_fail(pd, *cause, phys, size, 0, attrs);
		return DMA_MAPPING_ERROR;
	}

	map = pvdma_xlat_alloc(1, 1, gfp);
	if (!map) {
		*cause = PVDMA_STAT_NOMEM;
		pvdma_fail(pd, *cause, phys, size, -ENOMEM, attrs);
		return DMA_MAPPING_ERROR;
	}

	local_irq_save(flags);
	desc = this_cpu_ptr(&pvdma_descs);
	desc->ranges[0] = range;
	/* One segment or nothing: the host refuses what the device can't use. */
	ret = pvdma_pin(pd, desc, 1, 1, pvdma_map_dir(dir), map);
	if (!ret)
		seg = desc->result->segs[0];
	local_irq_restore(flags);
	if (ret) {
		*cause = pvdma_cause(ret);
		pvdma_fail(pd, *cause, phys, size, ret, attrs);
		goto err_free;
	}

	if (!pvdma_capable(pd->dev, seg.addr, seg.len, mask, align)) {
		*cause = pvdma_incapable(seg.addr, align);
		pvdma_fail(pd, *cause, phys, size, 0, attrs);
		pvdma_host_unmap(pd, map->handle);
		goto err_free;
	}
	map->addr = seg.addr;
	map->size = size;
track:

	pvdma_live_add(pd, map);
	trace_pvdma_guest_map(pd->dev, phys, size, dir, 1);
	return map->addr;

err_free:
	kfree(map);
	return DMA_MAPPING_ERROR;
}

/*
 * Translate a streaming buffer, or bounce it if translation can't serve
 * (or force_bounce asks for bouncing, to compare).
 */
static dma_addr_t pvdma_map_single(struct pvdma_dev *pd, phys_addr_t phys,
				   size_t size, enum dma_data_direction dir,
				   u64 mask, unsigned long attrs)
{
	enum pvdma_stat cause;
	dma_addr_t addr;

	if (pvdma_refuse_stopped(pd, size, attrs))
		return DMA_MAPPING_ERROR;
	if (!READ_ONCE(pvdma_force_bounce)) {
		addr = pvdma_translate(pd, phys, size, dir, mask, 1, GFP_ATOMIC,
				       attrs, &cause);
		if (addr != DMA_MAPPING_ERROR)
			return addr;
		if (!pvdma_may_bounce(cause))
			goto err;
	}

	addr = pvdma_bounce_map(pd->dev, phys, size, mask, attrs);
	if (addr != DMA_MAPPING_ERROR) {
		pvdma_live_bounced(pd, phys, size, dir);
		return addr;
	}
	pvdma_fail(pd, PVDMA_STAT_NO_BOUNCE_SPACE, phys, size, 0, attrs);
err:
	pvdma_stat_inc(pd, PVDMA_STAT_FAILURES);
	return DMA_MAPPING_ERROR;
}

/*
 * map_page: the device owns the buffer from here until unmap_page.  The host
 * pins the pages for as long, or the pool holds a copy.
 */
static dma_addr_t pvdma_map_page(struct device *dev, struct page *page,
				 unsigned long offset, size_t size,
				 enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (!pd)
		return DMA_MAPPING_ERROR;
	return pvdma_map_single(pd, page_to_phys(page) + offset, size, dir,
				*dev->dma_mask, attrs);
}

/*
 * unmap_page: ownership returns to the CPU.  The host unpins, or what the
 * device wrote to the pool is copied back.
 */
static void pvdma_unmap_page(struct device *dev, dma_addr_t addr, size_t size,
			     enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (pd)
		pvdma_end_single(pd, addr, size, dir, attrs, true);
}

static int pvdma_sg_errno(long ret)
{
	switch (ret) {
	case -PVDMA_ENOSPC:
	case -PVDMA_ENOMEM:
		return -ENOMEM;		/* may succeed when retried */
	case -KVM_E2BIG:
	case -KVM_EINVAL:
		return -EINVAL;		/* never succeeds as asked */
	default:
		return -EIO;
	}
}

/*
 * Write the host segments into the DMA fields of @sgl.  The host merges
 * across pages and ranges without knowing the device's segment limits, so
 * split any segment longer than the maximum segment size or crossing the
 * segment boundary.  Return the number of entries used, -EINVAL if @nents
 * entries are not enough, or -EIO if a segment is beyond @mask.
 */
static int pvdma_fill_sg(struct device *dev, struct scatterlist *sgl,
			 int nents, const struct pvdma_seg *segs, u32 nr_segs,
			 u64 mask)
{
	unsigned long boundary = dma_get_seg_boundary(dev);
	u64 max_seg = dma_get_max_seg_size(dev);
	struct scatterlist *sg = sgl;
	int count = 0;
	u32 i;

	for (i = 0; i < nr_segs; i++) {
		u64 addr = segs[i].addr;
		u64 len = segs[i].len;

		if (!pvdma_capable(dev, addr, len, mask, 1))
			return -EIO;

		while (len) {
			/* Written as "- 1 ... + 1" so nothing overflows. */
			u64 chunk = min3(len - 1, max_seg - 1,
					 (u64)(boundary - (addr & boundary))) + 1;

			if (count == nents)
				return -EINVAL;
			sg_dma_address(sg) = addr;
			sg_dma_len(sg) = chunk;
			sg = sg_next(sg);
			count++;
			addr += chunk;
			len -= chunk;
		}
	}
	return count;
}

/* Total guest bytes of the list: the size key of an sg mapping. */
static size_t pvdma_sg_size(struct scatterlist *sgl, int nents)
{
	struct scatterlist *sg;
	size_t size = 0;
	int i;

	for_each_sg(sgl, sg, nents, i)
		size += sg->length;
	return size;
}

/* Host pages a MAP of the list would pin. */
static u64 pvdma_sg_pages(struct scatterlist *sgl, int nents)
{
	struct scatterlist *sg;
	u64 pages = 0;
	int i;

	for_each_sg(sgl, sg, nents, i)
		pages += pvdma_buf_pages(sg_phys(sg), sg->length);
	return pages;
}

/*
 * Translate a whole list with one hypercall, or none if the cache kept its
 * translation.  Return the number of DMA segments, or a negative errno with
 * *@cause saying why not.
 */
static int pvdma_translate_sg(struct pvdma_dev *pd, struct scatterlist *sgl,
			      int nents, enum dma_data_direction dir, u64 mask,
			      unsigned long attrs, enum pvdma_stat *cause)
{
	u32 max_segs = min_t(u32, nents, pvdma_host_limits.max_segs);
	size_t size = pvdma_sg_size(sgl, nents);
	struct pvdma_xlat *map, *hit;
	struct scatterlist *sg;
	struct pvdma_desc *desc;
	unsigned long flags;
	int count, i;
	long ret;

	/* Allocated first: the ranges are built with interrupts disabled. */
	map = pvdma_xlat_alloc(nents, max_segs, GFP_ATOMIC);
	if (!map) {
		*cause = PVDMA_STAT_NOMEM;
		pvdma_fail(pd, *cause, sg_phys(sgl), size, -ENOMEM, attrs);
		return -ENOMEM;
	}

	local_irq_save(flags);
	desc = this_cpu_ptr(&pvdma_descs);
	for_each_sg(sgl, sg, nents, i) {
		desc->ranges[i].gpa = sg_phys(sg);
		desc->ranges[i].len = sg->length;
		/* Entries past the merged segments stay empty. */
		sg_dma_address(sg) = DMA_MAPPING_ERROR;
		sg_dma_len(sg) = 0;
	}
	hit = pvdma_cache_take(pd, desc->ranges, nents, pvdma_map_dir(dir),
			       (u64 *)desc->result);
	if (hit) {
		count = pvdma_fill_sg(pd->dev, sgl, nents, hit->segs,
				      hit->nr_segs, mask);
		ret = 0;
	} else {
		ret = pvdma_pin(pd, desc, nents, max_segs, pvdma_map_dir(dir),
				map);
		if (!ret)
			count = pvdma_fill_sg(pd->dev, sgl, nents,
					      desc->result->segs,
					      desc->result->nr_segs, mask);
	}
	local_irq_restore(flags);

	if (hit) {
		kfree(map);
		map = hit;
		if (count > 0)
			goto track;
		/*
		 * Mapped before under wider limits: a fresh translation would
		 * return the same segments, so fail as it would.
		 */
		pvdma_cache_put_back(pd, hit);
		*cause = count == -EIO ? PVDMA_STAT_BEYOND_MASK :
					 PVDMA_STAT_NOT_CONTIGUOUS;
		pvdma_fail(pd, *cause, sg_phys(sgl), size, 0, attrs);
		sg_dma_address(sgl) = DMA_MAPPING_ERROR;
		sg_dma_len(sgl) = 0;
		return count;
	}
	if (ret) {
		*cause = pvdma_cause(ret);
		pvdma_fail(pd, *cause, sg_phys(sgl), size, ret, attrs);
		count = pvdma_sg_errno(ret);
		goto err_free;
	}
	if (count < 0) {
		*cause = count == -EIO ? PVDMA_STAT_BEYOND_MASK :
					 PVDMA_STAT_NOT_CONTIGUOUS;
		pvdma_fail(pd, *cause, sg_phys(sgl), size, 0, attrs);
		pvdma_host_unmap(pd, map->handle);
		goto err_reset;
	}
	map->addr = sg_dma_address(sgl);
	map->size = size;
track:
	/*
	 * A hit may have been kept by unmap_page of the same buffer: unmap_sg
	 * looks for a list, whatever mapped it before.
	 */
	map->sg = true;
	pvdma_live_add(pd, map);
	trace_pvdma_guest_map(pd->dev, sg_phys(sgl), size, dir, count);
	return count;

err_reset:
	sg_dma_address(sgl) = DMA_MAPPING_ERROR;
	sg_dma_len(sgl) = 0;
err_free:
	kfree(map);
	return count;
}

/*
 * Could the pool never hold @size bytes for a device limited to @mask,
 * however empty it were?  Conservative, whatever the offset: true only if
 * it has no page below the mask, or no run of pages long enough.
 */
static bool pvdma_bounce_never(struct device *dev, size_t size, u64 mask)
{
	u64 limit = min_not_zero(mask, dev->bus_dma_limit);

	/* max_size is the longest run less a page, for any offset. */
	return !pvdma_bounce_pages() || !pvdma_bounce_below(limit) ||
	       size > pvdma_bounce_max_size() + PAGE_SIZE;
}

/*
 * Bounce every entry of a list on its own, as swiotlb does: one DMA
 * segment per entry.  All or nothing.  Fails with -ENOMEM if the pool has
 * no room now, -EIO if it can never hold an entry, or all of them.
 */
static int pvdma_bounce_sg(struct pvdma_dev *pd, struct scatterlist *sgl,
			   int nents, enum dma_data_direction dir, u64 mask,
			   unsigned long attrs)
{
	struct scatterlist *sg, *done;
	size_t size = 0;
	int i, j, ret;

	for_each_sg(sgl, sg, nents, i) {
		sg_dma_address(sg) = pvdma_bounce_map(pd->dev, sg_phys(sg),
						      sg->length, mask, attrs);
		if (sg_dma_address(sg) == DMA_MAPPING_ERROR)
			goto err_unwind;
		sg_dma_len(sg) = sg->length;
		size += sg->length;
	}
	pvdma_live_bounced(pd, sg_phys(sgl), size, dir);
	return nents;

err_unwind:
	pvdma_fail(pd, PVDMA_STAT_NO_BOUNCE_SPACE, sg_phys(sg), sg->length, 0,
		   attrs);
	ret = pvdma_bounce_never(pd->dev, sg->length, mask) ||
	      pvdma_sg_pages(sgl, nents) > pvdma_bounce_pages() ?
	      -EIO : -ENOMEM;
	/* The device never saw these: release them without copying back. */
	for_each_sg(sgl, done, i, j)
		pvdma_bounce_unmap(pd->dev, sg_dma_address(done),
				   sg_dma_len(done), dir,
				   DMA_ATTR_SKIP_CPU_SYNC);
	sg_dma_address(sgl) = DMA_MAPPING_ERROR;
	sg_dma_len(sgl) = 0;
	return ret;
}

/*
 * map_sg: the device owns every entry until unmap_sg.  One hypercall maps
 * the whole list; the host merges contiguous frames, so fewer DMA segments
 * than entries may come back.  The mapping is found again by the first
 * segment's DMA address and the list's guest ranges, which unmap_sg can
 * recompute.  A list longer than a MAP may carry (ranges or pages) is
 * bounced rather than split: one handle per list keeps unmap_sg a single
 * lookup, and such lists are rare (the block layer defaults to 128
 * segments, the host takes 256).
 *
 * The errno tells the caller whether to retry (storage drivers do, for
 * -ENOMEM, forever): -ENOMEM if the host or the pool may have room later,
 * -EIO if neither translation nor the pool can ever serve the list.
 */
static int pvdma_map_sg(struct device *dev, struct scatterlist *sgl,
			int nents, enum dma_data_direction dir,
			unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);
	enum pvdma_stat cause = PVDMA_STAT_LONG_LIST;
	u64 mask = *dev->dma_mask;
	int count;

	if (!pd)
		return -EIO;
	if (pvdma_refuse_stopped(pd, pvdma_sg_size(sgl, nents), attrs))
		return -EIO;
	if (READ_ONCE(pvdma_force_bounce))
		goto bounce;
	if (nents > pvdma_host_limits.max_ranges ||
	    pvdma_sg_pages(sgl, nents) > pvdma_host_limits.max_map_pages) {
		pvdma_fail(pd, cause, sg_phys(sgl), pvdma_sg_size(sgl, nents),
			   0, attrs);
	} else {
		count = pvdma_translate_sg(pd, sgl, nents, dir, mask, attrs,
					   &cause);
		if (count > 0)
			return count;
		if (!pvdma_may_bounce(cause))
			goto err;
	}
bounce:
	count = pvdma_bounce_sg(pd, sgl, nents, dir, mask, attrs);
	if (count > 0)
		return count;
	/* The pool never fits, but the host may take the list later. */
	if (count == -EIO && cause == PVDMA_STAT_HOST_REFUSED)
		count = -ENOMEM;
err:
	pvdma_stat_inc(pd, PVDMA_STAT_FAILURES);
	return count;
}

/*
 * unmap_sg: the CPU owns the entries again; @nents is the original count.
 * A list is translated as a whole or bounced entry by entry.  The table of
 * translations is asked first, with the list's exact guest ranges: a list
 * of pool memory (a coherent pool buffer mapped again) is translated, yet
 * its addresses lie in the pool.
 */
static void pvdma_unmap_sg(struct device *dev, struct scatterlist *sgl,
			   int nents, enum dma_data_direction dir,
			   unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);
	size_t size = pvdma_sg_size(sgl, nents);
	struct pvdma_xlat *map = NULL;
	struct scatterlist *sg;
	bool ok = true;
	int i;

	if (!pd)
		return;
	if (nents <= pvdma_host_limits.max_ranges)
		map = pvdma_live_take(pd, sg_dma_address(sgl), size, dir, sgl,
				      nents);
	if (map) {
		pvdma_xlat_end(pd, map, size, dir, true);
		return;
	}
	if (!pvdma_bounce_is(sg_dma_address(sgl))) {
		pvdma_live_bad(pd, size);
		return;
	}
	for_each_sg(sgl, sg, nents, i)
		ok &= pvdma_bounce_unmap(dev, sg_dma_address(sg),
					 sg_dma_len(sg), dir, attrs);
	if (ok)
		pvdma_live_end(pd, size, dir, true);
	else
		pvdma_stat_inc(pd, PVDMA_STAT_BAD_UNMAP);
}

/*
 * alloc_pages_op: zeroed pages, owned by the device until the caller syncs
 * them for the CPU (on x86 the same as coherent).  The device is given a
 * single address, so they are translated as one segment, which must be
 * aligned on the host to the order of @size as dma_alloc_coherent()
 * promises; if the host cannot do that, they come from the pool instead,
 * where CPU and device share the same pages and nothing is copied.  Also
 * the backend of alloc.
 */
static struct page *pvdma_alloc_attrs(struct device *dev, size_t size,
				      dma_addr_t *dma_handle,
				      enum dma_data_direction dir, gfp_t gfp,
				      unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);
	unsigned int order = get_order(size);
	enum pvdma_stat cause;
	struct page *page;
	dma_addr_t addr;
	void *vaddr;

	if (!pd)
		return NULL;
	attrs = pvdma_gfp_attrs(gfp, attrs);
	if (pvdma_refuse_stopped(pd, size, attrs))
		return NULL;
	page = alloc_pages_node(dev_to_node(dev), gfp | __GFP_ZERO, order);
	if (!page) {
		pvdma_stat_inc(pd, PVDMA_STAT_FAILURES);
		return NULL;
	}
	addr = pvdma_translate(pd, page_to_phys(page), size, dir,
			       dev->coherent_dma_mask, PAGE_SIZE << order, gfp,
			       attrs, &cause);
	if (addr != DMA_MAPPING_ERROR) {
		*dma_handle = addr;
		return page;
	}
	__free_pages(page, order);

	if (pvdma_may_bounce(cause)) {
		vaddr = pvdma_bounce_alloc(dev, size, dev->coherent_dma_mask,
					   dma_handle, attrs);
		if (vaddr) {
			pvdma_live_bounced(pd, virt_to_phys(vaddr), size, dir);
			return virt_to_page(vaddr);
		}
		pvdma_fail(pd, PVDMA_STAT_NO_BOUNCE_SPACE, 0, size, 0, attrs);
	}
	pvdma_stat_inc(pd, PVDMA_STAT_FAILURES);
	return NULL;
}

static struct page *pvdma_alloc_pages(struct device *dev, size_t size,
				      dma_addr_t *dma_handle,
				      enum dma_data_direction dir, gfp_t gfp)
{
	return pvdma_alloc_attrs(dev, size, dma_handle, dir, gfp, 0);
}

/*
 * alloc: a coherent buffer, shared by CPU and device until free.  It stays
 * pinned on the host, or in the pool, for its whole life.
 */
static void *pvdma_alloc(struct device *dev, size_t size,
			 dma_addr_t *dma_handle, gfp_t gfp,
			 unsigned long attrs)
{
	struct page *page = pvdma_alloc_attrs(dev, size, dma_handle,
					      DMA_BIDIRECTIONAL, gfp, attrs);

	return page ? page_address(page) : NULL;
}

/*
 * free: the device is done with the coherent buffer.  Pool memory goes back
 * to the pool.  An unknown address leaks the pages rather than free memory
 * the device may still write.
 */
static void pvdma_free(struct device *dev, size_t size, void *vaddr,
		       dma_addr_t dma_handle, unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	/* The pages go back to the allocator: no translation outlives them. */
	if (pd &&
	    pvdma_end_single(pd, dma_handle, size, DMA_BIDIRECTIONAL, 0, false) ==
	    PVDMA_FOUND_TRANSLATED)
		free_pages((unsigned long)vaddr, get_order(size));
}

/* free_pages: as free, for alloc_pages_op memory. */
static void pvdma_free_pages(struct device *dev, size_t size,
			     struct page *page, dma_addr_t dma_handle,
			     enum dma_data_direction dir)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (pd && pvdma_end_single(pd, dma_handle, size, dir, 0, false) ==
	    PVDMA_FOUND_TRANSLATED)
		__free_pages(page, get_order(size));
}

/*
 * mmap: user space gets the coherent buffer's guest pages (never its host
 * addresses); the buffer stays owned by CPU and device alike.
 */
static int pvdma_mmap(struct device *dev, struct vm_area_struct *vma,
		      void *cpu_addr, dma_addr_t dma_addr, size_t size,
		      unsigned long attrs)
{
	unsigned long count = PAGE_ALIGN(size) >> PAGE_SHIFT;
	unsigned long user_count = vma_pages(vma);

	if (vma->vm_pgoff >= count || user_count > count - vma->vm_pgoff)
		return -ENXIO;
	return remap_pfn_range(vma, vma->vm_start,
			       page_to_pfn(virt_to_page(cpu_addr)) + vma->vm_pgoff,
			       user_count << PAGE_SHIFT, vma->vm_page_prot);
}

/* get_sgtable: describe a coherent buffer by its guest pages. */
static int pvdma_get_sgtable(struct device *dev, struct sg_table *sgt,
			     void *cpu_addr, dma_addr_t dma_addr, size_t size,
			     unsigned long attrs)
{
	int ret;

	ret = sg_alloc_table(sgt, 1, GFP_KERNEL);
	if (!ret)
		sg_set_page(sgt->sgl, virt_to_page(cpu_addr),
			    PAGE_ALIGN(size), 0);
	return ret;
}

/*
 * sync_single_for_cpu: the CPU takes the buffer back for a while.  A
 * translated buffer is the device's own target, coherent on x86: nothing
 * to do.  A bounced one gets what the device wrote to the pool.  (A
 * translated mapping of pool memory is coherent pool memory, which the
 * pool never copies either.)
 */
static void pvdma_sync_single_for_cpu(struct device *dev, dma_addr_t addr,
				      size_t size, enum dma_data_direction dir)
{
	pvdma_bounce_sync_for_cpu(dev, addr, size, dir);
}

/*
 * sync_single_for_device: the device owns the buffer again; for a bounced
 * one, the pool gets what the CPU wrote.
 */
static void pvdma_sync_single_for_device(struct device *dev, dma_addr_t addr,
					 size_t size,
					 enum dma_data_direction dir)
{
	pvdma_bounce_sync_for_device(dev, addr, size, dir);
}

/* sync_sg_for_cpu: as sync_single_for_cpu, per entry of a bounced list. */
static void pvdma_sync_sg_for_cpu(struct device *dev, struct scatterlist *sgl,
				  int nents, enum dma_data_direction dir)
{
	struct scatterlist *sg;
	int i;

	/* A list is bounced entry by entry or translated as a whole. */
	if (!pvdma_bounce_is(sg_dma_address(sgl)))
		return;
	for_each_sg(sgl, sg, nents, i)
		pvdma_bounce_sync_for_cpu(dev, sg_dma_address(sg),
					  sg_dma_len(sg), dir);
}

/* sync_sg_for_device: as sync_single_for_device, per entry. */
static void pvdma_sync_sg_for_device(struct device *dev,
				     struct scatterlist *sgl, int nents,
				     enum dma_data_direction dir)
{
	struct scatterlist *sg;
	int i;

	if (!pvdma_bounce_is(sg_dma_address(sgl)))
		return;
	for_each_sg(sgl, sg, nents, i)
		pvdma_bounce_sync_for_device(dev, sg_dma_address(sg),
					     sg_dma_len(sg), dir);
}

/*
 * map_resource: a guest-physical MMIO range, e.g. a peer device's BAR for
 * peer-to-peer DMA.  The host pins RAM only (MMIO is -PVDMA_EIO), and a
 * bounce cannot stand in for registers or a peer's memory, so this always
 * fails - loudly unless DMA_ATTR_NO_WARN, where the DMA core would fail
 * silently without the op.  Nothing is ever mapped, so there is no
 * unmap_resource.
 */
static dma_addr_t pvdma_map_resource(struct device *dev, phys_addr_t phys,
				     size_t size, enum dma_data_direction dir,
				     unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (pd) {
		pvdma_fail(pd, PVDMA_STAT_RESOURCE, phys, size, 0, attrs);
		pvdma_stat_inc(pd, PVDMA_STAT_FAILURES);
	}
	if (!(attrs & DMA_ATTR_NO_WARN))
		dev_err_ratelimited(dev, "pvdma: cannot map MMIO for DMA (peer-to-peer): the host pins only RAM\n");
	return DMA_MAPPING_ERROR;
}

/*
 * The host can place a buffer anywhere in its memory and does not report
 * how far that reaches, so each mapping is checked against the mask and
 * bounced if it lies beyond.  A mask is therefore accepted if the bounce
 * pool has pages below it, as swiotlb accepts masks its pool fits: then
 * every mapping can be served, if need be from the pool.  A pool that lies
 * wholly above the mask (above 4 GiB for a 32-bit device) could serve
 * nothing translation cannot, so the mask is refused and the driver can
 * say so at probe, rather than fail mappings later.  Without a pool, every
 * mask of at least 32 bits is accepted and each mapping checked on its own.
 */
static int pvdma_dma_supported(struct device *dev, u64 mask)
{
	if (pvdma_bounce_pages())
		return pvdma_bounce_below(mask);
	return mask >= DMA_BIT_MASK(32);
}

/* Any host address may come back: ask drivers for full addressing. */
static u64 pvdma_get_required_mask(struct device *dev)
{
	return DMA_BIT_MASK(64);
}

/*
 * A buffer at any offset must fit in max_map_pages pages, and, so that a
 * mapping translation cannot serve can still be bounced, in the pool's
 * longest host-contiguous run (256 KiB, as swiotlb's limit).
 */
static size_t pvdma_max_mapping_size(struct device *dev)
{
	size_t host = (size_t)(pvdma_host_limits.max_map_pages - 1) << PAGE_SHIFT;
	size_t pool = pvdma_bounce_max_size();

	return pool ? min(host, pool) : host;
}

const struct dma_map_ops pvdma_dma_ops = {
	.alloc			= pvdma_alloc,
	.free			= pvdma_free,
	.alloc_pages_op		= pvdma_alloc_pages,
	.free_pages		= pvdma_free_pages,
	.mmap			= pvdma_mmap,
	.get_sgtable		= pvdma_get_sgtable,
	.map_page		= pvdma_map_page,
	.unmap_page		= pvdma_unmap_page,
	.map_sg			= pvdma_map_sg,
	.unmap_sg		= pvdma_unmap_sg,
	.map_resource		= pvdma_map_resource,
	.sync_single_for_cpu	= pvdma_sync_single_for_cpu,
	.sync_single_for_device	= pvdma_sync_single_for_device,
	.sync_sg_for_cpu	= pvdma_sync_sg_for_cpu,
	.sync_sg_for_device	= pvdma_sync_sg_for_device,
	.dma_supported		= pvdma_dma_supported,
	.get_required_mask	= pvdma_get_required_mask,
	.max_mapping_size	= pvdma_max_mapping_size,
};
