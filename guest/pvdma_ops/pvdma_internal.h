/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interface between the parts of pvdma, file by file from the
 * bottom up (see pvdma_main.c); the bounce pools have pvdma_bounce.h.
 */
#ifndef _PVDMA_INTERNAL_H
#define _PVDMA_INTERNAL_H

#include <linux/atomic.h>
#include <linux/dma-map-ops.h>
#include <linux/hashtable.h>
#include <linux/jhash.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/percpu.h>
#include <linux/pvdma.h>
#include <linux/scatterlist.h>
#include <linux/spinlock.h>

/*
 * Without CONFIG_ARCH_HAS_DMA_OPS struct device has no dma_ops and
 * set_dma_ops() silently does nothing: the device would keep doing DMA to
 * guest-physical addresses, i.e. into random host memory.
 */
#ifndef CONFIG_ARCH_HAS_DMA_OPS
#error "pvdma needs CONFIG_ARCH_HAS_DMA_OPS (select GART_IOMMU or XEN), or set_dma_ops() is a no-op"
#endif

/* The ABI is defined for 64-bit guests only. */
#ifndef CONFIG_X86_64
#error "pvdma supports 64-bit x86 KVM guests only"
#endif

/* 1024 buckets: a busy NIC keeps a few thousand buffers mapped. */
#define PVDMA_HASH_BITS		10

/**
 * enum pvdma_stat - per-device counters, one debugfs file each
 * @PVDMA_STAT_MAPS:		successful map operations, translated or bounced.
 * @PVDMA_STAT_UNMAPS:		successful unmap operations.
 * @PVDMA_STAT_HYPERCALLS:	MAP and UNMAP hypercalls issued.
 * @PVDMA_STAT_LIVE:		mappings live now, translated or bounced.
 * @PVDMA_STAT_BOUNCED_MAPS:	mappings served from the bounce pool.
 * @PVDMA_STAT_BOUNCED_BYTES:	bytes of those mappings.
 * @PVDMA_STAT_FAILURES:	operations that failed for the driver.
 * @PVDMA_STAT_HOST_REFUSED:	host refused to pin (limit, host memory).
 * @PVDMA_STAT_NOT_CONTIGUOUS:	host frames not contiguous where one segment
 *				is needed, or more segments than entries.
 * @PVDMA_STAT_BEYOND_MASK:	a host address beyond the device's DMA mask.
 * @PVDMA_STAT_MISALIGNED:	a coherent buffer whose host address is not
 *				aligned to the order of its size.
 * @PVDMA_STAT_LONG_LIST:	a mapping with more ranges or pages than one
 *				MAP may carry.
 * @PVDMA_STAT_NO_BOUNCE_SPACE:	a fallback found no room in the bounce pool.
 * @PVDMA_STAT_HOST_ERROR:	any other error from the host (bad address...).
 * @PVDMA_STAT_NOMEM:		no guest memory for bookkeeping.
 * @PVDMA_STAT_BAD_UNMAP:	unmap or free of an address pvdma never mapped.
 * @PVDMA_STAT_RESOURCE:	map_resource refused (MMIO cannot be pinned).
 * @PVDMA_STAT_MAP_HYPERCALLS:	MAP hypercalls issued (part of HYPERCALLS).
 * @PVDMA_STAT_PINS:		pages the host pinned for those MAPs.
 * @PVDMA_STAT_SEGS:		host-physical segments those MAPs returned:
 *				fewer than @PVDMA_STAT_PINS where host frames
 *				are contiguous.
 * @PVDMA_STAT_CACHE_HITS:	maps served by a kept translation, no exit.
 * @PVDMA_STAT_CACHE_STALE:	kept translations dropped: the epoch moved.
 * @PVDMA_STAT_CACHE_EVICTED:	kept translations released for room, for the
 *				host (-PVDMA_ENOSPC), or with the cache off.
 * @PVDMA_STAT_CACHED:		translations kept now, idle.
 * @PVDMA_STAT_CACHED_PAGES:	host pages those keep pinned.
 * @PVDMA_NR_STATS:		number of counters.
 *
 * The causes from @PVDMA_STAT_HOST_REFUSED to @PVDMA_STAT_LONG_LIST count
 * translations that could not serve a mapping; the mapping was then bounced
 * unless @PVDMA_STAT_NO_BOUNCE_SPACE counted too.
 */
enum pvdma_stat {
	PVDMA_STAT_MAPS,
	PVDMA_STAT_UNMAPS,
	PVDMA_STAT_HYPERCALLS,
	PVDMA_STAT_LIVE,
	PVDMA_STAT_BOUNCED_MAPS,
	PVDMA_STAT_BOUNCED_BYTES,
	PVDMA_STAT_FAILURES,
	PVDMA_STAT_HOST_REFUSED,
	PVDMA_STAT_NOT_CONTIGUOUS,
	PVDMA_STAT_BEYOND_MASK,
	PVDMA_STAT_MISALIGNED,
	PVDMA_STAT_LONG_LIST,
	PVDMA_STAT_NO_BOUNCE_SPACE,
	PVDMA_STAT_HOST_ERROR,
	PVDMA_STAT_NOMEM,
	PVDMA_STAT_BAD_UNMAP,
	PVDMA_STAT_RESOURCE,
	PVDMA_STAT_MAP_HYPERCALLS,
	PVDMA_STAT_PINS,
	PVDMA_STAT_SEGS,
	PVDMA_STAT_CACHE_HITS,
	PVDMA_STAT_CACHE_STALE,
	PVDMA_STAT_CACHE_EVICTED,
	PVDMA_STAT_CACHED,
	PVDMA_STAT_CACHED_PAGES,
	PVDMA_NR_STATS
};

/* 256 buckets: the cache keeps at most cache_entries translations. */
#define PVDMA_CACHE_HASH_BITS	8

/**
 * struct pvdma_dev - a device whose DMA pvdma translates
 * @dev:	the device; pvdma holds a reference while attached.
 * @node:	entry in the RCU list of attached devices.
 * @lock:	protects @maps, @cache, @lru, @cache_epoch, @cached and
 *		@cached_pages; taken from IRQ context.
 * @maps:	live translated mappings, struct pvdma_xlat keyed by DMA address.
 *		Also taken from process context with interrupts enabled.
 * @cache:	idle translations kept for reuse, keyed by &pvdma_xlat.key.
 * @lru:	the same, least recently unmapped first.
 * @cache_epoch: host epoch every translation in @cache was made in.
 * @cached:	translations in @cache.
 * @cached_pages: host pages they keep pinned.
 * @stats:	counters, indexed by &enum pvdma_stat.
 * @debugfs:	this device's debugfs directory.
 */
struct pvdma_dev {
	struct device *dev;
	struct list_head node;
	spinlock_t lock;	/* see above */
	DECLARE_HASHTABLE(maps, PVDMA_HASH_BITS);
	DECLARE_HASHTABLE(cache, PVDMA_CACHE_HASH_BITS);
	struct list_head lru;
	u64 cache_epoch;
	unsigned int cached;
	unsigned int cached_pages;
	atomic64_t stats[PVDMA_NR_STATS];
	struct dentry *debugfs;
};

/**
 * struct pvdma_xlat - one host translation: live, or kept idle in the cache
 * @node:	entry in &pvdma_dev.maps while live, in &pvdma_dev.cache idle.
 * @lru:	entry in &pvdma_dev.lru while idle.
 * @addr:	DMA address the device was given (first segment).
 * @size:	bytes the caller mapped; with @addr, what unmap passes back.
 * @handle:	host handle for KVM_HC_PVDMA_UNMAP.
 * @epoch:	host epoch read before the MAP that made the translation; 0 if
 *		it must not be kept after unmap (no shared page, cache off,
 *		NO_CACHE).
 * @key:	hash of @dir and @ranges.
 * @dir:	PVDMA_MAP_* direction the host pinned for.
 * @sg:		made by map_sg: unmap_sg must give back the same @ranges.
 * @nr_pages:	host pages the translation pins.
 * @nr_ranges:	entries of @ranges.
 * @nr_segs:	entries of @segs.
 * @segs:	the host segments, after @ranges; %NULL if the translation is
 *		never to be kept (no room was made for them).
 * @ranges:	the guest ranges, as sent to the host; unmap matches them.
 */
struct pvdma_xlat {
	struct hlist_node node;
	struct list_head lru;
	dma_addr_t addr;
	size_t size;
	u64 handle;
	u64 epoch;
	u32 key;
	u32 dir;
	bool sg;
	u32 nr_pages;
	u16 nr_ranges;
	u16 nr_segs;
	struct pvdma_seg *segs;
	struct pvdma_range ranges[];
};

static inline void pvdma_stat_add(struct pvdma_dev *pd, enum pvdma_stat s,
				  s64 n)
{
	atomic64_add(n, &pd->stats[s]);
}

static inline void pvdma_stat_inc(struct pvdma_dev *pd, enum pvdma_stat s)
{
	atomic64_inc(&pd->stats[s]);
}

static inline s64 pvdma_stat_read(struct pvdma_dev *pd, enum pvdma_stat s)
{
	return atomic64_read(&pd->stats[s]);
}

/*
 * KVM_HC_PVDMA_MAP calls per mapping while the host answers -PVDMA_EAGAIN
 * (its memory kept changing while it pinned); then the mapping is bounced.
 */
#define PVDMA_MAP_TRIES		4

/* DMA-API direction to PVDMA_MAP_* direction. */
static inline u32 pvdma_map_dir(enum dma_data_direction dir)
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

/* pvdma_host.c: the way to the host; calls nothing else of pvdma. */

/**
 * struct pvdma_desc - the MAP descriptors of one CPU
 * @ranges:	the range array, in one page (16-aligned, never crossing a
 *		page).
 * @result:	the result, in its own physically contiguous block so the
 *		two never overlap; sized for &pvdma_host_limits.max_segs.
 *
 * The host reads and writes them by guest-physical address, so they live
 * in the direct map.  One set per CPU, used with interrupts disabled: map
 * operations run in any context, including hard IRQ, and must neither
 * sleep nor let an interrupt handler's map clobber a half-consumed result.
 */
struct pvdma_desc {
	struct pvdma_range *ranges;
	struct pvdma_map_result *result;
};

DECLARE_PER_CPU(struct pvdma_desc, pvdma_descs);

/*
 * A page of this CPU's descriptors to use as the handle array of an
 * UNMAP_BATCH, with interrupts disabled.
 */
static inline u64 *pvdma_scratch(void)
{
	return (u64 *)this_cpu_ptr(&pvdma_descs)->result;
}

extern bool pvdma_host_gone;
extern struct pvdma_info pvdma_host_limits;
extern struct pvdma_shared *pvdma_shared_page;
extern bool pvdma_stopped;

long pvdma_call_probe(phys_addr_t info, u32 flags);
long pvdma_call_map(phys_addr_t ranges, u32 nr, phys_addr_t result, u32 dir);
long pvdma_call_unmap(u64 handle);
long pvdma_call_unmap_batch(phys_addr_t handles, u32 nr);
long pvdma_call_set_shared(phys_addr_t page, u32 flags);
long pvdma_call_query(phys_addr_t gpa, u64 len);
const char *pvdma_strerror(long err);
int pvdma_host_probe(bool reset);
int pvdma_host_start(void);
int pvdma_descs_init(void);
void pvdma_descs_exit(void);
void pvdma_host_unmap(struct pvdma_dev *pd, u64 handle);
void pvdma_shared_page_init(void);
void pvdma_shared_page_exit(void);
void pvdma_shared_page_forget(void);
u64 pvdma_host_epoch(void);
void pvdma_host_release_all(bool reset);

/* pvdma_cache.c: translations kept after unmap. */
extern bool pvdma_cache_on;
extern unsigned int pvdma_cache_entries;
extern unsigned int pvdma_cache_pages;

void pvdma_cache_init(struct pvdma_dev *pd);
u32 pvdma_pages(const struct pvdma_range *ranges, u32 nr);
struct pvdma_xlat *pvdma_xlat_alloc(u32 nr_ranges, u32 max_segs, gfp_t gfp);
void pvdma_cache_record(struct pvdma_xlat *map,
			const struct pvdma_range *ranges, u32 nr, u32 dir,
			const struct pvdma_map_result *res, u64 epoch);
struct pvdma_xlat *pvdma_cache_take(struct pvdma_dev *pd,
				    const struct pvdma_range *ranges, u32 nr,
				    u32 dir, u64 *scratch);
void pvdma_cache_put_back(struct pvdma_dev *pd, struct pvdma_xlat *map);
bool pvdma_cache_keepable(const struct pvdma_xlat *map);
bool pvdma_cache_keep(struct pvdma_dev *pd, struct pvdma_xlat *map,
		      u64 *scratch);
unsigned int pvdma_cache_flush(struct pvdma_dev *pd, u64 *scratch);
void pvdma_cache_empty(struct pvdma_dev *pd);

/* pvdma_live.c: the live mappings of a device. */
void pvdma_live_add(struct pvdma_dev *pd, struct pvdma_xlat *map);
void pvdma_live_bounced(struct pvdma_dev *pd, phys_addr_t phys, size_t size,
			enum dma_data_direction dir);
void pvdma_live_end(struct pvdma_dev *pd, size_t size,
		    enum dma_data_direction dir, bool bounced);
struct pvdma_xlat *pvdma_live_take(struct pvdma_dev *pd, dma_addr_t addr,
				   size_t size, enum dma_data_direction dir,
				   struct scatterlist *sgl, int nents);
void pvdma_xlat_end(struct pvdma_dev *pd, struct pvdma_xlat *map,
		    size_t size, enum dma_data_direction dir, bool keep);
void pvdma_live_bad(struct pvdma_dev *pd, size_t size);
s64 pvdma_live_release_all(struct pvdma_dev *pd);

/* pvdma_dev.c: the attached devices. */
extern struct list_head pvdma_devs;
extern struct mutex pvdma_mutex;
extern const char *const pvdma_stat_names[PVDMA_NR_STATS];

struct pvdma_dev *pvdma_find(struct device *dev);
struct dentry *pvdma_debugfs_init(void);
void pvdma_debugfs_exit(void);
int pvdma_dev_add(struct device *dev, const struct dma_map_ops *ops);
void pvdma_dev_del(struct pvdma_dev *pd);
void pvdma_quiesce(struct device *dev);
void pvdma_quiesce_all(void);
unsigned int pvdma_cache_flush_all(u64 *scratch);

/* pvdma_ops.c: the dma_map_ops. */
extern bool pvdma_force_bounce;
extern const struct dma_map_ops pvdma_dma_ops;

/* pvdma_attach.c: which devices, and when. */
extern bool pvdma_ready;

bool pvdma_attach_listed(void);
int pvdma_attach_start(void);
void pvdma_attach_stop(void);
void pvdma_try_attach(struct device *dev);
void pvdma_dev_leave(struct pvdma_dev *pd);
void pvdma_dev_removed(struct device *dev);

/* pvdma_shutdown.c: the kernel goes. */
int pvdma_shutdown_register(void);
void pvdma_shutdown_unregister(void);
void pvdma_reboot_release(bool reset);
void pvdma_panic_clear(void);
int pvdma_pm_notify(struct notifier_block *nb, unsigned long action,
		    void *data);

#endif /* _PVDMA_INTERNAL_H */
