// SPDX-License-Identifier: GPL-2.0
/*
 * The live mappings of a device, and how a mapping ends.
 *
 * The device only gives back DMA addresses, so each translated mapping's
 * host handle is kept in a per-device table (&pvdma_dev.maps) keyed by the
 * DMA address it was given; unmap takes it out by that address, size,
 * direction and, for a list, the guest ranges.  A translation that ends is
 * kept idle in the cache (pvdma_cache.c) or released on the host.  Bounced
 * mappings are not in the table (the pool knows them) but are counted the
 * same.  Every live mapping pins the module: rmmod must not drop the ops
 * under a driver that still holds one.
 */

#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "pvdma_internal.h"
#include "pvdma_trace.h"

/**
 * pvdma_live_add() - put a fresh translated mapping into the table
 * @pd: the device
 * @map: the translation, its &pvdma_xlat.addr the DMA address given out
 */
void pvdma_live_add(struct pvdma_dev *pd, struct pvdma_xlat *map)
{
	unsigned long flags;

	/* Each live mapping pins the module: rmmod must not drop the ops. */
	__module_get(THIS_MODULE);
	spin_lock_irqsave(&pd->lock, flags);
	hash_add(pd->maps, &map->node, map->addr);
	spin_unlock_irqrestore(&pd->lock, flags);
	pvdma_stat_inc(pd, PVDMA_STAT_MAPS);
	pvdma_stat_inc(pd, PVDMA_STAT_LIVE);
}

/**
 * pvdma_live_bounced() - count a mapping the bounce pool serves
 * @pd: the device
 * @phys: guest-physical address of the buffer
 * @size: its bytes
 * @dir: its direction
 *
 * Counted and pinning the module as a translated one.
 */
void pvdma_live_bounced(struct pvdma_dev *pd, phys_addr_t phys, size_t size,
			enum dma_data_direction dir)
{
	__module_get(THIS_MODULE);
	pvdma_stat_inc(pd, PVDMA_STAT_MAPS);
	pvdma_stat_inc(pd, PVDMA_STAT_LIVE);
	pvdma_stat_inc(pd, PVDMA_STAT_BOUNCED_MAPS);
	pvdma_stat_add(pd, PVDMA_STAT_BOUNCED_BYTES, size);
	trace_pvdma_guest_bounce(pd->dev, phys, size, dir);
}

/**
 * pvdma_live_end() - count a mapping that ended, translated or bounced
 * @pd: the device
 * @size: its bytes
 * @dir: its direction
 * @bounced: the pool served it
 */
void pvdma_live_end(struct pvdma_dev *pd, size_t size,
		    enum dma_data_direction dir, bool bounced)
{
	pvdma_stat_inc(pd, PVDMA_STAT_UNMAPS);
	pvdma_stat_add(pd, PVDMA_STAT_LIVE, -1);
	trace_pvdma_guest_unmap(pd->dev, size, dir, bounced);
	module_put(THIS_MODULE);
}

/* Did map_sg make @map of exactly these @nents entries? */
static bool pvdma_live_same_list(const struct pvdma_xlat *map,
				 struct scatterlist *sgl, int nents)
{
	struct scatterlist *sg;
	int i;

	if (!map->sg || map->nr_ranges != nents)
		return false;
	for_each_sg(sgl, sg, nents, i)
		if (map->ranges[i].gpa != sg_phys(sg) ||
		    map->ranges[i].len != sg->length)
			return false;
	return true;
}

/**
 * pvdma_live_take() - take a translated mapping given back out of the table
 * @pd: the device
 * @addr: DMA address the driver gives back
 * @size: its bytes
 * @dir: its direction
 * @sgl: the list, for unmap_sg; %NULL for a single mapping
 * @nents: entries of @sgl as mapped
 *
 * The DMA address and size alone do not name the mapping:
 *  - a single mapping (@sgl %NULL) is one host segment [@addr, @addr +
 *    @size); another single mapping of that segment in the same direction
 *    pins the same host frames, so either may be released.  But a list
 *    with the same first address and length may pin other pages, and one
 *    in the other direction is logged dirty at unmap, or not;
 *  - a list must be the same guest ranges in the same direction.
 * A driver that unmaps with another direction than it mapped (a bug, which
 * DMA-API debugging reports too) still gets its mapping released if it is
 * the only one that fits: leaking it would be worse.
 *
 * Return: the mapping, no longer in the table, or %NULL if there is none.
 */
struct pvdma_xlat *pvdma_live_take(struct pvdma_dev *pd, dma_addr_t addr,
				   size_t size, enum dma_data_direction dir,
				   struct scatterlist *sgl, int nents)
{
	struct pvdma_xlat *map, *found = NULL, *other = NULL;
	u32 pdir = pvdma_map_dir(dir);
	unsigned long flags;

	spin_lock_irqsave(&pd->lock, flags);
	hash_for_each_possible(pd->maps, map, node, addr) {
		if (map->addr != addr || map->size != size ||
		    !(sgl ? pvdma_live_same_list(map, sgl, nents) : !map->sg))
			continue;
		if (map->dir == pdir) {
			found = map;
			break;
		}
		other = other ?: map;
	}
	if (!found && other) {
		found = other;
		dev_err_ratelimited(pd->dev, "pvdma: unmap of %zu bytes in another direction than they were mapped; released all the same\n",
				    size);
	}
	if (found)
		hash_del(&found->node);
	spin_unlock_irqrestore(&pd->lock, flags);
	return found;
}

/**
 * pvdma_xlat_end() - end a translated mapping taken from the table
 * @pd: the device
 * @map: the translation
 * @size: bytes the caller gives back
 * @dir: its direction
 * @keep: the translation may stay idle in the cache (the caller does not
 *	  free the pages)
 *
 * Keeps it in the cache if @keep and the cache allow, or releases it on
 * the host.
 */
void pvdma_xlat_end(struct pvdma_dev *pd, struct pvdma_xlat *map,
		    size_t size, enum dma_data_direction dir, bool keep)
{
	unsigned long flags;

	if (keep) {
		local_irq_save(flags);
		keep = pvdma_cache_keep(pd, map, pvdma_scratch());
		local_irq_restore(flags);
	}
	if (!keep) {
		pvdma_host_unmap(pd, map->handle);
		kfree(map);
	}
	pvdma_live_end(pd, size, dir, false);
}

/**
 * pvdma_live_bad() - a driver gave back what pvdma never mapped
 * @pd: the device
 * @size: bytes it gave back
 *
 * A driver bug; fail_bad_unmap counts it for debugging.
 */
void pvdma_live_bad(struct pvdma_dev *pd, size_t size)
{
	pvdma_stat_inc(pd, PVDMA_STAT_BAD_UNMAP);
	dev_err_ratelimited(pd->dev,
			    "pvdma: unmap of %zu bytes pvdma never mapped; nothing released\n",
			    size);
}

/**
 * pvdma_live_release_all() - release what a driver left mapped on a device
 * @pd: a device being detached, which can no longer DMA
 *
 * Only for a device whose bus mastering is off or which is gone: the
 * translated mappings its driver never unmapped are released on the host.
 * Bounced ones cannot be told apart in the pool; their pages stay in use
 * (and the module with them).
 *
 * Return: how many bounced mappings stay.
 */
s64 pvdma_live_release_all(struct pvdma_dev *pd)
{
	struct pvdma_xlat *map;
	struct hlist_node *tmp;
	unsigned long flags;
	HLIST_HEAD(list);
	int bkt;

	spin_lock_irqsave(&pd->lock, flags);
	hash_for_each_safe(pd->maps, bkt, tmp, map, node) {
		hash_del(&map->node);
		hlist_add_head(&map->node, &list);
	}
	spin_unlock_irqrestore(&pd->lock, flags);

	hlist_for_each_entry_safe(map, tmp, &list, node) {
		hlist_del(&map->node);
		pvdma_xlat_end(pd, map, map->size, DMA_BIDIRECTIONAL, false);
	}
	return pvdma_stat_read(pd, PVDMA_STAT_LIVE);
}
