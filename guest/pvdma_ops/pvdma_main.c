// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma: paravirtual DMA for KVM guests driving directly assigned devices on
 * hosts without an IOMMU.
 *
 * A device assigned to this guest does DMA on the host bus, where
 * guest-physical addresses mean nothing.  pvdma installs its dma_map_ops
 * (pvdma_ops.c) on such devices: every DMA mapping is pinned on the host by
 * hypercall and the device is given host-physical addresses.
 *
 * Parameters:
 *   devices=<list>	comma-separated PCI addresses, without spaces, of the
 *			directly assigned devices to attach to, e.g.
 *			devices=0000:00:04.0,0000:00:05.0.  No other device
 *			is touched: emulated and virtio devices keep
 *			guest-physical DMA.
 *
 * A listed device is attached before its driver binds: at load for devices
 * already present and unbound, later from a PCI bus notifier when it is
 * added.  Module load fails unless the guest runs on KVM and the host
 * supports PVDMA for this VM (KVM_HC_PVDMA_PROBE).  The module cannot be
 * unloaded while a driver is bound to an attached device or any mapping is
 * live.  Counters are in /sys/kernel/debug/pvdma/<device>/.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cc_platform.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/kvm_para.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "pvdma_internal.h"

static char *devices;
module_param(devices, charp, 0444);
MODULE_PARM_DESC(devices,
		 "Comma-separated PCI addresses of the directly assigned devices to attach to, e.g. 0000:00:04.0,0000:00:05.0");

/*
 * The host's limits from KVM_HC_PVDMA_PROBE, clamped to the ABI maxima;
 * read-only once the module is loaded.
 */
struct pvdma_info pvdma_limits;

/* Attached devices: written under pvdma_mutex, read under RCU by the ops. */
static LIST_HEAD(pvdma_devs);
static DEFINE_MUTEX(pvdma_mutex);
static struct dentry *pvdma_debugfs;

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

static void pvdma_debugfs_add(struct pvdma_dev *pd)
{
	struct pvdma_stats *st = &pd->stats;

	pd->debugfs = debugfs_create_dir(dev_name(pd->dev), pvdma_debugfs);
	debugfs_create_file_unsafe("maps", 0400, pd->debugfs, &st->maps,
				   &pvdma_stat_fops);
	debugfs_create_file_unsafe("unmaps", 0400, pd->debugfs, &st->unmaps,
				   &pvdma_stat_fops);
	debugfs_create_file_unsafe("hypercalls", 0400, pd->debugfs,
				   &st->hypercalls, &pvdma_stat_fops);
	debugfs_create_file_unsafe("live_mappings", 0400, pd->debugfs,
				   &st->live_mappings, &pvdma_stat_fops);
	debugfs_create_file_unsafe("failures", 0400, pd->debugfs,
				   &st->failures, &pvdma_stat_fops);
}

/* Is @dev named in the devices parameter? */
static bool pvdma_listed(struct device *dev)
{
	const char *name = dev_name(dev);
	size_t len = strlen(name);
	const char *p = devices;

	while (p && *p) {
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return true;
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return false;
}

/* Attach @dev if it is listed and usable.  Called under pvdma_mutex. */
static void pvdma_attach(struct device *dev)
{
	const struct dma_map_ops *ops = get_dma_ops(dev);
	struct pvdma_dev *pd;

	lockdep_assert_held(&pvdma_mutex);

	if (!pvdma_listed(dev) || pvdma_find(dev))
		return;

	/* Its driver may already hold guest-physical mappings. */
	if (dev->driver) {
		dev_err(dev, "pvdma: not attached: already bound to %s; unbind it, then reload pvdma\n",
			dev->driver->name);
		return;
	}
	if (device_iommu_mapped(dev)) {
		dev_err(dev, "pvdma: not attached: the device is behind an IOMMU; remove it from pvdma.devices\n");
		return;
	}
	if (ops) {
		dev_err(dev, "pvdma: not attached: the device already has DMA ops %ps; remove it from pvdma.devices\n",
			ops);
		return;
	}

	pd = kzalloc(sizeof(*pd), GFP_KERNEL);
	if (!pd)
		return;
	pd->dev = get_device(dev);
	spin_lock_init(&pd->lock);
	hash_init(pd->maps);
	pvdma_debugfs_add(pd);

	/* Findable before the ops can be called. */
	list_add_rcu(&pd->node, &pvdma_devs);
	set_dma_ops(dev, &pvdma_dma_ops);
	/* Syncs may have been marked skippable under dma-direct. */
	dma_reset_need_sync(dev);
	dev_info(dev, "pvdma: attached\n");
}

/*
 * Detach @pd unless mappings are live.  Called under pvdma_mutex with no
 * driver bound, so no DMA operation can be in flight.
 */
static void pvdma_detach(struct pvdma_dev *pd)
{
	struct device *dev = pd->dev;
	s64 live = atomic64_read(&pd->stats.live_mappings);

	lockdep_assert_held(&pvdma_mutex);

	if (live) {
		dev_err(dev, "pvdma: not detached: %lld mappings still live; they stay pinned\n",
			live);
		return;
	}
	/* Attach only accepted devices without ops, so the old ops are NULL. */
	set_dma_ops(dev, NULL);
	list_del_rcu(&pd->node);
	synchronize_rcu();
	debugfs_remove_recursive(pd->debugfs);
	dev_info(dev, "pvdma: detached\n");
	put_device(dev);
	kfree(pd);
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
			pvdma_detach(pd);
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

	ret = kvm_hypercall2(KVM_HC_PVDMA_PROBE, virt_to_phys(info), 0);
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
	if (!info->max_ranges || !info->max_segs || info->max_map_pages < 2) {
		pr_err("host limits are unusable (max_ranges %u, max_segs %u, max_map_pages %u); check the host's PVDMA configuration\n",
		       info->max_ranges, info->max_segs, info->max_map_pages);
		goto err_nodev;
	}

	pvdma_limits = *info;
	pvdma_limits.max_ranges = min(info->max_ranges, PVDMA_MAX_RANGES);
	pvdma_limits.max_segs = min(info->max_segs, PVDMA_MAX_SEGS);
	kfree(info);
	return 0;

err_nodev:
	kfree(info);
	return -ENODEV;
}

static int __init pvdma_init(void)
{
	int ret;

	ret = pvdma_probe_host();
	if (ret)
		return ret;

	ret = pvdma_bufs_init();
	if (ret)
		return ret;

	pvdma_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);

	/* Register first so no device is missed; attach is idempotent. */
	ret = bus_register_notifier(&pci_bus_type, &pvdma_nb);
	if (ret)
		goto err_debugfs;
	bus_for_each_dev(&pci_bus_type, NULL, NULL, pvdma_attach_existing);

	pr_info("host ABI %u: up to %u ranges, %u segments, %u pages per map\n",
		pvdma_limits.abi_version, pvdma_limits.max_ranges,
		pvdma_limits.max_segs, pvdma_limits.max_map_pages);
	if (!devices || !*devices)
		pr_warn("no devices listed; load with devices=<PCI address>[,...] to attach any\n");
	return 0;

err_debugfs:
	debugfs_remove_recursive(pvdma_debugfs);
	pvdma_bufs_exit();
	return ret;
}
module_init(pvdma_init);

/*
 * Exit runs only when no driver is bound to an attached device and no
 * mapping is live (both hold module references), so every device detaches.
 */
static void __exit pvdma_exit(void)
{
	struct pvdma_dev *pd, *tmp;

	bus_unregister_notifier(&pci_bus_type, &pvdma_nb);

	mutex_lock(&pvdma_mutex);
	list_for_each_entry_safe(pd, tmp, &pvdma_devs, node)
		pvdma_detach(pd);
	mutex_unlock(&pvdma_mutex);

	debugfs_remove_recursive(pvdma_debugfs);
	pvdma_bufs_exit();
}
module_exit(pvdma_exit);

MODULE_DESCRIPTION("PVDMA: paravirtual DMA for directly assigned devices in KVM guests without an IOMMU");
MODULE_LICENSE("GPL");
