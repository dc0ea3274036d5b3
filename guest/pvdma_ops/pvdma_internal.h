/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interface between the two halves of pvdma.ko: pvdma_main.c
 * (host probe, device attach, debugfs) and pvdma_ops.c (the dma_map_ops).
 */
#ifndef _PVDMA_INTERNAL_H
#define _PVDMA_INTERNAL_H

#include <linux/atomic.h>
#include <linux/dma-map-ops.h>
#include <linux/hashtable.h>
#include <linux/list.h>
#include <linux/pvdma.h>
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
 * struct pvdma_stats - per-device counters, shown in debugfs
 * @maps:		successful map operations.
 * @unmaps:		successful unmap operations.
 * @hypercalls:		MAP and UNMAP hypercalls issued.
 * @live_mappings:	mappings currently pinned on the host.
 * @failures:		failed map or unmap operations.
 */
struct pvdma_stats {
	atomic64_t maps;
	atomic64_t unmaps;
	atomic64_t hypercalls;
	atomic64_t live_mappings;
	atomic64_t failures;
};

/**
 * struct pvdma_dev - a device whose DMA pvdma translates
 * @dev:	the device; pvdma holds a reference while attached.
 * @node:	entry in the RCU list of attached devices.
 * @lock:	protects @maps; taken from IRQ context.
 * @maps:	live mappings, struct pvdma_map keyed by DMA address.
 * @stats:	counters.
 * @debugfs:	this device's debugfs directory.
 */
struct pvdma_dev {
	struct device *dev;
	struct list_head node;
	spinlock_t lock;	/* protects @maps */
	DECLARE_HASHTABLE(maps, PVDMA_HASH_BITS);
	struct pvdma_stats stats;
	struct dentry *debugfs;
};

extern struct pvdma_info pvdma_limits;
extern const struct dma_map_ops pvdma_dma_ops;

struct pvdma_dev *pvdma_find(struct device *dev);
const char *pvdma_strerror(long err);
int pvdma_bufs_init(void);
void pvdma_bufs_exit(void);

#endif /* _PVDMA_INTERNAL_H */
