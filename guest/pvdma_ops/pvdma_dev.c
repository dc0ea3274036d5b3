// SPDX-License-Identifier: GPL-2.0
/*
 * The devices pvdma serves: their list, their state, and their counters in
 * debugfs.
 *
 * A device is attached (pvdma_attach.c) before its driver binds and
 * detached only with no driver bound and its DMA stopped, so the DMA ops
 * find it under RCU without a reference.  What a device keeps idle in the
 * pin cache is released here for all devices at once when the host is at
 * its pin limit, or when the cache is turned off.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rculist.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "pvdma_internal.h"

/* Attached devices: written under pvdma_mutex, read under RCU by the ops. */
LIST_HEAD(pvdma_devs);
/* Protects pvdma_devs, the devices and ids strings, and pvdma_ready. */
DEFINE_MUTEX(pvdma_mutex);
/* debugfs pvdma/: one directory per device, and the bounce pool's files. */
static struct dentry *pvdma_debugfs;

/* debugfs file names of the counters, by enum pvdma_stat. */
const char *const pvdma_stat_names[PVDMA_NR_STATS] = {
	[PVDMA_STAT_MAPS]		= "maps",
	[PVDMA_STAT_UNMAPS]		= "unmaps",
	[PVDMA_STAT_HYPERCALLS]		= "hypercalls",
	[PVDMA_STAT_LIVE]		= "live_mappings",
	[PVDMA_STAT_BOUNCED_MAPS]	= "bounced_maps",
	[PVDMA_STAT_BOUNCED_BYTES]	= "bounced_bytes",
	[PVDMA_STAT_FAILURES]		= "failures",
	[PVDMA_STAT_HOST_REFUSED]	= "fail_host_refused",
	[PVDMA_STAT_NOT_CONTIGUOUS]	= "fail_not_contiguous",
	[PVDMA_STAT_BEYOND_MASK]	= "fail_beyond_mask",
	[PVDMA_STAT_MISALIGNED]		= "fail_misaligned",
	[PVDMA_STAT_LONG_LIST]		= "fail_long_list",
	[PVDMA_STAT_NO_BOUNCE_SPACE]	= "fail_no_bounce_space",
	[PVDMA_STAT_HOST_ERROR]		= "fail_host_error",
	[PVDMA_STAT_NOMEM]		= "fail_nomem",
	[PVDMA_STAT_BAD_UNMAP]		= "fail_bad_unmap",
	[PVDMA_STAT_RESOURCE]		= "fail_resource",
	[PVDMA_STAT_MAP_HYPERCALLS]	= "map_hypercalls",
	[PVDMA_STAT_PINS]		= "pinned_pages",
	[PVDMA_STAT_SEGS]		= "segments",
	[PVDMA_STAT_CACHE_HITS]		= "cache_hits",
	[PVDMA_STAT_CACHE_STALE]	= "cache_stale",
	[PVDMA_STAT_CACHE_EVICTED]	= "cache_evicted",
	[PVDMA_STAT_CACHED]		= "cached_mappings",
	[PVDMA_STAT_CACHED_PAGES]	= "cached_pages",
};

/**
 * pvdma_find() - look up the pvdma state of a device
 * @dev: device whose DMA ops may be pvdma's
 *
 * Callable from any context.  The result stays valid while @dev uses
 * pvdma's DMA ops: a device is detached only with no driver bound and no
 * mapping live, so no DMA operation can be running on it.
 *
 * Return: the state, or %NULL if @dev is not attached.
 */
struct pvdma_dev *pvdma_find(struct device *dev)
{
	struct pvdma_dev *pd, *found = NULL;

	rcu_read_lock();
	list_for_each_entry_rcu(pd, &pvdma_devs, node) {
		if (pd->dev == dev) {
			found = pd;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

static int pvdma_stat_get(void *data, u64 *val)
{
	*val = atomic64_read(data);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(pvdma_stat_fops, pvdma_stat_get, NULL, "%llu\n");

/*
 * debugfs <device>/mappings: the translated mappings live now, one line
 * each, by guest-physical address (never the host's), and how many bounced
 * ones there are besides: what a driver still holds when it should not.
 */
static int pvdma_mappings_show(struct seq_file *m, void *unused)
{
	static const char *const dirs[] = { "none", "to-device", "from-device",
					    "bidirectional" };
	struct pvdma_dev *pd = m->private;
	struct pvdma_xlat *map;
	unsigned long flags;
	unsigned int bkt;
	s64 translated = 0;

	spin_lock_irqsave(&pd->lock, flags);
	hash_for_each(pd->maps, bkt, map, node) {
		seq_printf(m, "%s %zu bytes %s, %u pages in %u host segments",
			   map->sg ? "sg" : "single", map->size,
			   dirs[map->dir & PVDMA_MAP_BIDIRECTIONAL],
			   map->nr_pages, map->nr_segs);
		if (map->nr_ranges)
			seq_printf(m, ", %u ranges from gpa %#llx",
				   map->nr_ranges, map->ranges[0].gpa);
		seq_putc(m, '\n');
		translated++;
	}
	spin_unlock_irqrestore(&pd->lock, flags);
	seq_printf(m, "%lld translated, %lld bounced\n", translated,
		   pvdma_stat_read(pd, PVDMA_STAT_LIVE) - translated);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvdma_mappings);

/**
 * pvdma_debugfs_init() - create pvdma's debugfs directory
 *
 * Return: the directory, for the files of the whole of pvdma.
 */
struct dentry *pvdma_debugfs_init(void)
{
	pvdma_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	return pvdma_debugfs;
}

/**
 * pvdma_debugfs_exit() - remove pvdma's debugfs directory and all in it
 */
void pvdma_debugfs_exit(void)
{
	debugfs_remove_recursive(pvdma_debugfs);
	pvdma_debugfs = NULL;
}

/**
 * pvdma_dev_add() - install pvdma's DMA ops on a device
 * @dev: device with no driver bound and no DMA ops
 * @ops: pvdma's DMA ops (&pvdma_dma_ops)
 *
 * The caller holds pvdma_mutex and has checked that @dev may be attached.
 * Installs the ops after the device is findable, so an op never misses it,
 * and re-enables syncs, which dma-direct may have marked skippable: bounced
 * buffers need them.
 *
 * Return: 0, or -ENOMEM.
 */
int pvdma_dev_add(struct device *dev, const struct dma_map_ops *ops)
{
	struct pvdma_dev *pd;
	int i;

	lockdep_assert_held(&pvdma_mutex);

	pd = kzalloc(sizeof(*pd), GFP_KERNEL);
	if (!pd)
		return -ENOMEM;
	pd->dev = get_device(dev);
	spin_lock_init(&pd->lock);
	hash_init(pd->maps);
	pvdma_cache_init(pd);

	pd->debugfs = debugfs_create_dir(dev_name(dev), pvdma_debugfs);
	for (i = 0; i < PVDMA_NR_STATS; i++)
		debugfs_create_file_unsafe(pvdma_stat_names[i], 0400,
					   pd->debugfs, &pd->stats[i],
					   &pvdma_stat_fops);
	debugfs_create_file("mappings", 0400, pd->debugfs, pd,
			    &pvdma_mappings_fops);

	list_add_rcu(&pd->node, &pvdma_devs);
	set_dma_ops(dev, ops);
	dma_reset_need_sync(dev);
	dev_info(dev, "pvdma: attached\n");
	return 0;
}

/**
 * pvdma_quiesce() - stop a device's DMA
 * @dev: an attached device
 *
 * So that what it was given may be released: clear bus mastering, as the
 * kernel does for every PCI device before kexec (pci_device_shutdown()).
 * The config write is non-posted, and PCIe orders its completion behind
 * the writes the device posted before.  A device in D3cold, or gone, does
 * no DMA anyway.
 */
void pvdma_quiesce(struct device *dev)
{
	struct pci_dev *pdev;

	if (!dev_is_pci(dev))
		return;
	pdev = to_pci_dev(dev);
	/* D0..D3hot, as pci_device_shutdown() tests; not unknown states. */
	if ((__force int)pdev->current_state <= (__force int)PCI_D3hot &&
	    !pci_dev_is_disconnected(pdev))
		pci_clear_master(pdev);
}

/**
 * pvdma_quiesce_all() - stop the DMA of every attached device
 *
 * For the kernel going down; see pvdma_quiesce().
 */
void pvdma_quiesce_all(void)
{
	struct pvdma_dev *pd;

	rcu_read_lock();
	list_for_each_entry_rcu(pd, &pvdma_devs, node)
		pvdma_quiesce(pd->dev);
	rcu_read_unlock();
}

/**
 * pvdma_dev_del() - forget a device that can no longer DMA
 * @pd: attached device: no driver bound, and its bus mastering off (see
 *	pvdma_quiesce()), or gone
 *
 * The caller holds pvdma_mutex.  What is still mapped was left by a driver
 * that let go of the device without unmapping; nothing can reach it any
 * more.  Translated mappings are released on the host; bounced ones cannot
 * be told apart in the pool, whose pages they keep (and with them the
 * module).  Then the ops go and the device with them.
 */
void pvdma_dev_del(struct pvdma_dev *pd)
{
	struct device *dev = pd->dev;
	s64 left;

	lockdep_assert_held(&pvdma_mutex);

	/* Attach only accepts devices without ops, so the old ops are NULL. */
	set_dma_ops(dev, NULL);
	list_del_rcu(&pd->node);
	synchronize_rcu();
	left = pvdma_live_release_all(pd);
	if (left)
		dev_err(dev, "pvdma: %lld bounced mappings were never unmapped; their bounce pool pages stay in use\n",
			left);
	pvdma_cache_empty(pd);
	debugfs_remove_recursive(pd->debugfs);
	dev_info(dev, "pvdma: detached\n");
	put_device(dev);
	kfree(pd);
}

/**
 * pvdma_cache_flush_all() - release what every device keeps idle
 * @scratch: a page for the handle array, owned with interrupts disabled
 *
 * For a host at its pin limit: kept pins of every device count against
 * the VM's limits.  Any context.
 *
 * Return: how many translations were released.
 */
unsigned int pvdma_cache_flush_all(u64 *scratch)
{
	struct pvdma_dev *pd;
	unsigned int n = 0;

	rcu_read_lock();
	list_for_each_entry_rcu(pd, &pvdma_devs, node)
		n += pvdma_cache_flush(pd, scratch);
	rcu_read_unlock();
	return n;
}

/* Turning the cache off releases what every device keeps. */
static int pvdma_cache_set(const char *val, const struct kernel_param *kp)
{
	struct pvdma_dev *pd;
	int ret;

	mutex_lock(&pvdma_mutex);
	ret = param_set_bool(val, kp);
	if (!ret && !pvdma_cache_on)
		list_for_each_entry(pd, &pvdma_devs, node)
			pvdma_cache_empty(pd);
	mutex_unlock(&pvdma_mutex);
	return ret;
}

static const struct kernel_param_ops pvdma_cache_ops = {
	.set	= pvdma_cache_set,
	.get	= param_get_bool,
};

module_param_cb(cache, &pvdma_cache_ops, &pvdma_cache_on, 0644);
MODULE_PARM_DESC(cache,
		 "Keep translations after unmap, so a recycled buffer maps without an exit (default on)");
