/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bounce pool: guest pages pinned and translated once, when pvdma
 * starts, so that a mapping translation cannot serve is copied through them
 * without another hypercall.
 *
 * Two implementations keep the same contract behind this interface:
 *  - pvdma_bounce_own.c, pvdma's own pool, for the module: the stock
 *    kernel's swiotlb exports nothing to modules;
 *  - pvdma_bounce_swiotlb.c, the kernel's own swiotlb with its pool pinned
 *    once per 256 KiB segment, when pvdma is built in (the way swiotlb-xen
 *    makes its pool machine-contiguous).
 * Both build on pvdma_bounce_frames.h.  pvdma_bounce (pvdma_bounce.c)
 * points at the one in use; it changes only while no device is attached.
 * The indirect call is nothing next to the copy a bounce costs.
 */
#ifndef _PVDMA_BOUNCE_H
#define _PVDMA_BOUNCE_H

#include <linux/dma-direction.h>
#include <linux/types.h>

struct device;

/**
 * struct pvdma_bounce_ops - a bounce pool implementation
 * @name:	for the kernel log.
 * @init:	pin a pool of about @size bytes; 0 means no pool.  Returns 0,
 *		-EINVAL, -ENOMEM, -ENOSPC (host refused) or -EPROTO.
 * @exit:	unpin and forget the pool; no mapping may be live.
 * @is:		is a DMA address in the pool?  Any context.
 * @max_size:	largest buffer the pool takes at any offset, in bytes.
 * @below:	does some of the pool lie below DMA mask @mask on the host?
 * @pages:	pages pinned for the pool.
 * @used:	pages of the pool handed out now (a snapshot).
 * @copied:	bytes copied to or from the pool since start: what bouncing
 *		costs.
 * @map:	copy a buffer into the pool; %DMA_MAPPING_ERROR if no room
 *		fits (logged unless @attrs has %DMA_ATTR_NO_WARN).  Any
 *		context.
 * @alloc:	zeroed coherent memory from the pool, never copied; %NULL if
 *		no room fits (logged unless %DMA_ATTR_NO_WARN).  Release with
 *		@unmap.
 * @unmap:	release what @map or @alloc handed out, copying back unless
 *		%DMA_ATTR_SKIP_CPU_SYNC; false (logged) if the pool did not
 *		hand out @addr/@size.  Any context.
 * @sync_for_cpu: copy what the device wrote back to the buffer.
 * @sync_for_device: copy what the CPU wrote into the pool.
 *
 * The syncs do nothing for an address outside the pool or for @alloc
 * memory, and copy nothing beyond the mapping that @addr lies in.
 */
struct pvdma_bounce_ops {
	const char *name;
	int (*init)(unsigned long size);
	void (*exit)(void);
	bool (*is)(dma_addr_t addr);
	size_t (*max_size)(void);
	bool (*below)(u64 mask);
	unsigned int (*pages)(void);
	unsigned int (*used)(void);
	u64 (*copied)(void);
	dma_addr_t (*map)(struct device *dev, phys_addr_t phys, size_t size,
			  u64 mask, unsigned long attrs);
	void *(*alloc)(struct device *dev, size_t size, u64 mask,
		       dma_addr_t *addr, unsigned long attrs);
	bool (*unmap)(struct device *dev, dma_addr_t addr, size_t size,
		      enum dma_data_direction dir, unsigned long attrs);
	void (*sync_for_cpu)(struct device *dev, dma_addr_t addr, size_t size,
			     enum dma_data_direction dir);
	void (*sync_for_device)(struct device *dev, dma_addr_t addr,
				size_t size, enum dma_data_direction dir);
};

extern const struct pvdma_bounce_ops pvdma_bounce_own;
#ifndef MODULE
extern const struct pvdma_bounce_ops pvdma_bounce_swiotlb;
#endif
extern const struct pvdma_bounce_ops *pvdma_bounce;

struct dentry;

int pvdma_bounce_start(void);
void pvdma_bounce_debugfs_init(struct dentry *root);

static inline int pvdma_bounce_init(unsigned long size)
{
	return pvdma_bounce->init(size);
}

static inline void pvdma_bounce_exit(void)
{
	pvdma_bounce->exit();
}

static inline bool pvdma_bounce_is(dma_addr_t addr)
{
	return pvdma_bounce->is(addr);
}

static inline size_t pvdma_bounce_max_size(void)
{
	return pvdma_bounce->max_size();
}

static inline bool pvdma_bounce_below(u64 mask)
{
	return pvdma_bounce->below(mask);
}

static inline unsigned int pvdma_bounce_pages(void)
{
	return pvdma_bounce->pages();
}

static inline unsigned int pvdma_bounce_used(void)
{
	return pvdma_bounce->used();
}

static inline u64 pvdma_bounce_copied(void)
{
	return pvdma_bounce->copied();
}

static inline dma_addr_t pvdma_bounce_map(struct device *dev,
					  phys_addr_t phys, size_t size,
					  u64 mask, unsigned long attrs)
{
	return pvdma_bounce->map(dev, phys, size, mask, attrs);
}

static inline void *pvdma_bounce_alloc(struct device *dev, size_t size,
				       u64 mask, dma_addr_t *addr,
				       unsigned long attrs)
{
	return pvdma_bounce->alloc(dev, size, mask, addr, attrs);
}

static inline bool pvdma_bounce_unmap(struct device *dev, dma_addr_t addr,
				      size_t size,
				      enum dma_data_direction dir,
				      unsigned long attrs)
{
	return pvdma_bounce->unmap(dev, addr, size, dir, attrs);
}

static inline void pvdma_bounce_sync_for_cpu(struct device *dev,
					     dma_addr_t addr, size_t size,
					     enum dma_data_direction dir)
{
	pvdma_bounce->sync_for_cpu(dev, addr, size, dir);
}

static inline void pvdma_bounce_sync_for_device(struct device *dev,
						dma_addr_t addr, size_t size,
						enum dma_data_direction dir)
{
	pvdma_bounce->sync_for_device(dev, addr, size, dir);
}

#endif /* _PVDMA_BOUNCE_H */
