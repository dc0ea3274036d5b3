// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma bounce pools, the part both share (pvdma_bounce_frames.h):
 * pinning a pool's pages with KVM_HC_PVDMA_MAP, recording the host frame
 * of each page, the runs of frames that are contiguous on the host, the
 * lookup of a DMA address in them, and the release of the pins in as few
 * exits as possible.  What a pool hands out, and how it copies, is its own.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bsearch.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "pvdma_internal.h"
#include "pvdma_bounce_frames.h"

/**
 * pvdma_frames_alloc() - make room for the frames of a pool
 * @f: the frames, zeroed
 * @nr_pages: pages in the pool
 * @run_pages: no host-contiguous run crosses a multiple of this many pages
 *
 * Return: 0 or -ENOMEM (then nothing is allocated).
 */
int pvdma_frames_alloc(struct pvdma_pool_frames *f, unsigned int nr_pages,
		       unsigned int run_pages)
{
	f->nr_pages = nr_pages;
	f->run_pages = run_pages;
	f->hpa = kcalloc(nr_pages, sizeof(*f->hpa), GFP_KERNEL);
	f->contig = kcalloc(nr_pages, sizeof(*f->contig), GFP_KERNEL);
	f->runs = kcalloc(nr_pages, sizeof(*f->runs), GFP_KERNEL);
	if (f->hpa && f->contig && f->runs)
		return 0;
	pvdma_frames_free(f);
	return -ENOMEM;
}

/**
 * pvdma_frames_free() - forget the frames of a pool
 * @f: the frames; zeroed again
 */
void pvdma_frames_free(struct pvdma_pool_frames *f)
{
	kfree(f->hpa);
	kfree(f->contig);
	kfree(f->runs);
	memset(f, 0, sizeof(*f));
}

/**
 * pvdma_frames_pin() - pin pool pages with one MAP and record their frames
 * @f: the frames
 * @pool: the pool's name, for the kernel log
 * @fix: what the administrator can do if the host refuses
 * @gpa: guest-physical address of page @first
 * @first: first pool page to pin
 * @nr: pages from @first, guest-contiguous
 * @desc: a zeroed page for the MAP descriptors
 * @handle: out: the host handle that releases the pin
 *
 * Return: 0, -ENOSPC if the host refuses (logged with @fix), or -EPROTO if
 * its answer is malformed (logged; then nothing stays pinned).
 */
int pvdma_frames_pin(struct pvdma_pool_frames *f, const char *pool,
		     const char *fix, phys_addr_t gpa, unsigned int first,
		     unsigned int nr, void *desc, u64 *handle)
{
	struct pvdma_range *range = desc;
	/* After the range, 16-aligned: the two never overlap. */
	struct pvdma_map_result *res = desc + 64;
	u32 max_segs = min(nr, pvdma_host_limits.max_segs);
	unsigned int i = first, s, tries = 0;
	long ret;

	range->gpa = gpa;
	range->len = PFN_PHYS(nr);
	res->max_segs = max_segs;
	do {
		ret = pvdma_call_map(virt_to_phys(range), 1, virt_to_phys(res),
				     PVDMA_MAP_BIDIRECTIONAL);
	} while (ret == -PVDMA_EAGAIN && ++tries < PVDMA_MAP_TRIES);
	if (ret) {
		pr_err("cannot pin the %s pool: %s (%ld); %s\n", pool,
		       pvdma_strerror(ret), ret, fix);
		return -ENOSPC;
	}

	for (s = 0; s < min(res->nr_segs, max_segs); s++) {
		u64 addr = res->segs[s].addr, len = res->segs[s].len;

		if (!PAGE_ALIGNED(addr) || !PAGE_ALIGNED(len))
			goto err_proto;
		for (; len; len -= PAGE_SIZE, addr += PAGE_SIZE) {
			if (i == first + nr)
				goto err_proto;
			f->hpa[i++] = addr;
		}
	}
	if (i == first + nr) {
		*handle = res->handle;
		return 0;
	}

err_proto:
	pr_err("host returned malformed segments for the %s pool; use guest and host modules from the same PVDMA release\n",
	       pool);
	pvdma_call_unmap(res->handle);
	return -EPROTO;
}

static int pvdma_run_cmp(const void *a, const void *b)
{
	const struct pvdma_pool_run *x = a, *y = b;

	return x->hpa < y->hpa ? -1 : x->hpa > y->hpa;
}

/**
 * pvdma_frames_index() - find the host-contiguous runs of a pinned pool
 * @f: the frames, every page's recorded
 * @pool: the pool's name, for the kernel log
 *
 * Also finds the lowest host address and the longest run, and sorts the
 * runs for pvdma_frames_offset().
 *
 * Return: 0, or -EPROTO (logged) if a host page is in the pool twice,
 * which would make lookups ambiguous.
 */
int pvdma_frames_index(struct pvdma_pool_frames *f, const char *pool)
{
	unsigned int i, n = 0;

	for (i = f->nr_pages; i--; ) {
		bool joins = (i + 1) % f->run_pages &&
			     f->hpa[i + 1] == f->hpa[i] + PAGE_SIZE;

		f->contig[i] = joins ? f->contig[i + 1] + 1 : 1;
	}

	f->lowest = U64_MAX;
	f->max_run = 0;
	for (i = 0; i < f->nr_pages; i += f->contig[i]) {
		f->runs[n].hpa = f->hpa[i];
		f->runs[n].index = i;
		f->runs[n].nr_pages = f->contig[i];
		f->lowest = min(f->lowest, f->hpa[i]);
		f->max_run = max_t(unsigned int, f->max_run, f->contig[i]);
		n++;
	}
	f->nr_runs = n;
	sort(f->runs, n, sizeof(*f->runs), pvdma_run_cmp, NULL);

	for (i = 1; i < n; i++) {
		const struct pvdma_pool_run *p = &f->runs[i - 1];

		if (p->hpa + PFN_PHYS(p->nr_pages) > f->runs[i].hpa) {
			pr_err("host returned overlapping segments for the %s pool; use guest and host modules from the same PVDMA release\n",
			       pool);
			return -EPROTO;
		}
	}
	return 0;
}

static int pvdma_run_find(const void *key, const void *elt)
{
	u64 addr = *(const u64 *)key;
	const struct pvdma_pool_run *r = elt;

	if (addr < r->hpa)
		return -1;
	return addr - r->hpa >= PFN_PHYS(r->nr_pages);
}

/**
 * pvdma_frames_offset() - where a DMA address lies in the pool
 * @f: the frames, indexed
 * @addr: a DMA address
 *
 * Context: any.
 * Return: the byte offset of @addr from the pool's first guest page, or -1
 * if @addr is not in the pool.
 */
s64 pvdma_frames_offset(const struct pvdma_pool_frames *f, dma_addr_t addr)
{
	const struct pvdma_pool_run *r;
	u64 key = addr;

	r = bsearch(&key, f->runs, f->nr_runs, sizeof(*r), pvdma_run_find);
	if (!r)
		return -1;
	return PFN_PHYS(r->index) + (key - r->hpa);
}

/**
 * pvdma_frames_max_size() - largest buffer the pool takes at any offset
 * @f: the frames, indexed
 *
 * Return: bytes, 0 without a pool or if no two pool pages are contiguous.
 */
size_t pvdma_frames_max_size(const struct pvdma_pool_frames *f)
{
	return f->max_run ? PFN_PHYS(f->max_run - 1) : 0;
}

/**
 * pvdma_frames_below() - can the pool serve a device with this DMA mask?
 * @f: the frames, indexed
 * @mask: the device's DMA mask
 *
 * Return: true if some of the pool lies below @mask on the host.
 */
bool pvdma_frames_below(const struct pvdma_pool_frames *f, u64 mask)
{
	return f->nr_pages && f->lowest + PAGE_SIZE - 1 <= mask;
}

/**
 * pvdma_frames_unpin() - release pins in as few exits as possible
 * @handles: their host handles
 * @nr: how many
 * @pool: the pool's name, for the kernel log
 *
 * No device uses the pool any more, so the guest may reuse its pages even
 * if the host keeps them pinned (a failure is logged): it releases them
 * when the VM stops.
 */
void pvdma_frames_unpin(u64 *handles, unsigned int nr,
			const char *pool)
{
	unsigned int batch = min_t(u32, pvdma_host_limits.max_batch,
				   PVDMA_MAX_BATCH);
	unsigned int i, n;
	long ret;

	for (i = 0; i < nr; i += n) {
		/* The host reads the handles from one guest page. */
		n = min3(nr - i, batch, (unsigned int)((PAGE_SIZE -
			 offset_in_page(&handles[i])) / sizeof(u64)));
		ret = pvdma_call_unmap_batch(virt_to_phys(&handles[i]), n);
		if (ret)
			pr_err("cannot release %u %s pool pins: %s (%ld); the host keeps them pinned until the VM stops\n",
			       n, pool, pvdma_strerror(ret), ret);
	}
}
