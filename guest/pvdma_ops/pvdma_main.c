// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma: paravirtual DMA for KVM guests driving directly assigned devices on
 * hosts without an IOMMU.
 *
 * A device assigned to this guest does DMA on the host bus, where
 * guest-physical addresses mean nothing.  pvdma installs its dma_map_ops
 * (pvdma_ops.c) on such devices: every DMA mapping is pinned on the host by
 * hypercall and the device is given host-physical addresses; what the host
 * cannot serve is bounced through a pool pinned once: the kernel's swiotlb
 * when built in (pvdma_swiotlb.c), pvdma's own as a module (pvdma_bounce.c).
 *
 * Parameters (pvdma.<name>= on the command line when built in; devices and
 * ids also writable in /sys/module/pvdma/parameters/):
 *   enable	built in: off unless the kernel is booted with pvdma=on (or
 *		pvdma.enable=1).  As a module, loading it is the opt-in.
 *   devices	comma-separated PCI addresses of the directly assigned
 *		devices to attach to, e.g. 0000:00:04.0,0000:00:05.0; "auto"
 *		attaches to every device the host backs with device memory
 *		(KVM_HC_PVDMA_QUERY on its BARs).
 *   ids	comma-separated vendor:device IDs to attach to, e.g.
 *		1af4:1110,8086:10d3.
 *   bounce_size bytes of the bounce pool, default 4 MiB; 0: no pool, a
 *		mapping translation cannot serve fails.
 *   cache	keep translations after unmap so that mapping a recycled
 *		buffer again costs no exit (pvdma_cache.c); default on.
 *		Writable at run time; writing 0 releases what is kept.
 *   cache_entries, cache_pages
 *		bounds of the cache per device: translations, host pages.
 *   force_bounce bounce every streaming mapping, to compare; default off.
 *
 * No device that is not listed is touched: emulated and virtio devices keep
 * guest-physical DMA.  A listed device is attached before its driver binds:
 * at start for devices already present and unbound, later from a PCI bus
 * notifier when it is added, or when a write to devices or ids lists it.
 * Removing a device from the lists does not detach it.
 *
 * pvdma starts only if the guest runs on KVM and the host supports PVDMA
 * for this VM (KVM_HC_PVDMA_PROBE).  Otherwise the module refuses to load;
 * built in, pvdma stays out of the way.  Either says why in one line.  The
 * module cannot be unloaded while a driver is bound to an attached device
 * or any mapping is live; when it unloads, it keeps drivers off its devices
 * (pvdma_dev_leave()).  At reboot, halt and kexec it hands every pin and
 * the status page back to the host, at a panic the status page, and every
 * kernel but a crash kernel starts from a clean slate; hibernation is
 * refused (pvdma_reboot_release(), pvdma_pm_notify()).  Counters are in
 * /sys/kernel/debug/pvdma/.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cc_platform.h>
#include <linux/crash_dump.h>
#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/init.h>
#include <linux/kvm_para.h>
#include <linux/module.h>
#include <linux/mmzone.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/panic_notifier.h>
#include <linux/pci.h>
#include <linux/rculist.h>
#include <linux/sizes.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/suspend.h>
#include <linux/syscore_ops.h>

#include "pvdma_bounce.h"
#include "pvdma_internal.h"

/*
 * Built in, pvdma is part of a kernel that may boot on any host: it does
 * nothing unless asked.  Loaded as a module, it was asked.
 */
#ifdef MODULE
static bool pvdma_enable = true;
#else
static bool pvdma_enable;

static int __init pvdma_setup(char *str)
{
	return kstrtobool(str, &pvdma_enable);
}
early_param("pvdma", pvdma_setup);
#endif
module_param_named(enable, pvdma_enable, bool, 0444);
MODULE_PARM_DESC(enable,
		 "Start pvdma (built in: default off, same as pvdma=on|off)");

static unsigned long bounce_size = SZ_4M;
module_param(bounce_size, ulong, 0444);
MODULE_PARM_DESC(bounce_size,
		 "Bytes of the pinned bounce pool, in 256 KiB chunks; 0 disables bouncing (default 4 MiB)");

static char *devices;
static char *ids;

bool pvdma_cache_on = true;
unsigned int pvdma_cache_entries = 1024;
module_param_named(cache_entries, pvdma_cache_entries, uint, 0644);
MODULE_PARM_DESC(cache_entries,
		 "Most translations each device keeps after unmap (default 1024)");
unsigned int pvdma_cache_pages = 16384;
module_param_named(cache_pages, pvdma_cache_pages, uint, 0644);
MODULE_PARM_DESC(cache_pages,
		 "Most host pages each device keeps pinned after unmap (default 16384, 64 MiB)");
bool pvdma_force_bounce;
module_param_named(force_bounce, pvdma_force_bounce, bool, 0644);
MODULE_PARM_DESC(force_bounce,
		 "Bounce every streaming mapping instead of translating it, to compare (default off)");

/*
 * The status page the host writes the translation epoch to, or NULL if it
 * could not be registered: then nothing is kept after unmap.
 */
struct pvdma_shared *pvdma_status;

/* Attached devices: written under pvdma_mutex, read under RCU by the ops. */
static LIST_HEAD(pvdma_devs);
/* Protects pvdma_devs, the devices and ids strings, and pvdma_ready. */
DEFINE_MUTEX(pvdma_mutex);
static struct dentry *pvdma_debugfs;

/* pvdma has started: a write to devices or ids attaches at once. */
bool pvdma_ready;

/*
 * The kernel is going down and the host has let go of everything (see
 * pvdma_reboot_release()): nothing may be mapped any more.
 */
bool pvdma_stopped;

/*
 * The host's limits from KVM_HC_PVDMA_PROBE, clamped to the ABI maxima;
 * read-only once pvdma has started.
 */
struct pvdma_info pvdma_limits;

/*
 * The real host: KVM hypercalls.  The indirection is the seam the KUnit
 * suites substitute a fake host at; next to a VM exit it costs nothing.
 */
static long pvdma_kvm_probe(phys_addr_t info, u32 flags)
{
	return kvm_hypercall2(KVM_HC_PVDMA_PROBE, info, flags);
}

static long pvdma_kvm_map(phys_addr_t ranges, u32 nr, phys_addr_t result,
			  u32 dir)
{
	return kvm_hypercall4(KVM_HC_PVDMA_MAP, ranges, nr, result, dir);
}

static long pvdma_kvm_unmap(u64 handle)
{
	return kvm_hypercall2(KVM_HC_PVDMA_UNMAP, handle, 0);
}

static long pvdma_kvm_unmap_batch(phys_addr_t handles, u32 nr)
{
	return kvm_hypercall3(KVM_HC_PVDMA_UNMAP_BATCH, handles, nr, 0);
}

static long pvdma_kvm_set_shared(phys_addr_t page, u32 flags)
{
	return kvm_hypercall2(KVM_HC_PVDMA_SET_SHARED, page, flags);
}

static long pvdma_kvm_query(phys_addr_t gpa, u64 len)
{
	return kvm_hypercall3(KVM_HC_PVDMA_QUERY, gpa, len, 0);
}

static const struct pvdma_host_ops pvdma_kvm_host = {
	.probe		= pvdma_kvm_probe,
	.map		= pvdma_kvm_map,
	.unmap		= pvdma_kvm_unmap,
	.unmap_batch	= pvdma_kvm_unmap_batch,
	.set_shared	= pvdma_kvm_set_shared,
	.query		= pvdma_kvm_query,
};

const struct pvdma_host_ops *pvdma_host = &pvdma_kvm_host;

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
 * pvdma_strerror() - name a PVDMA hypercall error for the kernel log
 * @err: negative value a PVDMA hypercall returned
 *
 * Return: a constant string naming @err and what it means.
 */
const char *pvdma_strerror(long err)
{
	switch (err) {
	case -KVM_ENOSYS:
		return "-KVM_ENOSYS: host has no PVDMA";
	case -KVM_EPERM:
		return "-KVM_EPERM: VM not opted in";
	case -KVM_EINVAL:
		return "-KVM_EINVAL: malformed request";
	case -KVM_E2BIG:
		return "-KVM_E2BIG: too many ranges, pages or segments";
	case -KVM_EFAULT:
		return "-KVM_EFAULT: address outside guest memory";
	case -KVM_EOPNOTSUPP:
		return "-KVM_EOPNOTSUPP: private guest memory";
	case -PVDMA_ENOENT:
		return "-PVDMA_ENOENT: handle not live";
	case -PVDMA_EIO:
		return "-PVDMA_EIO: not pinnable RAM";
	case -PVDMA_ENOMEM:
		return "-PVDMA_ENOMEM: host out of memory";
	case -PVDMA_EACCES:
		return "-PVDMA_EACCES: device write to read-only memory";
	case -PVDMA_ENOSPC:
		return "-PVDMA_ENOSPC: host pin limit reached";
	case -EPROTO:
		return "malformed reply from the host";
	default:
		return "unknown error";
	}
}

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

static int pvdma_bounce_pages_get(void *data, u64 *val)
{
	*val = pvdma_bounce_pages();
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(pvdma_bounce_pages_fops, pvdma_bounce_pages_get,
			 NULL, "%llu\n");

static int pvdma_bounce_used_get(void *data, u64 *val)
{
	*val = pvdma_bounce_used();
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(pvdma_bounce_used_fops, pvdma_bounce_used_get,
			 NULL, "%llu\n");

static int pvdma_bounce_copied_get(void *data, u64 *val)
{
	*val = pvdma_bounce_copied();
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(pvdma_bounce_copied_fops, pvdma_bounce_copied_get,
			 NULL, "%llu\n");

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
	struct pvdma_map *map;
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
 * pvdma_dev_add() - install pvdma's DMA ops on a device
 * @dev: device with no driver bound and no DMA ops
 *
 * The caller holds pvdma_mutex and has checked that @dev may be attached.
 * Installs the ops after the device is findable, so an op never misses it,
 * and re-enables syncs, which dma-direct may have marked skippable: bounced
 * buffers need them.
 *
 * Return: 0, or -ENOMEM.
 */
int pvdma_dev_add(struct device *dev)
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
	set_dma_ops(dev, &pvdma_dma_ops);
	dma_reset_need_sync(dev);
	dev_info(dev, "pvdma: attached\n");
	return 0;
}

/*
 * Keep drivers off a device pvdma lets go of while it stays in the guest:
 * with dma-direct ops, a driver would program guest-physical addresses into
 * a bus master with no IOMMU behind it.  driver_override names a driver
 * that does not exist ("pvdma"), so no driver matches, as vfio keeps
 * drivers off the devices it owns.  pvdma lifts it when it attaches again;
 * an administrator may lift it by hand (Documentation/pvdma/admin-guide).
 */
#define PVDMA_FENCE	KBUILD_MODNAME

static void pvdma_fence(struct device *dev)
{
	int ret = device_set_driver_override(dev, PVDMA_FENCE);

	if (ret)
		dev_crit(dev, "pvdma: cannot keep drivers off the device (%d); do not bind a driver to it without pvdma: it would DMA to guest-physical addresses\n",
			 ret);
}

/*
 * Lift the fence pvdma_fence() put up, and no override anyone else set.
 * The test is device_match_driver_override()'s, under the same lock,
 * written out because sparse cannot follow the scoped guard it uses.
 */
static void pvdma_unfence(struct device *dev)
{
	bool fenced;

	spin_lock(&dev->driver_override.lock);
	fenced = dev->driver_override.name &&
		 !strcmp(dev->driver_override.name, PVDMA_FENCE);
	spin_unlock(&dev->driver_override.lock);
	if (fenced)
		device_set_driver_override(dev, "");
}

/*
 * Stop the device's DMA, so that what it was given may be released: clear
 * bus mastering, as the kernel does for every PCI device before kexec
 * (pci_device_shutdown()).  The config write is non-posted, and PCIe
 * orders its completion behind the writes the device posted before.  A
 * device in D3cold, or gone, does no DMA anyway.
 */
static void pvdma_quiesce(struct device *dev)
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
	left = pvdma_release_live(pd);
	if (left)
		dev_err(dev, "pvdma: %lld bounced mappings were never unmapped; their bounce pool pages stay in use\n",
			left);
	pvdma_release_cached(pd);
	debugfs_remove_recursive(pd->debugfs);
	dev_info(dev, "pvdma: detached\n");
	put_device(dev);
	kfree(pd);
}

/**
 * pvdma_dev_leave() - let go of a device for good, safely: pvdma unloads
 * @pd: attached device
 *
 * The device stays in the guest, but pvdma's ops cannot stay behind a
 * module that unloads, and dma-direct must never serve a driver of it
 * (see PVDMA_FENCE).  So: drivers are kept off first; a driver that bound
 * all the same (while the unload began, after the module refcount was
 * checked) is unbound, its remove() still running on pvdma's ops; the
 * device's DMA is stopped; then what is left is released and the ops
 * removed.  Takes device_lock and pvdma_mutex; must be called with
 * neither held.
 */
void pvdma_dev_leave(struct pvdma_dev *pd)
{
	struct device *dev = pd->dev;

	pvdma_fence(dev);
	for (;;) {
		device_lock(dev);
		if (!dev->driver)
			break;
		dev_warn(dev, "pvdma: unbinding %s: pvdma is being unloaded\n",
			 dev->driver->name);
		device_unlock(dev);
		device_release_driver(dev);
	}
	mutex_lock(&pvdma_mutex);
	pvdma_quiesce(dev);
	pvdma_dev_del(pd);
	mutex_unlock(&pvdma_mutex);
	device_unlock(dev);
}

/**
 * pvdma_dev_removed() - a device leaves the guest (BUS_NOTIFY_REMOVED_DEVICE)
 * @dev: the device; its driver is unbound already
 *
 * What its driver never unmapped is released, once its DMA is stopped,
 * and pvdma's state of it freed.
 */
void pvdma_dev_removed(struct device *dev)
{
	struct pvdma_dev *pd;

	mutex_lock(&pvdma_mutex);
	pd = pvdma_find(dev);
	if (pd) {
		if (pvdma_stat_read(pd, PVDMA_STAT_LIVE))
			pvdma_quiesce(dev);
		pvdma_dev_del(pd);
	}
	mutex_unlock(&pvdma_mutex);
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

/*
 * Is @name a token of the comma-separated @list?  Whitespace ends a token
 * too, so that "echo LIST > parameters/devices" works.
 */
static bool pvdma_in_list(const char *list, const char *name)
{
	static const char sep[] = ", \t\n";
	size_t len = strlen(name);
	const char *p = list;

	while (p && *p) {
		size_t n = strcspn(p, sep);

		if (n == len && !strncasecmp(p, name, len))
			return true;
		p += n;
		p += strspn(p, sep);
	}
	return false;
}

/* Is every token of @list a vendor:device pair, such as 1af4:1110? */
static bool pvdma_ids_valid(const char *list)
{
	static const char sep[] = ", \t\n";
	const char *p = list + strspn(list, sep);

	while (*p) {
		size_t n = strcspn(p, sep), i;

		if (n != 9 || p[4] != ':')
			return false;
		for (i = 0; i < n; i++)
			if (i != 4 && !isxdigit(p[i]))
				return false;
		p += n;
		p += strspn(p, sep);
	}
	return true;
}

/* Is the PCI device @dev listed by address or by ID? */
/*
 * Is @pdev directly assigned to this guest?  The VMM maps an assigned
 * device's BARs from the device's own memory, which the host reports as
 * PVDMA_QUERY_DEVICE; an emulated or virtio device's BARs trap (nothing
 * backs them) or are plain RAM.  A BAR is mapped only while memory decoding
 * is on, so it is turned on for the question if the device has it off.  A
 * device none of whose BARs the VMM maps (QEMU's x-no-mmap, or one with no
 * memory BAR) cannot be recognised: name it in devices= instead.
 */
static bool pvdma_assigned(struct pci_dev *pdev)
{
	bool assigned = false;
	u16 cmd;
	int i;

	pci_read_config_word(pdev, PCI_COMMAND, &cmd);
	if (!(cmd & PCI_COMMAND_MEMORY))
		pci_write_config_word(pdev, PCI_COMMAND,
				      cmd | PCI_COMMAND_MEMORY);
	for (i = 0; i < PCI_STD_NUM_BARS && !assigned; i++) {
		struct resource *res = &pdev->resource[i];
		long ret;

		if (!(res->flags & IORESOURCE_MEM) || !resource_size(res))
			continue;
		ret = pvdma_host->query(res->start, resource_size(res));
		assigned = ret > 0 && (ret & PVDMA_QUERY_DEVICE);
	}
	if (!(cmd & PCI_COMMAND_MEMORY))
		pci_write_config_word(pdev, PCI_COMMAND, cmd);
	return assigned;
}

static bool pvdma_selected(struct device *dev)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	char id[sizeof("vvvv:dddd")];

	if (pvdma_in_list(devices, dev_name(dev)))
		return true;
	if (pvdma_in_list(devices, "auto") && pvdma_assigned(pdev)) {
		dev_info(dev, "pvdma: directly assigned (its BARs are device memory on the host)\n");
		return true;
	}
	snprintf(id, sizeof(id), "%04x:%04x", pdev->vendor, pdev->device);
	return pvdma_in_list(ids, id);
}

/**
 * pvdma_try_attach() - attach a device if pvdma runs and the device may
 * @dev: a device pvdma was asked to attach to
 *
 * The caller holds device_lock(@dev), so that no driver binds between the
 * check and set_dma_ops(), then pvdma_mutex, so that pvdma neither starts
 * nor stops meanwhile: ops installed before pvdma runs or while it unloads
 * would outlive it.
 */
void pvdma_try_attach(struct device *dev)
{
	const struct dma_map_ops *ops = get_dma_ops(dev);

	device_lock_assert(dev);
	lockdep_assert_held(&pvdma_mutex);

	if (!pvdma_ready || pvdma_find(dev))
		return;

	/* Its driver may already hold guest-physical mappings. */
	if (dev->driver) {
		dev_err(dev, "pvdma: not attached: already bound to %s; unbind it, then reload pvdma or rewrite pvdma's devices/ids\n",
			dev->driver->name);
		return;
	}
	if (device_iommu_mapped(dev)) {
		dev_err(dev, "pvdma: not attached: the device is behind an IOMMU; remove it from pvdma.devices/ids\n");
		return;
	}
	if (ops) {
		dev_err(dev, "pvdma: not attached: the device already has DMA ops %ps; remove it from pvdma.devices/ids\n",
			ops);
		return;
	}
	if (pvdma_dev_add(dev)) {
		dev_err(dev, "pvdma: not attached: out of memory\n");
		return;
	}
	/* Fenced when pvdma last let go of it: drivers may bind again. */
	pvdma_unfence(dev);
}

/* Attach @dev if it is listed and usable. */
static int pvdma_attach(struct device *dev, void *data)
{
	device_lock(dev);
	mutex_lock(&pvdma_mutex);
	if (pvdma_selected(dev))
		pvdma_try_attach(dev);
	mutex_unlock(&pvdma_mutex);
	device_unlock(dev);
	return 0;
}

static int pvdma_bus_notify(struct notifier_block *nb, unsigned long action,
			    void *data)
{
	struct device *dev = data;

	switch (action) {
	case BUS_NOTIFY_ADD_DEVICE:
		/*
		 * The device is on the bus already: a driver registering now
		 * may be probing it.  pvdma_attach() waits for that under
		 * device_lock, and then refuses a bound device.
		 */
		pvdma_attach(dev, NULL);
		break;
	case BUS_NOTIFY_BIND_DRIVER:
		/*
		 * A bound driver may map at any time; dropping the ops under
		 * it would send guest-physical addresses to the device.
		 */
		mutex_lock(&pvdma_mutex);
		if (pvdma_find(dev))
			__module_get(THIS_MODULE);
		mutex_unlock(&pvdma_mutex);
		break;
	case BUS_NOTIFY_DRIVER_NOT_BOUND:
	case BUS_NOTIFY_UNBOUND_DRIVER:
		mutex_lock(&pvdma_mutex);
		if (pvdma_find(dev))
			module_put(THIS_MODULE);
		mutex_unlock(&pvdma_mutex);
		break;
	case BUS_NOTIFY_REMOVED_DEVICE:
		pvdma_dev_removed(dev);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block pvdma_nb = {
	.notifier_call = pvdma_bus_notify,
};

/*
 * Set devices or ids.  Once pvdma runs, newly listed devices without a
 * driver are attached at once; their drivers can then be bound.
 */
static int pvdma_list_set(const char *val, const struct kernel_param *kp)
{
	bool rescan;
	int ret;

	if (kp->arg == &ids && !pvdma_ids_valid(val)) {
		pr_err("ids=%s: expected vendor:device pairs in hex, e.g. ids=1af4:1110,8086:10d3\n",
		       val);
		return -EINVAL;
	}

	/* The notifier reads the lists under pvdma_mutex. */
	mutex_lock(&pvdma_mutex);
	ret = param_set_charp(val, kp);
	rescan = !ret && pvdma_ready;
	mutex_unlock(&pvdma_mutex);

	if (rescan)
		bus_for_each_dev(&pci_bus_type, NULL, NULL, pvdma_attach);
	return ret;
}

static const struct kernel_param_ops pvdma_list_ops = {
	.set	= pvdma_list_set,
	.get	= param_get_charp,
	.free	= param_free_charp,
};

module_param_cb(devices, &pvdma_list_ops, &devices, 0644);
MODULE_PARM_DESC(devices,
		 "Comma-separated PCI addresses of the directly assigned devices to attach to, e.g. 0000:00:04.0,0000:00:05.0; \"auto\" finds them from how the host backs their BARs");
module_param_cb(ids, &pvdma_list_ops, &ids, 0644);
MODULE_PARM_DESC(ids,
		 "Comma-separated vendor:device IDs of the directly assigned devices to attach to, e.g. 1af4:1110");

/* Turning the cache off releases what every device keeps. */
static int pvdma_cache_set(const char *val, const struct kernel_param *kp)
{
	struct pvdma_dev *pd;
	int ret;

	mutex_lock(&pvdma_mutex);
	ret = param_set_bool(val, kp);
	if (!ret && !pvdma_cache_on)
		list_for_each_entry(pd, &pvdma_devs, node)
			pvdma_release_cached(pd);
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

/*
 * Register the page the host publishes its translation epoch on.  Without
 * it, pvdma works but keeps nothing after unmap.  Should the host lose it
 * later (it then writes 0 there), pvdma_epoch() registers it again.
 */
static void pvdma_status_init(void)
{
	void *page = (void *)get_zeroed_page(GFP_KERNEL);
	unsigned int tries = 0;
	long ret;

	if (!page) {
		pr_warn("no memory for the status page; the pin cache is off\n");
		return;
	}
	do {
		ret = pvdma_host->set_shared(virt_to_phys(page), 0);
	} while (ret == -PVDMA_EAGAIN && ++tries < PVDMA_MAP_TRIES);
	if (ret) {
		pr_warn("KVM_HC_PVDMA_SET_SHARED failed: %s (%ld); the pin cache is off\n",
			pvdma_strerror(ret), ret);
		free_page((unsigned long)page);
		return;
	}
	pvdma_status = page;
}

/* Stop the host writing to the status page before it is freed. */
static void pvdma_status_exit(void)
{
	long ret;

	if (!pvdma_status)
		return;
	ret = pvdma_host->set_shared(0, PVDMA_SHARED_CLEAR);
	if (ret) {
		/* The host may still write to it: leak it rather than reuse. */
		pr_err("cannot unregister the status page: %s (%ld); leaking it\n",
		       pvdma_strerror(ret), ret);
	} else {
		free_page((unsigned long)pvdma_status);
	}
	pvdma_status = NULL;
}

/*
 * Most pages one MAP may pin: the host may allow more (8192 by default),
 * but the vCPU is inside the host for the whole call, whatever its
 * interrupt flag says, and other vCPUs wait on it for IPIs.  The largest
 * buffer the page allocator hands out is the bound: no single buffer loses
 * its translation to it.
 */
#define PVDMA_MAP_PAGES_MAX	MAX_ORDER_NR_PAGES

/* KVM_HC_PVDMA_PROBE into @info, with PVDMA_PROBE_RESET if @reset. */
static long pvdma_probe_call(struct pvdma_info *info, bool reset)
{
	long ret;

	if (!reset)
		return pvdma_host->probe(virt_to_phys(info), 0);
	ret = pvdma_host->probe(virt_to_phys(info), PVDMA_PROBE_RESET);
	if (ret != -KVM_EINVAL)
		return ret;
	/* A host from before PVDMA_PROBE_RESET rejects the flag. */
	ret = pvdma_host->probe(virt_to_phys(info), 0);
	if (!ret)
		pr_warn("the host does not know PVDMA_PROBE_RESET: what an earlier kernel of this VM left pinned stays pinned until the VM stops; update the host's kvm modules\n");
	return ret;
}

/**
 * pvdma_probe_limits() - ask the host whether it serves PVDMA, and its limits
 * @reset: start from a clean slate (%PVDMA_PROBE_RESET): the host releases
 *	   every mapping and the status page an earlier kernel of this VM
 *	   (before a reboot or kexec) left.  Never in a crash kernel, whose
 *	   predecessor's devices may still DMA into what that releases.
 *
 * Sets pvdma_limits, clamped to the ABI maxima and to PVDMA_MAP_PAGES_MAX.
 *
 * Return: 0, -ENOMEM, or -ENODEV (logged) if the host cannot serve.
 */
int pvdma_probe_limits(bool reset)
{
	struct pvdma_info *info;
	long ret;

	/* A page of its own: the ABI wants it within one page, whatever slab does. */
	info = (struct pvdma_info *)get_zeroed_page(GFP_KERNEL);
	if (!info)
		return -ENOMEM;

	ret = pvdma_probe_call(info, reset);
	switch (ret) {
	case 0:
		break;
	case -KVM_ENOSYS:
		pr_err("host has no PVDMA support (KVM_HC_PVDMA_PROBE returned -KVM_ENOSYS); load the PVDMA-patched kvm modules on the host\n");
		goto err_nodev;
	case -KVM_EPERM:
		pr_err("this VM is not opted in (KVM_HC_PVDMA_PROBE returned -KVM_EPERM); enable KVM_CAP_PVDMA in the VMM or set kvm.pvdma_unsafe_all_vms=1 on the host\n");
		goto err_nodev;
	default:
		pr_err("KVM_HC_PVDMA_PROBE failed: %s (%ld)\n",
		       pvdma_strerror(ret), ret);
		goto err_nodev;
	}

	if (info->abi_version != PVDMA_ABI_VERSION) {
		pr_err("host speaks PVDMA ABI %u, this module ABI %u; use a guest module and host kvm modules built from the same PVDMA release\n",
		       info->abi_version, PVDMA_ABI_VERSION);
		goto err_nodev;
	}
	/* Two pages: the smallest map of an unaligned byte range. */
	if (!info->max_ranges || !info->max_segs || info->max_map_pages < 2 ||
	    !info->max_batch) {
		pr_err("host limits are unusable (max_ranges %u, max_segs %u, max_map_pages %u, max_batch %u); check the host's PVDMA configuration\n",
		       info->max_ranges, info->max_segs, info->max_map_pages,
		       info->max_batch);
		goto err_nodev;
	}

	pvdma_limits = *info;
	pvdma_limits.max_ranges = min(info->max_ranges, PVDMA_MAX_RANGES);
	pvdma_limits.max_segs = min(info->max_segs, PVDMA_MAX_SEGS);
	pvdma_limits.max_map_pages = min_t(u32, info->max_map_pages,
					   PVDMA_MAP_PAGES_MAX);
	pvdma_limits.max_batch = min(info->max_batch, PVDMA_MAX_BATCH);
	free_page((unsigned long)info);
	return 0;

err_nodev:
	free_page((unsigned long)info);
	return -ENODEV;
}

static int pvdma_probe_host(void)
{
	/* Any other hypervisor may treat the hypercall as an invalid op. */
	if (!kvm_para_available()) {
		pr_err("not running on KVM; pvdma works only in KVM guests\n");
		return -ENODEV;
	}
	/* The host cannot pin or translate encrypted guest memory. */
	if (cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT)) {
		pr_err("guest memory is encrypted (SEV/TDX); PVDMA cannot serve confidential guests\n");
		return -ENODEV;
	}
	if (is_kdump_kernel())
		pr_info("crash kernel: keeping what the crashed kernel left pinned, its devices may still DMA\n");
	return pvdma_probe_limits(!is_kdump_kernel());
}

/*
 * What the host is after PVDMA_PROBE_RESET: it released every handle, so
 * releasing one is done already, and it serves nothing new.
 */
static long pvdma_gone_refuse(phys_addr_t info, u32 flags)
{
	return -KVM_EPERM;
}

static long pvdma_gone_map(phys_addr_t ranges, u32 nr, phys_addr_t result,
			   u32 dir)
{
	return -KVM_EPERM;
}

static long pvdma_gone_unmap(u64 handle)
{
	return 0;
}

static long pvdma_gone_unmap_batch(phys_addr_t handles, u32 nr)
{
	return 0;
}

static long pvdma_gone_set_shared(phys_addr_t page, u32 flags)
{
	return -KVM_EPERM;
}

static const struct pvdma_host_ops pvdma_gone_host = {
	.probe		= pvdma_gone_refuse,
	.map		= pvdma_gone_map,
	.unmap		= pvdma_gone_unmap,
	.unmap_batch	= pvdma_gone_unmap_batch,
	.set_shared	= pvdma_gone_set_shared,
};

/* Stop the host writing to the status page, which stays allocated. */
static void pvdma_status_forget(void)
{
	long ret;

	if (!pvdma_status)
		return;
	ret = pvdma_host->set_shared(0, PVDMA_SHARED_CLEAR);
	if (ret)
		pr_emerg("cannot unregister the status page: %s (%ld); the host may write to it after this kernel\n",
			 pvdma_strerror(ret), ret);
}

/**
 * pvdma_reboot_release() - hand everything back before the kernel goes
 * @reset: release every pin too (%PVDMA_PROBE_RESET); false in a crash
 *	   kernel, whose predecessor's devices may still DMA
 *
 * For reboot, halt, power-off and kexec: runs from syscore shutdown, after
 * device_shutdown() (reboot notifiers run before it, while drivers still
 * DMA) and before the machine restarts or the next kernel starts.  After
 * a warm reboot or kexec the VM goes on, and with it the host's state:
 * the status page is memory of the next kernel, the pins are memory nobody
 * needs.  The devices' DMA is stopped first (a driver's shutdown() may not
 * have, and only kexec clears bus mastering of every device), then the host
 * forgets this kernel.  From then on nothing may be mapped: the bounce pool
 * is released too.
 */
void pvdma_reboot_release(bool reset)
{
	struct pvdma_info *info;
	struct pvdma_dev *pd;
	long ret = -ENOMEM;

	WRITE_ONCE(pvdma_stopped, true);
	rcu_read_lock();
	list_for_each_entry_rcu(pd, &pvdma_devs, node)
		pvdma_quiesce(pd->dev);
	rcu_read_unlock();

	if (!reset) {
		pvdma_status_forget();
		return;
	}
	/* A page of its own, as pvdma_probe_limits() has; syscore may sleep. */
	info = (struct pvdma_info *)get_zeroed_page(GFP_KERNEL);
	if (info) {
		ret = pvdma_host->probe(virt_to_phys(info), PVDMA_PROBE_RESET);
		free_page((unsigned long)info);
	}
	if (ret) {
		pr_warn("cannot release every pin before the kernel goes: %s (%ld); the next kernel or the end of the VM releases them\n",
			ret == -ENOMEM ? "no memory" : pvdma_strerror(ret),
			ret);
		pvdma_status_forget();
		return;
	}
	/* Whatever still unmaps names handles the host released already. */
	WRITE_ONCE(pvdma_host, &pvdma_gone_host);
}

/**
 * pvdma_panic_clear() - the kernel panicked: stop the host writing to it
 *
 * The devices keep running until the machine is reset, so every pin stays
 * (the next kernel releases them at start, after the reset stopped the
 * devices; a crash kernel leaves them).  But the status page will be the
 * next kernel's memory: the host must stop writing to it now.  Mappings
 * keep working, for a console on an attached device.
 */
void pvdma_panic_clear(void)
{
	pvdma_status_forget();
}

#ifdef MODULE
#define PVDMA_HIBERNATE_HOW "unbind the drivers of pvdma's devices and unload pvdma to hibernate"
#else
#define PVDMA_HIBERNATE_HOW "boot without pvdma=on to hibernate"
#endif

/**
 * pvdma_pm_notify() - refuse hibernation
 * @nb: the notifier
 * @action: the PM event
 * @data: unused
 *
 * A hibernation image holds host addresses: of the bounce pool, of kept
 * translations, of drivers' coherent rings.  Restored, in this VM after a
 * reboot or in another, they name memory that is no longer pinned.  So
 * the image is not made, nor one restored over a kernel that holds pins.
 * Suspend to RAM keeps the VM and every pin as they are.
 *
 * Return: %NOTIFY_DONE, or notifier_from_errno(-EBUSY) to refuse.
 */
int pvdma_pm_notify(struct notifier_block *nb, unsigned long action,
		    void *data)
{
	switch (action) {
	case PM_HIBERNATION_PREPARE:
		pr_err("hibernation refused: the host addresses pvdma and drivers hold would be dead in the restored image; %s\n",
		       PVDMA_HIBERNATE_HOW);
		return notifier_from_errno(-EBUSY);
	case PM_RESTORE_PREPARE:
		pr_err("restoring a hibernation image refused: pvdma holds host pins the image knows nothing of; boot without pvdma to restore it\n");
		return notifier_from_errno(-EBUSY);
	}
	return NOTIFY_DONE;
}

static struct notifier_block pvdma_pm_nb = {
	.notifier_call = pvdma_pm_notify,
};

static int pvdma_panic_notify(struct notifier_block *nb, unsigned long action,
			      void *data)
{
	pvdma_panic_clear();
	return NOTIFY_DONE;
}

static struct notifier_block pvdma_panic_nb = {
	.notifier_call = pvdma_panic_notify,
};

static void pvdma_syscore_shutdown(void *data)
{
	pvdma_reboot_release(!is_kdump_kernel());
}

static const struct syscore_ops pvdma_syscore_ops = {
	.shutdown	= pvdma_syscore_shutdown,
};

static struct syscore pvdma_syscore = {
	.ops		= &pvdma_syscore_ops,
};

/*
 * Pin the bounce pool.  Built in, that is the kernel's swiotlb pool; if
 * swiotlb cannot serve, pvdma's own pool, as the module has.
 */
static int pvdma_bounce_start(unsigned long size)
{
#ifndef MODULE
	pvdma_bounce = &pvdma_bounce_swiotlb;
	if (!pvdma_bounce_init(size))
		return 0;
	pr_info("falling back to pvdma's own bounce pool\n");
	pvdma_bounce = &pvdma_bounce_own;
#endif
	return pvdma_bounce_init(size);
}

/*
 * Built in, pvdma starts at arch_initcall: after the PCI bus type exists
 * (postcore) and before PCI enumeration (subsys) adds the devices, so the
 * bus notifier sees every one before a driver can bind.  As a module,
 * arch_initcall is module_init.
 */
static int __init pvdma_init(void)
{
	int ret;

	if (!pvdma_enable) {
#ifdef MODULE
		pr_err("not started: loaded with enable=0\n");
		return -ENODEV;
#else
		if (devices || ids)
			pr_info("not started: pvdma.devices/ids are set but pvdma is off; boot with pvdma=on\n");
		return 0;
#endif
	}

	ret = pvdma_probe_host();
	if (ret)
		goto out;
	ret = pvdma_bufs_init();
	if (ret)
		goto out;
	pvdma_status_init();
	ret = pvdma_bounce_start(bounce_size);
	if (ret)
		goto err_bufs;

	pvdma_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file_unsafe("bounce_pages", 0400, pvdma_debugfs, NULL,
				   &pvdma_bounce_pages_fops);
	debugfs_create_file_unsafe("bounce_used_pages", 0400, pvdma_debugfs,
				   NULL, &pvdma_bounce_used_fops);
	debugfs_create_file_unsafe("bounce_copied_bytes", 0400, pvdma_debugfs,
				   NULL, &pvdma_bounce_copied_fops);

	/* Register first so no device is missed; attach is idempotent. */
	ret = bus_register_notifier(&pci_bus_type, &pvdma_nb);
	if (ret)
		goto err_debugfs;
	ret = register_pm_notifier(&pvdma_pm_nb);
	if (ret)
		goto err_bus;
	atomic_notifier_chain_register(&panic_notifier_list, &pvdma_panic_nb);
	register_syscore(&pvdma_syscore);
	mutex_lock(&pvdma_mutex);
	pvdma_ready = true;
	mutex_unlock(&pvdma_mutex);
	bus_for_each_dev(&pci_bus_type, NULL, NULL, pvdma_attach);

	pr_info("host ABI %u: up to %u ranges, %u segments, %u pages per map; bounce pool %u KiB (%s); pin cache %s\n",
		pvdma_limits.abi_version, pvdma_limits.max_ranges,
		pvdma_limits.max_segs, pvdma_limits.max_map_pages,
		pvdma_bounce_pages() << (PAGE_SHIFT - 10), pvdma_bounce->name,
		!pvdma_status ? "unavailable" : pvdma_cache_on ? "on" : "off");
	if (!devices && !ids)
		pr_warn("no devices listed; set devices=<PCI address>[,...] or ids=<vendor>:<device>[,...] to attach any\n");
	return 0;

err_bus:
	bus_unregister_notifier(&pci_bus_type, &pvdma_nb);
err_debugfs:
	debugfs_remove_recursive(pvdma_debugfs);
	pvdma_bounce_exit();
err_bufs:
	pvdma_status_exit();
	pvdma_bufs_exit();
out:
#ifdef MODULE
	return ret;
#else
	/* Built in, the kernel boots on: pvdma just stays out of the way. */
	return 0;
#endif
}
arch_initcall(pvdma_init);

/*
 * Bound drivers and live mappings hold module references, so exit does not
 * run while they last.  But a driver may bind once the unload has begun
 * (the references were counted already), and the ops cannot stay behind
 * the module: every device is let go of for good, safely, whatever it
 * still has (pvdma_dev_leave()).
 */
static void __exit pvdma_exit(void)
{
	struct pvdma_dev *pd, *tmp;

	unregister_syscore(&pvdma_syscore);
	atomic_notifier_chain_unregister(&panic_notifier_list,
					 &pvdma_panic_nb);
	unregister_pm_notifier(&pvdma_pm_nb);

	/* Nothing attaches from here on, nor detaches but here. */
	mutex_lock(&pvdma_mutex);
	pvdma_ready = false;
	mutex_unlock(&pvdma_mutex);
	bus_unregister_notifier(&pci_bus_type, &pvdma_nb);
	list_for_each_entry_safe(pd, tmp, &pvdma_devs, node)
		pvdma_dev_leave(pd);

	debugfs_remove_recursive(pvdma_debugfs);
	pvdma_bounce_exit();
	pvdma_status_exit();
	pvdma_bufs_exit();
}
module_exit(pvdma_exit);

MODULE_DESCRIPTION("PVDMA: paravirtual DMA for directly assigned devices in KVM guests without an IOMMU");
MODULE_LICENSE("GPL");
