// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suites for the PVDMA guest (pvdma_guest_*).
 *
 * The guest reaches the host only through the pvdma_call_*() hypercalls;
 * these suites put a fake host in their place (KUnit static stubs).  The
 * fake pins nothing: it gives each guest page a "host" frame by a formula
 * the test chooses (contiguous, every page apart, runs with gaps, above
 * 4 GiB), can refuse on demand, enforces
 * max_segs and a handle limit, and remembers which guest page backs each
 * host frame, so a test can play the device: read and write memory at the
 * DMA addresses pvdma handed out.  It also keeps what each handle pins and
 * a shared page it writes its epoch to (SET_SHARED), bumps the epoch on
 * demand (even in the middle of a MAP), and honours PVDMA_PROBE_RESET, so a
 * test can tell what the host still holds and writes.  A fake struct device
 * carries pvdma's ops, and every test runs the DMA API on it as a driver
 * would.  The pvdma_guest_life suite drives start, reboot, crash,
 * hibernation, unload and removal the same way.
 *
 * Each test ends by checking that nothing leaked: no live host handle but
 * the bounce pool's, no pool page in use, no live mapping counted.
 *
 * The kernel built in has two bounce pools behind one interface: pvdma's
 * own (as the module) and the kernel's swiotlb.  Most suites run on the
 * own pool, whose layout they know; the pvdma_guest_swiotlb* suites run
 * the bounce paths again on swiotlb, pinned per segment by the fake.
 */

#include <kunit/device.h>
#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/dma-mapping.h>
#include <linux/kmsg_dump.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/suspend.h>
#include <linux/xarray.h>

#include "pvdma_bounce.h"
#include "pvdma_internal.h"

/* 1 GiB: above the guest's RAM (kunit.py gives it 1 GiB), below 4 GiB. */
#define FAKE_BASE_LOW		(SZ_1G >> PAGE_SHIFT)
/* 1 TiB: beyond any 32-bit mask. */
#define FAKE_BASE_HIGH		(SZ_1T >> PAGE_SHIFT)
#define FAKE_HANDLES		256
#define POOL_SIZE		SZ_1M	/* four 256 KiB chunks */
#define POOL_CHUNK_PAGES	(SZ_256K >> PAGE_SHIFT)

/* The fake host.  Tests run one at a time; no locking needed. */
static struct {
	/* host frame of guest frame g: base + g * stride + (run ? g / run : 0) */
	u64 base;
	unsigned int stride;
	unsigned int run;
	/* after fail_skip more maps, fail fail_count maps with fail_err */
	unsigned int fail_skip;
	unsigned int fail_count;
	long fail_err;
	/* after this many more successful maps, frames go above 4 GiB */
	unsigned int high_after;
	unsigned int max_handles;
	bool no_cache;			/* flag results PVDMA_RESULT_NO_CACHE */
	/* -PVDMA_EAGAIN for this many more unmaps, resp. batches */
	unsigned int unmap_eagain, batch_eagain;
	long batch_err;			/* fail every batch with this */
	unsigned int shared_calls;	/* SET_SHARED calls */
	bool handles[FAKE_HANDLES];	/* live, by handle - 1 */
	/* what each live handle pins: a copy of its ranges */
	struct pvdma_range *pinned[FAKE_HANDLES];
	u32 pinned_nr[FAKE_HANDLES];
	unsigned int live;
	unsigned int maps, unmaps, batches, bad_unmaps;
	u64 last_handle, last_released;
	u32 last_dir;
	u32 last_nr;
	u32 max_pages_seen;		/* most pages one MAP asked for */
	/* the shared page, and the epoch written to it */
	struct pvdma_shared *status;
	u64 epoch;
	unsigned int status_writes;
	/* the map call with this number bumps the epoch while it translates */
	unsigned int bump_on_map;
	/* the map call with this number pins, then answers with no segment */
	unsigned int bad_answer_on_map;
	/* -PVDMA_EAGAIN for this many more registrations of a shared page */
	unsigned int shared_eagain;
	/* KVM_HC_PVDMA_PROBE: what it reports, what it was asked */
	struct pvdma_info info;
	unsigned int probes, resets;
	u32 probe_flags;
	phys_addr_t probe_gpa;
	bool reset_unknown;		/* a host from before PVDMA_PROBE_RESET */
	struct pvdma_seg segs[PVDMA_MAX_SEGS];
} fh;

/* What the fake pinned: host frame -> guest frame, for the "device". */
static DEFINE_XARRAY(fake_frames);

static u64 fake_hpfn(u64 gpfn)
{
	return fh.base + gpfn * fh.stride + (fh.run ? gpfn / fh.run : 0);
}

static u64 fake_hpa(phys_addr_t gpa)
{
	return PFN_PHYS(fake_hpfn(PHYS_PFN(gpa))) | offset_in_page(gpa);
}

/*
 * The host finds that translations it gave may have gone stale (a memslot
 * moved, say): it bumps the epoch on the shared page, if one is registered,
 * and from now on backs guest memory with other frames.
 */
static void fake_bump_epoch(void)
{
	fh.epoch++;
	fh.base += 0x1000;
	if (fh.status) {
		WRITE_ONCE(fh.status->epoch, fh.epoch);
		fh.status_writes++;
	}
}

static long fake_map(phys_addr_t ranges_pa, u32 nr, phys_addr_t res_pa,
		     u32 dir)
{
	struct pvdma_range *r = phys_to_virt(ranges_pa);
	struct pvdma_map_result *res = phys_to_virt(res_pa);
	u32 nsegs = 0, pages = 0, i, h;

	fh.maps++;
	fh.last_dir = dir;
	fh.last_nr = nr;
	if (!nr || nr > PVDMA_MAX_RANGES || !dir ||
	    (dir & ~PVDMA_MAP_BIDIRECTIONAL))
		return -KVM_EINVAL;
	if (fh.fail_count) {
		if (fh.fail_skip) {
			fh.fail_skip--;
		} else {
			fh.fail_count--;
			return fh.fail_err;
		}
	}

	for (i = 0; i < nr; i++) {
		u64 addr = r[i].gpa, end = r[i].gpa + r[i].len;

		if (!r[i].len || end < addr)
			return -KVM_EINVAL;
		while (addr < end) {
			u64 next = min_t(u64, (addr | ~PAGE_MASK) + 1, end);
			u64 hpa = fake_hpa(addr);

			if (nsegs && fh.segs[nsegs - 1].addr +
				     fh.segs[nsegs - 1].len == hpa) {
				fh.segs[nsegs - 1].len += next - addr;
			} else {
				if (nsegs == PVDMA_MAX_SEGS)
					return -KVM_E2BIG;
				fh.segs[nsegs].addr = hpa;
				fh.segs[nsegs].len = next - addr;
				nsegs++;
			}
			pages++;
			addr = next;
		}
	}
	fh.max_pages_seen = max(fh.max_pages_seen, pages);
	if (nsegs > res->max_segs || pages > fh.info.max_map_pages)
		return -KVM_E2BIG;
	if (fh.live >= fh.max_handles)
		return -PVDMA_ENOSPC;
	for (h = 0; fh.handles[h]; h++)
		;

	/* Remember what backs each host frame, for the "device". */
	for (i = 0; i < nr; i++) {
		u64 g;

		for (g = PHYS_PFN(r[i].gpa);
		     g <= PHYS_PFN(r[i].gpa + r[i].len - 1); g++)
			xa_store(&fake_frames, fake_hpfn(g), xa_mk_value(g),
				 GFP_ATOMIC);
	}
	fh.pinned[h] = kmemdup(r, nr * sizeof(*r), GFP_ATOMIC);
	if (!fh.pinned[h])
		return -PVDMA_ENOMEM;
	fh.pinned_nr[h] = nr;
	fh.handles[h] = true;
	fh.live++;
	fh.last_handle = h + 1;
	res->handle = h + 1;
	res->nr_segs = nsegs;
	res->flags = fh.no_cache ? PVDMA_RESULT_NO_CACHE : 0;
	memcpy(res->segs, fh.segs, nsegs * sizeof(*fh.segs));
	if (fh.high_after && !--fh.high_after)
		fh.base = FAKE_BASE_HIGH;
	if (fh.bump_on_map == fh.maps)
		fake_bump_epoch();
	/* A host that got it wrong: the guest must not trust the answer. */
	if (fh.bad_answer_on_map == fh.maps)
		res->nr_segs = 0;
	return 0;
}

static bool fake_release(u64 handle)
{
	if (!handle || handle > FAKE_HANDLES || !fh.handles[handle - 1]) {
		fh.bad_unmaps++;
		return false;
	}
	fh.handles[handle - 1] = false;
	kfree(fh.pinned[handle - 1]);
	fh.pinned[handle - 1] = NULL;
	fh.live--;
	fh.last_released = handle;
	return true;
}

/* Does the host still pin the guest page holding @gpa for some handle? */
static bool fake_pinned(phys_addr_t gpa)
{
	u32 h, i;

	for (h = 0; h < FAKE_HANDLES; h++) {
		for (i = 0; fh.handles[h] && i < fh.pinned_nr[h]; i++) {
			const struct pvdma_range *r = &fh.pinned[h][i];

			if (PHYS_PFN(gpa) >= PHYS_PFN(r->gpa) &&
			    PHYS_PFN(gpa) <= PHYS_PFN(r->gpa + r->len - 1))
				return true;
		}
	}
	return false;
}

/* Release every handle, as the host does for PVDMA_PROBE_RESET. */
static void fake_release_all(void)
{
	u64 h;

	for (h = 1; h <= FAKE_HANDLES; h++)
		if (fh.handles[h - 1])
			fake_release(h);
}

static long fake_unmap(u64 handle)
{
	fh.unmaps++;
	/* A host whose dirty ring is full: logged in part, pins kept. */
	if (fh.unmap_eagain) {
		fh.unmap_eagain--;
		return -PVDMA_EAGAIN;
	}
	return fake_release(handle) ? 0 : -PVDMA_ENOENT;
}

static long fake_unmap_batch(phys_addr_t handles_pa, u32 nr)
{
	u64 *handles = phys_to_virt(handles_pa);
	u32 i;

	fh.batches++;
	if (fh.batch_eagain) {
		fh.batch_eagain--;
		return -PVDMA_EAGAIN;
	}
	if (fh.batch_err)
		return fh.batch_err;
	for (i = 0; i < nr; i++)
		if (!handles[i] || handles[i] > FAKE_HANDLES ||
		    !fh.handles[handles[i] - 1])
			return -PVDMA_ENOENT;
	for (i = 0; i < nr; i++)
		fake_release(handles[i]);
	return 0;
}

static long fake_probe(phys_addr_t info_pa, u32 flags)
{
	fh.probes++;
	fh.probe_flags = flags;
	fh.probe_gpa = info_pa;
	if (flags & ~PVDMA_PROBE_RESET || (flags && fh.reset_unknown) ||
	    !IS_ALIGNED(info_pa, 8) ||
	    offset_in_page(info_pa) + sizeof(fh.info) > PAGE_SIZE)
		return -KVM_EINVAL;
	if (flags & PVDMA_PROBE_RESET) {
		fh.resets++;
		fake_release_all();
		fh.status = NULL;
	}
	memcpy(phys_to_virt(info_pa), &fh.info, sizeof(fh.info));
	return 0;
}

static long fake_set_shared(phys_addr_t page_pa, u32 flags)
{
	fh.shared_calls++;
	if (flags == PVDMA_SHARED_CLEAR && !page_pa) {
		fh.status = NULL;
		return 0;
	}
	if (flags || !PAGE_ALIGNED(page_pa))
		return -KVM_EINVAL;
	/* Its memory kept changing while it pinned the page. */
	if (fh.shared_eagain) {
		fh.shared_eagain--;
		return -PVDMA_EAGAIN;
	}
	/* As the host does: a new page starts a new epoch. */
	fh.status = phys_to_virt(page_pa);
	fh.epoch++;
	WRITE_ONCE(fh.status->epoch, fh.epoch);
	fh.status_writes++;
	return 0;
}

/* Put the fake host in place of the hypercalls, for the rest of @test. */
static void fake_host_start(struct kunit *test)
{
	kunit_activate_static_stub(test, pvdma_call_probe, fake_probe);
	kunit_activate_static_stub(test, pvdma_call_map, fake_map);
	kunit_activate_static_stub(test, pvdma_call_unmap, fake_unmap);
	kunit_activate_static_stub(test, pvdma_call_unmap_batch,
				   fake_unmap_batch);
	kunit_activate_static_stub(test, pvdma_call_set_shared,
				   fake_set_shared);
}

/* The kernel address the device reaches at @dma, or NULL if unmapped. */
static void *dev_va(dma_addr_t dma)
{
	void *g = xa_load(&fake_frames, PHYS_PFN(dma));

	if (!g)
		return NULL;
	return phys_to_virt(PFN_PHYS(xa_to_value(g)) + offset_in_page(dma));
}

/* The device writes @len bytes of @c at @dma, page by page. */
static void dev_fill(struct kunit *test, dma_addr_t dma, int c, size_t len)
{
	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset_in_page(dma));
		void *va = dev_va(dma);

		KUNIT_ASSERT_NOT_NULL(test, va);
		memset(va, c, n);
		dma += n;
		len -= n;
	}
}

/* Does the device see @len bytes of @c at @dma? */
static bool dev_sees(struct kunit *test, dma_addr_t dma, int c, size_t len)
{
	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset_in_page(dma));
		void *va = dev_va(dma);

		KUNIT_ASSERT_NOT_NULL(test, va);
		if (memchr_inv(va, c, n))
			return false;
		dma += n;
		len -= n;
	}
	return true;
}

struct pt {
	struct device *dev;
	struct pvdma_dev *pd;
	u64 mask;
	struct device_dma_parameters parms;
	unsigned int pool_live;		/* host handles the pool holds */
	struct pvdma_shared *status;	/* the shared page, if registered */
};

static void fake_reset(void)
{
	u32 h;

	xa_destroy(&fake_frames);
	for (h = 0; h < FAKE_HANDLES; h++)
		kfree(fh.pinned[h]);
	memset(&fh, 0, sizeof(fh));
	fh.base = FAKE_BASE_LOW;
	fh.stride = 1;
	fh.max_handles = FAKE_HANDLES;
	fh.epoch = 1;
	fh.bump_on_map = UINT_MAX;
}

static void fake_fail(unsigned int skip, unsigned int count, long err)
{
	fh.fail_skip = skip;
	fh.fail_count = count;
	fh.fail_err = err;
}

static s64 st(struct kunit *test, enum pvdma_stat s)
{
	struct pt *t = test->priv;

	return pvdma_stat_read(t->pd, s);
}

/* Replace the bounce pool by one of @size pinned with the fake as it is. */
static int pool_reinit(struct kunit *test, unsigned long size)
{
	struct pt *t = test->priv;
	int ret;

	pvdma_bounce_exit();
	ret = pvdma_bounce_init(size);
	t->pool_live = fh.live;
	return ret;
}

/* Nothing leaked: no mapping, no pool page, no host handle but the pool's. */
static void expect_clean(struct kunit *test)
{
	struct pt *t = test->priv;

	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_LIVE), 0);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 0U);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	KUNIT_EXPECT_EQ(test, fh.bad_unmaps, 0U);
}

struct pt_buf {
	void *va;
	unsigned int order;
};

static void pt_free_buf(void *data)
{
	struct pt_buf *b = data;

	free_pages((unsigned long)b->va, b->order);
}

/* 2^@order zeroed, physically contiguous pages, freed when the test ends. */
static void *pt_pages(struct kunit *test, unsigned int order)
{
	struct pt_buf *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, b);
	b->order = order;
	b->va = (void *)__get_free_pages(GFP_KERNEL | __GFP_ZERO, order);
	KUNIT_ASSERT_NOT_NULL(test, b->va);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, pt_free_buf, b), 0);
	return b->va;
}

/* The bounce pool the suite runs on. */
static const struct pvdma_bounce_ops *pt_pool;

static int pt_init_common(struct kunit *test)
{
	struct pt *t;
	int ret;

	/* pvdma_host_limits is set only once the real pvdma has started. */
	if (pvdma_host_limits.max_ranges)
		kunit_skip(test, "pvdma is running; the fake host would disturb it");

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	test->priv = t;

	fake_reset();
	fake_host_start(test);
	pvdma_host_limits = (struct pvdma_info) {
		.max_ranges = 16,
		.max_segs = PVDMA_MAX_SEGS,
		.max_map_pages = 128,
		.max_batch = PVDMA_MAX_BATCH,
	};
	fh.info = pvdma_host_limits;
	fh.info.max_pinned_pages = 1 << 20;
	fh.info.max_handles = FAKE_HANDLES;
	KUNIT_ASSERT_EQ(test, pvdma_descs_init(), 0);
	pvdma_bounce = pt_pool;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);

	t->dev = kunit_device_register(test, "pvdma-guest-test");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, t->dev);
	t->mask = DMA_BIT_MASK(64);
	t->dev->dma_mask = &t->mask;
	t->dev->coherent_dma_mask = DMA_BIT_MASK(64);
	t->dev->dma_parms = &t->parms;

	mutex_lock(&pvdma_mutex);
	ret = pvdma_dev_add(t->dev, &pvdma_dma_ops);
	mutex_unlock(&pvdma_mutex);
	KUNIT_ASSERT_EQ(test, ret, 0);
	t->pd = pvdma_find(t->dev);
	KUNIT_ASSERT_NOT_NULL(test, t->pd);
	return 0;
}

/* Suites on pvdma's own pool. */
static int pt_init(struct kunit *test)
{
	pt_pool = &pvdma_bounce_own;
	return pt_init_common(test);
}

/*
 * Suites on the kernel's swiotlb.  The first init creates swiotlb's pool
 * (2 MiB: swiotlb_init_late() takes no less); later ones pin that pool
 * again, as pvdma does with a pool made at boot.
 */
static int pt_init_swiotlb(struct kunit *test)
{
	pt_pool = &pvdma_bounce_swiotlb;
	return pt_init_common(test);
}

static void pt_exit(struct kunit *test)
{
	struct pt *t = test->priv;

	if (!t)
		return;
	if (t->pd) {
		mutex_lock(&pvdma_mutex);
		/* Releases what a failed test left mapped, too. */
		pvdma_dev_del(t->pd);
		mutex_unlock(&pvdma_mutex);
	}
	pvdma_bounce_exit();
	pvdma_bounce = &pvdma_bounce_own;
	pvdma_descs_exit();
	memset(&pvdma_host_limits, 0, sizeof(pvdma_host_limits));
	pvdma_host_gone = false;
	pvdma_stopped = false;
	fake_reset();
}

/* ---- pvdma_guest_translate: the host serves the mapping ---- */

static void translate_map_page(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(virt_to_phys(buf)));
	KUNIT_EXPECT_EQ(test, fh.maps, maps + 1);
	KUNIT_EXPECT_EQ(test, fh.last_dir, PVDMA_MAP_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_MAPS), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_LIVE), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 0);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(dma));

	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_UNMAPS), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HYPERCALLS), 2);
	expect_clean(test);
}

static void translate_keeps_offset(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf + 0x234, 100, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(virt_to_phys(buf) + 0x234));
	KUNIT_EXPECT_EQ(test, fh.last_dir, PVDMA_MAP_FROM_DEVICE);
	dma_unmap_single(t->dev, dma, 100, DMA_FROM_DEVICE);
	expect_clean(test);
}

static void translate_bidirectional(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf, 64, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, fh.last_dir, PVDMA_MAP_BIDIRECTIONAL);
	/* Translated: the device works on the buffer itself. */
	KUNIT_EXPECT_PTR_EQ(test, dev_va(dma), buf);
	dma_unmap_single(t->dev, dma, 64, DMA_BIDIRECTIONAL);
	expect_clean(test);
}

static void translate_same_buffer_twice(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t a, b;

	a = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	b = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, a));
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, b));
	KUNIT_EXPECT_EQ(test, (u64)a, (u64)b);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 2);
	dma_unmap_single(t->dev, a, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	dma_unmap_single(t->dev, b, PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

static void translate_unmap_unknown(struct kunit *test)
{
	struct pt *t = test->priv;

	dma_unmap_single(t->dev, 0x12345000, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BAD_UNMAP), 1);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 0U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_UNMAPS), 0);
	expect_clean(test);
}

static void translate_host_error_fails(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	fake_fail(0, 1, -KVM_EFAULT);
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_ERROR), 1);
	/* A bad address is a bug: it must not be hidden by bouncing. */
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 0);
	expect_clean(test);
}

static void translate_sg_one_hypercall(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	unsigned int maps = fh.maps;
	struct scatterlist sgl[4];
	int i, n;

	sg_init_table(sgl, 4);
	for (i = 0; i < 4; i++)
		sg_set_buf(&sgl[i], buf + i * PAGE_SIZE, PAGE_SIZE);
	n = dma_map_sg(t->dev, sgl, 4, DMA_TO_DEVICE);
	/* Guest- and host-contiguous: merged into one segment. */
	KUNIT_ASSERT_EQ(test, n, 1);
	KUNIT_EXPECT_EQ(test, fh.maps, maps + 1);
	KUNIT_EXPECT_EQ(test, fh.last_nr, 4U);
	KUNIT_EXPECT_EQ(test, (u64)sg_dma_address(sgl),
			fake_hpa(virt_to_phys(buf)));
	KUNIT_EXPECT_EQ(test, sg_dma_len(sgl), 4 * PAGE_SIZE);
	dma_unmap_sg(t->dev, sgl, 4, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_UNMAPS), 1);
	expect_clean(test);
}

static void translate_sg_scattered(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	struct scatterlist sgl[4], *sg;
	int i, n;

	fh.stride = 2;
	sg_init_table(sgl, 4);
	for (i = 0; i < 4; i++)
		sg_set_buf(&sgl[i], buf + i * PAGE_SIZE, PAGE_SIZE);
	n = dma_map_sg(t->dev, sgl, 4, DMA_FROM_DEVICE);
	KUNIT_ASSERT_EQ(test, n, 4);
	for_each_sg(sgl, sg, 4, i) {
		KUNIT_EXPECT_EQ(test, (u64)sg_dma_address(sg),
				fake_hpa(virt_to_phys(buf + i * PAGE_SIZE)));
		KUNIT_EXPECT_EQ(test, sg_dma_len(sg), PAGE_SIZE);
	}
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 0);
	dma_unmap_sg(t->dev, sgl, 4, DMA_FROM_DEVICE);
	expect_clean(test);
}

static void translate_sg_split_to_max_seg(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	struct scatterlist sgl[4];
	int i, n;

	dma_set_max_seg_size(t->dev, 2 * PAGE_SIZE);
	sg_init_table(sgl, 4);
	for (i = 0; i < 4; i++)
		sg_set_buf(&sgl[i], buf + i * PAGE_SIZE, PAGE_SIZE);
	n = dma_map_sg(t->dev, sgl, 4, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, n, 2);
	KUNIT_EXPECT_EQ(test, sg_dma_len(&sgl[0]), 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, (u64)sg_dma_address(&sgl[1]),
			fake_hpa(virt_to_phys(buf + 2 * PAGE_SIZE)));
	dma_unmap_sg(t->dev, sgl, 4, DMA_TO_DEVICE);
	expect_clean(test);
}

static void translate_sg_split_to_boundary(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	struct scatterlist sg;
	dma_addr_t dma;
	int n;

	/* Starting one page before a 2-page boundary: must be split there. */
	dma_set_seg_boundary(t->dev, 2 * PAGE_SIZE - 1);
	fh.base = FAKE_BASE_LOW + 1;
	sg_init_one(&sg, buf, 2 * PAGE_SIZE);
	n = dma_map_sg(t->dev, &sg, 1, DMA_TO_DEVICE);
	/* One entry cannot hold two segments: bounced within the boundary. */
	KUNIT_ASSERT_EQ(test, n, 1);
	dma = sg_dma_address(&sg);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_EQ(test, dma & ~(u64)(2 * PAGE_SIZE - 1),
			(dma + 2 * PAGE_SIZE - 1) & ~(u64)(2 * PAGE_SIZE - 1));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NOT_CONTIGUOUS), 1);
	dma_unmap_sg(t->dev, &sg, 1, DMA_TO_DEVICE);
	expect_clean(test);
}

/* ---- pvdma_guest_fallback: translation can't serve, the pool does ---- */

static void fallback_check_bounced(struct kunit *test, enum pvdma_stat cause,
				   unsigned int maps_before)
{
	KUNIT_EXPECT_EQ(test, st(test, cause), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 0);
	/* One failed translation, and no hypercall for the bounce itself. */
	KUNIT_EXPECT_EQ(test, fh.maps, maps_before + 1);
}

static void fallback_refused(struct kunit *test, long err)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	fake_fail(0, 1, err);
	dma = dma_map_single(t->dev, buf + 16, 1000, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	fallback_check_bounced(test, PVDMA_STAT_HOST_REFUSED, maps);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_BYTES), 1000);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 1U);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	dma_unmap_single(t->dev, dma, 1000, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_UNMAPS), 1);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 0U);
	expect_clean(test);
}

static void fallback_host_enospc(struct kunit *test)
{
	fallback_refused(test, -PVDMA_ENOSPC);
}

static void fallback_host_enomem(struct kunit *test)
{
	fallback_refused(test, -PVDMA_ENOMEM);
}

/*
 * The host's memory kept changing while it pinned (-PVDMA_EAGAIN): the
 * map is asked again, and translated once the host gets through.
 */
static void map_host_busy_repeated(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	fake_fail(0, PVDMA_MAP_TRIES - 1, -PVDMA_EAGAIN);
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_EQ(test, dma, (dma_addr_t)fake_hpa(virt_to_phys(buf)));
	KUNIT_EXPECT_EQ(test, fh.maps, maps + PVDMA_MAP_TRIES);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_MAP_HYPERCALLS),
			PVDMA_MAP_TRIES);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_REFUSED), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 0);
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

/* ... and bounced if it never does, with no more calls than that. */
static void fallback_host_busy(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	fake_fail(0, UINT_MAX, -PVDMA_EAGAIN);
	dma = dma_map_single(t->dev, buf + 16, 1000, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_EQ(test, fh.maps, maps + PVDMA_MAP_TRIES);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_REFUSED), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 1);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	fake_fail(0, 0, 0);
	dma_unmap_single(t->dev, dma, 1000, DMA_TO_DEVICE);
	expect_clean(test);
}

static void fallback_handle_limit(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	fh.max_handles = fh.live;
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	fallback_check_bounced(test, PVDMA_STAT_HOST_REFUSED, maps);
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_BIDIRECTIONAL);
	expect_clean(test);
}

static void fallback_not_contiguous(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	fh.stride = 2;
	dma = dma_map_single(t->dev, buf, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	fallback_check_bounced(test, PVDMA_STAT_NOT_CONTIGUOUS, maps);
	/* The host pinned nothing for the refused request. */
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	dma_unmap_single(t->dev, dma, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

static void fallback_beyond_mask(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	KUNIT_ASSERT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(32)), 0);
	fh.base = FAKE_BASE_HIGH;
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_LE(test, (u64)dma + PAGE_SIZE - 1, DMA_BIT_MASK(32));
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	fallback_check_bounced(test, PVDMA_STAT_BEYOND_MASK, maps);
	/* The translation was taken, then released: no handle left. */
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

static void fallback_bus_limit(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	/* The bridge, not the mask, limits this device. */
	t->dev->bus_dma_limit = DMA_BIT_MASK(32);
	fh.base = FAKE_BASE_HIGH;
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_LE(test, (u64)dma, DMA_BIT_MASK(32));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BEYOND_MASK), 1);
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	t->dev->bus_dma_limit = 0;
	expect_clean(test);
}

static void fallback_no_pool_fails(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	KUNIT_ASSERT_EQ(test, pool_reinit(test, 0), 0);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 0U);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 1);
	expect_clean(test);
}

static void fallback_pool_beyond_mask_fails(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	fh.base = FAKE_BASE_HIGH;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	/* Set before the pool moved up: dma_set_mask() now refuses it. */
	t->mask = DMA_BIT_MASK(32);
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BEYOND_MASK), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	/* The translation beyond the mask was released on the way out. */
	expect_clean(test);
}

static void fallback_pool_part_below_mask(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma[POOL_CHUNK_PAGES + 1];
	int i;

	/* The first chunk below 4 GiB, the other three above. */
	fh.high_after = 1;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	KUNIT_ASSERT_EQ(test, fh.base, (u64)FAKE_BASE_HIGH);
	KUNIT_ASSERT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(32)), 0);
	for (i = 0; i < POOL_CHUNK_PAGES; i++) {
		dma[i] = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma[i]));
		KUNIT_EXPECT_LE(test, (u64)dma[i], DMA_BIT_MASK(32));
	}
	/* The low chunk is full; the free high ones are of no use. */
	dma[i] = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma[i]));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	for (i = 0; i < POOL_CHUNK_PAGES; i++)
		dma_unmap_single(t->dev, dma[i], PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

static void fallback_sg_refused(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	struct scatterlist sgl[3], *sg;
	unsigned int maps = fh.maps;
	int i, n;

	sg_init_table(sgl, 3);
	for (i = 0; i < 3; i++)
		sg_set_buf(&sgl[i], buf + i * PAGE_SIZE + 8, 100 + i);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	n = dma_map_sg(t->dev, sgl, 3, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, n, 3);
	for_each_sg(sgl, sg, 3, i) {
		KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(sg_dma_address(sg)));
		KUNIT_EXPECT_EQ(test, sg_dma_len(sg), 100U + i);
		KUNIT_EXPECT_EQ(test, offset_in_page(sg_dma_address(sg)), 8UL);
	}
	fallback_check_bounced(test, PVDMA_STAT_HOST_REFUSED, maps);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_BYTES), 303);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 3U);
	dma_unmap_sg(t->dev, sgl, 3, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_UNMAPS), 1);
	expect_clean(test);
}

static void fallback_sg_more_segs_than_entries(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	unsigned int maps = fh.maps;
	struct scatterlist sg;
	int n;

	fh.stride = 2;
	sg_init_one(&sg, buf, 2 * PAGE_SIZE);
	n = dma_map_sg(t->dev, &sg, 1, DMA_FROM_DEVICE);
	KUNIT_ASSERT_EQ(test, n, 1);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(sg_dma_address(&sg)));
	fallback_check_bounced(test, PVDMA_STAT_NOT_CONTIGUOUS, maps);
	dma_unmap_sg(t->dev, &sg, 1, DMA_FROM_DEVICE);
	expect_clean(test);
}

static void fallback_sg_beyond_mask(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	struct scatterlist sgl[2];
	unsigned int maps = fh.maps;
	int n;

	KUNIT_ASSERT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(32)), 0);
	fh.base = FAKE_BASE_HIGH;
	sg_init_table(sgl, 2);
	sg_set_buf(&sgl[0], buf, PAGE_SIZE);
	sg_set_buf(&sgl[1], buf + PAGE_SIZE, PAGE_SIZE);
	n = dma_map_sg(t->dev, sgl, 2, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, n, 2);
	KUNIT_EXPECT_LE(test, (u64)sg_dma_address(&sgl[1]), DMA_BIT_MASK(32));
	fallback_check_bounced(test, PVDMA_STAT_BEYOND_MASK, maps);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	dma_unmap_sg(t->dev, sgl, 2, DMA_TO_DEVICE);
	expect_clean(test);
}

static void fallback_sg_long_list(struct kunit *test)
{
	struct pt *t = test->priv;
	unsigned int nents = pvdma_host_limits.max_ranges + 1;
	void *buf = pt_pages(test, 5);
	unsigned int maps = fh.maps;
	struct scatterlist *sgl;
	int i, n;

	sgl = kunit_kcalloc(test, nents, sizeof(*sgl), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sgl);
	sg_init_table(sgl, nents);
	for (i = 0; i < nents; i++)
		sg_set_buf(&sgl[i], buf + i * PAGE_SIZE, PAGE_SIZE);
	n = dma_map_sg(t->dev, sgl, nents, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, n, nents);
	/* Not even tried: the host would refuse the list. */
	KUNIT_EXPECT_EQ(test, fh.maps, maps);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_LONG_LIST), 1);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), nents);
	dma_unmap_sg(t->dev, sgl, nents, DMA_TO_DEVICE);
	expect_clean(test);
}

static void fallback_sg_unwind(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 5), *b = pt_pages(test, 5);
	void *c = pt_pages(test, 1);
	struct scatterlist sgl[3];
	struct sg_table sgt = { .sgl = sgl, .nents = 3, .orig_nents = 3 };
	int n;

	/* One chunk: the third entry finds no room; the first two go back. */
	KUNIT_ASSERT_EQ(test, pool_reinit(test, SZ_256K), 0);
	sg_init_table(sgl, 3);
	sg_set_buf(&sgl[0], a, 32 * PAGE_SIZE);
	sg_set_buf(&sgl[1], b, 31 * PAGE_SIZE);
	sg_set_buf(&sgl[2], c, 2 * PAGE_SIZE);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	n = dma_map_sgtable(t->dev, &sgt, DMA_TO_DEVICE, 0);
	KUNIT_EXPECT_EQ(test, n, -ENOMEM);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_MAPS), 0);
	expect_clean(test);
}

static void fallback_sg_host_error_fails(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	struct scatterlist sg;
	int n;

	fake_fail(0, 1, -PVDMA_EIO);
	sg_init_one(&sg, buf, PAGE_SIZE);
	n = dma_map_sg(t->dev, &sg, 1, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, n, 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_ERROR), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 0);
	expect_clean(test);
}

/* A list that can never be mapped fails with -EIO: -ENOMEM is retried. */
static void fallback_sg_never_fits_eio(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 7);
	struct scatterlist sg, sgl[2];
	struct sg_table sgt = { .sgl = &sg, .nents = 1, .orig_nents = 1 };
	struct sg_table sgt2 = { .nents = 2, .orig_nents = 2 };

	/* Two pages apart on the host for one entry, and no pool at all. */
	KUNIT_ASSERT_EQ(test, pool_reinit(test, 0), 0);
	fh.stride = 2;
	sg_init_one(&sg, buf, 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, dma_map_sgtable(t->dev, &sgt, DMA_TO_DEVICE, 0),
			-EIO);

	/* An entry longer than any run of the pool. */
	fh.stride = 1;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	fh.stride = 2;
	sg_init_one(&sg, buf, (POOL_CHUNK_PAGES + 1) * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, dma_map_sgtable(t->dev, &sgt, DMA_TO_DEVICE, 0),
			-EIO);

	/* Two entries the pool holds one by one, but not both at once. */
	fh.stride = 1;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, SZ_256K), 0);
	fh.stride = 2;
	sg_init_table(sgl, 2);
	sg_set_buf(&sgl[0], buf, 40 * PAGE_SIZE);
	sg_set_buf(&sgl[1], buf + 64 * PAGE_SIZE, 40 * PAGE_SIZE);
	sgt2.sgl = sgl;
	KUNIT_EXPECT_EQ(test, dma_map_sgtable(t->dev, &sgt2, DMA_TO_DEVICE, 0),
			-EIO);

	/* The pool lies above the device's mask, and so does the host. */
	fh.stride = 1;
	fh.base = FAKE_BASE_HIGH;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	t->mask = DMA_BIT_MASK(32);
	sg_init_one(&sg, buf, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, dma_map_sgtable(t->dev, &sgt, DMA_TO_DEVICE, 0),
			-EIO);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_MAPS), 0);
	expect_clean(test);
}

/* ---- pvdma_guest_sync: bounced data moves at the right time ---- */

static dma_addr_t bounce_one(struct kunit *test, void *buf, size_t size,
			     enum dma_data_direction dir)
{
	struct pt *t = test->priv;
	dma_addr_t dma;

	fake_fail(0, 1, -PVDMA_ENOSPC);
	dma = dma_map_single(t->dev, buf, size, dir);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_ASSERT_TRUE(test, pvdma_bounce_is(dma));
	return dma;
}

static void sync_to_device_at_map(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	memset(buf, 0xa1, PAGE_SIZE);
	dma = bounce_one(test, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0xa1, PAGE_SIZE));
	/* Written after map: the device sees it only after a sync. */
	memset(buf, 0xb2, PAGE_SIZE);
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0xa1, PAGE_SIZE));
	dma_sync_single_for_device(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0xb2, PAGE_SIZE));
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

static void sync_from_device_at_unmap(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = bounce_one(test, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	dev_fill(test, dma, 0xc3, PAGE_SIZE);
	KUNIT_EXPECT_NOT_NULL(test, memchr_inv(buf, 0xc3, PAGE_SIZE));
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0xc3, PAGE_SIZE));
	expect_clean(test);
}

static void sync_to_device_not_copied_back(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	memset(buf, 0x11, PAGE_SIZE);
	dma = bounce_one(test, buf, PAGE_SIZE, DMA_TO_DEVICE);
	dev_fill(test, dma, 0x22, PAGE_SIZE);
	dma_sync_single_for_cpu(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x11, PAGE_SIZE));
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x11, PAGE_SIZE));
	expect_clean(test);
}

static void sync_for_cpu_from_device(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = bounce_one(test, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	dev_fill(test, dma, 0x33, PAGE_SIZE);
	dma_sync_single_for_cpu(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x33, PAGE_SIZE));
	/* Handing a FROM_DEVICE buffer back must not overwrite the pool. */
	memset(buf, 0x44, PAGE_SIZE);
	dma_sync_single_for_device(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0x33, PAGE_SIZE));
	dev_fill(test, dma, 0x55, PAGE_SIZE);
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x55, PAGE_SIZE));
	expect_clean(test);
}

static void sync_bidirectional(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	memset(buf, 0x66, PAGE_SIZE);
	dma = bounce_one(test, buf, PAGE_SIZE, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0x66, PAGE_SIZE));
	dev_fill(test, dma, 0x77, PAGE_SIZE);
	dma_sync_single_for_cpu(t->dev, dma, PAGE_SIZE, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x77, PAGE_SIZE));
	memset(buf, 0x88, PAGE_SIZE);
	dma_sync_single_for_device(t->dev, dma, PAGE_SIZE, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0x88, PAGE_SIZE));
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_BIDIRECTIONAL);
	expect_clean(test);
}

static void sync_partial_range(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	dma_addr_t dma;

	dma = bounce_one(test, buf + 100, 5000, DMA_FROM_DEVICE);
	dev_fill(test, dma, 0x99, 5000);
	dma_sync_single_range_for_cpu(t->dev, dma, 4000, 200, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 4100, 0x99, 200));
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 100, 0, 4000));
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 4300, 0, 800));
	dma_unmap_single_attrs(t->dev, dma, 5000, DMA_FROM_DEVICE,
			       DMA_ATTR_SKIP_CPU_SYNC);
	expect_clean(test);
}

static void sync_skip_cpu_sync_at_unmap(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = bounce_one(test, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	dev_fill(test, dma, 0xaa, PAGE_SIZE);
	dma_unmap_single_attrs(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE,
			       DMA_ATTR_SKIP_CPU_SYNC);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0, PAGE_SIZE));
	expect_clean(test);
}

static void sync_no_stale_pool_data(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	/* An earlier user leaves 0xee in the pool page... */
	dma = bounce_one(test, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	dev_fill(test, dma, 0xee, PAGE_SIZE);
	dma_unmap_single_attrs(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE,
			       DMA_ATTR_SKIP_CPU_SYNC);
	/* ...and a partial device write must not carry it into our buffer. */
	memset(buf, 0x12, PAGE_SIZE);
	dma = bounce_one(test, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	dev_fill(test, dma, 0x34, 16);
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x34, 16));
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 16, 0x12, PAGE_SIZE - 16));
	expect_clean(test);
}

static void sync_sg_bounced(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	struct scatterlist sgl[3], *sg;
	int i, n;

	sg_init_table(sgl, 3);
	for (i = 0; i < 3; i++)
		sg_set_buf(&sgl[i], buf + i * PAGE_SIZE, PAGE_SIZE);
	fake_fail(0, 1, -PVDMA_ENOMEM);
	n = dma_map_sg(t->dev, sgl, 3, DMA_BIDIRECTIONAL);
	KUNIT_ASSERT_EQ(test, n, 3);
	for_each_sg(sgl, sg, 3, i)
		dev_fill(test, sg_dma_address(sg), 0x40 + i, PAGE_SIZE);
	dma_sync_sg_for_cpu(t->dev, sgl, 3, DMA_BIDIRECTIONAL);
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_NULL(test, memchr_inv(buf + i * PAGE_SIZE,
						   0x40 + i, PAGE_SIZE));
	memset(buf, 0x50, 3 * PAGE_SIZE);
	dma_sync_sg_for_device(t->dev, sgl, 3, DMA_BIDIRECTIONAL);
	for_each_sg(sgl, sg, 3, i)
		KUNIT_EXPECT_TRUE(test, dev_sees(test, sg_dma_address(sg),
						 0x50, PAGE_SIZE));
	dma_unmap_sg(t->dev, sgl, 3, DMA_BIDIRECTIONAL);
	expect_clean(test);
}

static void sync_translated_is_direct(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	dev_fill(test, dma, 0x5a, PAGE_SIZE);
	/* The device wrote the buffer itself: visible before any sync. */
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x5a, PAGE_SIZE));
	memset(buf, 0x6b, PAGE_SIZE);
	dma_sync_single_for_cpu(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x6b, PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 0U);
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_FROM_DEVICE);
	expect_clean(test);
}

/* ---- pvdma_guest_coherent: alloc, free, alloc_pages_op, free_pages ---- */

static void coherent_translated(struct kunit *test)
{
	struct pt *t = test->priv;
	dma_addr_t dma;
	void *cpu;

	cpu = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(virt_to_phys(cpu)));
	KUNIT_EXPECT_EQ(test, fh.last_dir, PVDMA_MAP_BIDIRECTIONAL);
	KUNIT_EXPECT_NULL(test, memchr_inv(cpu, 0, PAGE_SIZE));
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(dma));
	dma_free_coherent(t->dev, PAGE_SIZE, cpu, dma);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	expect_clean(test);
}

static void coherent_from_pool(struct kunit *test, long err,
			       enum pvdma_stat cause)
{
	struct pt *t = test->priv;
	dma_addr_t dma;
	void *cpu;

	if (err)
		fake_fail(0, 1, err);
	cpu = dma_alloc_coherent(t->dev, 2 * PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_EQ(test, st(test, cause), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 1);
	/* Shared, not copied: the device reaches the CPU's memory. */
	KUNIT_EXPECT_PTR_EQ(test, dev_va(dma), cpu);
	KUNIT_EXPECT_PTR_EQ(test, dev_va(dma + PAGE_SIZE), cpu + PAGE_SIZE);
	KUNIT_EXPECT_NULL(test, memchr_inv(cpu, 0, 2 * PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, dma & (2 * PAGE_SIZE - 1), 0ULL);
	KUNIT_EXPECT_EQ(test, (unsigned long)cpu & (2 * PAGE_SIZE - 1), 0UL);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 2U);
	/* Syncing pool memory copies nothing anywhere. */
	memset(cpu, 0x3c, 2 * PAGE_SIZE);
	dma_sync_single_for_cpu(t->dev, dma, 2 * PAGE_SIZE, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_NULL(test, memchr_inv(cpu, 0x3c, 2 * PAGE_SIZE));
	dma_free_coherent(t->dev, 2 * PAGE_SIZE, cpu, dma);
	expect_clean(test);
}

static void coherent_not_contiguous(struct kunit *test)
{
	fh.stride = 2;
	coherent_from_pool(test, 0, PVDMA_STAT_NOT_CONTIGUOUS);
}

static void coherent_refused(struct kunit *test)
{
	coherent_from_pool(test, -PVDMA_ENOSPC, PVDMA_STAT_HOST_REFUSED);
}

static void coherent_beyond_mask(struct kunit *test)
{
	struct pt *t = test->priv;

	KUNIT_ASSERT_EQ(test, dma_set_coherent_mask(t->dev, DMA_BIT_MASK(32)),
			0);
	fh.base = FAKE_BASE_HIGH;
	coherent_from_pool(test, 0, PVDMA_STAT_BEYOND_MASK);
}

static void coherent_no_pool_fails(struct kunit *test)
{
	struct pt *t = test->priv;
	dma_addr_t dma;
	void *cpu;

	KUNIT_ASSERT_EQ(test, pool_reinit(test, 0), 0);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	cpu = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_EXPECT_NULL(test, cpu);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	expect_clean(test);
}

static void coherent_pool_keeps_host_alignment(struct kunit *test)
{
	struct pt *t = test->priv;
	dma_addr_t dma;
	void *cpu;

	/* Pool frames one page off their guest alignment... */
	fh.base = FAKE_BASE_LOW + 1;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	/* ...cannot give an 8 KiB buffer aligned on both sides. */
	fh.stride = 2;
	cpu = dma_alloc_coherent(t->dev, 2 * PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_EXPECT_NULL(test, cpu);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	/* One page needs no alignment beyond the page. */
	fake_fail(0, 1, -PVDMA_ENOSPC);
	cpu = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	dma_free_coherent(t->dev, PAGE_SIZE, cpu, dma);
	expect_clean(test);
}

/* A pool buffer the driver maps again is translated; unmap keeps it. */
static void coherent_pool_buffer_mapped_again(struct kunit *test)
{
	struct pt *t = test->priv;
	struct sg_table sgt;
	dma_addr_t dma, again;
	void *cpu;

	fake_fail(0, 1, -PVDMA_ENOSPC);
	cpu = dma_alloc_coherent(t->dev, 2 * PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	KUNIT_ASSERT_TRUE(test, pvdma_bounce_is(dma));
	memset(cpu, 0x5e, 2 * PAGE_SIZE);

	/* Exported (as dma-buf does) and mapped as a list: translated. */
	KUNIT_ASSERT_EQ(test, dma_get_sgtable(t->dev, &sgt, cpu, dma,
					      2 * PAGE_SIZE), 0);
	KUNIT_ASSERT_EQ(test, dma_map_sgtable(t->dev, &sgt, DMA_TO_DEVICE, 0),
			0);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	dma_unmap_sgtable(t->dev, &sgt, DMA_TO_DEVICE, 0);
	sg_free_table(&sgt);
	/* The translation went back to the host; the buffer is still there. */
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 2U);

	/* The same with the single-buffer API. */
	again = dma_map_single(t->dev, cpu, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, again));
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	dma_unmap_single(t->dev, again, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 2U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BAD_UNMAP), 0);
	KUNIT_EXPECT_NULL(test, memchr_inv(cpu, 0x5e, 2 * PAGE_SIZE));
	dma_free_coherent(t->dev, 2 * PAGE_SIZE, cpu, dma);
	expect_clean(test);
}

/* A translated coherent buffer is aligned to its order on the host too. */
static void coherent_translated_aligned(struct kunit *test)
{
	struct pt *t = test->priv;
	unsigned int order;
	dma_addr_t dma;
	void *cpu;

	/* Host frames one page off their guest alignment. */
	fh.base = FAKE_BASE_LOW + 1;
	for (order = 1; order <= 3; order++) {
		size_t size = PAGE_SIZE << order;

		cpu = dma_alloc_coherent(t->dev, size, &dma, GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, cpu);
		KUNIT_EXPECT_EQ(test, dma & (size - 1), 0ULL);
		KUNIT_EXPECT_EQ(test, (unsigned long)cpu & (size - 1), 0UL);
		dma_free_coherent(t->dev, size, cpu, dma);
	}
	/* Served by the pool, each for the reason it was not translated. */
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 3);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_MISALIGNED), 3);
	/* One page needs no alignment beyond the page: still translated. */
	cpu = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(dma));
	dma_free_coherent(t->dev, PAGE_SIZE, cpu, dma);
	expect_clean(test);
}

static void coherent_alloc_pages_dir(struct kunit *test)
{
	struct pt *t = test->priv;
	struct page *page;
	dma_addr_t dma;

	page = dma_alloc_pages(t->dev, PAGE_SIZE, &dma, DMA_FROM_DEVICE,
			       GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_EXPECT_EQ(test, fh.last_dir, PVDMA_MAP_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(page_to_phys(page)));
	dma_free_pages(t->dev, PAGE_SIZE, page, dma, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	expect_clean(test);
}

static void coherent_alloc_pages_from_pool(struct kunit *test)
{
	struct pt *t = test->priv;
	struct page *page;
	dma_addr_t dma;

	fake_fail(0, 1, -PVDMA_ENOSPC);
	page = dma_alloc_pages(t->dev, 3 * PAGE_SIZE, &dma, DMA_TO_DEVICE,
			       GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_PTR_EQ(test, dev_va(dma), page_address(page));
	/* Each pool page stands alone, as the page allocator's would. */
	KUNIT_EXPECT_EQ(test, page_count(page + 1), 1);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 3U);
	dma_free_pages(t->dev, 3 * PAGE_SIZE, page, dma, DMA_TO_DEVICE);
	expect_clean(test);
}

static void coherent_free_unknown(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);

	/* Never allocated: nothing is unmapped, and nothing is freed. */
	dma_free_coherent(t->dev, PAGE_SIZE, buf, 0x7654000);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BAD_UNMAP), 1);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 0U);
	KUNIT_EXPECT_EQ(test, page_count(virt_to_page(buf)), 1);
	expect_clean(test);
}

/* ---- pvdma_guest_pool: the bounce pool itself ---- */

static void pool_pinned_once(struct kunit *test)
{
	unsigned int maps;

	pvdma_bounce_exit();
	maps = fh.maps;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	/* One bidirectional pin per 256 KiB chunk. */
	KUNIT_EXPECT_EQ(test, fh.maps, maps + 4);
	KUNIT_EXPECT_EQ(test, fh.last_dir, PVDMA_MAP_BIDIRECTIONAL);
	KUNIT_EXPECT_EQ(test, fh.live, 4U);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 4 * POOL_CHUNK_PAGES);
	expect_clean(test);
}

static void pool_released_in_one_batch(struct kunit *test)
{
	struct pt *t = test->priv;

	pvdma_bounce_exit();
	KUNIT_EXPECT_EQ(test, fh.batches, 1U);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 0U);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 0U);
	t->pool_live = 0;
	expect_clean(test);
}

static void pool_size_rounds_up(struct kunit *test)
{
	KUNIT_ASSERT_EQ(test, pool_reinit(test, SZ_256K + 1), 0);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 2 * POOL_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, fh.live, 2U);
	expect_clean(test);
}

static void pool_init_unwinds(struct kunit *test)
{
	struct pt *t = test->priv;

	pvdma_bounce_exit();
	/* The third chunk is refused: the first two must be released. */
	fake_fail(2, 1, -PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_init(POOL_SIZE), -ENOSPC);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 0U);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(PFN_PHYS(FAKE_BASE_LOW)));
	t->pool_live = 0;
	expect_clean(test);
}

/*
 * A host that answers a chunk's MAP with no segment has pinned it all the
 * same: the pool releases that handle at once, and the chunks before it.
 */
static void pool_malformed_answer_released(struct kunit *test)
{
	struct pt *t = test->priv;

	pvdma_bounce_exit();
	fh.bad_answer_on_map = fh.maps + 2;
	KUNIT_EXPECT_EQ(test, pvdma_bounce_init(POOL_SIZE), -EPROTO);
	KUNIT_EXPECT_EQ(test, fh.maps, fh.bad_answer_on_map);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 0U);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(PFN_PHYS(FAKE_BASE_LOW)));
	t->pool_live = 0;
	expect_clean(test);
}

static void pool_too_large(struct kunit *test)
{
	struct pt *t = test->priv;

	pvdma_bounce_exit();
	KUNIT_EXPECT_EQ(test, pvdma_bounce_init(SZ_1G), -EINVAL);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 0U);
	t->pool_live = 0;
	expect_clean(test);
}

static void pool_runs_stay_host_contiguous(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	dma_addr_t dma, big;

	/* Host-contiguous in runs of 2 pages only. */
	fh.run = 2;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	fh.run = 0;
	KUNIT_EXPECT_EQ(test, dma_max_mapping_size(t->dev), (size_t)PAGE_SIZE);
	fake_fail(0, 2, -PVDMA_ENOSPC);
	/* An unaligned 4 KiB buffer spans two pages: one run holds it. */
	dma = dma_map_single(t->dev, buf + 8, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_PTR_EQ(test, dev_va(dma + PAGE_SIZE - 8),
			    dev_va(dma) + PAGE_SIZE - 8);
	/* Three pages fit no run. */
	big = dma_map_single(t->dev, buf, 3 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, big));
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

static void pool_full_then_free(struct kunit *test)
{
	struct pt *t = test->priv;
	void *big = pt_pages(test, 6), *small = pt_pages(test, 0);
	dma_addr_t a, b;

	KUNIT_ASSERT_EQ(test, pool_reinit(test, SZ_256K), 0);
	fake_fail(0, 3, -PVDMA_ENOSPC);
	a = dma_map_single(t->dev, big, 63 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, a));
	b = dma_map_single(t->dev, small, 2 * PAGE_SIZE - 1, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, b));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	dma_unmap_single(t->dev, a, 63 * PAGE_SIZE, DMA_TO_DEVICE);
	b = dma_map_single(t->dev, small, 2 * PAGE_SIZE - 1, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, b));
	dma_unmap_single(t->dev, b, 2 * PAGE_SIZE - 1, DMA_TO_DEVICE);
	expect_clean(test);
}

static void pool_unmap_wrong_size(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	dma_addr_t dma;

	dma = bounce_one(test, buf, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	/* Released with the wrong size: refused, the run stays in use. */
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BAD_UNMAP), 1);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 2U);
	dma_unmap_single(t->dev, dma, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

/* Syncs and unmaps copy no byte beyond what was bounced. */
static void pool_sync_clamped_to_mapping(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	memset(buf, 0x11, PAGE_SIZE);
	dma = bounce_one(test, buf + 16, 100, DMA_FROM_DEVICE);
	/* The device writes the whole pool page, not just the 100 bytes. */
	dev_fill(test, dma - 16, 0xaa, PAGE_SIZE);
	/* A sync longer than the mapping copies the mapping only. */
	dma_sync_single_for_cpu(t->dev, dma, PAGE_SIZE - 16, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 16, 0xaa, 100));
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x11, 16));
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 116, 0x11, PAGE_SIZE - 116));
	/* So does an unmap given a larger size. */
	memset(buf, 0x11, PAGE_SIZE);
	dma_unmap_single(t->dev, dma, 200, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 16, 0xaa, 100));
	KUNIT_EXPECT_NULL(test, memchr_inv(buf + 116, 0x11, PAGE_SIZE - 116));
	/* A sync of a pool page no longer handed out copies nothing. */
	memset(buf, 0x11, PAGE_SIZE);
	dma_sync_single_for_cpu(t->dev, dma, 100, DMA_FROM_DEVICE);
	KUNIT_EXPECT_NULL(test, memchr_inv(buf, 0x11, PAGE_SIZE));
	expect_clean(test);
}

/* ---- pvdma_guest_swiotlb: the kernel's swiotlb as the bounce pool ---- */

static void swiotlb_pinned_per_segment(struct kunit *test)
{
	struct pt *t = test->priv;
	unsigned int pages, maps;

	pvdma_bounce_exit();
	maps = fh.maps;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	pages = pvdma_bounce_pages();
	/* All of swiotlb's pool, one MAP per 256 KiB segment, kept. */
	KUNIT_EXPECT_GE(test, pages, (unsigned int)(SZ_2M >> PAGE_SHIFT));
	KUNIT_EXPECT_EQ(test, pages % POOL_CHUNK_PAGES, 0U);
	KUNIT_EXPECT_EQ(test, fh.maps - maps, pages / POOL_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, t->pool_live, pages / POOL_CHUNK_PAGES);
	KUNIT_EXPECT_EQ(test, fh.last_dir, PVDMA_MAP_BIDIRECTIONAL);
	/* Runs end with their segment: no swiotlb mapping crosses one. */
	KUNIT_EXPECT_EQ(test, pvdma_bounce_max_size(),
			(size_t)SZ_256K - PAGE_SIZE);
	expect_clean(test);
}

static void swiotlb_released_on_exit(struct kunit *test)
{
	pvdma_bounce_exit();
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_EQ(test, fh.bad_unmaps, 0U);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 0U);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(PFN_PHYS(FAKE_BASE_LOW)));
}

static void swiotlb_pin_refused_unwinds(struct kunit *test)
{
	pvdma_bounce_exit();
	/* The second segment is refused: the first is released again. */
	fake_fail(1, 1, -PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_init(POOL_SIZE), -ENOSPC);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_pages(), 0U);
}

/* Host frames in runs of 3: a 2-page bounce may need a second try. */
static void swiotlb_retry_finds_host_contiguous(struct kunit *test)
{
	struct pt *t = test->priv;
	dma_addr_t dma[5];
	void *buf[5];
	int i;

	fh.run = 3;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	fake_fail(0, ARRAY_SIZE(dma), -PVDMA_ENOSPC);
	for (i = 0; i < ARRAY_SIZE(dma); i++) {
		buf[i] = pt_pages(test, 1);
		memset(buf[i], 0x60 + i, 2 * PAGE_SIZE);
		dma[i] = dma_map_single(t->dev, buf[i], 2 * PAGE_SIZE,
					DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma[i]));
		KUNIT_EXPECT_TRUE(test, dev_sees(test, dma[i], 0x60 + i,
						 2 * PAGE_SIZE));
	}
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 0);
	/* The slots held while retrying went back to swiotlb. */
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 2U * ARRAY_SIZE(dma));
	for (i = 0; i < ARRAY_SIZE(dma); i++)
		dma_unmap_single(t->dev, dma[i], 2 * PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

/* No two pool pages contiguous on the host: only one-page bounces work. */
static void swiotlb_not_contiguous_fails(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	dma_addr_t dma;

	fh.stride = 2;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_max_size(), (size_t)0);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	dma = dma_map_single(t->dev, buf, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 1);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 0U);

	memset(buf, 0x71, PAGE_SIZE);
	dma = bounce_one(test, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0x71, PAGE_SIZE));
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	expect_clean(test);
}

/* The pool lies above a 32-bit mask: the bounce fails, nothing is held. */
static void swiotlb_beyond_mask_fails(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	fh.base = FAKE_BASE_HIGH;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	/* Set before the pool moved up: dma_set_mask() now refuses it. */
	t->mask = DMA_BIT_MASK(32);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_NO_BOUNCE_SPACE), 1);
	expect_clean(test);
}

static void swiotlb_unmap_twice_refused(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	dma_addr_t dma;

	dma = bounce_one(test, buf, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	/* The wrong size is refused, and so is a second release. */
	dma_unmap_single(t->dev, dma, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BAD_UNMAP), 1);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 2U);
	dma_unmap_single(t->dev, dma, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, pvdma_bounce_used(), 0U);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_unmap(t->dev, dma, 2 * PAGE_SIZE,
						    DMA_TO_DEVICE, 0));
	expect_clean(test);
}

/* ---- pvdma_guest_ops: the remaining ops and attach bookkeeping ---- */

static void ops_dma_supported(struct kunit *test)
{
	struct pt *t = test->priv;

	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(24)), -EIO);
	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(32)), 0);
	KUNIT_EXPECT_EQ(test, t->mask, DMA_BIT_MASK(32));
	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(64)), 0);
	/* The pool lies below 2 GiB on the fake host: 31 bits can be served. */
	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(31)), 0);
	KUNIT_ASSERT_EQ(test, pool_reinit(test, 0), 0);
	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(31)), -EIO);
	expect_clean(test);
}

/* A pool above the mask cannot serve what translation cannot. */
static void ops_dma_supported_pool_above_mask(struct kunit *test)
{
	struct pt *t = test->priv;

	fh.base = FAKE_BASE_HIGH;
	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(32)), -EIO);
	KUNIT_EXPECT_EQ(test, dma_set_coherent_mask(t->dev, DMA_BIT_MASK(32)),
			-EIO);
	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(64)), 0);
	/* Without a pool every mapping is checked on its own, as before. */
	KUNIT_ASSERT_EQ(test, pool_reinit(test, 0), 0);
	KUNIT_EXPECT_EQ(test, dma_set_mask(t->dev, DMA_BIT_MASK(32)), 0);
	expect_clean(test);
}

/* Every counter has its debugfs file, and the trace events its name. */
static void ops_stat_names(struct kunit *test)
{
	int i;

	for (i = 0; i < PVDMA_NR_STATS; i++)
		KUNIT_EXPECT_NOT_NULL_MSG(test, pvdma_stat_names[i],
					  "counter %d has no name", i);
	expect_clean(test);
}

static void ops_required_mask(struct kunit *test)
{
	struct pt *t = test->priv;

	KUNIT_EXPECT_EQ(test, dma_get_required_mask(t->dev), DMA_BIT_MASK(64));
	expect_clean(test);
}

static void ops_max_mapping_size(struct kunit *test)
{
	struct pt *t = test->priv;

	/* The pool's 64-page runs take 63 pages at any offset. */
	KUNIT_EXPECT_EQ(test, dma_max_mapping_size(t->dev),
			(size_t)63 * PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, pool_reinit(test, 0), 0);
	/* Without a pool only the host's 128 pages per map count. */
	KUNIT_EXPECT_EQ(test, dma_max_mapping_size(t->dev),
			(size_t)127 * PAGE_SIZE);
	expect_clean(test);
}

static void ops_map_resource_refused(struct kunit *test)
{
	struct pt *t = test->priv;
	unsigned int maps = fh.maps;
	dma_addr_t dma;

	dma = dma_map_resource(t->dev, 0xfe000000, PAGE_SIZE, DMA_TO_DEVICE, 0);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_RESOURCE), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 1);
	KUNIT_EXPECT_EQ(test, fh.maps, maps);
	expect_clean(test);
}

static void ops_get_sgtable(struct kunit *test)
{
	struct pt *t = test->priv;
	struct sg_table sgt;
	dma_addr_t dma;
	void *cpu;

	cpu = dma_alloc_coherent(t->dev, 3000, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	KUNIT_ASSERT_EQ(test, dma_get_sgtable(t->dev, &sgt, cpu, dma, 3000), 0);
	KUNIT_EXPECT_EQ(test, sgt.orig_nents, 1U);
	KUNIT_EXPECT_PTR_EQ(test, sg_page(sgt.sgl), virt_to_page(cpu));
	KUNIT_EXPECT_EQ(test, sgt.sgl->length, PAGE_SIZE);
	sg_free_table(&sgt);
	dma_free_coherent(t->dev, 3000, cpu, dma);
	expect_clean(test);
}

static void ops_mmap_bounds(struct kunit *test)
{
	struct pt *t = test->priv;
	struct vm_area_struct vma = {
		.vm_start = 0x100000,
		.vm_end = 0x100000 + PAGE_SIZE,
		.vm_pgoff = 1,
	};
	dma_addr_t dma;
	void *cpu;

	KUNIT_EXPECT_TRUE(test, dma_can_mmap(t->dev));
	cpu = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cpu);
	/* Page 1 of a one-page buffer: refused before touching any mm. */
	KUNIT_EXPECT_EQ(test, dma_mmap_coherent(t->dev, &vma, cpu, dma,
						PAGE_SIZE), -ENXIO);
	dma_free_coherent(t->dev, PAGE_SIZE, cpu, dma);
	expect_clean(test);
}

/*
 * Detach is for a device that can no longer DMA: what its driver left
 * mapped goes back to the host with it.
 */
static void ops_detach_releases_leftovers(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_ASSERT_EQ(test, fh.live, t->pool_live + 1);
	mutex_lock(&pvdma_mutex);
	pvdma_dev_del(t->pd);
	mutex_unlock(&pvdma_mutex);
	t->pd = NULL;
	KUNIT_EXPECT_NULL(test, get_dma_ops(t->dev));
	KUNIT_EXPECT_NULL(test, pvdma_find(t->dev));
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	KUNIT_EXPECT_EQ(test, fh.bad_unmaps, 0U);
}

static void ops_attach_resets_need_sync(struct kunit *test)
{
	struct pt *t = test->priv;
	int ret;

	mutex_lock(&pvdma_mutex);
	pvdma_dev_del(t->pd);
	t->pd = NULL;
	/* dma-direct may have found syncs unneeded before pvdma came. */
	t->dev->dma_skip_sync = true;
	ret = pvdma_dev_add(t->dev, &pvdma_dma_ops);
	mutex_unlock(&pvdma_mutex);
	KUNIT_ASSERT_EQ(test, ret, 0);
	t->pd = pvdma_find(t->dev);
	KUNIT_EXPECT_NOT_NULL(test, t->pd);
	KUNIT_EXPECT_FALSE(test, t->dev->dma_skip_sync);
	KUNIT_EXPECT_TRUE(test, dma_need_sync(t->dev, 0));
}

/* Two lists with the same first DMA address and length, other pages. */
static void translate_unmap_sg_exact_ranges(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	struct scatterlist a[2], b[2];

	/* Every page apart on the host: nothing merges. */
	fh.stride = 2;
	sg_init_table(a, 2);
	sg_set_buf(&a[0], buf, PAGE_SIZE);
	sg_set_buf(&a[1], buf + PAGE_SIZE, PAGE_SIZE);
	sg_init_table(b, 2);
	sg_set_buf(&b[0], buf, PAGE_SIZE);
	sg_set_buf(&b[1], buf + 2 * PAGE_SIZE, PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, dma_map_sg(t->dev, a, 2, DMA_FROM_DEVICE), 2);
	KUNIT_ASSERT_EQ(test, dma_map_sg(t->dev, b, 2, DMA_FROM_DEVICE), 2);
	KUNIT_ASSERT_EQ(test, sg_dma_address(&a[0]), sg_dma_address(&b[0]));

	/* The device still writes b's second page: it must stay pinned. */
	dma_unmap_sg(t->dev, a, 2, DMA_FROM_DEVICE);
	KUNIT_EXPECT_TRUE(test, fake_pinned(virt_to_phys(buf + 2 * PAGE_SIZE)));
	KUNIT_EXPECT_FALSE(test, fake_pinned(virt_to_phys(buf + PAGE_SIZE)));
	dma_unmap_sg(t->dev, b, 2, DMA_FROM_DEVICE);
	KUNIT_EXPECT_FALSE(test, fake_pinned(virt_to_phys(buf)));
	expect_clean(test);
}

/* unmap_page takes neither a list's handle nor one of another direction. */
static void translate_unmap_single_exact(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	struct scatterlist sgl[2];
	dma_addr_t one, from, to;
	u64 h_one, h_sg, h_from;

	/* The same two pages as one buffer, then as a list merged by the host. */
	one = dma_map_single(t->dev, buf, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, one));
	h_one = fh.last_handle;
	sg_init_table(sgl, 2);
	sg_set_buf(&sgl[0], buf, PAGE_SIZE);
	sg_set_buf(&sgl[1], buf + PAGE_SIZE, PAGE_SIZE);
	KUNIT_ASSERT_EQ(test, dma_map_sg(t->dev, sgl, 2, DMA_TO_DEVICE), 1);
	h_sg = fh.last_handle;
	KUNIT_ASSERT_EQ(test, sg_dma_address(sgl), one);
	KUNIT_ASSERT_EQ(test, sg_dma_len(sgl), 2 * PAGE_SIZE);
	dma_unmap_single(t->dev, one, 2 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.last_released, h_one);
	dma_unmap_sg(t->dev, sgl, 2, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.last_released, h_sg);

	/* One buffer both ways: each unmap releases its own direction. */
	from = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_FROM_DEVICE);
	h_from = fh.last_handle;
	to = dma_map_single(t->dev, buf, PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, from, to);
	dma_unmap_single(t->dev, from, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.last_released, h_from);
	/* Unmapped in the wrong direction, but the only fit: released. */
	dma_unmap_single(t->dev, to, PAGE_SIZE, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BAD_UNMAP), 0);
	expect_clean(test);
}

static struct kunit_case translate_cases[] = {
	KUNIT_CASE(translate_map_page),
	KUNIT_CASE(translate_keeps_offset),
	KUNIT_CASE(translate_bidirectional),
	KUNIT_CASE(translate_same_buffer_twice),
	KUNIT_CASE(translate_unmap_unknown),
	KUNIT_CASE(translate_host_error_fails),
	KUNIT_CASE(translate_sg_one_hypercall),
	KUNIT_CASE(translate_sg_scattered),
	KUNIT_CASE(translate_sg_split_to_max_seg),
	KUNIT_CASE(translate_sg_split_to_boundary),
	KUNIT_CASE(translate_unmap_sg_exact_ranges),
	KUNIT_CASE(translate_unmap_single_exact),
	{}
};

static struct kunit_case fallback_cases[] = {
	KUNIT_CASE(fallback_host_enospc),
	KUNIT_CASE(fallback_host_enomem),
	KUNIT_CASE(map_host_busy_repeated),
	KUNIT_CASE(fallback_host_busy),
	KUNIT_CASE(fallback_handle_limit),
	KUNIT_CASE(fallback_not_contiguous),
	KUNIT_CASE(fallback_beyond_mask),
	KUNIT_CASE(fallback_bus_limit),
	KUNIT_CASE(fallback_no_pool_fails),
	KUNIT_CASE(fallback_pool_beyond_mask_fails),
	KUNIT_CASE(fallback_pool_part_below_mask),
	KUNIT_CASE(fallback_sg_refused),
	KUNIT_CASE(fallback_sg_more_segs_than_entries),
	KUNIT_CASE(fallback_sg_beyond_mask),
	KUNIT_CASE(fallback_sg_long_list),
	KUNIT_CASE(fallback_sg_unwind),
	KUNIT_CASE(fallback_sg_host_error_fails),
	KUNIT_CASE(fallback_sg_never_fits_eio),
	{}
};

static struct kunit_case sync_cases[] = {
	KUNIT_CASE(sync_to_device_at_map),
	KUNIT_CASE(sync_from_device_at_unmap),
	KUNIT_CASE(sync_to_device_not_copied_back),
	KUNIT_CASE(sync_for_cpu_from_device),
	KUNIT_CASE(sync_bidirectional),
	KUNIT_CASE(sync_partial_range),
	KUNIT_CASE(sync_skip_cpu_sync_at_unmap),
	KUNIT_CASE(sync_no_stale_pool_data),
	KUNIT_CASE(sync_sg_bounced),
	KUNIT_CASE(sync_translated_is_direct),
	{}
};

static struct kunit_case coherent_cases[] = {
	KUNIT_CASE(coherent_translated),
	KUNIT_CASE(coherent_not_contiguous),
	KUNIT_CASE(coherent_refused),
	KUNIT_CASE(coherent_beyond_mask),
	KUNIT_CASE(coherent_no_pool_fails),
	KUNIT_CASE(coherent_pool_keeps_host_alignment),
	KUNIT_CASE(coherent_alloc_pages_dir),
	KUNIT_CASE(coherent_alloc_pages_from_pool),
	KUNIT_CASE(coherent_free_unknown),
	KUNIT_CASE(coherent_pool_buffer_mapped_again),
	KUNIT_CASE(coherent_translated_aligned),
	{}
};

static struct kunit_case pool_cases[] = {
	KUNIT_CASE(pool_pinned_once),
	KUNIT_CASE(pool_released_in_one_batch),
	KUNIT_CASE(pool_size_rounds_up),
	KUNIT_CASE(pool_init_unwinds),
	KUNIT_CASE(pool_malformed_answer_released),
	KUNIT_CASE(pool_too_large),
	KUNIT_CASE(pool_runs_stay_host_contiguous),
	KUNIT_CASE(pool_full_then_free),
	KUNIT_CASE(pool_unmap_wrong_size),
	KUNIT_CASE(pool_sync_clamped_to_mapping),
	{}
};

/* Bounce paths that hold for swiotlb too (it keeps no in-page offset). */
static struct kunit_case swiotlb_cases[] = {
	KUNIT_CASE(swiotlb_pinned_per_segment),
	KUNIT_CASE(swiotlb_released_on_exit),
	KUNIT_CASE(swiotlb_pin_refused_unwinds),
	KUNIT_CASE(swiotlb_retry_finds_host_contiguous),
	KUNIT_CASE(swiotlb_not_contiguous_fails),
	KUNIT_CASE(swiotlb_beyond_mask_fails),
	KUNIT_CASE(swiotlb_unmap_twice_refused),
	KUNIT_CASE(fallback_host_enospc),
	KUNIT_CASE(fallback_not_contiguous),
	KUNIT_CASE(fallback_beyond_mask),
	KUNIT_CASE(coherent_not_contiguous),
	KUNIT_CASE(coherent_refused),
	KUNIT_CASE(coherent_beyond_mask),
	KUNIT_CASE(coherent_pool_buffer_mapped_again),
	{}
};

static struct kunit_case ops_cases[] = {
	KUNIT_CASE(ops_dma_supported),
	KUNIT_CASE(ops_dma_supported_pool_above_mask),
	KUNIT_CASE(ops_stat_names),
	KUNIT_CASE(ops_required_mask),
	KUNIT_CASE(ops_max_mapping_size),
	KUNIT_CASE(ops_map_resource_refused),
	KUNIT_CASE(ops_get_sgtable),
	KUNIT_CASE(ops_mmap_bounds),
	KUNIT_CASE(ops_detach_releases_leftovers),
	KUNIT_CASE(ops_attach_resets_need_sync),
	{}
};

/* ---- pvdma_guest_cache: translations kept after unmap ---- */

/* A page of its own, as the host wants a shared page to be. */
static struct pvdma_shared cache_status __aligned(PAGE_SIZE);

static int cache_init(struct kunit *test)
{
	int ret = pt_init(test);

	/* Count from here: the bounce pool took its MAPs already. */
	fh.maps = 0;
	fh.unmaps = 0;
	fh.batches = 0;
	cache_status.epoch = 1;
	pvdma_shared_page = &cache_status;
	/* The fake bumps the epoch there. */
	fh.status = &cache_status;
	pvdma_cache_on = true;
	pvdma_cache_entries = 1024;
	pvdma_cache_pages = 16384;
	return ret;
}

static void cache_exit(struct kunit *test)
{
	pvdma_cache_on = true;
	pt_exit(test);
	pvdma_shared_page = NULL;
	pvdma_cache_on = true;
	pvdma_cache_entries = 1024;
	pvdma_cache_pages = 16384;
}

/* Release what the cache keeps, then check that nothing leaked. */
static void cache_expect_clean(struct kunit *test)
{
	struct pt *t = test->priv;

	pvdma_cache_empty(t->pd);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED_PAGES), 0);
	expect_clean(test);
}

static void cache_recycled_single_no_exit(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 4);
	size_t size = 16 * PAGE_SIZE;
	dma_addr_t dma, first = 0;
	int i;

	for (i = 0; i < 100; i++) {
		dma = dma_map_single(t->dev, buf, size, DMA_FROM_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
		if (!i)
			first = dma;
		KUNIT_EXPECT_EQ(test, dma, first);
		/* The device's write lands in the buffer every time. */
		dev_fill(test, dma, i, size);
		dma_unmap_single(t->dev, dma, size, DMA_FROM_DEVICE);
		KUNIT_EXPECT_TRUE(test, !memchr_inv(buf, i, size));
	}
	KUNIT_EXPECT_EQ(test, fh.maps, 1U);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 0U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HYPERCALLS), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_MAP_HYPERCALLS), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_PINS), 16);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_HITS), 99);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_MAPS), 100);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_UNMAPS), 100);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED_PAGES), 16);
	/* The kept pin is live on the host until released, in one batch. */
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	cache_expect_clean(test);
	KUNIT_EXPECT_EQ(test, fh.batches, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_EVICTED), 1);
}

static void cache_recycled_sg_same_segments(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 3);
	struct scatterlist sgl[8], *sg;
	dma_addr_t addr[8];
	int i, j, n;

	/* Every page apart on the host: eight segments. */
	fh.stride = 2;
	sg_init_table(sgl, 8);
	for (i = 0; i < 8; i++)
		sg_set_buf(&sgl[i], buf + i * PAGE_SIZE, PAGE_SIZE);
	for (j = 0; j < 10; j++) {
		n = dma_map_sg(t->dev, sgl, 8, DMA_TO_DEVICE);
		KUNIT_ASSERT_EQ(test, n, 8);
		for_each_sg(sgl, sg, n, i) {
			if (!j)
				addr[i] = sg_dma_address(sg);
			KUNIT_EXPECT_EQ(test, sg_dma_address(sg), addr[i]);
			KUNIT_EXPECT_EQ(test, (u64)sg_dma_address(sg),
					fake_hpa(virt_to_phys(buf + i * PAGE_SIZE)));
			KUNIT_EXPECT_EQ(test, sg_dma_len(sg), PAGE_SIZE);
		}
		dma_unmap_sg(t->dev, sgl, 8, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, fh.maps, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_HITS), 9);
	cache_expect_clean(test);
}

/*
 * A translation kept by unmap_sg of one entry serves map_page of the same
 * buffer, and back: each unmap finds its mapping, whichever op made it.
 */
static void cache_hit_across_page_and_sg(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	size_t size = 2 * PAGE_SIZE;
	struct scatterlist sg;
	dma_addr_t dma;
	int i;

	sg_init_one(&sg, buf, size);
	for (i = 0; i < 2; i++) {
		KUNIT_ASSERT_EQ(test, dma_map_sg(t->dev, &sg, 1, DMA_TO_DEVICE), 1);
		dma_unmap_sg(t->dev, &sg, 1, DMA_TO_DEVICE);
		dma = dma_map_single(t->dev, buf, size, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
		KUNIT_EXPECT_EQ(test, dma, sg_dma_address(&sg));
		dma_unmap_single(t->dev, dma, size, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, fh.maps, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_HITS), 3);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BAD_UNMAP), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 1);
	cache_expect_clean(test);
}

/* Only the exact ranges in the same direction reuse a translation. */
static void cache_key_is_exact(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 1);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf, 512, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 512, DMA_TO_DEVICE);
	dma = dma_map_single(t->dev, buf, 512, DMA_FROM_DEVICE);
	dma_unmap_single(t->dev, dma, 512, DMA_FROM_DEVICE);
	dma = dma_map_single(t->dev, buf, 513, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 513, DMA_TO_DEVICE);
	dma = dma_map_single(t->dev, buf + 8, 512, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(virt_to_phys(buf + 8)));
	dma_unmap_single(t->dev, dma, 512, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.maps, 4U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_HITS), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 4);
	/* And the first is still there. */
	dma = dma_map_single(t->dev, buf, 512, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 512, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.maps, 4U);
	cache_expect_clean(test);
}

/* A moved epoch: everything kept is released before the next map. */
static void cache_epoch_moves(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	dma = dma_map_single(t->dev, b, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 2);

	WRITE_ONCE(cache_status.epoch, 2);
	dma = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, fh.batches, 1U);
	KUNIT_EXPECT_EQ(test, fh.maps, 3U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_STALE), 2);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_HITS), 0);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	/* Made in the new epoch: kept. */
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 1);
	cache_expect_clean(test);
}

/* The host's dirty ring is full: the unmap is repeated until it is done. */
static void cache_unmap_repeated_on_eagain(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	fh.no_cache = true;
	dma = dma_map_single(t->dev, buf, 64, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	fh.unmap_eagain = 2;
	dma_unmap_single(t->dev, dma, 64, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 3U);
	KUNIT_EXPECT_EQ(test, fh.bad_unmaps, 0U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_ERROR), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HYPERCALLS), 4);
	cache_expect_clean(test);
}

/* Keep two, then move the epoch: they are released in one batch. */
static void cache_keep_two_then_stale(struct kunit *test, void **a)
{
	struct pt *t = test->priv;
	dma_addr_t dma;
	int i;

	for (i = 0; i < 2; i++) {
		a[i] = pt_pages(test, 0);
		dma = dma_map_single(t->dev, a[i], 64, DMA_FROM_DEVICE);
		dma_unmap_single(t->dev, dma, 64, DMA_FROM_DEVICE);
	}
	KUNIT_ASSERT_EQ(test, st(test, PVDMA_STAT_CACHED), 2);
	WRITE_ONCE(cache_status.epoch, 2);
}

/* A batch that waits for the dirty ring is repeated, not split. */
static void cache_batch_repeated_on_eagain(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a[2];
	dma_addr_t dma;

	cache_keep_two_then_stale(test, a);
	fh.batch_eagain = 1;
	dma = dma_map_single(t->dev, a[0], 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, fh.batches, 2U);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 0U);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	cache_expect_clean(test);
}

/* More to log than the host's ring takes at once: one by one. */
static void cache_batch_too_big_one_by_one(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a[2];
	dma_addr_t dma;

	cache_keep_two_then_stale(test, a);
	fh.batch_err = -KVM_E2BIG;
	dma = dma_map_single(t->dev, a[0], 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, fh.batches, 1U);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 2U);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	fh.batch_err = 0;
	cache_expect_clean(test);
}

/*
 * The host lost the shared page (its memory went away) and wrote 0 there:
 * nothing kept is used, the page is registered again, and the cache works
 * on in the new epoch.
 */
static void cache_status_lost_registered_again(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;
	int i;

	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, st(test, PVDMA_STAT_CACHED), 1);
	WRITE_ONCE(cache_status.epoch, 0);
	for (i = 0; i < 3; i++) {
		dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
		dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, fh.shared_calls, 1U);
	/* Registered again: the host wrote its epoch there. */
	KUNIT_EXPECT_NE(test, READ_ONCE(cache_status.epoch), 0ULL);
	KUNIT_EXPECT_EQ(test, READ_ONCE(cache_status.epoch), fh.epoch);
	/* The translation kept before was released, not reused. */
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_STALE), 1);
	KUNIT_EXPECT_EQ(test, fh.maps, 2U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_HITS), 2);
	cache_expect_clean(test);
}

/*
 * The host lost the shared page, and its memory is still changing when
 * the guest registers the page again (-PVDMA_EAGAIN): that map keeps
 * nothing, and a later one registers the page; the cache works on.
 */
static void cache_status_lost_host_busy(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;
	int i;

	WRITE_ONCE(cache_status.epoch, 0);
	/* Every epoch read of the first map is refused. */
	fh.shared_eagain = 2;
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_EQ(test, READ_ONCE(cache_status.epoch), 0ULL);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 0);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	KUNIT_EXPECT_EQ(test, fh.shared_eagain, 0U);

	for (i = 0; i < 3; i++) {
		dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
		dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	}
	/* Registered again: the host wrote its epoch there. */
	KUNIT_EXPECT_EQ(test, fh.shared_calls, 3U);
	KUNIT_EXPECT_NE(test, READ_ONCE(cache_status.epoch), 0ULL);
	KUNIT_EXPECT_EQ(test, READ_ONCE(cache_status.epoch), fh.epoch);
	KUNIT_EXPECT_EQ(test, fh.maps, 2U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_HITS), 2);
	cache_expect_clean(test);
}

/* Mapped in one epoch, unmapped in the next: released, never kept. */
static void cache_epoch_moved_while_live(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf, 64, DMA_FROM_DEVICE);
	WRITE_ONCE(cache_status.epoch, 7);
	dma_unmap_single(t->dev, dma, 64, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 0);
	cache_expect_clean(test);
}

/* Dirty logging on the host: the host must see every unmap. */
static void cache_honours_no_cache(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;
	int i;

	fh.no_cache = true;
	for (i = 0; i < 3; i++) {
		dma = dma_map_single(t->dev, buf, 64, DMA_FROM_DEVICE);
		KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
		dma_unmap_single(t->dev, dma, 64, DMA_FROM_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, fh.maps, 3U);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 3U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 0);
	cache_expect_clean(test);
}

/* Over the bound: the oldest quarter goes, in one exit. */
static void cache_bounded_batch_eviction(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 4);
	dma_addr_t dma;
	int i;

	pvdma_cache_entries = 8;
	for (i = 0; i < 9; i++) {
		dma = dma_map_single(t->dev, buf + i * PAGE_SIZE, 64,
				     DMA_TO_DEVICE);
		dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, fh.unmaps, 0U);
	KUNIT_EXPECT_EQ(test, fh.batches, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_EVICTED), 3);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 6);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 6);
	/* The newest are kept, the oldest were released. */
	dma = dma_map_single(t->dev, buf + 8 * PAGE_SIZE, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.maps, 9U);
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.maps, 10U);

	/* The page bound too: a 4-page buffer over a 6-page bound. */
	pvdma_cache_empty(t->pd);
	pvdma_cache_pages = 6;
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	dma = dma_map_single(t->dev, buf + PAGE_SIZE, 4 * PAGE_SIZE,
			     DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 4 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED_PAGES), 5);
	/* Larger than the whole bound: never kept. */
	dma = dma_map_single(t->dev, buf, 8 * PAGE_SIZE, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 8 * PAGE_SIZE, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	cache_expect_clean(test);
}

/* A host at its limit gets the kept pins back; the map still succeeds. */
static void cache_enospc_flushes_and_retries(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 2);
	dma_addr_t dma;
	int i;

	fh.max_handles = t->pool_live + 2;
	for (i = 0; i < 2; i++) {
		dma = dma_map_single(t->dev, buf + i * PAGE_SIZE, 64,
				     DMA_TO_DEVICE);
		dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, fh.live, fh.max_handles);
	dma = dma_map_single(t->dev, buf + 2 * PAGE_SIZE, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_EQ(test, fh.maps, 4U);
	KUNIT_EXPECT_EQ(test, fh.batches, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHE_EVICTED), 2);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_REFUSED), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 0);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);

	/* With nothing kept, a refusal is a refusal: bounced. */
	pvdma_cache_empty(t->pd);
	fh.max_handles = t->pool_live;
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_REFUSED), 1);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	cache_expect_clean(test);
}

static void cache_off(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;
	int i;

	pvdma_cache_on = false;
	for (i = 0; i < 3; i++) {
		dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
		dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	}
	KUNIT_EXPECT_EQ(test, fh.maps, 3U);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 3U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HYPERCALLS), 6);

	/* No shared page: nothing can be kept either. */
	pvdma_cache_on = true;
	pvdma_shared_page = NULL;
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 4U);
	cache_expect_clean(test);
}

/* Memory pvdma frees itself takes no pin with it. */
static void cache_coherent_free_releases(struct kunit *test)
{
	struct pt *t = test->priv;
	dma_addr_t dma;
	void *va;

	va = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, va);
	dma_free_coherent(t->dev, PAGE_SIZE, va, dma);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 0);
	cache_expect_clean(test);
}

/* A kept translation beyond a narrower mask: bounced, no exit, still kept. */
static void cache_hit_beyond_mask(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	fh.base = FAKE_BASE_HIGH;
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(dma));
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);

	t->mask = DMA_BIT_MASK(32);
	memset(buf, 0x3c, 64);
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_LE(test, (u64)dma + 63, DMA_BIT_MASK(32));
	KUNIT_EXPECT_TRUE(test, dev_sees(test, dma, 0x3c, 64));
	KUNIT_EXPECT_EQ(test, fh.maps, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BEYOND_MASK), 1);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 1);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	cache_expect_clean(test);
}

/* force_bounce: every streaming map goes through the pool, no exit. */
static void cache_force_bounce(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	u64 copied = pvdma_bounce_copied();
	struct scatterlist sgl[2];
	dma_addr_t dma;

	pvdma_force_bounce = true;
	dma = dma_map_single(t->dev, buf, 100, DMA_BIDIRECTIONAL);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(dma));
	dma_unmap_single(t->dev, dma, 100, DMA_BIDIRECTIONAL);
	/* Copied in at map, out at unmap. */
	KUNIT_EXPECT_EQ(test, pvdma_bounce_copied() - copied, 200);
	sg_init_table(sgl, 2);
	sg_set_buf(&sgl[0], buf, 64);
	sg_set_buf(&sgl[1], buf + 64, 64);
	KUNIT_EXPECT_EQ(test, dma_map_sg(t->dev, sgl, 2, DMA_TO_DEVICE), 2);
	KUNIT_EXPECT_TRUE(test, pvdma_bounce_is(sg_dma_address(sgl)));
	dma_unmap_sg(t->dev, sgl, 2, DMA_TO_DEVICE);
	pvdma_force_bounce = false;
	KUNIT_EXPECT_EQ(test, fh.maps, 0U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_BOUNCED_MAPS), 2);
	cache_expect_clean(test);
}

/* The epoch moves while the host translates: the translation is stale. */
static void cache_epoch_moves_during_map(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	dma_addr_t dma, stale;

	fh.bump_on_map = fh.maps + 1;
	stale = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, stale));
	KUNIT_ASSERT_EQ(test, fh.epoch, 2ULL);
	/* Another map sees the new epoch... */
	dma = dma_map_single(t->dev, b, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	/* ...and a's translation, made before it, must not be kept. */
	dma_unmap_single(t->dev, stale, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.unmaps, 1U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 1);
	dma = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(virt_to_phys(a)));
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	cache_expect_clean(test);
}

/* The same for the map retried after the host's -PVDMA_ENOSPC. */
static void cache_epoch_moves_during_retry(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	void *c = pt_pages(test, 0);
	dma_addr_t dma, stale;

	/* One handle left, which c's kept translation takes. */
	fh.max_handles = t->pool_live + 1;
	dma = dma_map_single(t->dev, c, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	/* a is refused, c released, and the retry races with the epoch. */
	fh.bump_on_map = fh.maps + 2;
	stale = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, stale));
	KUNIT_ASSERT_FALSE(test, pvdma_bounce_is(stale));
	KUNIT_ASSERT_EQ(test, fh.epoch, 2ULL);
	fh.max_handles = FAKE_HANDLES;
	dma = dma_map_single(t->dev, b, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, stale, 64, DMA_TO_DEVICE);
	/* b only. */
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 1);
	dma = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(virt_to_phys(a)));
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	cache_expect_clean(test);
}

/* A translation handed back after the epoch moved is not kept again. */
static void cache_undo_get_after_epoch_moved(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	u64 *scratch = pt_pages(test, 0);
	struct pvdma_range ra = { .gpa = virt_to_phys(a), .len = 64 };
	struct pvdma_range rb = { .gpa = virt_to_phys(b), .len = 64 };
	struct pvdma_xlat *hit;
	dma_addr_t dma;

	dma = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	/* A map takes a's kept translation, then finds it unsuitable... */
	hit = pvdma_cache_take(t->pd, &ra, 1, PVDMA_MAP_TO_DEVICE, scratch);
	KUNIT_ASSERT_NOT_NULL(test, hit);
	/* ...while the epoch moves and a map on another CPU sees it. */
	fake_bump_epoch();
	KUNIT_EXPECT_NULL(test, pvdma_cache_take(t->pd, &rb, 1,
						 PVDMA_MAP_TO_DEVICE, scratch));
	pvdma_cache_put_back(t->pd, hit);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 0);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	dma = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_EQ(test, (u64)dma, fake_hpa(virt_to_phys(a)));
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	cache_expect_clean(test);
}

/* A host at its limit gets back what other devices keep, too. */
static void cache_enospc_flushes_every_device(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	struct pvdma_dev *pd2;
	struct device *dev2;
	dma_addr_t dma;
	int ret;

	dev2 = kunit_device_register(test, "pvdma-guest-test2");
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dev2);
	dev2->coherent_dma_mask = DMA_BIT_MASK(64);
	mutex_lock(&pvdma_mutex);
	ret = pvdma_dev_add(dev2, &pvdma_dma_ops);
	mutex_unlock(&pvdma_mutex);
	KUNIT_ASSERT_EQ(test, ret, 0);
	pd2 = pvdma_find(dev2);
	KUNIT_ASSERT_NOT_NULL(test, pd2);

	/* The other device keeps the last handle the host gives. */
	fh.max_handles = t->pool_live + 1;
	dma = dma_map_single(dev2, b, 64, DMA_TO_DEVICE);
	dma_unmap_single(dev2, dma, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, pvdma_stat_read(pd2, PVDMA_STAT_CACHED), 1);
	/* So this device's map must get it back rather than bounce. */
	dma = dma_map_single(t->dev, a, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_FALSE(test, pvdma_bounce_is(dma));
	KUNIT_EXPECT_EQ(test, pvdma_stat_read(pd2, PVDMA_STAT_CACHED), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_REFUSED), 0);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);

	mutex_lock(&pvdma_mutex);
	pvdma_dev_del(pd2);
	mutex_unlock(&pvdma_mutex);
	cache_expect_clean(test);
}

static struct pvdma_dev *race_pd;
static unsigned int race_calls;

/*
 * Stands in for pvdma_cache_keepable(): the unmap's first look finds the
 * cache on, and "echo 0 > cache" lands right after it, as it can on
 * another CPU: the cache goes off and everything kept is released.
 */
static bool cache_off_after_first_look(const struct pvdma_xlat *map)
{
	if (!race_calls++) {
		WRITE_ONCE(pvdma_cache_on, false);
		pvdma_cache_empty(race_pd);
		return true;
	}
	return READ_ONCE(pvdma_cache_on);
}

static void cache_off_races_unmap(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	race_pd = t->pd;
	race_calls = 0;
	kunit_activate_static_stub(test, pvdma_cache_keepable,
				   cache_off_after_first_look);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	kunit_deactivate_static_stub(test, pvdma_cache_keepable);
	KUNIT_ASSERT_GE(test, race_calls, 1U);
	/* cache=0 hands every kept pin back: none may slip in behind it. */
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_CACHED), 0);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	cache_expect_clean(test);
}

static struct kunit_case cache_cases[] = {
	KUNIT_CASE(cache_recycled_single_no_exit),
	KUNIT_CASE(cache_recycled_sg_same_segments),
	KUNIT_CASE(cache_hit_across_page_and_sg),
	KUNIT_CASE(cache_key_is_exact),
	KUNIT_CASE(cache_epoch_moves),
	KUNIT_CASE(cache_epoch_moved_while_live),
	KUNIT_CASE(cache_unmap_repeated_on_eagain),
	KUNIT_CASE(cache_batch_repeated_on_eagain),
	KUNIT_CASE(cache_batch_too_big_one_by_one),
	KUNIT_CASE(cache_status_lost_registered_again),
	KUNIT_CASE(cache_status_lost_host_busy),
	KUNIT_CASE(cache_honours_no_cache),
	KUNIT_CASE(cache_bounded_batch_eviction),
	KUNIT_CASE(cache_enospc_flushes_and_retries),
	KUNIT_CASE(cache_off),
	KUNIT_CASE(cache_coherent_free_releases),
	KUNIT_CASE(cache_hit_beyond_mask),
	KUNIT_CASE(cache_force_bounce),
	KUNIT_CASE(cache_epoch_moves_during_map),
	KUNIT_CASE(cache_epoch_moves_during_retry),
	KUNIT_CASE(cache_undo_get_after_epoch_moved),
	KUNIT_CASE(cache_enospc_flushes_every_device),
	KUNIT_CASE(cache_off_races_unmap),
	{}
};

static struct kunit_suite pvdma_guest_cache = {
	.name = "pvdma_guest_cache",
	.init = cache_init,
	.exit = cache_exit,
	.test_cases = cache_cases,
};

/* ---- pvdma_guest_log: what pvdma says in the kernel log ---- */

/* Mark the end of the kernel log, to read only what comes after. */
static void log_mark(struct kmsg_dump_iter *it)
{
	kmsg_dump_rewind(it);
	it->cur_seq = it->next_seq;
}

/* Did pvdma log anything since log_mark()? */
static bool log_has_pvdma(struct kmsg_dump_iter *it)
{
	char line[256];
	bool found = false;
	size_t len;

	while (kmsg_dump_get_line(it, false, line, sizeof(line) - 1, &len)) {
		line[len] = '\0';
		if (strstr(line, "pvdma: "))
			found = true;
	}
	return found;
}

/* DMA_ATTR_NO_WARN and __GFP_NOWARN: the caller handles the failure. */
static void log_no_warn_is_quiet(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	struct kmsg_dump_iter it;
	struct scatterlist sg;
	dma_addr_t dma;
	void *cpu;

	/* No pool, and a host that refuses: every mapping fails. */
	KUNIT_ASSERT_EQ(test, pool_reinit(test, 0), 0);
	log_mark(&it);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	dma = dma_map_single_attrs(t->dev, buf, 64, DMA_TO_DEVICE,
				   DMA_ATTR_NO_WARN);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	fake_fail(0, 1, -KVM_EFAULT);
	sg_init_one(&sg, buf, 64);
	KUNIT_EXPECT_EQ(test, dma_map_sg_attrs(t->dev, &sg, 1, DMA_TO_DEVICE,
					       DMA_ATTR_NO_WARN), 0);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	cpu = dma_alloc_attrs(t->dev, PAGE_SIZE, &dma, GFP_KERNEL,
			      DMA_ATTR_NO_WARN);
	KUNIT_EXPECT_NULL(test, cpu);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	cpu = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma,
				 GFP_KERNEL | __GFP_NOWARN);
	KUNIT_EXPECT_NULL(test, cpu);
	dma = dma_map_resource(t->dev, 0xfe000000, PAGE_SIZE, DMA_TO_DEVICE,
			       DMA_ATTR_NO_WARN);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_FALSE(test, log_has_pvdma(&it));
	/* Quiet, but still counted. */
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_FAILURES), 5);

	/* Without it, the same failure is reported. */
	log_mark(&it);
	fake_fail(0, 1, -PVDMA_ENOSPC);
	dma = dma_map_single(t->dev, buf, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	KUNIT_EXPECT_TRUE(test, log_has_pvdma(&it));
	expect_clean(test);
}

static struct kunit_case log_cases[] = {
	KUNIT_CASE(log_no_warn_is_quiet),
	{}
};

/* ---- pvdma_guest_life: start, reboot, kexec, crash, hibernation, unload ---- */

static int life_init(struct kunit *test)
{
	int ret = pt_init(test);
	struct pt *t = test->priv;

	/* As pvdma starts: with its shared page registered, cache on. */
	t->status = pt_pages(test, 0);
	KUNIT_ASSERT_EQ(test, fake_set_shared(virt_to_phys(t->status), 0), 0);
	pvdma_shared_page = t->status;
	pvdma_cache_on = true;
	return ret;
}

static void life_exit(struct kunit *test)
{
	pt_exit(test);
	pvdma_shared_page = NULL;
	pvdma_ready = false;
}

/* Pin @buf's page as an earlier kernel of this VM did, with its own descriptors. */
static void life_leftover(struct kunit *test, void *buf)
{
	struct pvdma_range *r = pt_pages(test, 0);
	struct pvdma_map_result *res = (void *)r + 64;

	r->gpa = virt_to_phys(buf);
	r->len = PAGE_SIZE;
	res->max_segs = 1;
	KUNIT_ASSERT_EQ(test, fake_map(virt_to_phys(r), 1, virt_to_phys(res),
				       PVDMA_MAP_FROM_DEVICE), 0);
}

/* A kernel starting after a reboot or kexec of the VM drops what was left. */
static void life_start_from_clean_slate(struct kunit *test)
{
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);

	/* Starting: no pool yet, but an earlier kernel's pin and shared page. */
	pvdma_bounce_exit();
	t->pool_live = 0;
	life_leftover(test, buf);
	KUNIT_ASSERT_EQ(test, fh.live, 1U);

	/* A crash kernel keeps them: the crashed kernel's devices may DMA. */
	KUNIT_ASSERT_EQ(test, pvdma_host_probe(false), 0);
	KUNIT_EXPECT_EQ(test, fh.probe_flags, 0U);
	KUNIT_EXPECT_EQ(test, fh.live, 1U);
	KUNIT_EXPECT_NOT_NULL(test, fh.status);

	/* Any other kernel starts from a clean slate. */
	KUNIT_ASSERT_EQ(test, pvdma_host_probe(true), 0);
	KUNIT_EXPECT_EQ(test, fh.probe_flags, PVDMA_PROBE_RESET);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_NULL(test, fh.status);
	/* ABI: the info is 8-aligned and within one page. */
	KUNIT_EXPECT_TRUE(test, IS_ALIGNED(fh.probe_gpa, 8));
	KUNIT_EXPECT_LE(test, offset_in_page(fh.probe_gpa) +
			sizeof(struct pvdma_info), PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, pvdma_host_limits.max_ranges, 16U);

	/* A host from before PVDMA_PROBE_RESET still serves the guest. */
	fh.reset_unknown = true;
	life_leftover(test, buf);
	KUNIT_EXPECT_EQ(test, pvdma_host_probe(true), 0);
	KUNIT_EXPECT_EQ(test, fh.live, 1U);
	fake_release_all();

	KUNIT_ASSERT_EQ(test, pool_reinit(test, POOL_SIZE), 0);
	expect_clean(test);
}

/* However many pages the host takes per MAP, the guest sends a bounded map. */
static void life_map_pages_bounded(struct kunit *test)
{
	struct pt *t = test->priv;
	struct pvdma_info saved = pvdma_host_limits;
	unsigned int nents = 9, i;
	struct scatterlist *sgl;
	int n;

	fh.info.max_map_pages = 8192;
	KUNIT_ASSERT_EQ(test, pvdma_host_probe(false), 0);
	KUNIT_EXPECT_LE(test, pvdma_host_limits.max_map_pages,
			(u32)MAX_ORDER_NR_PAGES);
	KUNIT_EXPECT_LE(test, dma_max_mapping_size(t->dev),
			(size_t)MAX_ORDER_NR_PAGES << PAGE_SHIFT);

	/* 9 x 512 KiB: 1152 pages in one list. */
	sgl = kunit_kcalloc(test, nents, sizeof(*sgl), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sgl);
	sg_init_table(sgl, nents);
	for (i = 0; i < nents; i++)
		sg_set_buf(&sgl[i], pt_pages(test, 7), SZ_512K);
	fh.max_pages_seen = 0;
	n = dma_map_sg(t->dev, sgl, nents, DMA_TO_DEVICE);
	KUNIT_EXPECT_LE(test, fh.max_pages_seen, (u32)MAX_ORDER_NR_PAGES);
	if (n)
		dma_unmap_sg(t->dev, sgl, nents, DMA_TO_DEVICE);
	pvdma_host_limits = saved;
	cache_expect_clean(test);
}

/* Reboot, halt or kexec: once devices are shut down, everything goes back. */
static void life_reboot_releases_everything(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	struct pvdma_shared *old = t->status;
	struct scatterlist sg;
	dma_addr_t live, dma;
	u64 epoch;
	void *cpu;

	/* A mapping still live, one kept, and the bounce pool's pins. */
	live = dma_map_single(t->dev, a, 64, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, live));
	dma = dma_map_single(t->dev, b, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	KUNIT_ASSERT_EQ(test, fh.live, t->pool_live + 2);

	pvdma_reboot_release(true);
	/* The host forgot this kernel: no pin, no shared page to write. */
	KUNIT_EXPECT_EQ(test, fh.resets, 1U);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	KUNIT_EXPECT_NULL(test, fh.status);
	epoch = old->epoch;
	fake_bump_epoch();
	/* The old page, someone else's memory by now, is not written. */
	KUNIT_EXPECT_EQ(test, old->epoch, epoch);

	/* Nothing new is pinned, nor bounced through released memory. */
	dma = dma_map_single(t->dev, b, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_TRUE(test, dma_mapping_error(t->dev, dma));
	sg_init_one(&sg, b, 64);
	KUNIT_EXPECT_EQ(test, dma_map_sg(t->dev, &sg, 1, DMA_TO_DEVICE), 0);
	cpu = dma_alloc_coherent(t->dev, PAGE_SIZE, &dma, GFP_KERNEL);
	KUNIT_EXPECT_NULL(test, cpu);
	KUNIT_EXPECT_EQ(test, fh.live, 0U);
	/* A driver that still unmaps is not told the host forgot it. */
	dma_unmap_single(t->dev, live, 64, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.bad_unmaps, 0U);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_LIVE), 0);
	KUNIT_EXPECT_EQ(test, st(test, PVDMA_STAT_HOST_ERROR), 0);
}

/* A crash kernel's shutdown: the crashed kernel's devices may still DMA. */
static void life_kdump_shutdown_keeps_pins(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0);
	struct pvdma_shared *old = t->status;
	dma_addr_t live;
	u64 epoch;

	live = dma_map_single(t->dev, a, 64, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, live));
	pvdma_reboot_release(false);
	KUNIT_EXPECT_EQ(test, fh.resets, 0U);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	KUNIT_EXPECT_NULL(test, fh.status);
	epoch = old->epoch;
	fake_bump_epoch();
	/* The old page, someone else's memory by now, is not written. */
	KUNIT_EXPECT_EQ(test, old->epoch, epoch);
	/* What is still live is released one by one, as ever. */
	dma_unmap_single(t->dev, live, 64, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	cache_expect_clean(test);
}

/* A host that does not know PVDMA_PROBE_RESET: the page goes, pins stay. */
static void life_reboot_old_host(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0);
	dma_addr_t live;

	fh.reset_unknown = true;
	live = dma_map_single(t->dev, a, 64, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, live));
	pvdma_reboot_release(true);
	KUNIT_EXPECT_NULL(test, fh.status);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	dma_unmap_single(t->dev, live, 64, DMA_FROM_DEVICE);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	cache_expect_clean(test);
}

/* Panic: devices run on until the reset, but the page must not be written. */
static void life_panic_clears_page_only(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	struct pvdma_shared *old = t->status;
	dma_addr_t live, dma;
	u64 epoch;

	live = dma_map_single(t->dev, a, 64, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, live));
	pvdma_panic_clear();
	KUNIT_EXPECT_NULL(test, fh.status);
	KUNIT_EXPECT_EQ(test, fh.resets, 0U);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live + 1);
	epoch = old->epoch;
	fake_bump_epoch();
	/* The old page, someone else's memory by now, is not written. */
	KUNIT_EXPECT_EQ(test, old->epoch, epoch);
	/* A panic console on the device (netconsole) still maps. */
	dma = dma_map_single(t->dev, b, 64, DMA_TO_DEVICE);
	KUNIT_EXPECT_FALSE(test, dma_mapping_error(t->dev, dma));
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, live, 64, DMA_FROM_DEVICE);
	cache_expect_clean(test);
}

static void life_hibernation_refused(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, pvdma_pm_notify(NULL, PM_HIBERNATION_PREPARE,
					      NULL),
			notifier_from_errno(-EBUSY));
	KUNIT_EXPECT_EQ(test, pvdma_pm_notify(NULL, PM_RESTORE_PREPARE, NULL),
			notifier_from_errno(-EBUSY));
	/* Suspend to RAM keeps the VM, and every host address, as it is. */
	KUNIT_EXPECT_EQ(test, pvdma_pm_notify(NULL, PM_SUSPEND_PREPARE, NULL),
			NOTIFY_DONE);
	cache_expect_clean(test);
}

/* Bind @dev to a driver of the kunit bus, as a PCI driver would bind. */
static void life_bind(struct kunit *test, struct device *dev)
{
	if (!dev->driver)
		KUNIT_ASSERT_EQ(test, device_attach(dev), 1);
	KUNIT_ASSERT_NOT_NULL(test, dev->driver);
}

static void life_try_attach(struct pt *t)
{
	device_lock(t->dev);
	mutex_lock(&pvdma_mutex);
	pvdma_try_attach(t->dev);
	mutex_unlock(&pvdma_mutex);
	device_unlock(t->dev);
	t->pd = pvdma_find(t->dev);
}

/* Unload: the device is unbound, kept from drivers, and released. */
static void life_unload_fences_device(struct kunit *test)
{
	static const struct device_driver edu = { .name = "pvdma_edu_test" };
	struct pt *t = test->priv;
	void *buf = pt_pages(test, 0);
	dma_addr_t dma;

	/* A driver bound while pvdma was going away, with a mapping live. */
	life_bind(test, t->dev);
	dma = dma_map_single(t->dev, buf, 64, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	pvdma_dev_leave(t->pd);
	t->pd = pvdma_find(t->dev);
	KUNIT_EXPECT_NULL(test, t->pd);
	KUNIT_EXPECT_NULL(test, t->dev->driver);
	KUNIT_EXPECT_NULL(test, get_dma_ops(t->dev));
	/* No driver may bind: it would program guest-physical addresses. */
	KUNIT_EXPECT_EQ(test, device_match_driver_override(t->dev, &edu), 0);
	/* What the driver left mapped went back to the host. */
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
}

/* Loading pvdma again attaches the device and lifts its fence, only its. */
static void life_reload_lifts_fence(struct kunit *test)
{
	static const struct device_driver edu = { .name = "pvdma_edu_test" };
	static const struct device_driver vfio = { .name = "vfio-pci" };
	struct pt *t = test->priv;

	device_release_driver(t->dev);
	pvdma_dev_leave(t->pd);
	t->pd = pvdma_find(t->dev);
	KUNIT_ASSERT_NULL(test, t->pd);
	KUNIT_ASSERT_EQ(test, device_match_driver_override(t->dev, &edu), 0);

	pvdma_ready = true;
	life_try_attach(t);
	KUNIT_ASSERT_NOT_NULL(test, t->pd);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &pvdma_dma_ops);
	KUNIT_EXPECT_LT(test, device_match_driver_override(t->dev, &edu), 0);

	/* An override the administrator set is none of pvdma's business. */
	pvdma_dev_leave(t->pd);
	KUNIT_ASSERT_EQ(test, device_set_driver_override(t->dev, "vfio-pci"), 0);
	life_try_attach(t);
	KUNIT_ASSERT_NOT_NULL(test, t->pd);
	KUNIT_EXPECT_GT(test, device_match_driver_override(t->dev, &vfio), 0);
	cache_expect_clean(test);
}

/* Attach only while pvdma runs, and only a device no driver has. */
static void life_attach_policy(struct kunit *test)
{
	struct pt *t = test->priv;

	device_release_driver(t->dev);
	mutex_lock(&pvdma_mutex);
	pvdma_dev_del(t->pd);
	mutex_unlock(&pvdma_mutex);
	t->pd = NULL;

	/* Not started, or being unloaded. */
	pvdma_ready = false;
	life_try_attach(t);
	KUNIT_EXPECT_NULL(test, t->pd);
	KUNIT_EXPECT_NULL(test, get_dma_ops(t->dev));
	/* Bound: its driver may hold guest-physical mappings. */
	pvdma_ready = true;
	life_bind(test, t->dev);
	life_try_attach(t);
	KUNIT_EXPECT_NULL(test, t->pd);
	/* Running, unbound: attached. */
	device_release_driver(t->dev);
	life_try_attach(t);
	KUNIT_EXPECT_NOT_NULL(test, t->pd);
	KUNIT_EXPECT_PTR_EQ(test, get_dma_ops(t->dev), &pvdma_dma_ops);
}

/* Removed with mappings its driver never unmapped: nothing stays behind. */
static void life_removed_with_live_mappings(struct kunit *test)
{
	struct pt *t = test->priv;
	void *a = pt_pages(test, 0), *b = pt_pages(test, 0);
	dma_addr_t dma;

	dma = dma_map_single(t->dev, b, 64, DMA_TO_DEVICE);
	dma_unmap_single(t->dev, dma, 64, DMA_TO_DEVICE);
	dma = dma_map_single(t->dev, a, 64, DMA_FROM_DEVICE);
	KUNIT_ASSERT_FALSE(test, dma_mapping_error(t->dev, dma));
	device_release_driver(t->dev);
	pvdma_dev_removed(t->dev);
	t->pd = pvdma_find(t->dev);
	KUNIT_EXPECT_NULL(test, t->pd);
	KUNIT_EXPECT_EQ(test, fh.live, t->pool_live);
	KUNIT_EXPECT_NULL(test, get_dma_ops(t->dev));
}

static struct kunit_case life_cases[] = {
	KUNIT_CASE(life_start_from_clean_slate),
	KUNIT_CASE(life_map_pages_bounded),
	KUNIT_CASE(life_reboot_releases_everything),
	KUNIT_CASE(life_kdump_shutdown_keeps_pins),
	KUNIT_CASE(life_reboot_old_host),
	KUNIT_CASE(life_panic_clears_page_only),
	KUNIT_CASE(life_hibernation_refused),
	KUNIT_CASE(life_unload_fences_device),
	KUNIT_CASE(life_reload_lifts_fence),
	KUNIT_CASE(life_attach_policy),
	KUNIT_CASE(life_removed_with_live_mappings),
	{}
};

static struct kunit_suite pvdma_guest_life = {
	.name = "pvdma_guest_life",
	.init = life_init,
	.exit = life_exit,
	.test_cases = life_cases,
};

#define PVDMA_SUITE_ON(sname, cases, sinit)	\
	static struct kunit_suite sname = {	\
		.name = #sname,			\
		.init = sinit,			\
		.exit = pt_exit,		\
		.test_cases = cases,		\
	}
#define PVDMA_SUITE(sname, cases) PVDMA_SUITE_ON(sname, cases, pt_init)

PVDMA_SUITE(pvdma_guest_log, log_cases);
PVDMA_SUITE(pvdma_guest_translate, translate_cases);
PVDMA_SUITE(pvdma_guest_fallback, fallback_cases);
PVDMA_SUITE(pvdma_guest_sync, sync_cases);
PVDMA_SUITE(pvdma_guest_coherent, coherent_cases);
PVDMA_SUITE(pvdma_guest_pool, pool_cases);
PVDMA_SUITE(pvdma_guest_ops, ops_cases);
PVDMA_SUITE_ON(pvdma_guest_swiotlb, swiotlb_cases, pt_init_swiotlb);
PVDMA_SUITE_ON(pvdma_guest_swiotlb_sync, sync_cases, pt_init_swiotlb);

/* The log suite first: dev_err_ratelimited() must not have throttled it. */
kunit_test_suites(&pvdma_guest_log, &pvdma_guest_translate,
		  &pvdma_guest_fallback, &pvdma_guest_sync,
		  &pvdma_guest_coherent, &pvdma_guest_pool, &pvdma_guest_ops,
		  &pvdma_guest_cache, &pvdma_guest_life, &pvdma_guest_swiotlb,
		  &pvdma_guest_swiotlb_sync);

MODULE_DESCRIPTION("KUnit suites for the PVDMA guest");
MODULE_LICENSE("GPL");
