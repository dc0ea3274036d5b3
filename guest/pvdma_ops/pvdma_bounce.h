/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bounce pool: guest pages pinned and translated once, when pvdma
 * starts, so that a mapping translation cannot serve is copied through them
 * without another hypercall.  Implemented by pvdma_bounce.c.
 */
#ifndef _PVDMA_BOUNCE_H
#define _PVDMA_BOUNCE_H

#include <linux/dma-direction.h>
#include <linux/types.h>

struct device;

int pvdma_bounce_init(unsigned long size);
void pvdma_bounce_exit(void);
bool pvdma_bounce_is(dma_addr_t addr);
size_t pvdma_bounce_max_size(void);
bool pvdma_bounce_below(u64 mask);
unsigned int pvdma_bounce_pages(void);
unsigned int pvdma_bounce_used(void);
u64 pvdma_bounce_copied(void);
dma_addr_t pvdma_bounce_map(struct device *dev, phys_addr_t phys, size_t size,
			    u64 mask);
void *pvdma_bounce_alloc(struct device *dev, size_t size, u64 mask,
			 dma_addr_t *addr);
bool pvdma_bounce_unmap(struct device *dev, dma_addr_t addr, size_t size,
			enum dma_data_direction dir, unsigned long attrs);
void pvdma_bounce_sync_for_cpu(dma_addr_t addr, size_t size,
			       enum dma_data_direction dir);
void pvdma_bounce_sync_for_device(dma_addr_t addr, size_t size,
				  enum dma_data_direction dir);

#endif /* _PVDMA_BOUNCE_H */
