// SPDX-License-Identifier: GPL-2.0
/*
 * Which devices pvdma attaches to, and when it lets go of them.
 *
 * Parameters devices and ids name them (pvdma_main.c describes both); a
 * listed device is attached before its driver binds: at start for devices
 * already present and unbound, later from a PCI bus notifier when it is
 * added, or when a write to devices or ids lists it.  Removing a device
 * from the lists does not detach it.  A device pvdma lets go of while it
 * stays in the guest is fenced off from drivers.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/dma-map-ops.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/string.h>

#include "pvdma_internal.h"

static char *devices;
static char *ids;

/* pvdma has started: a write to devices or ids attaches at once. */
bool pvdma_ready;

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
		ret = pvdma_call_query(res->start, resource_size(res));
		assigned = ret > 0 && (ret & PVDMA_QUERY_DEVICE);
	}
	if (!(cmd & PCI_COMMAND_MEMORY))
		pci_write_config_word(pdev, PCI_COMMAND, cmd);
	return assigned;
}

/* Is the PCI device @dev listed by address or by ID, or found by auto? */
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
	if (pvdma_dev_add(dev, &pvdma_dma_ops)) {
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

/**
 * pvdma_attach_listed() - are any devices listed?
 *
 * Return: true if devices or ids is set.
 */
bool pvdma_attach_listed(void)
{
	return devices || ids;
}

/**
 * pvdma_attach_start() - attach the listed devices, now and as they come
 *
 * The notifier is registered first so that no device is missed; attaching
 * is idempotent.
 *
 * Return: 0, or the error of bus_register_notifier().
 */
int pvdma_attach_start(void)
{
	int ret = bus_register_notifier(&pci_bus_type, &pvdma_nb);

	if (ret)
		return ret;
	mutex_lock(&pvdma_mutex);
	pvdma_ready = true;
	mutex_unlock(&pvdma_mutex);
	bus_for_each_dev(&pci_bus_type, NULL, NULL, pvdma_attach);
	return 0;
}

/**
 * pvdma_attach_stop() - let go of every device for good: pvdma unloads
 *
 * Bound drivers and live mappings hold module references, so this does not
 * run while they last.  But a driver may bind once the unload has begun
 * (the references were counted already), and the ops cannot stay behind
 * the module: every device is let go of, safely, whatever it still has
 * (pvdma_dev_leave()).
 */
void pvdma_attach_stop(void)
{
	struct pvdma_dev *pd, *tmp;

	/* Nothing attaches from here on, nor detaches but here. */
	mutex_lock(&pvdma_mutex);
	pvdma_ready = false;
	mutex_unlock(&pvdma_mutex);
	bus_unregister_notifier(&pci_bus_type, &pvdma_nb);
	list_for_each_entry_safe(pd, tmp, &pvdma_devs, node)
		pvdma_dev_leave(pd);
}
