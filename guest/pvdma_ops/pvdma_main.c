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
 *		devices to attach to, e.g. 0000:00:04.0,0000:00:05.0.
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
 * or any mapping is live.  Counters are in /sys/kernel/debug/pvdma/.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cc_platform.h>
#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/init.h>
#include <linux/kvm_para.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rculist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>

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
static bool pvdma_ready;

/*
 * The host's limits from KVM_HC_PVDMA_PROBE, clamped to the ABI maxima;
 * read-only once pvdma has started.
 */
struct pvdma_info pvdma_limits;

/*
 * The real host: KVM hypercalls.  The indirection is the seam the KUnit
 * suites substitute a fake host at; next to a VM exit it costs nothing.
 */
static long pvdma_kvm_probe(phys_addr_t info)
{
	return kvm_hypercall2(KVM_HC_PVDMA_PROBE, info, 0);
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

static const struct pvdma_host_ops pvdma_kvm_host = {
	.probe		= pvdma_kvm_probe,
	.map		= pvdma_kvm_map,
	.unmap		= pvdma_kvm_unmap,
	.unmap_batch	= pvdma_kvm_unmap_batch,
	.set_shared	= pvdma_kvm_set_shared,
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

	list_add_rcu(&pd->node, &pvdma_devs);
	set_dma_ops(dev, &pvdma_dma_ops);
	dma_reset_need_sync(dev);
	dev_info(dev, "pvdma: attached\n");
	return 0;
}

/**
 * pvdma_dev_del() - remove pvdma's DMA ops from a device
 * @pd: attached device, with no driver bound
 *
 * The caller holds pvdma_mutex.  A device with live mappings stays
 * attached: dropping the ops would strand them, pinned, with no way to
 * unmap.
 *
 * Return: 0, or -EBUSY if mappings are live.
 */
int pvdma_dev_del(struct pvdma_dev *pd)
{
	struct device *dev = pd->dev;
	s64 live = pvdma_stat_read(pd, PVDMA_STAT_LIVE);

	lockdep_assert_held(&pvdma_mutex);

	if (live) {
		dev_err(dev, "pvdma: not detached: %lld mappings still live; they stay pinned\n",
			live);
		return -EBUSY;
	}
	/* Attach only accepts devices without ops, so the old ops are NULL. */
	set_dma_ops(dev, NULL);
	list_del_rcu(&pd->node);
	synchronize_rcu();
	pvdma_release_cached(pd);
	debugfs_remove_recursive(pd->debugfs);
	dev_info(dev, "pvdma: detached\n");
	put_device(dev);
	kfree(pd);
	return 0;
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
static bool pvdma_selected(struct device *dev)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	char id[sizeof("vvvv:dddd")];

	if (pvdma_in_list(devices, dev_name(dev)))
		return true;
	snprintf(id, sizeof(id), "%04x:%04x", pdev->vendor, pdev->device);
	return pvdma_in_list(ids, id);
}

/* Attach @dev if it is listed and usable.  Called under pvdma_mutex. */
static void pvdma_attach(struct device *dev)
{
	const struct dma_map_ops *ops = get_dma_ops(dev);

	lockdep_assert_held(&pvdma_mutex);

	if (!pvdma_selected(dev) || pvdma_find(dev))
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
	if (pvdma_dev_add(dev))
		dev_err(dev, "pvdma: not attached: out of memory\n");
}

static int pvdma_bus_notify(struct notifier_block *nb, unsigned long action,
			    void *data)
{
	struct device *dev = data;
	struct pvdma_dev *pd;

	mutex_lock(&pvdma_mutex);
	switch (action) {
	case BUS_NOTIFY_ADD_DEVICE:
		pvdma_attach(dev);
		break;
	case BUS_NOTIFY_BIND_DRIVER:
		/*
		 * A bound driver may map at any time; dropping the ops under
		 * it would send guest-physical addresses to the device.
		 */
		if (pvdma_find(dev))
			__module_get(THIS_MODULE);
		break;
	case BUS_NOTIFY_DRIVER_NOT_BOUND:
	case BUS_NOTIFY_UNBOUND_DRIVER:
		if (pvdma_find(dev))
			module_put(THIS_MODULE);
		break;
	case BUS_NOTIFY_REMOVED_DEVICE:
		pd = pvdma_find(dev);
		if (pd)
			pvdma_dev_del(pd);
		break;
	}
	mutex_unlock(&pvdma_mutex);
	return NOTIFY_DONE;
}

static struct notifier_block pvdma_nb = {
	.notifier_call = pvdma_bus_notify,
};

static int pvdma_attach_existing(struct device *dev, void *data)
{
	/* Keep a driver from binding between the check and set_dma_ops(). */
	device_lock(dev);
	mutex_lock(&pvdma_mutex);
	pvdma_attach(dev);
	mutex_unlock(&pvdma_mutex);
	device_unlock(dev);
	return 0;
}

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
		bus_for_each_dev(&pci_bus_type, NULL, NULL,
				 pvdma_attach_existing);
	return ret;
}

static const struct kernel_param_ops pvdma_list_ops = {
	.set	= pvdma_list_set,
	.get	= param_get_charp,
	.free	= param_free_charp,
};

module_param_cb(devices, &pvdma_list_ops, &devices, 0644);
MODULE_PARM_DESC(devices,
		 "Comma-separated PCI addresses of the directly assigned devices to attach to, e.g. 0000:00:04.0,0000:00:05.0");
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
 * it, pvdma works but keeps nothing after unmap.
 */
static void pvdma_status_init(void)
{
	void *page = (void *)get_zeroed_page(GFP_KERNEL);
	long ret;

	if (!page) {
		pr_warn("no memory for the status page; the pin cache is off\n");
		return;
	}
	ret = pvdma_host->set_shared(virt_to_phys(page), 0);
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

/* Ask the host whether it serves PVDMA to this VM, and its limits. */
static int pvdma_probe_host(void)
{
	struct pvdma_info *info;
	long ret;

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

	/* kmalloc aligns power-of-two sizes naturally: within one page. */
	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;

	ret = pvdma_host->probe(virt_to_phys(info));
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
	pvdma_limits.max_batch = min(info->max_batch, PVDMA_MAX_BATCH);
	kfree(info);
	return 0;

err_nodev:
	kfree(info);
	return -ENODEV;
}

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
	mutex_lock(&pvdma_mutex);
	pvdma_ready = true;
	mutex_unlock(&pvdma_mutex);
	bus_for_each_dev(&pci_bus_type, NULL, NULL, pvdma_attach_existing);

	pr_info("host ABI %u: up to %u ranges, %u segments, %u pages per map; bounce pool %u KiB (%s); pin cache %s\n",
		pvdma_limits.abi_version, pvdma_limits.max_ranges,
		pvdma_limits.max_segs, pvdma_limits.max_map_pages,
		pvdma_bounce_pages() << (PAGE_SHIFT - 10), pvdma_bounce->name,
		!pvdma_status ? "unavailable" : pvdma_cache_on ? "on" : "off");
	if (!devices && !ids)
		pr_warn("no devices listed; set devices=<PCI address>[,...] or ids=<vendor>:<device>[,...] to attach any\n");
	return 0;

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
 * Exit runs only when no driver is bound to an attached device and no
 * mapping is live (both hold module references), so every device detaches.
 */
static void __exit pvdma_exit(void)
{
	struct pvdma_dev *pd, *tmp;

	bus_unregister_notifier(&pci_bus_type, &pvdma_nb);

	mutex_lock(&pvdma_mutex);
	pvdma_ready = false;
	list_for_each_entry_safe(pd, tmp, &pvdma_devs, node)
		pvdma_dev_del(pd);
	mutex_unlock(&pvdma_mutex);

	debugfs_remove_recursive(pvdma_debugfs);
	pvdma_bounce_exit();
	pvdma_status_exit();
	pvdma_bufs_exit();
}
module_exit(pvdma_exit);

MODULE_DESCRIPTION("PVDMA: paravirtual DMA for directly assigned devices in KVM guests without an IOMMU");
MODULE_LICENSE("GPL");
