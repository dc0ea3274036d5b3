// SPDX-License-Identifier: GPL-2.0
/*
 * What pvdma does when the kernel goes: at reboot, halt and kexec it hands
 * every pin and the shared page back to the host, at a panic the shared
 * page, and it refuses hibernation.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crash_dump.h>
#include <linux/notifier.h>
#include <linux/panic_notifier.h>
#include <linux/suspend.h>
#include <linux/syscore_ops.h>

#include "pvdma_internal.h"

/**
 * pvdma_reboot_release() - hand everything back before the kernel goes
 * @reset: release every pin too (%PVDMA_PROBE_RESET); false in a crash
 *	   kernel, whose predecessor's devices may still DMA
 *
 * For reboot, halt, power-off and kexec: runs from syscore shutdown, after
 * device_shutdown() (reboot notifiers run before it, while drivers still
 * DMA) and before the machine restarts or the next kernel starts.  After
 * a warm reboot or kexec the VM goes on, and with it the host's state:
 * the shared page is memory of the next kernel, the pins are memory nobody
 * needs.  The devices' DMA is stopped first (a driver's shutdown() may not
 * have, and only kexec clears bus mastering of every device), then the host
 * forgets this kernel.  From then on nothing may be mapped: the bounce pool
 * is released too.
 */
void pvdma_reboot_release(bool reset)
{
	WRITE_ONCE(pvdma_stopped, true);
	pvdma_quiesce_all();
	pvdma_host_release_all(reset);
}

/**
 * pvdma_panic_clear() - the kernel panicked: stop the host writing to it
 *
 * The devices keep running until the machine is reset, so every pin stays
 * (the next kernel releases them at start, after the reset stopped the
 * devices; a crash kernel leaves them).  But the shared page will be the
 * next kernel's memory: the host must stop writing to it now.  Mappings
 * keep working, for a console on an attached device.
 */
void pvdma_panic_clear(void)
{
	pvdma_shared_page_forget();
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

/**
 * pvdma_shutdown_register() - hook into reboot, panic and hibernation
 *
 * Return: 0, or the error of register_pm_notifier().
 */
int pvdma_shutdown_register(void)
{
	int ret = register_pm_notifier(&pvdma_pm_nb);

	if (ret)
		return ret;
	atomic_notifier_chain_register(&panic_notifier_list, &pvdma_panic_nb);
	register_syscore(&pvdma_syscore);
	return 0;
}

/**
 * pvdma_shutdown_unregister() - undo pvdma_shutdown_register()
 */
void pvdma_shutdown_unregister(void)
{
	unregister_syscore(&pvdma_syscore);
	atomic_notifier_chain_unregister(&panic_notifier_list,
					 &pvdma_panic_nb);
	unregister_pm_notifier(&pvdma_pm_nb);
}
