// SPDX-License-Identifier: GPL-2.0
/*
 * The bounce pool in use (pvdma_bounce.h): which of the two, how large,
 * and its counters in debugfs.  The pools themselves are
 * pvdma_bounce_own.c and pvdma_bounce_swiotlb.c.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>

#include "pvdma_bounce.h"

/*
 * The module only ever has its own pool; built in,
 * pvdma_bounce_start() chooses.
 */
const struct pvdma_bounce_ops *pvdma_bounce = &pvdma_bounce_own;

static unsigned long bounce_size = SZ_4M;
module_param(bounce_size, ulong, 0444);
MODULE_PARM_DESC(bounce_size,
		 "Bytes of the pinned bounce pool, in 256 KiB chunks; 0 disables bouncing (default 4 MiB)");

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
 * pvdma_bounce_start() - pin the bounce pool, bounce_size bytes
 *
 * Built in, that is the kernel's swiotlb pool; if swiotlb cannot serve,
 * pvdma's own pool, as the module has.
 *
 * Return: 0, or the error of the pool's init (see &struct pvdma_bounce_ops).
 */
int pvdma_bounce_start(void)
{
	unsigned long size = bounce_size;

#ifndef MODULE
	pvdma_bounce = &pvdma_bounce_swiotlb;
	if (!pvdma_bounce_init(size))
		return 0;
	pr_info("falling back to pvdma's own bounce pool\n");
	pvdma_bounce = &pvdma_bounce_own;
#endif
	return pvdma_bounce_init(size);
}

/**
 * pvdma_bounce_debugfs_init() - the pool's counters in debugfs
 * @root: pvdma's debugfs directory
 */
void pvdma_bounce_debugfs_init(struct dentry *root)
{
	debugfs_create_file_unsafe("bounce_pages", 0400, root, NULL,
				   &pvdma_bounce_pages_fops);
	debugfs_create_file_unsafe("bounce_used_pages", 0400, root, NULL,
				   &pvdma_bounce_used_fops);
	debugfs_create_file_unsafe("bounce_copied_bytes", 0400, root, NULL,
				   &pvdma_bounce_copied_fops);
}
