// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma's way to the host, the bottom of the guest side: it calls nothing
 * else of pvdma.
 *
 *  - the hypercalls, each of which the KUnit suites may replace by a fake
 *    host (a static stub), and their error codes for the log;
 *  - the host's limits (KVM_HC_PVDMA_PROBE), read once at start;
 *  - the shared page the host writes its translation epoch to
 *    (KVM_HC_PVDMA_SET_SHARED), and the epoch read from it;
 *  - the per-CPU descriptors a MAP is written to;
 *  - letting go of the host for good, when the kernel goes down.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cc_platform.h>
#include <linux/crash_dump.h>
#include <linux/device.h>
#include <linux/gfp.h>
#include <linux/kvm_para.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/percpu.h>
#include <kunit/static_stub.h>

#include "pvdma_internal.h"

/*
 * The host's limits from KVM_HC_PVDMA_PROBE, clamped to the ABI maxima;
 * read-only once pvdma has started.
 */
struct pvdma_info pvdma_host_limits;

/*
 * The shared page the host writes the translation epoch to, or NULL if it
 * could not be registered: then nothing is kept after unmap.
 */
struct pvdma_shared *pvdma_shared_page;

/*
 * The kernel is going down and the host has let go of everything (see
 * pvdma_host_release_all()): nothing may be mapped any more.
 */
bool pvdma_stopped;

/*
 * Set when the host let go of everything (pvdma_host_release_all()): the
 * calls are answered here as a host that released every handle would, so
 * releasing one is done already, and nothing new is served.
 */
bool pvdma_host_gone;

/*
 * The hypercalls.  Each may be replaced by a KUnit static stub, the seam
 * the suites put a fake host at: without a test running that costs a
 * patched-out branch.
 */

/**
 * pvdma_call_probe() - %KVM_HC_PVDMA_PROBE
 * @info: GPA of a &struct pvdma_info
 * @flags: %PVDMA_PROBE_RESET or 0
 *
 * Return: what the hypercall returns: 0, or a -KVM_E* or -PVDMA_E* code.
 */
long pvdma_call_probe(phys_addr_t info, u32 flags)
{
	if (READ_ONCE(pvdma_host_gone))
		return -KVM_EPERM;
	KUNIT_STATIC_STUB_REDIRECT(pvdma_call_probe, info, flags);
	return kvm_hypercall2(KVM_HC_PVDMA_PROBE, info, flags);
}

/**
 * pvdma_call_map() - %KVM_HC_PVDMA_MAP
 * @ranges: GPA of the ranges
 * @nr: their number
 * @result: GPA of the &struct pvdma_map_result
 * @dir: PVDMA_MAP_* direction
 *
 * Return: what the hypercall returns: 0, or a -KVM_E* or -PVDMA_E* code.
 */
long pvdma_call_map(phys_addr_t ranges, u32 nr, phys_addr_t result, u32 dir)
{
	if (READ_ONCE(pvdma_host_gone))
		return -KVM_EPERM;
	KUNIT_STATIC_STUB_REDIRECT(pvdma_call_map, ranges, nr, result, dir);
	return kvm_hypercall4(KVM_HC_PVDMA_MAP, ranges, nr, result, dir);
}

/**
 * pvdma_call_unmap() - %KVM_HC_PVDMA_UNMAP
 * @handle: the handle to release
 *
 * Return: what the hypercall returns: 0, or a -KVM_E* or -PVDMA_E* code.
 */
long pvdma_call_unmap(u64 handle)
{
	if (READ_ONCE(pvdma_host_gone))
		return 0;
	KUNIT_STATIC_STUB_REDIRECT(pvdma_call_unmap, handle);
	return kvm_hypercall2(KVM_HC_PVDMA_UNMAP, handle, 0);
}

/**
 * pvdma_call_unmap_batch() - %KVM_HC_PVDMA_UNMAP_BATCH
 * @handles: GPA of the handle array
 * @nr: its length
 *
 * Return: what the hypercall returns: 0, or a -KVM_E* or -PVDMA_E* code.
 */
long pvdma_call_unmap_batch(phys_addr_t handles, u32 nr)
{
	if (READ_ONCE(pvdma_host_gone))
		return 0;
	KUNIT_STATIC_STUB_REDIRECT(pvdma_call_unmap_batch, handles, nr);
	return kvm_hypercall3(KVM_HC_PVDMA_UNMAP_BATCH, handles, nr, 0);
}

/**
 * pvdma_call_set_shared() - %KVM_HC_PVDMA_SET_SHARED
 * @page: GPA of the shared page, or 0 with %PVDMA_SHARED_CLEAR
 * @flags: 0 or %PVDMA_SHARED_CLEAR
 *
 * Return: what the hypercall returns: 0, or a -KVM_E* or -PVDMA_E* code.
 */
long pvdma_call_set_shared(phys_addr_t page, u32 flags)
{
	if (READ_ONCE(pvdma_host_gone))
		return -KVM_EPERM;
	KUNIT_STATIC_STUB_REDIRECT(pvdma_call_set_shared, page, flags);
	return kvm_hypercall2(KVM_HC_PVDMA_SET_SHARED, page, flags);
}

/**
 * pvdma_call_query() - %KVM_HC_PVDMA_QUERY
 * @gpa: start of the range
 * @len: its length
 *
 * Return: PVDMA_QUERY_* bits for what backs the range, or a -KVM_E* code.
 */
long pvdma_call_query(phys_addr_t gpa, u64 len)
{
	if (READ_ONCE(pvdma_host_gone))
		return -KVM_EPERM;
	KUNIT_STATIC_STUB_REDIRECT(pvdma_call_query, gpa, len);
	return kvm_hypercall3(KVM_HC_PVDMA_QUERY, gpa, len, 0);
}

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
		return pvdma_call_probe(virt_to_phys(info), 0);
	ret = pvdma_call_probe(virt_to_phys(info), PVDMA_PROBE_RESET);
	if (ret != -KVM_EINVAL)
		return ret;
	/* A host from before PVDMA_PROBE_RESET rejects the flag. */
	ret = pvdma_call_probe(virt_to_phys(info), 0);
	if (!ret)
		pr_warn("the host does not know PVDMA_PROBE_RESET: what an earlier kernel of this VM left pinned stays pinned until the VM stops; update the host's kvm modules\n");
	return ret;
}

/**
 * pvdma_host_probe() - ask the host whether it serves PVDMA, and its limits
 * @reset: start from a clean slate (%PVDMA_PROBE_RESET): the host releases
 *	   every mapping and the shared page an earlier kernel of this VM
 *	   (before a reboot or kexec) left.  Never in a crash kernel, whose
 *	   predecessor's devices may still DMA into what that releases.
 *
 * Sets pvdma_host_limits, clamped to the ABI maxima and to PVDMA_MAP_PAGES_MAX.
 *
 * Return: 0, -ENOMEM, or -ENODEV (logged) if the host cannot serve.
 */
int pvdma_host_probe(bool reset)
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

	pvdma_host_limits = *info;
	pvdma_host_limits.max_ranges = min(info->max_ranges, PVDMA_MAX_RANGES);
	pvdma_host_limits.max_segs = min(info->max_segs, PVDMA_MAX_SEGS);
	pvdma_host_limits.max_map_pages = min_t(u32, info->max_map_pages,
						PVDMA_MAP_PAGES_MAX);
	pvdma_host_limits.max_batch = min(info->max_batch, PVDMA_MAX_BATCH);
	free_page((unsigned long)info);
	return 0;

err_nodev:
	free_page((unsigned long)info);
	return -ENODEV;
}

/**
 * pvdma_host_start() - may pvdma run here, and what does the host allow?
 *
 * Only in a KVM guest whose memory the host can pin, and only if the host
 * serves PVDMA for this VM.  Every kernel but a crash kernel starts from a
 * clean slate (see pvdma_host_probe()).
 *
 * Return: 0, -ENOMEM, or -ENODEV (logged) if pvdma cannot run.
 */
int pvdma_host_start(void)
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
	return pvdma_host_probe(!is_kdump_kernel());
}

/* Used with interrupts disabled; see &struct pvdma_desc. */
DEFINE_PER_CPU(struct pvdma_desc, pvdma_descs);

static unsigned int pvdma_result_order(void)
{
	return get_order(struct_size_t(struct pvdma_map_result, segs,
				       pvdma_host_limits.max_segs));
}

/**
 * pvdma_descs_exit() - free the per-CPU MAP descriptors
 *
 * Safe on partially initialised descriptors.
 */
void pvdma_descs_exit(void)
{
	unsigned int order = pvdma_result_order();
	int cpu;

	for_each_possible_cpu(cpu) {
		struct pvdma_desc *desc = per_cpu_ptr(&pvdma_descs, cpu);

		free_page((unsigned long)desc->ranges);
		free_pages((unsigned long)desc->result, order);
		desc->ranges = NULL;
		desc->result = NULL;
	}
}

/**
 * pvdma_descs_init() - allocate the per-CPU MAP descriptors
 *
 * Must run after pvdma_host_limits is known: the result block is sized for
 * pvdma_host_limits.max_segs.  Descriptors exist for every possible CPU so CPU
 * hotplug needs no handling.
 *
 * Return: 0, or -ENOMEM.
 */
int pvdma_descs_init(void)
{
	unsigned int order = pvdma_result_order();
	int cpu;

	BUILD_BUG_ON(PVDMA_MAX_RANGES * sizeof(struct pvdma_range) > PAGE_SIZE);

	for_each_possible_cpu(cpu) {
		struct pvdma_desc *desc = per_cpu_ptr(&pvdma_descs, cpu);
		int node = cpu_to_node(cpu);
		struct page *ranges, *result;

		ranges = alloc_pages_node(node, GFP_KERNEL, 0);
		result = alloc_pages_node(node, GFP_KERNEL, order);
		if (ranges)
			desc->ranges = page_address(ranges);
		if (result)
			desc->result = page_address(result);
		if (!ranges || !result) {
			pvdma_descs_exit();
			return -ENOMEM;
		}
	}
	return 0;
}

/**
 * pvdma_host_unmap() - release one host translation now
 * @pd: the device it was made for
 * @handle: its host handle
 *
 * The host logs the pages the device may have written before it lets them
 * go; with KVM's dirty ring it logs what the ring has room for and answers
 * -PVDMA_EAGAIN, and the vCPU exits to its VMM, which harvests the ring,
 * before the call is repeated here.  The mapping is being released from
 * the first call on.
 *
 * A failure is counted and logged: the host keeps the pages pinned until
 * the VM stops, and there is nothing better the guest can do.
 */
void pvdma_host_unmap(struct pvdma_dev *pd, u64 handle)
{
	long ret;

	do {
		pvdma_stat_inc(pd, PVDMA_STAT_HYPERCALLS);
		ret = pvdma_call_unmap(handle);
	} while (ret == -PVDMA_EAGAIN);
	if (ret) {
		pvdma_stat_inc(pd, PVDMA_STAT_HOST_ERROR);
		dev_err_ratelimited(pd->dev,
				    "pvdma: KVM_HC_PVDMA_UNMAP failed: %s (%ld)\n",
				    pvdma_strerror(ret), ret);
	}
}

/**
 * pvdma_shared_page_init() - register the page the host writes its epoch on
 *
 * Without it, pvdma works but keeps nothing after unmap.  Should the host
 * lose it later (it then writes 0 there), pvdma_host_epoch() registers it
 * again.
 */
void pvdma_shared_page_init(void)
{
	void *page = (void *)get_zeroed_page(GFP_KERNEL);
	unsigned int tries = 0;
	long ret;

	if (!page) {
		pr_warn("no memory for the shared page; the pin cache is off\n");
		return;
	}
	do {
		ret = pvdma_call_set_shared(virt_to_phys(page), 0);
	} while (ret == -PVDMA_EAGAIN && ++tries < PVDMA_MAP_TRIES);
	if (ret) {
		pr_warn("KVM_HC_PVDMA_SET_SHARED failed: %s (%ld); the pin cache is off\n",
			pvdma_strerror(ret), ret);
		free_page((unsigned long)page);
		return;
	}
	pvdma_shared_page = page;
}

/**
 * pvdma_shared_page_exit() - unregister the shared page and free it
 *
 * If the host refuses to let go of it, the page is leaked: the host may
 * still write to it.
 */
void pvdma_shared_page_exit(void)
{
	long ret;

	if (!pvdma_shared_page)
		return;
	ret = pvdma_call_set_shared(0, PVDMA_SHARED_CLEAR);
	if (ret) {
		/* The host may still write to it: leak it rather than reuse. */
		pr_err("cannot unregister the shared page: %s (%ld); leaking it\n",
		       pvdma_strerror(ret), ret);
	} else {
		free_page((unsigned long)pvdma_shared_page);
	}
	pvdma_shared_page = NULL;
}

/**
 * pvdma_shared_page_forget() - stop the host writing to the shared page
 *
 * The page stays allocated: the kernel is going down (reboot, kexec,
 * panic), and it will be the next kernel's memory.  Any context.
 */
void pvdma_shared_page_forget(void)
{
	long ret;

	if (!pvdma_shared_page)
		return;
	ret = pvdma_call_set_shared(0, PVDMA_SHARED_CLEAR);
	if (ret)
		pr_emerg("cannot unregister the shared page: %s (%ld); the host may write to it after this kernel\n",
			 pvdma_strerror(ret), ret);
}

/**
 * pvdma_host_epoch() - the epoch to tag a translation about to be made with
 *
 * Read before the MAP: if the host bumps the epoch while it translates,
 * the translation is then tagged with the older epoch and never kept,
 * where a read after the MAP would tag a stale translation as current.
 *
 * The host writes 0 there itself when the memory behind the page went away
 * (its memslot deleted or moved, or the VMM discarded it): it can no longer
 * reach what the guest reads, and stops writing.  Registering the page
 * again makes the host pin what backs it now and write a new epoch, newer
 * than any seen before.  One CPU does it, from whatever context (a
 * hypercall is fine anywhere); the others keep nothing meanwhile.  If the
 * host refuses the page, the cache stays off.
 *
 * Return: the host epoch now, or 0 without a shared page (then nothing is
 * kept).
 */
u64 pvdma_host_epoch(void)
{
	static unsigned long reregistering;
	u64 epoch;
	long ret;

	if (!pvdma_shared_page)
		return 0;
	epoch = READ_ONCE(pvdma_shared_page->epoch);
	if (likely(epoch) || test_and_set_bit(0, &reregistering))
		return epoch;
	ret = pvdma_call_set_shared(virt_to_phys(pvdma_shared_page), 0);
	if (ret == -PVDMA_EAGAIN) {
		/* The host's memory is changing: again at a later map. */
		clear_bit(0, &reregistering);
		return 0;
	}
	if (ret) {
		pr_warn_once("the host lost the shared page and refuses it again: %s (%ld); the pin cache stays off\n",
			     pvdma_strerror(ret), ret);
		return 0;
	}
	pr_info_ratelimited("the host lost the shared page; registered it again\n");
	clear_bit(0, &reregistering);
	return READ_ONCE(pvdma_shared_page->epoch);
}

/**
 * pvdma_host_release_all() - let go of the host for good: the kernel goes
 * @reset: release every pin too (%PVDMA_PROBE_RESET); false in a crash
 *	   kernel, whose predecessor's devices may still DMA
 *
 * The caller has set pvdma_stopped (nothing may be mapped any more) and
 * stopped the devices' DMA.  With @reset, the host releases every pin and
 * the shared page, and whatever still unmaps names handles it released
 * already: the calls go to a host that answers as a released one would.
 * Without, or if the host cannot release, it only stops writing to the
 * shared page, which will be memory of the next kernel.
 */
void pvdma_host_release_all(bool reset)
{
	struct pvdma_info *info;
	long ret = -ENOMEM;

	if (!reset) {
		pvdma_shared_page_forget();
		return;
	}
	/* A page of its own, as pvdma_host_probe() has; syscore may sleep. */
	info = (struct pvdma_info *)get_zeroed_page(GFP_KERNEL);
	if (info) {
		ret = pvdma_call_probe(virt_to_phys(info), PVDMA_PROBE_RESET);
		free_page((unsigned long)info);
	}
	if (ret) {
		pr_warn("cannot release every pin before the kernel goes: %s (%ld); the next kernel or the end of the VM releases them\n",
			ret == -ENOMEM ? "no memory" : pvdma_strerror(ret),
			ret);
		pvdma_shared_page_forget();
		return;
	}
	WRITE_ONCE(pvdma_host_gone, true);
}
