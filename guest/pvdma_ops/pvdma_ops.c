// SPDX-License-Identifier: GPL-2.0
/*
 * PVDMA dma_map_ops: translate guest-physical buffers to host-physical
 * segments by hypercall.
 *
 * Every map pins the buffer on the host with one KVM_HC_PVDMA_MAP (one per
 * scatterlist, not per entry) and hands the device the host-physical
 * addresses the host returns.  Every unmap releases the pin with
 * KVM_HC_PVDMA_UNMAP.  The device only gives back DMA addresses, so each
 * mapping's host handle is kept in a per-device table keyed by DMA address.
 *
 * v0 has no bounce pool: a mapping the host cannot serve as the caller needs
 * it (limit reached, not host-contiguous where one segment is needed, beyond
 * the device's DMA mask) fails with DMA_MAPPING_ERROR.  Those failure points
 * are where a later version bounces instead.
 *
 * x86 is cache-coherent and translated buffers are the caller's own pages,
 * so nothing is ever copied and the sync operations have nothing to do.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/kvm_para.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "pvdma_internal.h"

/*
 * The MAP descriptors handed to the host.  The host reads and writes them by
 * guest-physical address, so they live in the direct map: the range array in
 * one page (16-aligned, never crossing a page), the result in its own
 * physically contiguous block so the two never overlap.
 */
struct pvdma_buf {
	struct pvdma_range *ranges;
	struct pvdma_map_result *result;
};

/*
 * One set of descriptors per CPU, used with interrupts disabled: map
 * operations run in any context, including hard IRQ, and must neither sleep
 * nor let an interrupt handler's map clobber a half-consumed result.
 */
static DEFINE_PER_CPU(struct pvdma_buf, pvdma_bufs);

static unsigned int pvdma_result_order(void)
{
	return get_order(struct_size_t(struct pvdma_map_result, segs,
				       pvdma_limits.max_segs));
}

/**
 * pvdma_bufs_exit() - free the per-CPU MAP descriptors
 *
 * Safe on partially initialised buffers.
 */
void pvdma_bufs_exit(void)
{
	unsigned int order = pvdma_result_order();
	int cpu;

	for_each_possible_cpu(cpu) {
		struct pvdma_buf *buf = per_cpu_ptr(&pvdma_bufs, cpu);

		free_page((unsigned long)buf->ranges);
		free_pages((unsigned long)buf->result, order);
		buf->ranges = NULL;
		buf->result = NULL;
	}
}

/**
 * pvdma_bufs_init() - allocate the per-CPU MAP descriptors
 *
 * Must run after pvdma_limits is known: the result block is sized for
 * pvdma_limits.max_segs.  Buffers exist for every possible CPU so CPU
 * hotplug needs no handling.
 *
 * Return: 0, or -ENOMEM.
 */
int pvdma_bufs_init(void)
{
	unsigned int order = pvdma_result_order();
	int cpu;

	BUILD_BUG_ON(PVDMA_MAX_RANGES * sizeof(struct pvdma_range) > PAGE_SIZE);

	for_each_possible_cpu(cpu) {
		struct pvdma_buf *buf = per_cpu_ptr(&pvdma_bufs, cpu);
		int node = cpu_to_node(cpu);
		struct page *ranges, *result;

		ranges = alloc_pages_node(node, GFP_KERNEL, 0);
		result = alloc_pages_node(node, GFP_KERNEL, order);
		if (ranges)
			buf->ranges = page_address(ranges);
		if (result)
			buf->result = page_address(result);
		if (!ranges || !result) {
			pvdma_bufs_exit();
			return -ENOMEM;
		}
	}
	return 0;
}

/**
 * struct pvdma_map - one live host mapping
 * @node:	entry in &pvdma_dev.maps.
 * @addr:	DMA address the device was given (first segment).
 * @size:	size the caller mapped; with @addr, what unmap passes back.
 * @handle:	host handle for KVM_HC_PVDMA_UNMAP.
 */
struct pvdma_map {
	struct hlist_node node;
	dma_addr_t addr;
	size_t size;
	u64 handle;
};

static u32 pvdma_dir(enum dma_data_direction dir)
{
	switch (dir) {
	case DMA_TO_DEVICE:
		return PVDMA_MAP_TO_DEVICE;
	case DMA_FROM_DEVICE:
		return PVDMA_MAP_FROM_DEVICE;
	default:
		return PVDMA_MAP_BIDIRECTIONAL;
	}
}

/* Can the device reach [addr, addr + len) with @mask? */
static bool pvdma_capable(struct device *dev, u64 addr, u64 len, u64 mask)
{
	u64 end = addr + len - 1;

	return len && end >= addr &&
	       end <= min_not_zero(mask, dev->bus_dma_limit);
}

static void pvdma_hc_unmap(struct pvdma_dev *pd, u64 handle)
{
	long ret;

	atomic64_inc(&pd->stats.hypercalls);
	ret = kvm_hypercall2(KVM_HC_PVDMA_UNMAP, handle, 0);
	if (ret) {
		atomic64_inc(&pd->stats.failures);
		dev_err_ratelimited(pd->dev,
				    "pvdma: KVM_HC_PVDMA_UNMAP failed: %s (%ld)\n",
				    pvdma_strerror(ret), ret);
	}
}

/*
 * Map the @nr ranges already written to @buf, accepting at most @max_segs
 * segments: the host then refuses (-KVM_E2BIG) rather than pin something
 * the caller cannot use.  Called with interrupts disabled (see pvdma_bufs).
 */
static long pvdma_hc_map(struct pvdma_dev *pd, struct pvdma_buf *buf,
			 unsigned int nr, u32 max_segs,
			 enum dma_data_direction dir)
{
	struct pvdma_map_result *res = buf->result;
	long ret;

	res->max_segs = max_segs;
	atomic64_inc(&pd->stats.hypercalls);
	ret = kvm_hypercall4(KVM_HC_PVDMA_MAP, virt_to_phys(buf->ranges), nr,
			     virt_to_phys(res), pvdma_dir(dir));
	if (!ret && WARN_ON_ONCE(!res->nr_segs || res->nr_segs > max_segs)) {
		pvdma_hc_unmap(pd, res->handle);
		ret = -EPROTO;
	}
	if (ret) {
		atomic64_inc(&pd->stats.failures);
		dev_err_ratelimited(pd->dev,
				    "pvdma: KVM_HC_PVDMA_MAP of %u range(s) failed: %s (%ld)\n",
				    nr, pvdma_strerror(ret), ret);
	}
	return ret;
}

static void pvdma_track(struct pvdma_dev *pd, struct pvdma_map *map)
{
	unsigned long flags;

	/* Each live mapping pins the module: rmmod must not drop the ops. */
	__module_get(THIS_MODULE);
	spin_lock_irqsave(&pd->lock, flags);
	hash_add(pd->maps, &map->node, map->addr);
	spin_unlock_irqrestore(&pd->lock, flags);
	atomic64_inc(&pd->stats.maps);
	atomic64_inc(&pd->stats.live_mappings);
}

/*
 * Release the mapping the device knows as @addr/@size.  The same buffer may
 * be mapped twice (same address and size); each mapping has its own host
 * handle, so releasing either one is correct.
 */
static bool pvdma_unmap(struct pvdma_dev *pd, dma_addr_t addr, size_t size)
{
	struct pvdma_map *map, *found = NULL;
	unsigned long flags;

	spin_lock_irqsave(&pd->lock, flags);
	hash_for_each_possible(pd->maps, map, node, addr) {
		if (map->addr == addr && map->size == size) {
			hash_del(&map->node);
			found = map;
			break;
		}
	}
	spin_unlock_irqrestore(&pd->lock, flags);

	if (!found) {
		atomic64_inc(&pd->stats.failures);
		dev_WARN_ONCE(pd->dev, 1,
			      "pvdma: unmap of unknown DMA address %pad size %zu\n",
			      &addr, size);
		return false;
	}

	pvdma_hc_unmap(pd, found->handle);
	kfree(found);
	atomic64_inc(&pd->stats.unmaps);
	atomic64_dec(&pd->stats.live_mappings);
	module_put(THIS_MODULE);
	return true;
}

static struct pvdma_dev *pvdma_dev_of(struct device *dev)
{
	struct pvdma_dev *pd = pvdma_find(dev);

	/* Ops are installed only while the device is on the list. */
	WARN_ON_ONCE(!pd);
	return pd;
}

/*
 * Map one physically contiguous guest buffer that the device must see as
 * one segment.  @gfp is for bookkeeping only; GFP_ATOMIC from map paths.
 */
static dma_addr_t pvdma_map_single(struct pvdma_dev *pd, phys_addr_t phys,
				   size_t size, enum dma_data_direction dir,
				   u64 mask, gfp_t gfp)
{
	struct pvdma_map *map;
	struct pvdma_buf *buf;
	struct pvdma_seg seg;
	unsigned long flags;
	long ret;

	map = kmalloc(sizeof(*map), gfp);
	if (!map) {
		atomic64_inc(&pd->stats.failures);
		return DMA_MAPPING_ERROR;
	}

	local_irq_save(flags);
	buf = this_cpu_ptr(&pvdma_bufs);
	buf->ranges[0].gpa = phys;
	buf->ranges[0].len = size;
	/* One segment or nothing: v0 cannot bounce a discontiguous buffer. */
	ret = pvdma_hc_map(pd, buf, 1, 1, dir);
	if (!ret) {
		map->handle = buf->result->handle;
		seg = buf->result->segs[0];
	}
	local_irq_restore(flags);
	if (ret)
		goto err_free;

	if (!pvdma_capable(pd->dev, seg.addr, seg.len, mask)) {
		/* A later version bounces here. */
		atomic64_inc(&pd->stats.failures);
		dev_err_ratelimited(pd->dev,
				    "pvdma: host memory of a %zu byte buffer is beyond the DMA mask %#llx\n",
				    size, mask);
		pvdma_hc_unmap(pd, map->handle);
		goto err_free;
	}

	map->addr = seg.addr;
	map->size = size;
	pvdma_track(pd, map);
	return map->addr;

err_free:
	kfree(map);
	return DMA_MAPPING_ERROR;
}

/*
 * map_page: the device owns the buffer from here until unmap_page.  The host
 * pins the pages for as long.
 */
static dma_addr_t pvdma_map_page(struct device *dev, struct page *page,
				 unsigned long offset, size_t size,
				 enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (!pd)
		return DMA_MAPPING_ERROR;
	return pvdma_map_single(pd, page_to_phys(page) + offset, size, dir,
				*dev->dma_mask, GFP_ATOMIC);
}

/* unmap_page: ownership returns to the CPU; the host unpins. */
static void pvdma_unmap_page(struct device *dev, dma_addr_t addr, size_t size,
			     enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (pd)
		pvdma_unmap(pd, addr, size);
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
			 int nents, const struct pvdma_map_result *res,
			 u64 mask)
{
	unsigned long boundary = dma_get_seg_boundary(dev);
	u64 max_seg = dma_get_max_seg_size(dev);
	struct scatterlist *sg = sgl;
	int count = 0;
	u32 i;

	for (i = 0; i < res->nr_segs; i++) {
		u64 addr = res->segs[i].addr;
		u64 len = res->segs[i].len;

		/* A later version bounces here. */
		if (!pvdma_capable(dev, addr, len, mask))
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

/*
 * map_sg: the device owns every entry until unmap_sg.  One hypercall maps
 * the whole list; the host merges contiguous frames, so fewer DMA segments
 * than entries may come back.  The mapping is keyed by the first segment's
 * DMA address and the list's total length, which unmap_sg can recompute.
 */
static int pvdma_map_sg(struct device *dev, struct scatterlist *sgl,
			int nents, enum dma_data_direction dir,
			unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);
	struct pvdma_map *map;
	struct scatterlist *sg;
	struct pvdma_buf *buf;
	unsigned long flags;
	int count, i;
	long ret;

	if (!pd)
		return -EIO;
	/* v0 maps a list in one call; splitting it needs several handles. */
	if (nents > pvdma_limits.max_ranges) {
		atomic64_inc(&pd->stats.failures);
		dev_err_ratelimited(dev,
				    "pvdma: scatterlist of %d entries exceeds the host limit of %u\n",
				    nents, pvdma_limits.max_ranges);
		return -EINVAL;
	}

	map = kmalloc(sizeof(*map), GFP_ATOMIC);
	if (!map) {
		atomic64_inc(&pd->stats.failures);
		return -ENOMEM;
	}

	local_irq_save(flags);
	buf = this_cpu_ptr(&pvdma_bufs);
	for_each_sg(sgl, sg, nents, i) {
		buf->ranges[i].gpa = sg_phys(sg);
		buf->ranges[i].len = sg->length;
		/* Entries past the merged segments stay empty. */
		sg_dma_address(sg) = DMA_MAPPING_ERROR;
		sg_dma_len(sg) = 0;
	}
	ret = pvdma_hc_map(pd, buf, nents,
			   min_t(u32, nents, pvdma_limits.max_segs), dir);
	if (!ret) {
		map->handle = buf->result->handle;
		count = pvdma_fill_sg(dev, sgl, nents, buf->result,
				      *dev->dma_mask);
	}
	local_irq_restore(flags);
	if (ret) {
		count = pvdma_sg_errno(ret);
		goto err_free;
	}
	if (count < 0) {
		atomic64_inc(&pd->stats.failures);
		dev_err_ratelimited(dev,
				    "pvdma: scatterlist of %d entries: %s\n", nents,
				    count == -EIO ? "host memory beyond the DMA mask" :
				    "too many segments after splitting to the device's limits");
		pvdma_hc_unmap(pd, map->handle);
		goto err_reset;
	}

	map->addr = sg_dma_address(sgl);
	map->size = pvdma_sg_size(sgl, nents);
	pvdma_track(pd, map);
	return count;

err_reset:
	sg_dma_address(sgl) = DMA_MAPPING_ERROR;
	sg_dma_len(sgl) = 0;
err_free:
	kfree(map);
	return count;
}

/* unmap_sg: the CPU owns the entries again; @nents is the original count. */
static void pvdma_unmap_sg(struct device *dev, struct scatterlist *sgl,
			   int nents, enum dma_data_direction dir,
			   unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (pd)
		pvdma_unmap(pd, sg_dma_address(sgl), pvdma_sg_size(sgl, nents));
}

/*
 * alloc_pages_op: zeroed pages, owned by the device until the caller syncs
 * them for the CPU (on x86 the same as coherent).  They are mapped for @dir
 * as one segment, since the device is given a single address; unless the
 * host backs guest memory with huge pages, v0 can therefore serve only
 * single-page allocations.  Also the backend of alloc.
 */
static struct page *pvdma_alloc_pages(struct device *dev, size_t size,
				      dma_addr_t *dma_handle,
				      enum dma_data_direction dir, gfp_t gfp)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);
	unsigned int order = get_order(size);
	struct page *page;
	dma_addr_t addr;

	if (!pd)
		return NULL;
	page = alloc_pages_node(dev_to_node(dev), gfp | __GFP_ZERO, order);
	if (!page)
		return NULL;
	addr = pvdma_map_single(pd, page_to_phys(page), size, dir,
				dev->coherent_dma_mask, gfp);
	if (addr == DMA_MAPPING_ERROR) {
		__free_pages(page, order);
		return NULL;
	}
	*dma_handle = addr;
	return page;
}

/*
 * alloc: a coherent buffer, shared by CPU and device until free.  It stays
 * pinned on the host for its whole life.
 */
static void *pvdma_alloc(struct device *dev, size_t size,
			 dma_addr_t *dma_handle, gfp_t gfp,
			 unsigned long attrs)
{
	struct page *page = pvdma_alloc_pages(dev, size, dma_handle,
					      DMA_BIDIRECTIONAL, gfp);

	return page ? page_address(page) : NULL;
}

/*
 * free: the device is done with the coherent buffer.  An unknown address
 * leaks the pages rather than free memory the device may still write.
 */
static void pvdma_free(struct device *dev, size_t size, void *vaddr,
		       dma_addr_t dma_handle, unsigned long attrs)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (pd && pvdma_unmap(pd, dma_handle, size))
		free_pages((unsigned long)vaddr, get_order(size));
}

/* free_pages: as free, for alloc_pages_op memory. */
static void pvdma_free_pages(struct device *dev, size_t size,
			     struct page *page, dma_addr_t dma_handle,
			     enum dma_data_direction dir)
{
	struct pvdma_dev *pd = pvdma_dev_of(dev);

	if (pd && pvdma_unmap(pd, dma_handle, size))
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
 * sync_*: ownership moves between CPU and device.  x86 keeps caches
 * coherent with DMA and the device works on the caller's own pages, so
 * there is nothing to copy or flush.  These exist so that the DMA core keeps
 * calling syncs for attached devices (dma_reset_need_sync()), where a
 * bounce pool will copy.
 */
static void pvdma_sync_single(struct device *dev, dma_addr_t addr,
			      size_t size, enum dma_data_direction dir)
{
}

static void pvdma_sync_sg(struct device *dev, struct scatterlist *sgl,
			  int nents, enum dma_data_direction dir)
{
}

/*
 * The host can place a buffer anywhere in its memory and does not report
 * how far that reaches, so every mask of at least 32 bits is accepted and
 * each mapping is checked against the mask instead.
 */
static int pvdma_dma_supported(struct device *dev, u64 mask)
{
	return mask >= DMA_BIT_MASK(32);
}

/* Any host address may come back: ask drivers for full addressing. */
static u64 pvdma_get_required_mask(struct device *dev)
{
	return DMA_BIT_MASK(64);
}

/* A buffer at any offset must fit in max_map_pages pages. */
static size_t pvdma_max_mapping_size(struct device *dev)
{
	return (size_t)(pvdma_limits.max_map_pages - 1) << PAGE_SHIFT;
}

/*
 * No map_resource: the host pins RAM only (MMIO is -PVDMA_EIO), so the DMA
 * core's DMA_MAPPING_ERROR for a missing op is the right answer.
 */
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
	.sync_single_for_cpu	= pvdma_sync_single,
	.sync_single_for_device	= pvdma_sync_single,
	.sync_sg_for_cpu	= pvdma_sync_sg,
	.sync_sg_for_device	= pvdma_sync_sg,
	.dma_supported		= pvdma_dma_supported,
	.get_required_mask	= pvdma_get_required_mask,
	.max_mapping_size	= pvdma_max_mapping_size,
};
