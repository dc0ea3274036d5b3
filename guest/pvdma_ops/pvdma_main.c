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
 * when built in, pvdma's own as a module.
 *
 * The files, from the bottom up; each calls only the ones above it in this
 * list, and this file, which starts and stops the rest, is called by none:
 *   pvdma_host.c	hypercalls, host limits, shared page, MAP descriptors
 *   pvdma_bounce_frames.c, pvdma_bounce_own.c, pvdma_bounce_swiotlb.c,
 *   pvdma_bounce.c	the bounce pools, and which one is in use
 *   pvdma_cache.c	translations kept after unmap
 *   pvdma_live.c	the live mappings of a device; how a mapping ends
 *   pvdma_dev.c	the attached devices, their counters in debugfs
 *   pvdma_ops.c	the dma_map_ops
 *   pvdma_attach.c	which devices are attached, and when
 *   pvdma_shutdown.c	reboot, kexec, panic and hibernation
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
 * the shared page back to the host, at a panic the shared page, and every
 * kernel but a crash kernel starts from a clean slate; hibernation is
 * refused (pvdma_reboot_release(), pvdma_pm_notify()).  Counters are in
 * /sys/kernel/debug/pvdma/.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

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

/*
 * Built in, pvdma starts at arch_initcall: after the PCI bus type exists
 * (postcore) and before PCI enumeration (subsys) adds the devices, so the
 * bus notifier sees every one before a driver can bind.  As a module,
 * arch_initcall is module_init.
 */
static int __init pvdma_init(void)
{
	struct dentry *debugfs;
	int ret;

	if (!pvdma_enable) {
#ifdef MODULE
		pr_err("not started: loaded with enable=0\n");
		return -ENODEV;
#else
		if (pvdma_attach_listed())
			pr_info("not started: pvdma.devices/ids are set but pvdma is off; boot with pvdma=on\n");
		return 0;
#endif
	}

	ret = pvdma_host_start();
	if (ret)
		goto out;
	ret = pvdma_descs_init();
	if (ret)
		goto out;
	pvdma_shared_page_init();
	ret = pvdma_bounce_start();
	if (ret)
		goto err_descs;

	debugfs = pvdma_debugfs_init();
	pvdma_bounce_debugfs_init(debugfs);

	ret = pvdma_shutdown_register();
	if (ret)
		goto err_debugfs;
	ret = pvdma_attach_start();
	if (ret)
		goto err_shutdown;

	pr_info("host ABI %u: up to %u ranges, %u segments, %u pages per map; bounce pool %u KiB (%s); pin cache %s\n",
		pvdma_host_limits.abi_version, pvdma_host_limits.max_ranges,
		pvdma_host_limits.max_segs, pvdma_host_limits.max_map_pages,
		pvdma_bounce_pages() << (PAGE_SHIFT - 10), pvdma_bounce->name,
		!pvdma_shared_page ? "unavailable" :
		pvdma_cache_on ? "on" : "off");
	if (!pvdma_attach_listed())
		pr_warn("no devices listed; set devices=<PCI address>[,...] or ids=<vendor>:<device>[,...] to attach any\n");
	return 0;

err_shutdown:
	pvdma_shutdown_unregister();
err_debugfs:
	pvdma_debugfs_exit();
	pvdma_bounce_exit();
err_descs:
	pvdma_shared_page_exit();
	pvdma_descs_exit();
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
 * run while they last; pvdma_attach_stop() lets go of every device safely.
 */
static void __exit pvdma_exit(void)
{
	pvdma_shutdown_unregister();
	pvdma_attach_stop();
	pvdma_debugfs_exit();
	pvdma_bounce_exit();
	pvdma_shared_page_exit();
	pvdma_descs_exit();
}
module_exit(pvdma_exit);

MODULE_DESCRIPTION("PVDMA: paravirtual DMA for directly assigned devices in KVM guests without an IOMMU");
MODULE_LICENSE("GPL");
