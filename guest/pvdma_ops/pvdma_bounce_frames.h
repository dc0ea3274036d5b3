/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the two bounce pools (pvdma_bounce_own.c, pvdma_bounce_swiotlb.c)
 * share: the host frames behind a pool of guest pages pinned once, the runs
 * of them that are contiguous on the host, and the lookup of a DMA address
 * in them.
 * Callers serialize init and exit; lookups run in any context, as the
 * frames never change while a device maps.
 */
#ifndef _PVDMA_BOUNCE_FRAMES_H
#define _PVDMA_BOUNCE_FRAMES_H

#include <linux/types.h>

/* A run of pool pages contiguous on the host; sorted by @hpa for lookup. */
struct pvdma_pool_run {
	u64 hpa;
	unsigned int index;
	unsigned int nr_pages;
};

/**
 * struct pvdma_pool_frames - the host frames of a pinned pool
 * @nr_pages:	pages in the pool.
 * @run_pages:	no run crosses a multiple of this many pages: the pages on
 *		either side are apart in the guest, or no mapping may cross.
 * @max_run:	longest host-contiguous run, in pages.
 * @lowest:	lowest host address in the pool.
 * @hpa:	host address of each page.
 * @contig:	host-contiguous pages from each page to the end of its run.
 * @runs:	the runs, sorted by host address.
 * @nr_runs:	their number.
 */
struct pvdma_pool_frames {
	unsigned int nr_pages;
	unsigned int run_pages;
	unsigned int max_run;
	u64 lowest;
	u64 *hpa;
	u16 *contig;
	struct pvdma_pool_run *runs;
	unsigned int nr_runs;
};

int pvdma_frames_alloc(struct pvdma_pool_frames *f, unsigned int nr_pages,
		       unsigned int run_pages);
void pvdma_frames_free(struct pvdma_pool_frames *f);
int pvdma_frames_pin(struct pvdma_pool_frames *f, const char *pool,
		     const char *fix, phys_addr_t gpa, unsigned int first,
		     unsigned int nr, void *desc, u64 *handle);
int pvdma_frames_index(struct pvdma_pool_frames *f, const char *pool);
s64 pvdma_frames_offset(const struct pvdma_pool_frames *f, dma_addr_t addr);
size_t pvdma_frames_max_size(const struct pvdma_pool_frames *f);
bool pvdma_frames_below(const struct pvdma_pool_frames *f, u64 mask);
void pvdma_frames_unpin(u64 *handles, unsigned int nr,
			const char *pool);

#endif /* _PVDMA_BOUNCE_FRAMES_H */
