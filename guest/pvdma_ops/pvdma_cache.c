// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma pin cache: keep a translation after unmap so that mapping the same
 * buffer again costs no exit.
 *
 * Drivers recycle their buffers (rings, page pools): the same guest ranges
 * are mapped and unmapped over and over.  Instead of KVM_HC_PVDMA_UNMAP, an
 * unmap may keep the host handle, its pins and the segments the host
 * returned, idle, keyed by the exact (direction, ranges) that were mapped.
 * A later map of the same ranges in the same direction takes the idle
 * translation back: no hypercall, nothing copied.
 *
 * Why a kept translation cannot go stale:
 *  - the host keeps the pages pinned, so it never migrates or reclaims
 *    them, and it counts them against the VM's limits like any live pin;
 *  - whenever a guest-physical address may come to be backed by other host
 *    memory (memslot deleted, moved, or dirty-logged; host memory behind a
 *    pinned frame discarded or remapped), the host increments the epoch in
 *    the shared page (struct pvdma_shared).  A translation is tagged with
 *    the epoch read *before* its MAP, so that a bump landing while the host
 *    translates marks it old; it is kept only if that is still the current
 *    epoch at unmap, and taken back only while the epoch has not moved;
 *    once it has, every kept translation is released before anything is
 *    mapped anew, and one handed back after it moved is not kept again;
 *  - a result flagged PVDMA_RESULT_NO_CACHE (dirty logging: the host marks
 *    pages dirty at unmap) is always unmapped at once.
 *
 * What the guest does with a page it frees or reuses: nothing is needed for
 * correctness.  A kept translation is keyed by guest-physical address and
 * only says which host frame backs it, which the pin and the epoch keep
 * true whatever the page now holds; no device has it mapped.  Only memory
 * pvdma frees itself (coherent buffers) is never kept, so that a pin does
 * not outlive its owner's allocation.
 *
 * Bounds and flushes: at most cache_entries translations and cache_pages
 * host pages per device.  Going over releases the oldest quarter in one
 * KVM_HC_PVDMA_UNMAP_BATCH, so evictions cost one exit for many.  A host
 * that refuses a map (-PVDMA_ENOSPC) gets the whole cache back first, then
 * the map is retried once: kept pins never make a mapping fail.  Turning
 * the cache off, a moved epoch and detaching also release everything.
 * Whether a translation may be kept is decided again under the lock
 * (pvdma_cache_keepable()), so that one unmapped while "cache=0" flushes
 * cannot slip in behind the flush.
 *
 * All of it runs under &pvdma_dev.lock with interrupts disabled: maps and
 * unmaps come from any context.  @scratch is a page for the handle array
 * of UNMAP_BATCH, which the caller owns with interrupts disabled.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/list.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <kunit/static_stub.h>

#include "pvdma_internal.h"

bool pvdma_cache_on = true;	/* the "cache" parameter: pvdma_dev.c */
unsigned int pvdma_cache_entries = 1024;
module_param_named(cache_entries, pvdma_cache_entries, uint, 0644);
MODULE_PARM_DESC(cache_entries,
		 "Most translations each device keeps after unmap (default 1024)");
unsigned int pvdma_cache_pages = 16384;
module_param_named(cache_pages, pvdma_cache_pages, uint, 0644);
MODULE_PARM_DESC(cache_pages,
		 "Most host pages each device keeps pinned after unmap (default 16384, 64 MiB)");

static u32 pvdma_key(const struct pvdma_range *ranges, u32 nr, u32 dir)
{
	BUILD_BUG_ON(sizeof(*ranges) % sizeof(u32));
	return jhash2((const u32 *)ranges, nr * sizeof(*ranges) / sizeof(u32),
		      dir);
}

/**
 * pvdma_pages() - host pages a MAP of these ranges pins
 * @ranges: the guest ranges
 * @nr: their number
 *
 * Each range is pinned on its own, so pages two ranges share count twice,
 * as the host counts them against max_map_pages.
 *
 * Return: the number of pages.
 */
u32 pvdma_pages(const struct pvdma_range *ranges, u32 nr)
{
	u32 i, pages = 0;

	for (i = 0; i < nr; i++)
		pages += PFN_UP(ranges[i].gpa + ranges[i].len) -
			 PFN_DOWN(ranges[i].gpa);
	return pages;
}

/**
 * pvdma_cache_init() - start a device with an empty cache
 * @pd: the device, not yet visible to the DMA ops
 */
void pvdma_cache_init(struct pvdma_dev *pd)
{
	hash_init(pd->cache);
	INIT_LIST_HEAD(&pd->lru);
}

/**
 * pvdma_xlat_alloc() - allocate a translation's bookkeeping
 * @nr_ranges: ranges to be mapped
 * @max_segs: most segments the host may return
 * @gfp: allocation flags of the mapping
 *
 * The ranges are always remembered: unmap matches them.  With the cache
 * on, room is made for the segments too, so that the translation can be
 * kept after unmap.
 *
 * Return: the zeroed bookkeeping, or %NULL.
 */
struct pvdma_xlat *pvdma_xlat_alloc(u32 nr_ranges, u32 max_segs, gfp_t gfp)
{
	bool keep = READ_ONCE(pvdma_cache_on) && pvdma_shared_page;
	struct pvdma_xlat *map;

	map = kzalloc(struct_size(map, ranges, nr_ranges) +
		      (keep ? array_size(max_segs, sizeof(*map->segs)) : 0),
		      gfp);
	if (map && keep)
		map->segs = (struct pvdma_seg *)&map->ranges[nr_ranges];
	return map;
}

/**
 * pvdma_cache_record() - remember what a fresh translation is, to keep it
 * @map: bookkeeping from pvdma_xlat_alloc()
 * @ranges: the ranges mapped
 * @nr: their number
 * @dir: PVDMA_MAP_* direction
 * @res: what the host returned
 * @epoch: pvdma_host_epoch() read before the MAP
 *
 * Called with interrupts disabled, while @res is still the host's answer.
 * @map must have room for @nr ranges (pvdma_xlat_alloc()).
 */
void pvdma_cache_record(struct pvdma_xlat *map,
			const struct pvdma_range *ranges, u32 nr, u32 dir,
			const struct pvdma_map_result *res, u64 epoch)
{
	map->handle = res->handle;
	map->dir = dir;
	map->nr_pages = pvdma_pages(ranges, nr);
	map->nr_ranges = nr;
	memcpy(map->ranges, ranges, nr * sizeof(*ranges));
	/* Without room (cache off at alloc time), it is released at unmap. */
	if (!map->segs || res->flags & PVDMA_RESULT_NO_CACHE)
		return;
	memcpy(map->segs, res->segs, res->nr_segs * sizeof(*res->segs));
	map->nr_segs = res->nr_segs;
	map->key = pvdma_key(ranges, nr, dir);
	map->epoch = epoch;
}

/* Take @map out of the cache.  Called under pd->lock. */
static void pvdma_cache_unlink(struct pvdma_dev *pd, struct pvdma_xlat *map)
{
	lockdep_assert_held(&pd->lock);

	hash_del(&map->node);
	list_del(&map->lru);
	pd->cached--;
	pd->cached_pages -= map->nr_pages;
	pvdma_stat_add(pd, PVDMA_STAT_CACHED, -1);
	pvdma_stat_add(pd, PVDMA_STAT_CACHED_PAGES, -(s64)map->nr_pages);
}

/* Move up to @nr of the oldest kept translations to @out. */
static unsigned int pvdma_cache_take_oldest(struct pvdma_dev *pd,
					    unsigned int nr,
					    struct list_head *out)
{
	struct pvdma_xlat *map;
	unsigned int n;

	lockdep_assert_held(&pd->lock);

	for (n = 0; n < nr && !list_empty(&pd->lru); n++) {
		map = list_first_entry(&pd->lru, struct pvdma_xlat, lru);
		pvdma_cache_unlink(pd, map);
		list_add_tail(&map->lru, out);
	}
	return n;
}

/*
 * Release the translations on @list, as many per exit as the host takes.
 * A batch waits (-PVDMA_EAGAIN) while the host's dirty ring has no room
 * for the pages it must log, and the vCPU exits to its VMM to harvest it
 * meanwhile; it never fits (-KVM_E2BIG) when there is more to log than
 * half the ring.  The handles are all live and distinct, so any other
 * failure is a host bug.  Either way each is then released on its own, so
 * that none stays pinned.
 */
static void pvdma_cache_release(struct pvdma_dev *pd, struct list_head *list,
				u64 *scratch)
{
	unsigned int max = min3(pvdma_host_limits.max_batch, (u32)PVDMA_MAX_BATCH,
				(u32)(PAGE_SIZE / sizeof(u64)));
	struct pvdma_xlat *map, *tmp;
	unsigned int n = 0, i;
	long ret;

	list_for_each_entry_safe(map, tmp, list, lru) {
		scratch[n++] = map->handle;
		list_del(&map->lru);
		kfree(map);
		if (n < max && !list_empty(list))
			continue;

		do {
			pvdma_stat_inc(pd, PVDMA_STAT_HYPERCALLS);
			ret = pvdma_call_unmap_batch(virt_to_phys(scratch), n);
		} while (ret == -PVDMA_EAGAIN);
		if (ret) {
			if (ret != -KVM_E2BIG)
				dev_err_ratelimited(pd->dev,
						    "pvdma: KVM_HC_PVDMA_UNMAP_BATCH of %u kept translations failed: %s (%ld); releasing them one by one\n",
						    n, pvdma_strerror(ret), ret);
			for (i = 0; i < n; i++)
				pvdma_host_unmap(pd, scratch[i]);
		}
		n = 0;
	}
}

/**
 * pvdma_cache_flush() - release every kept translation of a device
 * @pd: the device
 * @scratch: a page for the handle array, owned with interrupts disabled
 *
 * Return: how many were released.
 */
unsigned int pvdma_cache_flush(struct pvdma_dev *pd, u64 *scratch)
{
	unsigned long flags;
	unsigned int n;
	LIST_HEAD(list);

	spin_lock_irqsave(&pd->lock, flags);
	n = pvdma_cache_take_oldest(pd, pd->cached, &list);
	spin_unlock_irqrestore(&pd->lock, flags);

	pvdma_stat_add(pd, PVDMA_STAT_CACHE_EVICTED, n);
	pvdma_cache_release(pd, &list, scratch);
	return n;
}

/**
 * pvdma_cache_take() - take back a kept translation of exactly these ranges
 * @pd: the device
 * @ranges: the ranges about to be mapped
 * @nr: their number
 * @dir: PVDMA_MAP_* direction
 * @scratch: a page for the handle array, owned with interrupts disabled
 *
 * If the host's epoch moved since the translations were kept, all of them
 * are released first, and nothing is found.
 *
 * Return: the translation, no longer in the cache, or %NULL.
 */
struct pvdma_xlat *pvdma_cache_take(struct pvdma_dev *pd,
				    const struct pvdma_range *ranges, u32 nr,
				    u32 dir, u64 *scratch)
{
	u32 key = pvdma_key(ranges, nr, dir);
	struct pvdma_xlat *map, *found = NULL;
	u64 epoch = pvdma_host_epoch();
	unsigned long flags;
	unsigned int stale = 0;
	LIST_HEAD(list);

	spin_lock_irqsave(&pd->lock, flags);
	if (pd->cache_epoch != epoch) {
		stale = pvdma_cache_take_oldest(pd, pd->cached, &list);
		pd->cache_epoch = epoch;
	}
	hash_for_each_possible(pd->cache, map, node, key) {
		if (map->key == key && map->dir == dir && map->nr_ranges == nr &&
		    !memcmp(map->ranges, ranges, nr * sizeof(*ranges))) {
			pvdma_cache_unlink(pd, map);
			found = map;
			break;
		}
	}
	spin_unlock_irqrestore(&pd->lock, flags);

	if (stale) {
		pvdma_stat_add(pd, PVDMA_STAT_CACHE_STALE, stale);
		pvdma_cache_release(pd, &list, scratch);
	}
	if (found)
		pvdma_stat_inc(pd, PVDMA_STAT_CACHE_HITS);
	return found;
}

/* Put @map back where it was in the cache (reversed by the caller). */
static void pvdma_cache_link(struct pvdma_dev *pd, struct pvdma_xlat *map,
			     bool oldest)
{
	lockdep_assert_held(&pd->lock);

	hash_add(pd->cache, &map->node, map->key);
	if (oldest)
		list_add(&map->lru, &pd->lru);
	else
		list_add_tail(&map->lru, &pd->lru);
	pd->cached++;
	pd->cached_pages += map->nr_pages;
	pvdma_stat_inc(pd, PVDMA_STAT_CACHED);
	pvdma_stat_add(pd, PVDMA_STAT_CACHED_PAGES, map->nr_pages);
}

/**
 * pvdma_cache_put_back() - return a translation the caller could not use
 * @pd: the device
 * @map: from pvdma_cache_take(); its segments did not suit this mapping
 *
 * If it may still be kept, it goes back as the first to be evicted.  But
 * the epoch may have moved since pvdma_cache_take() (and another map may
 * have released everything older already), or the cache gone off: then it
 * is released, as pvdma_cache_keep() would.
 */
void pvdma_cache_put_back(struct pvdma_dev *pd, struct pvdma_xlat *map)
{
	unsigned long flags;
	bool keep;

	spin_lock_irqsave(&pd->lock, flags);
	keep = pvdma_cache_keepable(map) && pd->cache_epoch == map->epoch;
	if (keep)
		pvdma_cache_link(pd, map, true);
	spin_unlock_irqrestore(&pd->lock, flags);
	pvdma_stat_add(pd, PVDMA_STAT_CACHE_HITS, -1);
	if (!keep) {
		pvdma_stat_inc(pd, PVDMA_STAT_CACHE_STALE);
		pvdma_host_unmap(pd, map->handle);
		kfree(map);
	}
}

/**
 * pvdma_cache_keepable() - may this translation be kept now?
 * @map: a translation no longer live
 *
 * Only while the cache is on and pvdma is not stopped, if it was made in
 * the current epoch, and if it fits the bounds at all.  The KUnit suites
 * may stand in for it (a static stub), to land a concurrent "cache=0"
 * exactly between its two calls in pvdma_cache_keep().
 *
 * Return: true if @map may be kept.
 */
bool pvdma_cache_keepable(const struct pvdma_xlat *map)
{
	KUNIT_STATIC_STUB_REDIRECT(pvdma_cache_keepable, map);
	return !READ_ONCE(pvdma_stopped) && READ_ONCE(pvdma_cache_on) &&
	       map->epoch && map->epoch == pvdma_host_epoch() &&
	       map->nr_pages <= READ_ONCE(pvdma_cache_pages) &&
	       READ_ONCE(pvdma_cache_entries);
}

/**
 * pvdma_cache_keep() - keep an unmapped translation instead of releasing it
 * @pd: the device
 * @map: a translation no longer live
 * @scratch: a page for the handle array, owned with interrupts disabled
 *
 * Return: true if @map was kept (the caller must forget it), false if the
 * caller must release it now.
 */
bool pvdma_cache_keep(struct pvdma_dev *pd, struct pvdma_xlat *map,
		      u64 *scratch)
{
	unsigned int max_entries = READ_ONCE(pvdma_cache_entries);
	unsigned int max_pages = READ_ONCE(pvdma_cache_pages);
	unsigned long flags;
	unsigned int n = 0;
	LIST_HEAD(list);

	/* Most translations that will not be kept are told apart unlocked. */
	if (!pvdma_cache_keepable(map))
		return false;

	spin_lock_irqsave(&pd->lock, flags);
	/*
	 * Again under the lock: "cache=0" clears pvdma_cache_on and then
	 * flushes under this lock (pvdma_cache_set()).  Either it flushes
	 * after this link, or this sees the cache off.  Translations from an
	 * older epoch are waiting to be released.
	 */
	if (!pvdma_cache_keepable(map) || pd->cache_epoch != map->epoch) {
		spin_unlock_irqrestore(&pd->lock, flags);
		return false;
	}
	pvdma_cache_link(pd, map, false);
	/* Over a bound: make room for a quarter more, in one exit. */
	if (pd->cached > max_entries || pd->cached_pages > max_pages) {
		while (pd->cached > max_entries - max_entries / 4 ||
		       pd->cached_pages > max_pages - max_pages / 4)
			n += pvdma_cache_take_oldest(pd, 1, &list);
	}
	spin_unlock_irqrestore(&pd->lock, flags);

	if (n) {
		pvdma_stat_add(pd, PVDMA_STAT_CACHE_EVICTED, n);
		pvdma_cache_release(pd, &list, scratch);
	}
	return true;
}

/**
 * pvdma_cache_empty() - release every translation a device keeps idle
 * @pd: the device
 *
 * For detach, and for turning the cache off.  Any context.
 */
void pvdma_cache_empty(struct pvdma_dev *pd)
{
	unsigned long flags;

	local_irq_save(flags);
	pvdma_cache_flush(pd, pvdma_scratch());
	local_irq_restore(flags);
}
