// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit suites for the PVDMA host pinning engine (host/pin_sg).
 *
 * The engine is driven through a fake &struct pvdma_pin_backend.  The fake
 * guest has 1024 frames in five "memslots" (plus a hole), each with its own
 * host virtual base, so ranges can cross slot boundaries.  Every guest frame
 * is backed by one page of a real order-10 block; the layout (which page
 * backs which frame) decides what the engine may merge.  The fake counts
 * every pin per page, so an unpin of a page that is not pinned, or a pin left
 * behind, fails the test; it can fail the Nth resolve or pin call and give
 * short pins, to walk every unwind path.  Like FOLL_PIN, each pin adds
 * GUP_PIN_COUNTING_BIAS to the page's reference count.
 *
 * It also fakes what KVM gives the engine around a pin: the invalidation
 * sequence (an invalidation can be injected right after the Nth pin, with
 * the frame getting another page, as a discard by the VMM would do), and a
 * dirty ring with a soft limit, whose overflow fails the test.
 *
 * KUnit runs each case in a kernel thread without an mm, so each case
 * charges a fresh mm from mm_alloc() and checks that its pinned_vm is back
 * to zero at the end.
 */

#include <kunit/test.h>
#include <kunit/test-bug.h>
#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/kthread.h>
#include <linux/gfp.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/prandom.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include <asm/io.h>

#include "pvdma_pin_sg.h"

#define FAKE_ORDER		10
#define FAKE_NR_GFNS		BIT(FAKE_ORDER)

/* Guest-physical address of frame @gfn, plus @off bytes. */
#define GPA(gfn, off)		(((u64)(gfn) << PAGE_SHIFT) + (off))

enum fake_slot_kind { FAKE_RAM, FAKE_RO, FAKE_PRIVATE };

struct fake_slot {
	u64 base_gfn;
	unsigned long npages;
	unsigned long hva;
	enum fake_slot_kind kind;
};

/* Frames 768..831 have no slot; everything from 1024 on neither. */
#define GFN_SLOT1		640
#define GFN_HOLE		768
#define GFN_RO			832
#define GFN_PRIVATE		896
#define GFN_LAST_SLOT		960

static const struct fake_slot fake_slots[] = {
	{ 0,		 640, 0x100000000000UL, FAKE_RAM },
	{ GFN_SLOT1,	 128, 0x200000000000UL, FAKE_RAM },
	{ GFN_RO,	  64, 0x300000000000UL, FAKE_RO },
	{ GFN_PRIVATE,	  64, 0x400000000000UL, FAKE_PRIVATE },
	{ GFN_LAST_SLOT,  64, 0x500000000000UL, FAKE_RAM },
};

/**
 * struct fake - the fake guest and host of one test case
 * @test:		the test case.
 * @block:		host pages backing the guest, FAKE_NR_GFNS of them.
 * @host_idx:		which page of @block backs each guest frame.
 * @pins:		live pins of each page of @block.
 * @live_pins:		sum of @pins.
 * @mm:			the mm the engine charges.
 * @vm:			the tracker under test.
 * @limits:		its limits.
 * @segs:		segment buffer for maps.
 * @req:		the last map request.
 * @resolve_calls:	calls of resolve so far.
 * @pin_calls:		calls of pin so far.
 * @unpin_calls:	calls of unpin so far.
 * @max_pin_npages:	most pages asked for in one pin call.
 * @write_pins:		pin calls with write set.
 * @read_pins:		pin calls without write.
 * @fail_resolve_at:	fail this resolve call (1-based), 0 for never.
 * @resolve_err:	what that call returns.
 * @fail_pin_at:	fail this pin call (1-based), 0 for never.
 * @pin_err:		what that call returns.
 * @resolve_max:	resolve at most this many frames per call, 0: no cap.
 * @pin_max:		pin at most this many pages per call, 0: no cap.
 * @dirty_unpins:	pages unpinned dirty.
 * @clean_unpins:	pages unpinned clean.
 * @dirty_gfns:		frames passed to mark_dirty.
 * @mark_dirty_pages:	sum of the npages passed to mark_dirty.
 * @publish_calls:	calls of the publish callback.
 * @publish_err:	what the publish callback returns.
 * @published:		the handle the publish callback saw last.
 * @publish_probe:	make the publish callback try to unmap the new handle.
 * @probe_ret:		what that unmap returned.
 * @pins_at_publish:	@live_pins when publish was called.
 * @mmu_seq:		invalidations finished so far.
 * @commit_calls:	calls of commit so far.
 * @stale_commits:	commits refused as stale.
 * @always_stale:	refuse every commit, as under a stream of invalidations.
 * @inject_at_pin:	after this pin call (1-based), 0 for never, the host
 *			discards the memory behind @inject_gfn: the frame gets
 *			the page of the unused frame @inject_spare.
 * @inject_gfn:		see @inject_at_pin.
 * @inject_spare:	see @inject_at_pin.
 * @ring_soft:		the fake dirty ring's soft limit, 0 for no ring (the
 *			bitmap: logging is never short of room).
 * @ring_used:		entries pushed and not harvested.
 * @ring_exits:		times the backend had to make the vCPU exit.
 * @dirty_count:	times each frame was logged.
 */
struct fake {
	struct kunit *test;
	struct page *block;
	unsigned int host_idx[FAKE_NR_GFNS];
	unsigned int pins[FAKE_NR_GFNS];
	long live_pins;
	struct mm_struct *mm;
	struct pvdma_vm *vm;
	struct pvdma_limits limits;
	struct pvdma_seg *segs;
	struct pvdma_map_req req;

	unsigned long resolve_calls;
	unsigned long pin_calls;
	unsigned long unpin_calls;
	unsigned long max_pin_npages;
	unsigned long write_pins;
	unsigned long read_pins;

	unsigned long fail_resolve_at;
	long resolve_err;
	unsigned long fail_pin_at;
	long pin_err;
	unsigned long resolve_max;
	unsigned long pin_max;

	unsigned long dirty_unpins;
	unsigned long clean_unpins;
	DECLARE_BITMAP(dirty_gfns, FAKE_NR_GFNS);
	unsigned long mark_dirty_pages;

	unsigned long publish_calls;
	int publish_err;
	u64 published;
	bool publish_probe;
	long probe_ret;
	long pins_at_publish;

	unsigned long mmu_seq;
	unsigned long commit_calls;
	unsigned long stale_commits;
	bool always_stale;
	unsigned long inject_at_pin;
	u64 inject_gfn;
	u64 inject_spare;

	unsigned long ring_soft;
	unsigned long ring_used;
	unsigned long ring_exits;
	u8 dirty_count[FAKE_NR_GFNS];
};

/* A fake ring has this many entries beyond its soft limit, as KVM's. */
#define FAKE_RING_RSVD		64

static const struct pvdma_limits fake_default_limits = {
	.max_pinned_pages = 4096,
	.max_handles = 64,
	.max_map_pages = 2048,
};

/* unpin() gets no context: find the fake through the running test. */
static struct fake *fake_current(void)
{
	struct kunit *test = kunit_get_current_test();

	return test ? test->priv : NULL;
}

static const struct fake_slot *fake_slot_of_gfn(u64 gfn)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fake_slots); i++)
		if (gfn >= fake_slots[i].base_gfn &&
		    gfn - fake_slots[i].base_gfn < fake_slots[i].npages)
			return &fake_slots[i];
	return NULL;
}

/* The slot holding all of [@hva, @hva + @npages pages), or NULL. */
static const struct fake_slot *fake_slot_of_hva(unsigned long hva,
						unsigned long npages)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fake_slots); i++) {
		const struct fake_slot *s = &fake_slots[i];

		if (hva >= s->hva && !offset_in_page(hva) &&
		    ((hva - s->hva) >> PAGE_SHIFT) + npages <= s->npages)
			return s;
	}
	return NULL;
}

static struct page *fake_page(struct fake *f, u64 gfn)
{
	return nth_page(f->block, f->host_idx[gfn]);
}

static u64 fake_phys(struct fake *f, u64 gfn)
{
	return page_to_phys(fake_page(f, gfn));
}

static long fake_resolve(void *ctx, u64 gfn, unsigned long max, bool write,
			 unsigned long *hva)
{
	struct fake *f = ctx;
	const struct fake_slot *s;
	unsigned long n;

	KUNIT_EXPECT_PTR_EQ(f->test, f, fake_current());
	f->resolve_calls++;
	if (f->fail_resolve_at && f->resolve_calls == f->fail_resolve_at)
		return f->resolve_err;
	KUNIT_EXPECT_GT(f->test, max, 0);

	s = fake_slot_of_gfn(gfn);
	if (!s)
		return -KVM_EFAULT;
	if (s->kind == FAKE_PRIVATE)
		return -KVM_EOPNOTSUPP;
	if (s->kind == FAKE_RO && write)
		return -PVDMA_EACCES;

	n = min_t(u64, max, s->base_gfn + s->npages - gfn);
	if (f->resolve_max)
		n = min(n, f->resolve_max);
	*hva = s->hva + ((gfn - s->base_gfn) << PAGE_SHIFT);
	return n;
}

static void fake_invalidate(struct fake *f, u64 gfn_start, u64 gfn_end,
			    enum mmu_notifier_event event);

/* The host discards the memory behind a frame: another page backs it. */
static void fake_discard(struct fake *f, u64 gfn, u64 spare)
{
	swap(f->host_idx[gfn], f->host_idx[spare]);
	f->mmu_seq++;
	fake_invalidate(f, gfn, gfn + 1, MMU_NOTIFY_CLEAR);
}

static long fake_pin(void *ctx, unsigned long hva, unsigned long npages,
		     bool write, struct page **pages)
{
	struct fake *f = ctx;
	const struct fake_slot *s;
	unsigned long i;
	u64 gfn;

	f->pin_calls++;
	f->max_pin_npages = max(f->max_pin_npages, npages);
	if (write)
		f->write_pins++;
	else
		f->read_pins++;
	if (f->fail_pin_at && f->pin_calls == f->fail_pin_at)
		return f->pin_err;

	s = fake_slot_of_hva(hva, npages);
	if (!s || !npages) {
		KUNIT_FAIL(f->test, "pin of %lu pages at %#lx: not within one slot",
			   npages, hva);
		return -KVM_EFAULT;
	}
	if (s->kind == FAKE_PRIVATE || (s->kind == FAKE_RO && write)) {
		KUNIT_FAIL(f->test, "pin of %#lx refused by resolve", hva);
		return -KVM_EFAULT;
	}

	if (f->pin_max)
		npages = min(npages, f->pin_max);
	gfn = s->base_gfn + ((hva - s->hva) >> PAGE_SHIFT);
	for (i = 0; i < npages; i++) {
		pages[i] = fake_page(f, gfn + i);
		f->pins[f->host_idx[gfn + i]]++;
		page_ref_add(pages[i], GUP_PIN_COUNTING_BIAS);
	}
	f->live_pins += npages;

	/* Right after the pin, before the engine tracks it. */
	if (f->inject_at_pin && f->pin_calls == f->inject_at_pin)
		fake_discard(f, f->inject_gfn, f->inject_spare);
	return npages;
}

static void fake_unpin(struct page **pages, unsigned long npages, bool dirty)
{
	struct fake *f = fake_current();
	unsigned long i, idx;

	if (WARN_ON(!f))
		return;
	f->unpin_calls++;
	for (i = 0; i < npages; i++) {
		idx = page_to_pfn(pages[i]) - page_to_pfn(f->block);
		if (idx >= FAKE_NR_GFNS || !f->pins[idx]) {
			KUNIT_FAIL(f->test, "unpin of page %lu that is not pinned",
				   idx);
			continue;
		}
		f->pins[idx]--;
		f->live_pins--;
		page_ref_sub(pages[i], GUP_PIN_COUNTING_BIAS);
	}
	if (dirty)
		f->dirty_unpins += npages;
	else
		f->clean_unpins += npages;
}

static unsigned long fake_mmu_seq(void *ctx)
{
	struct fake *f = ctx;

	return f->mmu_seq;
}

static bool fake_commit(void *ctx, unsigned long seq,
			const struct pvdma_chunk *chunks, unsigned int nr,
			void (*fn)(void *arg), void *arg)
{
	struct fake *f = ctx;
	unsigned int i;

	f->commit_calls++;
	/* The chunks must say where each frame was pinned through. */
	for (i = 0; i < nr; i++) {
		const struct fake_slot *s = fake_slot_of_gfn(chunks[i].gfn);

		if (!s || chunks[i].hva.start !=
		    (s->hva >> PAGE_SHIFT) + chunks[i].gfn - s->base_gfn ||
		    chunks[i].hva.last - chunks[i].hva.start + 1 !=
		    chunks[i].npages)
			KUNIT_FAIL(f->test, "chunk %u: gfn %llu at %#lx+%lu pages",
				   i, chunks[i].gfn, chunks[i].hva.start,
				   chunks[i].npages);
	}
	if (seq != f->mmu_seq || f->always_stale) {
		f->stale_commits++;
		return false;
	}
	fn(arg);
	return true;
}

static unsigned long fake_dirty_room(void *ctx, unsigned long *limit)
{
	struct fake *f = ctx;

	if (!f->ring_soft) {
		*limit = ULONG_MAX;
		return ULONG_MAX;
	}
	*limit = f->ring_soft;
	if (f->ring_used >= f->ring_soft) {
		f->ring_exits++;
		return 0;
	}
	return f->ring_soft - f->ring_used;
}

static unsigned long fake_dirty_cost(void *ctx, u64 gfn, unsigned long npages)
{
	struct fake *f = ctx;

	return f->ring_soft ? npages : 0;
}

static unsigned long fake_mark_dirty(void *ctx, u64 gfn, unsigned long npages,
				     unsigned long *room)
{
	struct fake *f = ctx;
	unsigned long i;

	KUNIT_EXPECT_PTR_EQ(f->test, f, fake_current());
	if (gfn + npages > FAKE_NR_GFNS) {
		KUNIT_FAIL(f->test, "mark_dirty of %lu frames at %llu", npages,
			   gfn);
		return 0;
	}
	if (f->ring_soft) {
		npages = min(npages, *room);
		*room -= npages;
		f->ring_used += npages;
		/* Past the reserve, KVM would overwrite unharvested entries. */
		if (f->ring_used > f->ring_soft + FAKE_RING_RSVD)
			KUNIT_FAIL(f->test, "dirty ring overrun: %lu entries",
				   f->ring_used);
		if (f->ring_used >= f->ring_soft)
			f->ring_exits++;
	}
	for (i = 0; i < npages; i++)
		f->dirty_count[gfn + i]++;
	bitmap_set(f->dirty_gfns, gfn, npages);
	f->mark_dirty_pages += npages;
	return npages;
}

static const struct pvdma_pin_backend fake_backend = {
	.resolve = fake_resolve,
	.pin = fake_pin,
	.unpin = fake_unpin,
	.mmu_seq = fake_mmu_seq,
	.commit = fake_commit,
	.dirty_room = fake_dirty_room,
	.dirty_cost = fake_dirty_cost,
	.mark_dirty = fake_mark_dirty,
};

/* Only the mandatory operations: no invalidation protocol, no logging. */
static const struct pvdma_pin_backend fake_backend_no_dirty_log = {
	.resolve = fake_resolve,
	.pin = fake_pin,
	.unpin = fake_unpin,
};

/*
 * What KVM's MMU notifier does for an invalidation of the host memory
 * behind guest frames [@gfn_start, @gfn_end): start and end, per memslot,
 * by host virtual address.
 */
static void fake_invalidate(struct fake *f, u64 gfn_start, u64 gfn_end,
			    enum mmu_notifier_event event)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(fake_slots); i++) {
		const struct fake_slot *s = &fake_slots[i];
		u64 lo = max(gfn_start, s->base_gfn);
		u64 hi = min(gfn_end, s->base_gfn + s->npages);
		unsigned long start, end;

		if (lo >= hi)
			continue;
		start = s->hva + ((lo - s->base_gfn) << PAGE_SHIFT);
		end = s->hva + ((hi - s->base_gfn) << PAGE_SHIFT);
		pvdma_invalidate_start(f->vm, start, end, event);
		pvdma_invalidate_end(f->vm, start, end, event);
	}
}

static int fake_publish(void *ctx, const struct pvdma_map_req *req)
{
	struct fake *f = ctx;

	f->publish_calls++;
	f->pins_at_publish = f->live_pins;
	f->published = req->handle;
	KUNIT_EXPECT_NE(f->test, req->handle, 0);
	if (f->publish_probe)
		f->probe_ret = pvdma_unmap(f->vm, f, &req->handle, 1);
	return f->publish_err;
}

static void fake_layout_contiguous(struct fake *f)
{
	unsigned int i;

	for (i = 0; i < FAKE_NR_GFNS; i++)
		f->host_idx[i] = i;
}

/* Each frame's page lies just below the previous one's: nothing merges. */
static void fake_layout_reverse(struct fake *f)
{
	unsigned int i;

	for (i = 0; i < FAKE_NR_GFNS; i++)
		f->host_idx[i] = FAKE_NR_GFNS - 1 - i;
}

static void fake_layout_shuffle(struct fake *f, u64 seed)
{
	struct rnd_state rnd;
	unsigned int i, j;

	prandom_seed_state(&rnd, seed);
	fake_layout_contiguous(f);
	for (i = FAKE_NR_GFNS - 1; i > 0; i--) {
		j = prandom_u32_state(&rnd) % (i + 1);
		swap(f->host_idx[i], f->host_idx[j]);
	}
}

static void fake_set_vm(struct kunit *test, struct fake *f,
			const struct pvdma_pin_backend *backend,
			unsigned long max_pinned_pages,
			unsigned long max_handles, unsigned long max_map_pages)
{
	pvdma_vm_destroy(f->vm);
	f->limits.max_pinned_pages = max_pinned_pages;
	f->limits.max_handles = max_handles;
	f->limits.max_map_pages = max_map_pages;
	f->vm = pvdma_vm_create(f->mm, backend, &f->limits);
	KUNIT_ASSERT_NOT_NULL(test, f->vm);
}

static long fake_map(struct fake *f, const struct pvdma_range *ranges,
		     unsigned int nr_ranges, u32 dir, unsigned int max_segs,
		     u64 *handle)
{
	long ret;

	f->req = (struct pvdma_map_req){
		.ranges = ranges,
		.nr_ranges = nr_ranges,
		.dir = dir,
		.max_segs = max_segs,
		.segs = f->segs,
	};
	ret = pvdma_map(f->vm, f, &f->req, fake_publish);
	if (!ret && handle)
		*handle = f->req.handle;
	return ret;
}

static long fake_map1(struct fake *f, u64 gpa, u64 len, u32 dir, u64 *handle)
{
	struct pvdma_range r = { .gpa = gpa, .len = len };

	return fake_map(f, &r, 1, dir, PVDMA_MAX_SEGS, handle);
}

static s64 fake_pinned_vm(struct fake *f)
{
	return atomic64_read(&f->mm->pinned_vm);
}

/* Nothing pinned, nothing charged, no handle: the state after any failure. */
static void expect_nothing_pinned(struct kunit *test, struct fake *f)
{
	unsigned long i, stuck = 0;

	for (i = 0; i < FAKE_NR_GFNS; i++)
		if (f->pins[i])
			stuck++;
	KUNIT_EXPECT_EQ(test, stuck, 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 0);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 0);
	KUNIT_EXPECT_EQ(test, f->vm->counters.pinned_pages, 0);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 0);
	KUNIT_EXPECT_TRUE(test, xa_empty(&f->vm->handles));
}

/* A map that failed: no pin left, and the guest never saw a handle. */
static void expect_failed_map(struct kunit *test, struct fake *f)
{
	expect_nothing_pinned(test, f);
	KUNIT_EXPECT_EQ(test, f->publish_calls, 0);
	KUNIT_EXPECT_EQ(test, f->vm->counters.maps, 0);
}

static void fake_reset_calls(struct fake *f)
{
	f->resolve_calls = 0;
	f->pin_calls = 0;
	f->unpin_calls = 0;
	f->publish_calls = 0;
}

static int pvdma_test_init(struct kunit *test)
{
	struct fake *f;

	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f);
	f->test = test;
	test->priv = f;

	f->segs = kunit_kcalloc(test, PVDMA_MAX_SEGS, sizeof(*f->segs),
				GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, f->segs);
	f->block = alloc_pages(GFP_KERNEL, FAKE_ORDER);
	KUNIT_ASSERT_NOT_NULL(test, f->block);
	fake_layout_contiguous(f);

	f->mm = mm_alloc();
	KUNIT_ASSERT_NOT_NULL(test, f->mm);
	f->limits = fake_default_limits;
	f->vm = pvdma_vm_create(f->mm, &fake_backend, &f->limits);
	KUNIT_ASSERT_NOT_NULL(test, f->vm);
	return 0;
}

static void pvdma_test_exit(struct kunit *test)
{
	struct fake *f = test->priv;

	if (!f)
		return;
	pvdma_vm_destroy(f->vm);
	f->vm = NULL;
	if (f->block) {
		KUNIT_EXPECT_EQ(test, f->live_pins, 0);
		__free_pages(f->block, FAKE_ORDER);
	}
	if (f->mm) {
		KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 0);
		mmput(f->mm);
	}
}

/* ---- pvdma_host_validate ------------------------------------------------ */

static void validate_counts_pages(struct kunit *test)
{
	static const struct {
		u64 gpa, len;
		unsigned long pages;
	} cases[] = {
		{ GPA(1, 0), PAGE_SIZE, 1 },
		{ GPA(0, 0), 1, 1 },
		{ GPA(0, PAGE_SIZE - 1), 2, 2 },
		{ GPA(3, 0x800), PAGE_SIZE, 2 },
		{ GPA(3, 0x800), 2 * PAGE_SIZE - 0x800, 2 },
		{ GPA(3, 0x800), 2 * PAGE_SIZE - 0x7ff, 3 },
		{ U64_MAX - 1, 1, 1 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct pvdma_range r = { cases[i].gpa, cases[i].len };
		unsigned long n = 0;

		KUNIT_EXPECT_EQ_MSG(test, pvdma_validate_ranges(&r, 1, 16, &n),
				    0, "case %u", i);
		KUNIT_EXPECT_EQ_MSG(test, n, cases[i].pages, "case %u", i);
	}
}

static void validate_sums_ranges(struct kunit *test)
{
	const struct pvdma_range r[] = {
		{ GPA(0, 0), PAGE_SIZE },
		{ GPA(9, 10), PAGE_SIZE },
		{ GPA(0, 0), 3 * PAGE_SIZE },
	};
	unsigned long n = 0;

	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(r, ARRAY_SIZE(r), 6, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 6);
}

static void validate_zero_length(struct kunit *test)
{
	const struct pvdma_range r[] = {
		{ GPA(0, 0), PAGE_SIZE },
		{ GPA(1, 0), 0 },
	};
	unsigned long n = 42;

	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(&r[1], 1, 16, &n),
			-KVM_EINVAL);
	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(r, 2, 16, &n), -KVM_EINVAL);
	/* Nothing is reported for a rejected list. */
	KUNIT_EXPECT_EQ(test, n, 42);
}

static void validate_overflow(struct kunit *test)
{
	const struct pvdma_range bad[] = {
		{ U64_MAX, 2 },
		{ 1ULL << 63, (1ULL << 63) + 1 },
		{ GPA(1, 0), U64_MAX },
		{ U64_MAX - PAGE_SIZE + 2, PAGE_SIZE },
		/* gpa + len is exactly 2^64: that overflows too. */
		{ U64_MAX - PAGE_SIZE + 1, PAGE_SIZE },
		{ U64_MAX, 1 },
	};
	/* Up to the last byte but one of the address space is valid. */
	const struct pvdma_range last = { U64_MAX - PAGE_SIZE, PAGE_SIZE };
	unsigned long n = 0;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_EQ_MSG(test,
				    pvdma_validate_ranges(&bad[i], 1, ULONG_MAX, &n),
				    -KVM_EINVAL, "case %u", i);
	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(&last, 1, 2, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 2);
}

static void validate_too_many_pages(struct kunit *test)
{
	const struct pvdma_range one = { GPA(0, 1), 8 * PAGE_SIZE };
	const struct pvdma_range two[] = {
		{ GPA(0, 0), 4 * PAGE_SIZE },
		{ GPA(100, 0), 4 * PAGE_SIZE + 1 },
	};
	const struct pvdma_range huge = { 0, U64_MAX };
	unsigned long n = 0;

	/* 8 bytes past a page boundary: 9 pages. */
	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(&one, 1, 9, &n), 0);
	KUNIT_EXPECT_EQ(test, n, 9);
	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(&one, 1, 8, &n), -KVM_E2BIG);
	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(two, 2, 9, &n), 0);
	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(two, 2, 8, &n), -KVM_E2BIG);
	KUNIT_EXPECT_EQ(test, pvdma_validate_ranges(&huge, 1, 8192, &n),
			-KVM_E2BIG);
}

/* The engine checks everything before it touches the backend. */
static void validate_map_checks_first(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(0, 0), PAGE_SIZE },
		{ GPA(1, 0), 0 },
	};

	KUNIT_EXPECT_EQ(test, fake_map(f, r, 2, PVDMA_MAP_TO_DEVICE, 8, NULL),
			-KVM_EINVAL);
	KUNIT_EXPECT_EQ(test, fake_map1(f, U64_MAX, 2, PVDMA_MAP_TO_DEVICE, NULL),
			-KVM_EINVAL);
	KUNIT_EXPECT_EQ(test,
			fake_map1(f, 0, (f->limits.max_map_pages + 1) * PAGE_SIZE,
				  PVDMA_MAP_TO_DEVICE, NULL),
			-KVM_E2BIG);
	KUNIT_EXPECT_EQ(test, f->resolve_calls, 0);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 0);
	expect_failed_map(test, f);
}

static void validate_count_failure(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_counters *c = &f->vm->counters;
	static const long faults[] = {
		-KVM_EFAULT, -KVM_EOPNOTSUPP, -PVDMA_EACCES, -PVDMA_EIO,
	};
	unsigned int i;

	pvdma_count_failure(f->vm, -PVDMA_ENOSPC);
	pvdma_count_failure(f->vm, -PVDMA_ENOSPC);
	pvdma_count_failure(f->vm, -PVDMA_ENOMEM);
	for (i = 0; i < ARRAY_SIZE(faults); i++)
		pvdma_count_failure(f->vm, faults[i]);
	for (i = 0; i < 3; i++)
		pvdma_count_failure(f->vm, -PVDMA_ENOENT);
	pvdma_count_failure(f->vm, -KVM_EINVAL);
	pvdma_count_failure(f->vm, -KVM_E2BIG);
	pvdma_count_failure(f->vm, -KVM_EPERM);

	KUNIT_EXPECT_EQ(test, c->fail_limit, 2);
	KUNIT_EXPECT_EQ(test, c->fail_nomem, 1);
	KUNIT_EXPECT_EQ(test, c->fail_fault, ARRAY_SIZE(faults));
	KUNIT_EXPECT_EQ(test, c->fail_handle, 3);
	KUNIT_EXPECT_EQ(test, c->fail_invalid, 3);
	KUNIT_EXPECT_EQ(test, c->maps, 0);
	KUNIT_EXPECT_EQ(test, c->unmaps, 0);
}

static struct kunit_case pvdma_validate_cases[] = {
	KUNIT_CASE(validate_counts_pages),
	KUNIT_CASE(validate_sums_ranges),
	KUNIT_CASE(validate_zero_length),
	KUNIT_CASE(validate_overflow),
	KUNIT_CASE(validate_too_many_pages),
	KUNIT_CASE(validate_map_checks_first),
	KUNIT_CASE(validate_count_failure),
	{}
};

/* ---- pvdma_host_pin ----------------------------------------------------- */

static void pin_single_page(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h = 0;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(5, 100), 200, PVDMA_MAP_TO_DEVICE,
					&h), 0);
	KUNIT_EXPECT_NE(test, h, 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 5) + 100);
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 200);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[5]], 1);
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 1);
	KUNIT_EXPECT_EQ(test, f->vm->counters.pinned_pages, 1);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 1);
	KUNIT_EXPECT_EQ(test, f->vm->counters.maps, 1);
	KUNIT_EXPECT_EQ(test, f->publish_calls, 1);
	KUNIT_EXPECT_NOT_NULL(test, xa_load(&f->vm->handles, h));

	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, f->vm->counters.unmaps, 1);
	expect_nothing_pinned(test, f);
}

static void pin_write_follows_direction(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_EXPECT_EQ(test, f->read_pins, 1);
	KUNIT_EXPECT_EQ(test, f->write_pins, 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, NULL), 0);
	KUNIT_EXPECT_EQ(test, f->write_pins, 1);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), PAGE_SIZE,
					PVDMA_MAP_BIDIRECTIONAL, NULL), 0);
	KUNIT_EXPECT_EQ(test, f->write_pins, 2);
	KUNIT_EXPECT_EQ(test, f->read_pins, 1);
}

static void pin_across_slot_boundary(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int i;
	u64 h;

	/* Frames 638..642: two in slot 0, three in slot 1. */
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(GFN_SLOT1 - 2, 0), 5 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, f->resolve_calls, 2);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 2);
	for (i = GFN_SLOT1 - 2; i < GFN_SLOT1 + 3; i++)
		KUNIT_EXPECT_EQ_MSG(test, f->pins[f->host_idx[i]], 1, "gfn %u", i);
	KUNIT_EXPECT_EQ(test, f->live_pins, 5);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

static void pin_hole(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(GFN_HOLE + 3, 0), 1,
					PVDMA_MAP_TO_DEVICE, NULL), -KVM_EFAULT);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(1ULL << 40, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), -KVM_EFAULT);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 0);
	expect_failed_map(test, f);
}

static void pin_private_slot(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(GFN_PRIVATE, 8), 16,
					PVDMA_MAP_TO_DEVICE, NULL),
			-KVM_EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 0);
	expect_failed_map(test, f);
}

static void pin_readonly_slot(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(GFN_RO, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, NULL),
			-PVDMA_EACCES);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(GFN_RO, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_BIDIRECTIONAL, NULL),
			-PVDMA_EACCES);
	expect_failed_map(test, f);

	/* The device may read a read-only slot. */
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(GFN_RO, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 2);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

static void pin_in_batches(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 600 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, f->resolve_calls, 1);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 2);
	KUNIT_EXPECT_LE(test, f->max_pin_npages, 512);
	KUNIT_EXPECT_EQ(test, f->live_pins, 600);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 600);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

static void pin_short_resolves_and_pins(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	f->resolve_max = 3;
	f->pin_max = 2;
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(10, 0), 10 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h), 0);
	/* Runs of 3,3,3,1 frames, each pinned 2 at a time. */
	KUNIT_EXPECT_EQ(test, f->resolve_calls, 4);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 7);
	KUNIT_EXPECT_EQ(test, f->live_pins, 10);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 10));
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 10 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

/* A backend answering 0 must not stall the engine or count as success. */
static void pin_backend_returns_zero(struct kunit *test)
{
	struct fake *f = test->priv;

	f->fail_resolve_at = 1;
	f->resolve_err = 0;
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(0, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), -KVM_EFAULT);
	f->fail_resolve_at = 0;
	f->fail_pin_at = f->pin_calls + 1;
	f->pin_err = 0;
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(0, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), -PVDMA_EIO);
	expect_failed_map(test, f);
}

static struct kunit_case pvdma_pin_cases[] = {
	KUNIT_CASE(pin_single_page),
	KUNIT_CASE(pin_write_follows_direction),
	KUNIT_CASE(pin_across_slot_boundary),
	KUNIT_CASE(pin_hole),
	KUNIT_CASE(pin_private_slot),
	KUNIT_CASE(pin_readonly_slot),
	KUNIT_CASE(pin_in_batches),
	KUNIT_CASE(pin_short_resolves_and_pins),
	KUNIT_CASE(pin_backend_returns_zero),
	{}
};

/* ---- pvdma_host_merge --------------------------------------------------- */

/*
 * The segments the engine must produce: walk the ranges page by page and
 * merge what is host-contiguous.  Returns the number of segments.
 */
static unsigned int expected_segs(struct fake *f, const struct pvdma_range *r,
				  unsigned int nr, struct pvdma_seg *segs,
				  unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < nr; i++) {
		u64 gpa = r[i].gpa, left = r[i].len;

		while (left) {
			u64 off = offset_in_page(gpa);
			u64 len = min_t(u64, left, PAGE_SIZE - off);
			u64 addr = fake_phys(f, gpa >> PAGE_SHIFT) + off;

			if (n && segs[n - 1].addr + segs[n - 1].len == addr) {
				segs[n - 1].len += len;
			} else {
				if (n == max)
					return n + 1;
				segs[n].addr = addr;
				segs[n].len = len;
				n++;
			}
			gpa += len;
			left -= len;
		}
	}
	return n;
}

static void merge_contiguous(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(16, 0), 16 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 16));
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 16 * PAGE_SIZE);
}

static void merge_scattered(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int i;

	fake_layout_reverse(f);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(16, 0), 16 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 16);
	for (i = 0; i < 16; i++) {
		KUNIT_EXPECT_EQ(test, f->segs[i].addr, fake_phys(f, 16 + i));
		KUNIT_EXPECT_EQ(test, f->segs[i].len, PAGE_SIZE);
	}
}

static void merge_partial_pages(struct kunit *test)
{
	struct fake *f = test->priv;
	const u64 off = 0x234;

	/* Three pages' worth of bytes starting mid-page touch four pages. */
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(10, off), 3 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 4);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 10) + off);
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 3 * PAGE_SIZE);

	fake_layout_reverse(f);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(10, off), 3 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 4);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 10) + off);
	KUNIT_EXPECT_EQ(test, f->segs[0].len, PAGE_SIZE - off);
	KUNIT_EXPECT_EQ(test, f->segs[1].addr, fake_phys(f, 11));
	KUNIT_EXPECT_EQ(test, f->segs[1].len, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, f->segs[2].addr, fake_phys(f, 12));
	KUNIT_EXPECT_EQ(test, f->segs[2].len, PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, f->segs[3].addr, fake_phys(f, 13));
	KUNIT_EXPECT_EQ(test, f->segs[3].len, off);
}

static void merge_across_ranges(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range adjacent[] = {
		{ GPA(20, 0), 2 * PAGE_SIZE },
		{ GPA(22, 0), PAGE_SIZE + 1 },
	};
	const struct pvdma_range gap[] = {
		{ GPA(20, 0), 100 },
		{ GPA(21, 0), 100 },
	};
	const struct pvdma_range backwards[] = {
		{ GPA(21, 0), PAGE_SIZE },
		{ GPA(20, 0), PAGE_SIZE },
	};
	const struct pvdma_range same_page[] = {
		{ GPA(20, 0), 100 },
		{ GPA(20, 100), 100 },
	};

	KUNIT_ASSERT_EQ(test, fake_map(f, adjacent, 2, PVDMA_MAP_TO_DEVICE, 4,
				       NULL), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 20));
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 3 * PAGE_SIZE + 1);

	/* The first range ends mid-page: the bytes are not contiguous. */
	KUNIT_ASSERT_EQ(test, fake_map(f, gap, 2, PVDMA_MAP_TO_DEVICE, 4, NULL),
			0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 2);
	KUNIT_EXPECT_EQ(test, f->segs[1].addr, fake_phys(f, 21));

	KUNIT_ASSERT_EQ(test, fake_map(f, backwards, 2, PVDMA_MAP_TO_DEVICE, 4,
				       NULL), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 2);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 21));
	KUNIT_EXPECT_EQ(test, f->segs[1].addr, fake_phys(f, 20));

	/* Byte-adjacent ranges in one page: one segment, the page pinned twice. */
	KUNIT_ASSERT_EQ(test, fake_map(f, same_page, 2, PVDMA_MAP_TO_DEVICE, 1,
				       NULL), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 20));
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 200);
	/* Page 20 is in all four mappings, twice in the last. */
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[20]], 5);
}

/* Host frames do not care about memslots: HPA-contiguous merges anyway. */
static void merge_across_slots(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(GFN_SLOT1 - 4, 0), 8 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_EXPECT_EQ(test, f->resolve_calls, 2);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 8 * PAGE_SIZE);
}

static void merge_runs(struct kunit *test)
{
	struct fake *f = test->priv;

	/* Frames 0,1 on pages 0,1; frames 2,3 on pages 5,6. */
	f->host_idx[2] = 5;
	f->host_idx[3] = 6;
	f->host_idx[5] = 2;
	f->host_idx[6] = 3;
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 4 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 2);
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 0));
	KUNIT_EXPECT_EQ(test, f->segs[0].len, 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, f->segs[1].addr, page_to_phys(f->block) + 5 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, f->segs[1].len, 2 * PAGE_SIZE);
}

static void merge_max_segs_exact(struct kunit *test)
{
	struct fake *f = test->priv;
	struct pvdma_range r = { GPA(0, 0), 8 * PAGE_SIZE };

	fake_layout_reverse(f);
	KUNIT_ASSERT_EQ(test, fake_map(f, &r, 1, PVDMA_MAP_TO_DEVICE, 8, NULL), 0);
	KUNIT_EXPECT_EQ(test, f->req.nr_segs, 8);
}

static void merge_max_segs_exceeded(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(0, 0), 4 * PAGE_SIZE },
		{ GPA(GFN_SLOT1, 0), 4 * PAGE_SIZE },
	};

	fake_layout_reverse(f);
	KUNIT_EXPECT_EQ(test, fake_map(f, r, 2, PVDMA_MAP_FROM_DEVICE, 7, NULL),
			-KVM_E2BIG);
	/* Everything was pinned before the engine ran out of segments. */
	KUNIT_EXPECT_EQ(test, f->pin_calls, 2);
	KUNIT_EXPECT_EQ(test, f->clean_unpins, 8);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 0);
	expect_failed_map(test, f);
}

/* Random layouts and ranges against the reference merge above. */
static void merge_matches_reference(struct kunit *test)
{
	struct fake *f = test->priv;
	struct pvdma_seg *want;
	struct rnd_state rnd;
	unsigned int iter;

	want = kunit_kcalloc(test, PVDMA_MAX_SEGS + 1, sizeof(*want), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, want);
	prandom_seed_state(&rnd, 0x5044);

	for (iter = 0; iter < 64; iter++) {
		struct pvdma_range r[8];
		unsigned int i, nr = 1 + prandom_u32_state(&rnd) % 8;
		unsigned int max_segs = 1 + prandom_u32_state(&rnd) % 24;
		unsigned int n;
		u64 h;
		long ret;

		/* Mostly contiguous with a few swaps, or fully shuffled. */
		if (iter % 2) {
			fake_layout_shuffle(f, iter);
		} else {
			fake_layout_contiguous(f);
			for (i = 0; i < 8; i++)
				swap(f->host_idx[prandom_u32_state(&rnd) % 600],
				     f->host_idx[prandom_u32_state(&rnd) % 600]);
		}
		for (i = 0; i < nr; i++) {
			r[i].gpa = GPA(prandom_u32_state(&rnd) % 600,
				       prandom_u32_state(&rnd) % PAGE_SIZE);
			r[i].len = 1 + prandom_u32_state(&rnd) % (6 * PAGE_SIZE);
		}
		n = expected_segs(f, r, nr, want, max_segs);
		ret = fake_map(f, r, nr, PVDMA_MAP_TO_DEVICE, max_segs, &h);
		if (n > max_segs) {
			KUNIT_EXPECT_EQ_MSG(test, ret, -KVM_E2BIG, "iter %u", iter);
			expect_nothing_pinned(test, f);
			continue;
		}
		KUNIT_ASSERT_EQ_MSG(test, ret, 0, "iter %u", iter);
		KUNIT_ASSERT_EQ_MSG(test, f->req.nr_segs, n, "iter %u", iter);
		for (i = 0; i < n; i++) {
			KUNIT_EXPECT_EQ_MSG(test, f->segs[i].addr, want[i].addr,
					    "iter %u seg %u", iter, i);
			KUNIT_EXPECT_EQ_MSG(test, f->segs[i].len, want[i].len,
					    "iter %u seg %u", iter, i);
		}
		KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
		expect_nothing_pinned(test, f);
	}
}

static struct kunit_case pvdma_merge_cases[] = {
	KUNIT_CASE(merge_contiguous),
	KUNIT_CASE(merge_scattered),
	KUNIT_CASE(merge_partial_pages),
	KUNIT_CASE(merge_across_ranges),
	KUNIT_CASE(merge_across_slots),
	KUNIT_CASE(merge_runs),
	KUNIT_CASE(merge_max_segs_exact),
	KUNIT_CASE(merge_max_segs_exceeded),
	KUNIT_CASE(merge_matches_reference),
	{}
};

/* ---- pvdma_host_refcount ------------------------------------------------ */

static void refcount_two_handles(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int i;
	u64 h1, h2;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(40, 0), 4 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h1), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(40, 0), 4 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h2), 0);
	KUNIT_EXPECT_NE(test, h1, h2);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 8);
	for (i = 40; i < 44; i++)
		KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[i]], 2);

	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h1, 1), 0);
	for (i = 40; i < 44; i++)
		KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[i]], 1);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 4);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 1);
	KUNIT_EXPECT_NOT_NULL(test, xa_load(&f->vm->handles, h2));
	KUNIT_EXPECT_EQ(test, f->clean_unpins, 4);

	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h2, 1), 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 4);
	expect_nothing_pinned(test, f);
}

static void refcount_overlapping_ranges(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(50, 0), 4 * PAGE_SIZE },
		{ GPA(52, 0), 4 * PAGE_SIZE },
	};
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map(f, r, 2, PVDMA_MAP_TO_DEVICE, 8, &h), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 8);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 8);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[51]], 1);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[52]], 2);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[53]], 2);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[54]], 1);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

/* A released handle is not handed out again at once. */
static void refcount_handles_not_reused(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h1, h2;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 1, PVDMA_MAP_TO_DEVICE,
					&h1), 0);
	KUNIT_ASSERT_EQ(test, pvdma_unmap(f->vm, f, &h1, 1), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 1, PVDMA_MAP_TO_DEVICE,
					&h2), 0);
	KUNIT_EXPECT_NE(test, h1, h2);
	/* The stale handle names nothing. */
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h1, 1), -PVDMA_ENOENT);
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
}

static struct kunit_case pvdma_refcount_cases[] = {
	KUNIT_CASE(refcount_two_handles),
	KUNIT_CASE(refcount_overlapping_ranges),
	KUNIT_CASE(refcount_handles_not_reused),
	{}
};

/* ---- pvdma_host_limits -------------------------------------------------- */

static void limits_handles(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[4];
	unsigned int i;

	fake_set_vm(test, f, &fake_backend, 4096, 4, 2048);
	for (i = 0; i < 4; i++)
		KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(i, 0), PAGE_SIZE,
						PVDMA_MAP_TO_DEVICE, &h[i]), 0);
	fake_reset_calls(f);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(9, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL),
			-PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 0);
	KUNIT_EXPECT_EQ(test, f->publish_calls, 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 4);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 4);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 4);
	KUNIT_EXPECT_EQ(test, f->vm->counters.pinned_pages, 4);

	/* Room again once one is released. */
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h[2], 1), 0);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(9, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
}

static void limits_pinned_pages(struct kunit *test)
{
	struct fake *f = test->priv;

	fake_set_vm(test, f, &fake_backend, 16, 64, 2048);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(0, 0), 17 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL),
			-PVDMA_ENOSPC);
	expect_failed_map(test, f);

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 10 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	/* Exactly at the limit. */
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(100, 0), 6 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	fake_reset_calls(f);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(200, 0), 1, PVDMA_MAP_TO_DEVICE,
					NULL), -PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 16);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 16);
	KUNIT_EXPECT_EQ(test, f->vm->counters.pinned_pages, 16);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 2);
}

static void limits_map_pages(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(0, 0), 4 * PAGE_SIZE },
		{ GPA(10, 1), 4 * PAGE_SIZE },
	};

	fake_set_vm(test, f, &fake_backend, 4096, 64, 8);
	/* 4 + 5 pages: one too many. */
	KUNIT_EXPECT_EQ(test, fake_map(f, r, 2, PVDMA_MAP_TO_DEVICE, 8, NULL),
			-KVM_E2BIG);
	KUNIT_EXPECT_EQ(test, f->resolve_calls, 0);
	expect_failed_map(test, f);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(10, 1), 8 * PAGE_SIZE - 1,
					PVDMA_MAP_TO_DEVICE, NULL), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 8);
}

struct memlock_state {
	const struct cred *old_cred;
	struct cred *cred;
	unsigned long old_rlim;
};

/* Run as a VMM without CAP_IPC_LOCK whose RLIMIT_MEMLOCK is @pages pages. */
static void memlock_enter(struct kunit *test, struct memlock_state *st,
			  unsigned long pages)
{
	st->cred = prepare_creds();
	KUNIT_ASSERT_NOT_NULL(test, st->cred);
	cap_lower(st->cred->cap_effective, CAP_IPC_LOCK);
	st->old_cred = override_creds(st->cred);
	st->old_rlim = current->signal->rlim[RLIMIT_MEMLOCK].rlim_cur;
	WRITE_ONCE(current->signal->rlim[RLIMIT_MEMLOCK].rlim_cur,
		   pages << PAGE_SHIFT);
}

static void memlock_leave(struct memlock_state *st)
{
	WRITE_ONCE(current->signal->rlim[RLIMIT_MEMLOCK].rlim_cur,
		   st->old_rlim);
	revert_creds(st->old_cred);
	put_cred(st->cred);
}

static void limits_rlimit_memlock(struct kunit *test)
{
	struct fake *f = test->priv;
	struct memlock_state st;
	long ret_over, ret_at, ret_shared, ret_room;
	s64 vm_at, vm_shared;

	/* A privileged VMM is not limited by RLIMIT_MEMLOCK. */
	KUNIT_ASSERT_TRUE(test, capable(CAP_IPC_LOCK));

	memlock_enter(test, &st, 8);
	ret_at = fake_map1(f, GPA(0, 0), 8 * PAGE_SIZE, PVDMA_MAP_TO_DEVICE,
			   NULL);
	ret_over = fake_map1(f, GPA(8, 0), 1, PVDMA_MAP_TO_DEVICE, NULL);
	vm_at = fake_pinned_vm(f);
	pvdma_vm_destroy(f->vm);
	f->vm = pvdma_vm_create(f->mm, &fake_backend, &f->limits);
	/* Pins of someone else in the same mm count against the limit too. */
	atomic64_add(5, &f->mm->pinned_vm);
	ret_room = f->vm ? fake_map1(f, GPA(0, 0), 3 * PAGE_SIZE,
				     PVDMA_MAP_TO_DEVICE, NULL) : -1;
	ret_shared = f->vm ? fake_map1(f, GPA(8, 0), 1, PVDMA_MAP_TO_DEVICE,
				       NULL) : -1;
	vm_shared = fake_pinned_vm(f);
	atomic64_sub(5, &f->mm->pinned_vm);
	memlock_leave(&st);

	KUNIT_ASSERT_NOT_NULL(test, f->vm);
	KUNIT_EXPECT_EQ(test, ret_at, 0);
	KUNIT_EXPECT_EQ(test, ret_over, -PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, vm_at, 8);
	KUNIT_EXPECT_EQ(test, ret_room, 0);
	KUNIT_EXPECT_EQ(test, ret_shared, -PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, vm_shared, 8);
	KUNIT_EXPECT_EQ(test, f->live_pins, 3);

	/* With CAP_IPC_LOCK back, the same map goes through. */
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(8, 0), 1, PVDMA_MAP_TO_DEVICE,
					NULL), 0);
}

static void limits_failures_counted(struct kunit *test)
{
	struct fake *f = test->priv;
	long ret;

	fake_set_vm(test, f, &fake_backend, 1, 64, 2048);
	ret = fake_map1(f, GPA(0, 0), 2 * PAGE_SIZE, PVDMA_MAP_TO_DEVICE, NULL);
	KUNIT_ASSERT_EQ(test, ret, -PVDMA_ENOSPC);
	pvdma_count_failure(f->vm, ret);
	KUNIT_EXPECT_EQ(test, f->vm->counters.fail_limit, 1);
	KUNIT_EXPECT_EQ(test, f->vm->counters.fail_invalid, 0);
	expect_failed_map(test, f);
}

static struct kunit_case pvdma_limits_cases[] = {
	KUNIT_CASE(limits_handles),
	KUNIT_CASE(limits_pinned_pages),
	KUNIT_CASE(limits_map_pages),
	KUNIT_CASE(limits_rlimit_memlock),
	KUNIT_CASE(limits_failures_counted),
	{}
};

/* ---- pvdma_host_unwind -------------------------------------------------- */

/* Four ranges in three slots, 2+3+1+4 pages, pinned 2 at a time. */
static const struct pvdma_range unwind_ranges[] = {
	{ GPA(GFN_SLOT1 - 1, 0), 2 * PAGE_SIZE },
	{ GPA(30, 5), 2 * PAGE_SIZE },
	{ GPA(GFN_LAST_SLOT, 0), 1 },
	{ GPA(GFN_SLOT1 + 7, 0), 4 * PAGE_SIZE },
};

#define UNWIND_PAGES	10

/* Map unwind_ranges; the caller arranged for some step to fail. */
static void unwind_expect_failure(struct kunit *test, struct fake *f,
				  long want, const char *what, unsigned int k)
{
	long ret;

	ret = fake_map(f, unwind_ranges, ARRAY_SIZE(unwind_ranges),
		       PVDMA_MAP_BIDIRECTIONAL, 16, NULL);
	KUNIT_EXPECT_EQ_MSG(test, ret, want, "%s %u", what, k);
	KUNIT_EXPECT_EQ_MSG(test, f->live_pins, 0, "%s %u", what, k);
	KUNIT_EXPECT_EQ_MSG(test, fake_pinned_vm(f), 0, "%s %u", what, k);
	KUNIT_EXPECT_EQ_MSG(test, f->dirty_unpins, 0, "%s %u", what, k);
	expect_failed_map(test, f);
}

/* The full map works and takes this many calls. */
static void unwind_baseline(struct kunit *test, struct fake *f,
			    unsigned long *resolves, unsigned long *pins)
{
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map(f, unwind_ranges,
				       ARRAY_SIZE(unwind_ranges),
				       PVDMA_MAP_BIDIRECTIONAL, 16, &h), 0);
	KUNIT_ASSERT_EQ(test, f->live_pins, UNWIND_PAGES);
	KUNIT_ASSERT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	*resolves = f->resolve_calls;
	*pins = f->pin_calls;
	expect_nothing_pinned(test, f);
	/* A fresh tracker, so each failure below starts from zero. */
	fake_set_vm(test, f, &fake_backend, 4096, 64, 2048);
	fake_reset_calls(f);
	f->dirty_unpins = 0;
}

static void unwind_every_pin_failure(struct kunit *test)
{
	static const long errs[] = { -PVDMA_ENOMEM, -KVM_EFAULT, -PVDMA_EIO };
	struct fake *f = test->priv;
	unsigned long resolves, pins, k;

	f->pin_max = 2;
	unwind_baseline(test, f, &resolves, &pins);
	KUNIT_ASSERT_GE(test, pins, 6);
	for (k = 1; k <= pins; k++) {
		f->fail_pin_at = k;
		f->pin_err = errs[k % ARRAY_SIZE(errs)];
		unwind_expect_failure(test, f, f->pin_err, "pin call", k);
		KUNIT_EXPECT_EQ(test, f->pin_calls, k);
		fake_reset_calls(f);
	}
}

static void unwind_every_resolve_failure(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned long resolves, pins, k;

	f->resolve_max = 1;
	unwind_baseline(test, f, &resolves, &pins);
	KUNIT_ASSERT_EQ(test, resolves, UNWIND_PAGES);
	for (k = 1; k <= resolves; k++) {
		f->fail_resolve_at = k;
		f->resolve_err = k % 2 ? -KVM_EFAULT : -KVM_EOPNOTSUPP;
		unwind_expect_failure(test, f, f->resolve_err, "resolve call", k);
		KUNIT_EXPECT_EQ(test, f->resolve_calls, k);
		fake_reset_calls(f);
	}
}

/* The third range hits a hole after pages of the same range were pinned. */
static void unwind_hole_mid_range(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(0, 0), 3 * PAGE_SIZE },
		{ GPA(GFN_SLOT1 + 1, 0), 2 * PAGE_SIZE },
		{ GPA(GFN_HOLE - 4, 0), 8 * PAGE_SIZE },
	};

	KUNIT_EXPECT_EQ(test, fake_map(f, r, 3, PVDMA_MAP_FROM_DEVICE, 16, NULL),
			-KVM_EFAULT);
	KUNIT_EXPECT_EQ(test, f->clean_unpins, 9);
	expect_failed_map(test, f);
}

static void unwind_publish_failure(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	f->publish_err = -KVM_EFAULT;
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(0, 0), 4 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, NULL),
			-KVM_EFAULT);
	KUNIT_EXPECT_EQ(test, f->publish_calls, 1);
	KUNIT_EXPECT_EQ(test, f->pins_at_publish, 4);
	/* The handle the guest never received is not live. */
	h = f->published;
	KUNIT_EXPECT_NE(test, h, 0);
	KUNIT_EXPECT_NULL(test, xa_load(&f->vm->handles, h));
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), -PVDMA_ENOENT);
	KUNIT_EXPECT_EQ(test, f->vm->counters.maps, 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 0);
	expect_nothing_pinned(test, f);

	/* And the tracker still works. */
	f->publish_err = 0;
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(0, 0), 4 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 4);
}

/* Until publish returns, the guest cannot unmap what it does not know. */
static void unwind_not_live_during_publish(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	f->publish_probe = true;
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, f->probe_ret, -PVDMA_ENOENT);
	KUNIT_EXPECT_EQ(test, f->pins_at_publish, 2);
	KUNIT_EXPECT_EQ(test, f->live_pins, 2);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

static void unwind_no_publish_callback(struct kunit *test)
{
	struct fake *f = test->priv;
	struct pvdma_range r = { GPA(3, 0), PAGE_SIZE };
	struct pvdma_map_req req = {
		.ranges = &r, .nr_ranges = 1, .dir = PVDMA_MAP_TO_DEVICE,
		.max_segs = 1, .segs = f->segs,
	};

	KUNIT_ASSERT_EQ(test, pvdma_map(f->vm, f, &req, NULL), 0);
	KUNIT_EXPECT_NOT_NULL(test, xa_load(&f->vm->handles, req.handle));
	KUNIT_EXPECT_EQ(test, req.nr_segs, 1);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &req.handle, 1), 0);
	expect_nothing_pinned(test, f);
}

#if IS_ENABLED(CONFIG_FAILSLAB) && IS_ENABLED(CONFIG_FAULT_INJECTION_DEBUG_FS)
/* A page of user memory of the test's own, for failslab_set(). */
static unsigned long failslab_ubuf;

/*
 * failslab only fails allocations that may sleep once ignore-gfp-wait is
 * off, which only its debugfs file can say: write it through a kernel
 * mount of debugfs (the same superblock as /sys/kernel/debug).  Its
 * write op takes a user buffer only.
 */
static int failslab_set(const char *file, const char *val)
{
	struct file_system_type *type;
	struct vfsmount *mnt;
	struct file *filp;
	struct path path;
	loff_t pos = 0;
	ssize_t n;
	int ret;

	if (copy_to_user((void __user *)failslab_ubuf, val, strlen(val)))
		return -EFAULT;
	type = get_fs_type("debugfs");
	if (!type)
		return -ENODEV;
	mnt = kern_mount(type);
	put_filesystem(type);
	if (IS_ERR(mnt))
		return PTR_ERR(mnt);
	ret = vfs_path_lookup(mnt->mnt_root, mnt, file, 0, &path);
	if (!ret) {
		filp = dentry_open(&path, O_WRONLY, current_cred());
		path_put(&path);
		if (IS_ERR(filp)) {
			ret = PTR_ERR(filp);
		} else {
			n = vfs_write(filp, (const char __user *)failslab_ubuf,
				      strlen(val), &pos);
			ret = n < 0 ? n : 0;
			fput(filp);
		}
	}
	kern_unmount(mnt);
	return ret;
}

/* Runs before the user page goes: kunit releases in reverse order. */
static void failslab_restore(void *unused)
{
	current->fail_nth = 0;
	failslab_set("failslab/ignore-gfp-wait", "Y");
}

/*
 * Let current->fail_nth fail GFP_KERNEL slab allocations too, until the
 * test ends.
 */
static void failslab_arm(struct kunit *test)
{
	failslab_ubuf = kunit_vm_mmap(test, NULL, 0, PAGE_SIZE,
				      PROT_READ | PROT_WRITE,
				      MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR_VALUE(failslab_ubuf));
	KUNIT_ASSERT_EQ(test, failslab_set("failslab/ignore-gfp-wait", "N"), 0);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, failslab_restore,
							NULL), 0);
}

/*
 * Every allocation of a MAP fails in turn, through the kernel's own fault
 * injection (current->fail_nth, as syzkaller drives it): the MAP fails
 * with -PVDMA_ENOMEM and leaves nothing pinned, charged or live, or it
 * succeeds whole where the failed allocation is tried again (the xarray
 * allocates a node without sleeping under its lock, then again outside).
 * The chunk array grows after pages are pinned: that failure must unpin.
 */
static void unwind_every_allocation_failure(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int n, left, failed = 0;
	long ret;
	u64 h;

	failslab_arm(test);
	f->pin_max = 2;
	for (n = 1; n <= 64; n++) {
		/* A fresh tracker: its xarray allocates again. */
		fake_set_vm(test, f, &fake_backend, 4096, 64, 2048);
		fake_reset_calls(f);
		current->fail_nth = n;
		ret = fake_map(f, unwind_ranges, ARRAY_SIZE(unwind_ranges),
			       PVDMA_MAP_BIDIRECTIONAL, 16, &h);
		left = current->fail_nth;
		current->fail_nth = 0;
		if (left) {
			/* Fewer than n allocations: none failed. */
			KUNIT_EXPECT_EQ_MSG(test, ret, 0, "allocation %u", n);
			break;
		}
		if (!ret) {
			KUNIT_EXPECT_EQ_MSG(test, f->live_pins, UNWIND_PAGES,
					    "allocation %u", n);
			KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
			expect_nothing_pinned(test, f);
			continue;
		}
		failed++;
		KUNIT_EXPECT_EQ_MSG(test, ret, -PVDMA_ENOMEM, "allocation %u", n);
		KUNIT_EXPECT_EQ_MSG(test, f->live_pins, 0, "allocation %u", n);
		KUNIT_EXPECT_EQ_MSG(test, f->dirty_unpins, 0, "allocation %u", n);
		expect_failed_map(test, f);
	}
	KUNIT_EXPECT_LE(test, n, 64);
	/* The tracker, its segment chunks and the handle at least. */
	KUNIT_EXPECT_GE(test, failed, 3);
	kunit_info(test, "%u allocations, %u of them failing the MAP\n", n - 1,
		   failed);
}

/* An UNMAP_BATCH that cannot allocate releases nothing, then works. */
static void unwind_batch_allocation_failure(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[3];
	int i;

	failslab_arm(test);
	for (i = 0; i < ARRAY_SIZE(h); i++)
		KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(4 * i, 0), 2 * PAGE_SIZE,
						PVDMA_MAP_FROM_DEVICE, &h[i]),
				0);
	current->fail_nth = 1;
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, ARRAY_SIZE(h)),
			-PVDMA_ENOMEM);
	KUNIT_EXPECT_EQ(test, current->fail_nth, 0);
	current->fail_nth = 0;
	KUNIT_EXPECT_EQ(test, f->live_pins, 6);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 3);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, ARRAY_SIZE(h)), 0);
	expect_nothing_pinned(test, f);
}
#else
static void unwind_every_allocation_failure(struct kunit *test)
{
	kunit_skip(test, "needs CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS");
}

static void unwind_batch_allocation_failure(struct kunit *test)
{
	kunit_skip(test, "needs CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS");
}
#endif

static struct kunit_case pvdma_unwind_cases[] = {
	KUNIT_CASE(unwind_every_pin_failure),
	KUNIT_CASE(unwind_every_resolve_failure),
	KUNIT_CASE(unwind_hole_mid_range),
	KUNIT_CASE(unwind_publish_failure),
	KUNIT_CASE(unwind_not_live_during_publish),
	KUNIT_CASE(unwind_no_publish_callback),
	KUNIT_CASE(unwind_every_allocation_failure),
	KUNIT_CASE(unwind_batch_allocation_failure),
	{}
};

/* ---- pvdma_host_unmap --------------------------------------------------- */

static void unmap_unknown_handle(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 bad[] = { 0, 1, 12345, U32_MAX };
	unsigned int i;
	long ret;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ret = pvdma_unmap(f->vm, f, &bad[i], 1);
		KUNIT_EXPECT_EQ_MSG(test, ret, -PVDMA_ENOENT, "handle %llu", bad[i]);
		pvdma_count_failure(f->vm, ret);
	}
	KUNIT_EXPECT_EQ(test, f->vm->counters.fail_handle, ARRAY_SIZE(bad));
	KUNIT_EXPECT_EQ(test, f->vm->counters.unmaps, 0);
	KUNIT_EXPECT_EQ(test, f->unpin_calls, 0);
}

static void unmap_twice(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), -PVDMA_ENOENT);
	KUNIT_EXPECT_EQ(test, f->vm->counters.unmaps, 1);
	expect_nothing_pinned(test, f);
}

/* Handles are 32-bit: the upper half must not alias a live handle. */
static void unmap_handle_above_u32(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h, alias;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h), 0);
	KUNIT_ASSERT_LE(test, h, U32_MAX);
	alias = h | (1ULL << 32);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &alias, 1), -PVDMA_ENOENT);
	alias = h | (1ULL << 63);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &alias, 1), -PVDMA_ENOENT);
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
	KUNIT_EXPECT_NOT_NULL(test, xa_load(&f->vm->handles, h));
}

static void unmap_map_three(struct kunit *test, struct fake *f, u64 *h)
{
	unsigned int i;

	for (i = 0; i < 3; i++)
		KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(10 * i, 0), (i + 1) * PAGE_SIZE,
						PVDMA_MAP_TO_DEVICE, &h[i]), 0);
	KUNIT_ASSERT_EQ(test, f->live_pins, 6);
}

static void unmap_batch(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[3];

	unmap_map_three(test, f, h);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, 3), 0);
	KUNIT_EXPECT_EQ(test, f->vm->counters.unmaps, 3);
	expect_nothing_pinned(test, f);
}

static void unmap_batch_bad_handle(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[3], batch[4];

	unmap_map_three(test, f, h);
	batch[0] = h[0];
	batch[1] = h[1];
	batch[2] = 999;
	batch[3] = h[2];
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, batch, 4), -PVDMA_ENOENT);
	KUNIT_EXPECT_EQ(test, f->live_pins, 6);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 6);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 3);
	KUNIT_EXPECT_EQ(test, f->vm->counters.unmaps, 0);
	KUNIT_EXPECT_EQ(test, f->unpin_calls, 0);

	/* The handles checked before the bad one are still usable. */
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, 3), 0);
	expect_nothing_pinned(test, f);
}

static void unmap_batch_duplicate(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[3], batch[3];

	unmap_map_three(test, f, h);
	batch[0] = h[1];
	batch[1] = h[0];
	batch[2] = h[1];
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, batch, 3), -KVM_EINVAL);
	KUNIT_EXPECT_EQ(test, f->live_pins, 6);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 3);
	KUNIT_EXPECT_EQ(test, f->unpin_calls, 0);

	/* No mark left behind: the same handles, once each, now work. */
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, batch, 2), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 3);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h[2], 1), 0);
	expect_nothing_pinned(test, f);
}

static void unmap_from_device_dirties(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(3, 0x10), 3 * PAGE_SIZE },
		{ GPA(GFN_SLOT1 + 2, 0), 1 },
	};
	unsigned long gfn;
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map(f, r, 2, PVDMA_MAP_FROM_DEVICE, 8, &h), 0);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 5);
	KUNIT_EXPECT_EQ(test, f->clean_unpins, 0);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 5);
	KUNIT_EXPECT_EQ(test, bitmap_weight(f->dirty_gfns, FAKE_NR_GFNS), 5);
	for (gfn = 3; gfn <= 6; gfn++)
		KUNIT_EXPECT_TRUE(test, test_bit(gfn, f->dirty_gfns));
	KUNIT_EXPECT_TRUE(test, test_bit(GFN_SLOT1 + 2, f->dirty_gfns));
	expect_nothing_pinned(test, f);
}

static void unmap_to_device_clean(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(3, 0), 3 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, f->clean_unpins, 3);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 0);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 0);
	KUNIT_EXPECT_TRUE(test, bitmap_empty(f->dirty_gfns, FAKE_NR_GFNS));
}

static void unmap_bidirectional_dirties(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(8, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_BIDIRECTIONAL, &h), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 2);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 2);
	KUNIT_EXPECT_TRUE(test, test_bit(8, f->dirty_gfns));
	KUNIT_EXPECT_TRUE(test, test_bit(9, f->dirty_gfns));
}

/* mark_dirty is optional. */
static void unmap_without_dirty_log(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	fake_set_vm(test, f, &fake_backend_no_dirty_log, 4096, 64, 2048);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(8, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 2);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 0);
	expect_nothing_pinned(test, f);
}

static struct kunit_case pvdma_unmap_cases[] = {
	KUNIT_CASE(unmap_unknown_handle),
	KUNIT_CASE(unmap_twice),
	KUNIT_CASE(unmap_handle_above_u32),
	KUNIT_CASE(unmap_batch),
	KUNIT_CASE(unmap_batch_bad_handle),
	KUNIT_CASE(unmap_batch_duplicate),
	KUNIT_CASE(unmap_from_device_dirties),
	KUNIT_CASE(unmap_to_device_clean),
	KUNIT_CASE(unmap_bidirectional_dirties),
	KUNIT_CASE(unmap_without_dirty_log),
	{}
};

/* ---- pvdma_host_tracker: teardown, counters, footprint ------------------ */

static void tracker_destroy_releases_all(struct kunit *test)
{
	struct fake *f = test->priv;
	int mm_count = atomic_read(&f->mm->mm_count);
	unsigned int i;
	u64 h;

	for (i = 0; i < 6; i++)
		KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(20 * i, 7), 3 * PAGE_SIZE,
						i % 2 ? PVDMA_MAP_FROM_DEVICE :
							PVDMA_MAP_TO_DEVICE,
						&h), 0);
	KUNIT_ASSERT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 20);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 20);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 4);

	pvdma_vm_destroy(f->vm);
	f->vm = NULL;
	KUNIT_EXPECT_EQ(test, f->live_pins, 0);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 0);
	/* Two device-writable mappings were left: dirtied, but not logged. */
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 4 + 8);
	KUNIT_EXPECT_EQ(test, f->clean_unpins, 12);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 4);
	/* The tracker's mm reference is gone again. */
	KUNIT_EXPECT_EQ(test, atomic_read(&f->mm->mm_count), mm_count - 1);
}

static void tracker_destroy_empty(struct kunit *test)
{
	struct fake *f = test->priv;
	int mm_count = atomic_read(&f->mm->mm_count);

	pvdma_vm_destroy(NULL);
	pvdma_vm_destroy(f->vm);
	f->vm = NULL;
	KUNIT_EXPECT_EQ(test, atomic_read(&f->mm->mm_count), mm_count - 1);
	KUNIT_EXPECT_EQ(test, f->unpin_calls, 0);
}

static void tracker_counters(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_counters *c = &f->vm->counters;
	u64 h[3];

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 5 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h[0]), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 1), 5 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h[1]), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(GFN_HOLE, 0), 1,
					PVDMA_MAP_TO_DEVICE, NULL), -KVM_EFAULT);
	KUNIT_EXPECT_EQ(test, c->pinned_pages, 11);
	KUNIT_EXPECT_EQ(test, c->live_handles, 2);
	KUNIT_EXPECT_EQ(test, c->maps, 2);
	KUNIT_EXPECT_EQ(test, c->unmaps, 0);

	KUNIT_ASSERT_EQ(test, pvdma_unmap(f->vm, f, &h[1], 1), 0);
	KUNIT_EXPECT_EQ(test, c->pinned_pages, 5);
	KUNIT_EXPECT_EQ(test, c->live_handles, 1);
	KUNIT_EXPECT_EQ(test, c->unmaps, 1);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 1, PVDMA_MAP_TO_DEVICE,
					&h[2]), 0);
	KUNIT_EXPECT_EQ(test, c->maps, 3);
	KUNIT_EXPECT_EQ(test, c->pinned_pages, 6);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 6);
	/* The engine counts no failure itself: that is the caller's job. */
	KUNIT_EXPECT_EQ(test, c->fail_fault, 0);
}

/* What the tracker spends per pinned page on a 2 MiB contiguous map. */
static void tracker_footprint(struct kunit *test)
{
	struct fake *f = test->priv;
	size_t total;
	u64 h;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 512 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	KUNIT_ASSERT_EQ(test, f->req.nr_segs, 1);
	/* The mapping, its one chunk and its array of page pointers. */
	total = f->vm->counters.tracker_bytes;
	KUNIT_EXPECT_GE(test, total, 512 * sizeof(struct page *));
	kunit_info(test, "512-page map: %zu bytes, %zu.%03zu bytes/page\n",
		   total, total / 512, (total % 512) * 1000 / 512);
	KUNIT_EXPECT_LE(test, total, 16 * 512);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	KUNIT_EXPECT_EQ(test, f->vm->counters.tracker_bytes, 0);
}

static struct kunit_case pvdma_tracker_cases[] = {
	KUNIT_CASE(tracker_destroy_releases_all),
	KUNIT_CASE(tracker_destroy_empty),
	KUNIT_CASE(tracker_counters),
	KUNIT_CASE(tracker_footprint),
	{}
};

/* ---- pvdma_host_epoch: invalidations and the guest's status page -------- */

static void epoch_invalidate_pinned(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(10, 0), 3 * PAGE_SIZE },
		{ GPA(100, 9), 1 },
	};
	u64 h, e;

	KUNIT_ASSERT_EQ(test, fake_map(f, r, 2, PVDMA_MAP_TO_DEVICE, 4, &h), 0);
	e = f->vm->epoch;
	/* Frames 10..12 and 100 are pinned; end is exclusive. */
	fake_invalidate(f, 13, 100, MMU_NOTIFY_CLEAR);
	fake_invalidate(f, 0, 10, MMU_NOTIFY_CLEAR);
	fake_invalidate(f, 101, 1ULL << 40, MMU_NOTIFY_CLEAR);
	fake_invalidate(f, 12, 12, MMU_NOTIFY_CLEAR);
	pvdma_invalidate_start(f->vm, 0x100000000000UL + 12 * PAGE_SIZE,
			       0x100000000000UL + 12 * PAGE_SIZE,
			       MMU_NOTIFY_UNMAP);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e);
	fake_invalidate(f, 12, 13, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 1);
	fake_invalidate(f, 0, 11, MMU_NOTIFY_UNMAP);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 2);
	fake_invalidate(f, 100, 101, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 3);

	/* Unpinned frames do not concern the guest any more. */
	KUNIT_ASSERT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	fake_invalidate(f, 0, 1ULL << 40, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 3);
}

/* A map that failed leaves no frame behind for invalidations to find. */
static void epoch_failed_map_untracked(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r = { GPA(30, 0), 2 * PAGE_SIZE };
	u64 e = f->vm->epoch;

	f->publish_err = -KVM_EFAULT;
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(20, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, NULL), -KVM_EFAULT);
	f->publish_err = 0;
	fake_layout_reverse(f);
	KUNIT_EXPECT_EQ(test, fake_map(f, &r, 1, PVDMA_MAP_TO_DEVICE, 1, NULL),
			-KVM_E2BIG);
	expect_nothing_pinned(test, f);
	KUNIT_EXPECT_EQ(test, f->vm->counters.maps, 0);
	fake_invalidate(f, 0, FAKE_NR_GFNS, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e);
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&f->vm->pinned.rb_root));
}

static void epoch_never_zero(struct kunit *test)
{
	struct fake *f = test->priv;

	pvdma_bump_epoch(f->vm);
	KUNIT_EXPECT_NE(test, f->vm->epoch, 0);
	f->vm->epoch = U64_MAX;
	pvdma_bump_epoch(f->vm);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, 1);
}

static u64 shared_epoch(struct fake *f, u64 gfn)
{
	const struct pvdma_shared *sh = page_address(fake_page(f, gfn));

	return READ_ONCE(sh->epoch);
}

static void shared_page_tracks_epoch(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
	KUNIT_EXPECT_EQ(test, f->write_pins, 1);
	KUNIT_EXPECT_NE(test, shared_epoch(f, 7), 0);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), f->vm->epoch);

	pvdma_bump_epoch(f->vm);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), f->vm->epoch);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(40, 0), 1, PVDMA_MAP_TO_DEVICE,
					&h), 0);
	fake_invalidate(f, 40, 41, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), f->vm->epoch);

	/* A new page replaces the old one, which is released dirty. */
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 8), 0);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[7]], 0);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[8]], 1);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 1);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 8), f->vm->epoch);

	/* The mapping and the status page both go with the VM. */
	pvdma_vm_destroy(f->vm);
	f->vm = NULL;
	KUNIT_EXPECT_EQ(test, f->live_pins, 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 2);
}

/* A cleared status page is unpinned and no longer written. */
static void shared_page_clear(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 e;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	e = shared_epoch(f, 7);
	pvdma_clear_shared(f->vm);
	KUNIT_EXPECT_NULL(test, f->vm->shared_page);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[7]], 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 1);
	pvdma_bump_epoch(f->vm);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), e);
	/* Twice is harmless; a new page starts from the current epoch. */
	pvdma_clear_shared(f->vm);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 1);
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 8), 0);
	KUNIT_EXPECT_GT(test, shared_epoch(f, 8), e);
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
	pvdma_clear_shared(f->vm);
	KUNIT_EXPECT_EQ(test, f->live_pins, 0);
	expect_nothing_pinned(test, f);
}

static void shared_page_refused(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, GFN_RO), -PVDMA_EACCES);
	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, GFN_HOLE),
			-KVM_EFAULT);
	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, GFN_PRIVATE),
			-KVM_EOPNOTSUPP);
	f->fail_pin_at = 1;
	f->pin_err = -PVDMA_ENOMEM;
	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, 7), -PVDMA_ENOMEM);
	f->fail_pin_at = 2;
	f->pin_err = 0;
	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, 7), -PVDMA_EIO);
	KUNIT_EXPECT_NULL(test, f->vm->shared_page);
	expect_nothing_pinned(test, f);
}

/* A resolve answering "no frame" must not be followed by a pin. */
static void shared_page_resolve_none(struct kunit *test)
{
	struct fake *f = test->priv;

	f->fail_resolve_at = 1;
	f->resolve_err = 0;
	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, 7), -KVM_EFAULT);
	KUNIT_EXPECT_EQ(test, f->pin_calls, 0);
	KUNIT_EXPECT_NULL(test, f->vm->shared_page);
	expect_nothing_pinned(test, f);
}

static struct kunit_case pvdma_epoch_cases[] = {
	KUNIT_CASE(epoch_invalidate_pinned),
	KUNIT_CASE(epoch_failed_map_untracked),
	KUNIT_CASE(epoch_never_zero),
	KUNIT_CASE(shared_page_tracks_epoch),
	KUNIT_CASE(shared_page_clear),
	KUNIT_CASE(shared_page_refused),
	KUNIT_CASE(shared_page_resolve_none),
	{}
};

/* ---- pvdma_host_race: invalidations while a map pins ------------------- */

/*
 * The host discards the memory behind a frame after it was pinned but
 * before the engine tracked it: the invalidation finds nothing, so the map
 * must notice by itself and pin the page that backs the frame now.
 */
static void race_invalidate_between_pin_and_track(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int old_page = f->host_idx[5];
	u64 h, e = f->vm->epoch;

	f->inject_at_pin = 1;
	f->inject_gfn = 5;
	f->inject_spare = GFN_HOLE;
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(5, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	KUNIT_EXPECT_NE(test, f->host_idx[5], old_page);
	/* The guest is given the page behind frame 5 now, not the orphan. */
	KUNIT_EXPECT_EQ(test, f->segs[0].addr, fake_phys(f, 5));
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[5]], 1);
	KUNIT_EXPECT_EQ(test, f->pins[old_page], 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 2);
	KUNIT_EXPECT_EQ(test, f->stale_commits, 1);
	KUNIT_EXPECT_EQ(test, f->commit_calls, 2);
	/* Nothing the guest kept was concerned. */
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

/* Once tracked, the same invalidation finds the frame: the epoch moves. */
static void race_invalidate_after_track(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h, e;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(5, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	e = f->vm->epoch;
	fake_discard(f, 6, GFN_HOLE);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 1);
	KUNIT_EXPECT_EQ(test, f->stale_commits, 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
}

/* A map across ranges and slots is checked as a whole, and pinned anew. */
static void race_invalidate_in_later_range(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(GFN_SLOT1 - 2, 0), 4 * PAGE_SIZE },
		{ GPA(30, 0), PAGE_SIZE },
	};
	unsigned int old_page = f->host_idx[30];
	u64 h;

	/* Pin calls: slot 0, slot 1, then frame 30. */
	f->inject_at_pin = 3;
	f->inject_gfn = 30;
	f->inject_spare = GFN_HOLE + 1;
	KUNIT_ASSERT_EQ(test, fake_map(f, r, 2, PVDMA_MAP_TO_DEVICE, 8, &h), 0);
	KUNIT_EXPECT_EQ(test, f->pins[old_page], 0);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[30]], 1);
	KUNIT_EXPECT_EQ(test, f->live_pins, 5);
	KUNIT_EXPECT_EQ(test, f->segs[f->req.nr_segs - 1].addr, fake_phys(f, 30));
	KUNIT_EXPECT_EQ(test, f->stale_commits, 1);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

/* The status page is pinned by the same protocol. */
static void race_invalidate_status_page(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int old_page = f->host_idx[7];

	f->inject_at_pin = 1;
	f->inject_gfn = 7;
	f->inject_spare = GFN_HOLE;
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	KUNIT_EXPECT_EQ(test, f->pins[old_page], 0);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[7]], 1);
	KUNIT_EXPECT_PTR_EQ(test, f->vm->shared_page, fake_page(f, 7));
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), f->vm->epoch);
	KUNIT_EXPECT_EQ(test, f->stale_commits, 1);
}

/*
 * Under a stream of invalidations every try is stale: the map gives up
 * after PVDMA_PIN_TRIES, with nothing pinned, charged or handed out,
 * rather than keep the vCPU in the host for as long as the stream lasts.
 */
static void race_stream_gives_up(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	f->always_stale = true;
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(5, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h),
			-PVDMA_EAGAIN);
	KUNIT_EXPECT_EQ(test, f->commit_calls, PVDMA_PIN_TRIES);
	KUNIT_EXPECT_EQ(test, f->stale_commits, PVDMA_PIN_TRIES);
	expect_failed_map(test, f);

	/* The stream ends: the repeated call goes through. */
	f->always_stale = false;
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(5, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 2);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	expect_nothing_pinned(test, f);
}

/* The status page likewise: the one registered before stays. */
static void race_stream_status_page_gives_up(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	f->always_stale = true;
	f->commit_calls = 0;
	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, 8), -PVDMA_EAGAIN);
	KUNIT_EXPECT_EQ(test, f->commit_calls, PVDMA_PIN_TRIES);
	KUNIT_EXPECT_PTR_EQ(test, f->vm->shared_page, fake_page(f, 7));
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[8]], 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
}

static struct kunit_case pvdma_race_cases[] = {
	KUNIT_CASE(race_invalidate_between_pin_and_track),
	KUNIT_CASE(race_invalidate_after_track),
	KUNIT_CASE(race_invalidate_in_later_range),
	KUNIT_CASE(race_invalidate_status_page),
	KUNIT_CASE(race_stream_gives_up),
	KUNIT_CASE(race_stream_status_page_gives_up),
	{}
};

/* ---- pvdma_host_dirty_ring: logging device writes with bounded room ---- */

static void fake_ring(struct fake *f, unsigned long soft, unsigned long used)
{
	f->ring_soft = soft;
	f->ring_used = used;
	f->ring_exits = 0;
}

/* Every frame of [@gfn, @gfn + @n) logged exactly @times times. */
static void expect_logged(struct kunit *test, struct fake *f, u64 gfn,
			  unsigned long n, unsigned int times)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		KUNIT_EXPECT_EQ_MSG(test, f->dirty_count[gfn + i], times,
				    "frame %llu", gfn + i);
}

/*
 * One unmap with more to log than the ring has room for: it logs what
 * fits, keeps the pins and asks to be repeated, until all is logged.
 */
static void ring_unmap_one_repeats(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h;

	fake_ring(f, 8, 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 20 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h), -PVDMA_EAGAIN);
	KUNIT_EXPECT_EQ(test, f->ring_used, 8);
	KUNIT_EXPECT_EQ(test, f->ring_exits, 1);
	KUNIT_EXPECT_EQ(test, f->live_pins, 20);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 1);
	/* Repeated before the VMM harvested: no progress, nothing lost. */
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h), -PVDMA_EAGAIN);
	KUNIT_EXPECT_EQ(test, f->ring_used, 8);
	f->ring_used = 0;
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h), -PVDMA_EAGAIN);
	f->ring_used = 0;
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h), 0);
	KUNIT_EXPECT_EQ(test, f->ring_used, 4);
	expect_logged(test, f, 0, 20, 1);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 20);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 20);
	KUNIT_EXPECT_EQ(test, f->vm->counters.unmaps, 1);
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h), -PVDMA_ENOENT);
	expect_nothing_pinned(test, f);
}

/* Progress is kept per frame, across the chunks of several ranges. */
static void ring_unmap_one_across_chunks(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_range r[] = {
		{ GPA(GFN_SLOT1 - 3, 0), 6 * PAGE_SIZE },
		{ GPA(50, 0), 2 * PAGE_SIZE },
		{ GPA(GFN_LAST_SLOT, 0), 3 * PAGE_SIZE },
	};
	unsigned int calls = 0;
	long ret;
	u64 h;

	fake_ring(f, 2, 0);
	KUNIT_ASSERT_EQ(test, fake_map(f, r, 3, PVDMA_MAP_BIDIRECTIONAL, 16,
				       &h), 0);
	do {
		f->ring_used = 0;
		ret = pvdma_unmap_one(f->vm, f, h);
		calls++;
	} while (ret == -PVDMA_EAGAIN && calls < 20);
	KUNIT_EXPECT_EQ(test, ret, 0);
	KUNIT_EXPECT_EQ(test, calls, 6);
	expect_logged(test, f, GFN_SLOT1 - 3, 6, 1);
	expect_logged(test, f, 50, 2, 1);
	expect_logged(test, f, GFN_LAST_SLOT, 3, 1);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 11);
	expect_nothing_pinned(test, f);
}

/* Device-read mappings log nothing and never wait for the ring. */
static void ring_to_device_never_waits(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[2];

	fake_ring(f, 8, 8);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 20 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h[0]), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(40, 0), 20 * PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h[1]), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h[0]), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h[1], 1), 0);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 0);
	expect_nothing_pinned(test, f);
}

/*
 * A batch is all or nothing: with too little room now, nothing is released
 * but the ring is filled to its soft limit, so the vCPU exits to have it
 * harvested; after the harvest the batch goes through.
 */
static void ring_batch_waits_for_room(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[2];

	fake_ring(f, 32, 25);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 6 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h[0]), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(10, 0), 6 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h[1]), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, 2), -PVDMA_EAGAIN);
	KUNIT_EXPECT_EQ(test, f->ring_used, 32);
	KUNIT_EXPECT_GE(test, f->ring_exits, 1);
	KUNIT_EXPECT_EQ(test, f->live_pins, 12);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 2);
	KUNIT_EXPECT_EQ(test, f->vm->counters.unmaps, 0);
	f->ring_used = 0;
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, 2), 0);
	/* The 7 that fitted were logged early, then all 12 with the batch. */
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 7 + 12);
	expect_logged(test, f, 0, 6, 2);
	expect_logged(test, f, 10, 1, 2);
	expect_logged(test, f, 11, 5, 1);
	expect_nothing_pinned(test, f);
}

/* More than half the ring in one batch: never; one by one instead. */
static void ring_batch_too_big(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int i;
	long ret;
	u64 h[2];

	fake_ring(f, 32, 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 10 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h[0]), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(20, 0), 7 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h[1]), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, 2), -KVM_E2BIG);
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 0);
	KUNIT_EXPECT_EQ(test, f->vm->counters.live_handles, 2);
	/* No mark is left behind by the refused batch. */
	for (i = 0; i < 2; i++) {
		ret = pvdma_unmap_one(f->vm, f, h[i]);
		if (ret == -PVDMA_EAGAIN) {
			f->ring_used = 0;
			ret = pvdma_unmap_one(f->vm, f, h[i]);
		}
		KUNIT_EXPECT_EQ(test, ret, 0);
	}
	expect_logged(test, f, 0, 10, 1);
	expect_logged(test, f, 20, 7, 1);
	expect_nothing_pinned(test, f);
}

/* A batch takes up where an unmap of one of its mappings stopped. */
static void ring_batch_after_partial(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h[2];

	fake_ring(f, 32, 24);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(0, 0), 14 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h[0]), 0);
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(20, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h[1]), 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h[0]), -PVDMA_EAGAIN);
	f->ring_used = 16;
	/* 6 left of the first, 2 of the second: 8 <= 16, and room is 16. */
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, h, 2), 0);
	expect_logged(test, f, 0, 14, 1);
	expect_logged(test, f, 20, 2, 1);
	KUNIT_EXPECT_EQ(test, f->ring_used, 24);
	expect_nothing_pinned(test, f);
}

static struct kunit_case pvdma_dirty_ring_cases[] = {
	KUNIT_CASE(ring_unmap_one_repeats),
	KUNIT_CASE(ring_unmap_one_across_chunks),
	KUNIT_CASE(ring_to_device_never_waits),
	KUNIT_CASE(ring_batch_waits_for_room),
	KUNIT_CASE(ring_batch_too_big),
	KUNIT_CASE(ring_batch_after_partial),
	{}
};

/* ---- pvdma_host_status: the status page goes away ----------------------- */

/* Its memory is discarded: 0 for the guest, no more writes, pin released. */
static void status_lost_on_discard(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 e, gfn;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	KUNIT_EXPECT_TRUE(test, pvdma_shared_unlogged(f->vm, &gfn));
	KUNIT_EXPECT_EQ(test, gfn, 7);
	KUNIT_EXPECT_FALSE(test, pvdma_shared_unlogged(f->vm, &gfn));
	e = f->vm->epoch;
	fake_invalidate(f, 7, 8, MMU_NOTIFY_CLEAR);
	/* The page the host pinned (and may still be the guest's) says 0. */
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), 0);
	KUNIT_EXPECT_TRUE(test, pvdma_shared_lost(f->vm));
	KUNIT_EXPECT_NULL(test, f->vm->shared);
	KUNIT_EXPECT_TRUE(test, pvdma_shared_unlogged(f->vm, &gfn));
	pvdma_bump_epoch(f->vm);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), 0);
	/* Still pinned until process context reaps it. */
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
	pvdma_reap_shared(f->vm);
	KUNIT_EXPECT_EQ(test, f->live_pins, 0);
	KUNIT_EXPECT_EQ(test, f->dirty_unpins, 1);
	pvdma_reap_shared(f->vm);
	KUNIT_EXPECT_EQ(test, f->unpin_calls, 1);
	/* The guest registers again: the epoch goes on from where it was. */
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	KUNIT_EXPECT_FALSE(test, pvdma_shared_lost(f->vm));
	KUNIT_EXPECT_GT(test, shared_epoch(f, 7), e + 1);
	KUNIT_EXPECT_EQ(test, f->live_pins, 1);
}

/* A lost page is replaced by the next registration even before a reap. */
static void status_lost_then_replaced(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	fake_invalidate(f, 0, 100, MMU_NOTIFY_UNMAP);
	KUNIT_EXPECT_TRUE(test, pvdma_shared_lost(f->vm));
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 9), 0);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[7]], 0);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[9]], 1);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 9), f->vm->epoch);
	pvdma_clear_shared(f->vm);
	expect_nothing_pinned(test, f);
}

/* Protection changes and invalidations elsewhere keep it. */
static void status_kept(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 e;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	e = shared_epoch(f, 7);
	fake_invalidate(f, 0, 100, MMU_NOTIFY_PROTECTION_VMA);
	fake_invalidate(f, 0, 100, MMU_NOTIFY_PROTECTION_PAGE);
	fake_invalidate(f, 0, 100, MMU_NOTIFY_SOFT_DIRTY);
	fake_invalidate(f, 8, 100, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_FALSE(test, pvdma_shared_lost(f->vm));
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), e);
	/* Logging switched on for its slot: it stays, writes get logged. */
	pvdma_slot_changed(f->vm, fake_slots[0].hva, fake_slots[0].npages,
			   false);
	KUNIT_EXPECT_FALSE(test, pvdma_shared_lost(f->vm));
	/* Another slot goes. */
	pvdma_slot_changed(f->vm, fake_slots[1].hva, fake_slots[1].npages, true);
	KUNIT_EXPECT_FALSE(test, pvdma_shared_lost(f->vm));
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), e);
	/* Its slot goes. */
	pvdma_slot_changed(f->vm, fake_slots[0].hva, fake_slots[0].npages, true);
	KUNIT_EXPECT_TRUE(test, pvdma_shared_lost(f->vm));
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), 0);
}

/* While lost, maps cannot be kept: the guest learns of nothing stale. */
static void status_lost_cleared(struct kunit *test)
{
	struct fake *f = test->priv;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	fake_invalidate(f, 7, 8, MMU_NOTIFY_CLEAR);
	KUNIT_EXPECT_TRUE(test, pvdma_shared_lost(f->vm));
	pvdma_clear_shared(f->vm);
	KUNIT_EXPECT_FALSE(test, pvdma_shared_lost(f->vm));
	expect_nothing_pinned(test, f);
}

/* The backend writing 0 where the guest reads a lost status page now. */
static bool fake_zero_epoch(void *ctx)
{
	unsigned int *writes = ctx;

	(*writes)++;
	return true;
}

/* ... or failing to, because nothing is mapped there yet. */
static bool fake_zero_epoch_fails(void *ctx)
{
	unsigned int *tries = ctx;

	(*tries)++;
	return false;
}

/*
 * The VMM put other memory behind the lost page (a copy, in a new memslot
 * or mapping): the guest must read 0 there too.  It is written once the
 * backend can, logged, and never after the guest registered again,
 * cleared the page or reset: then the frame is no longer a status page.
 */
static void status_lost_told_where_guest_reads(struct kunit *test)
{
	struct fake *f = test->priv;
	unsigned int writes = 0, tries = 0;
	u64 gfn;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	KUNIT_EXPECT_FALSE(test, pvdma_lost_gfn(f->vm, false, &gfn));
	KUNIT_EXPECT_FALSE(test, pvdma_tell_lost(f->vm, 7, fake_zero_epoch,
						 &writes));
	fake_invalidate(f, 7, 8, MMU_NOTIFY_CLEAR);
	KUNIT_ASSERT_TRUE(test, pvdma_lost_gfn(f->vm, true, &gfn));
	KUNIT_EXPECT_EQ(test, gfn, 7);
	/* The 0 in the page the host had pinned. */
	KUNIT_EXPECT_TRUE(test, pvdma_shared_unlogged(f->vm, &gfn));

	/* Nothing to write to yet: still to be told. */
	KUNIT_EXPECT_FALSE(test, pvdma_tell_lost(f->vm, 7,
						 fake_zero_epoch_fails, &tries));
	KUNIT_EXPECT_EQ(test, tries, 1);
	KUNIT_EXPECT_TRUE(test, pvdma_lost_gfn(f->vm, true, &gfn));
	KUNIT_EXPECT_FALSE(test, pvdma_shared_unlogged(f->vm, &gfn));
	/* Another frame is not the status page. */
	KUNIT_EXPECT_FALSE(test, pvdma_tell_lost(f->vm, 8, fake_zero_epoch,
						 &writes));
	KUNIT_EXPECT_EQ(test, writes, 0);

	KUNIT_EXPECT_TRUE(test, pvdma_tell_lost(f->vm, 7, fake_zero_epoch,
						&writes));
	KUNIT_EXPECT_EQ(test, writes, 1);
	KUNIT_EXPECT_FALSE(test, pvdma_lost_gfn(f->vm, true, &gfn));
	KUNIT_EXPECT_TRUE(test, pvdma_lost_gfn(f->vm, false, &gfn));
	KUNIT_EXPECT_TRUE(test, pvdma_shared_unlogged(f->vm, &gfn));
	KUNIT_EXPECT_EQ(test, gfn, 7);
	/* Other memory mapped there once more: to be told again. */
	fake_invalidate(f, 8, 100, MMU_NOTIFY_UNMAP);
	KUNIT_EXPECT_FALSE(test, pvdma_lost_gfn(f->vm, true, &gfn));
	fake_invalidate(f, 0, 100, MMU_NOTIFY_UNMAP);
	KUNIT_EXPECT_TRUE(test, pvdma_lost_gfn(f->vm, true, &gfn));

	/* Registered again: nothing is lost, nothing written. */
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	KUNIT_EXPECT_FALSE(test, pvdma_lost_gfn(f->vm, false, &gfn));
	KUNIT_EXPECT_FALSE(test, pvdma_tell_lost(f->vm, 7, fake_zero_epoch,
						 &writes));
	/* Lost, then cleared: the guest may free the page. */
	fake_invalidate(f, 7, 8, MMU_NOTIFY_CLEAR);
	pvdma_clear_shared(f->vm);
	KUNIT_EXPECT_FALSE(test, pvdma_lost_gfn(f->vm, false, &gfn));
	KUNIT_EXPECT_FALSE(test, pvdma_tell_lost(f->vm, 7, fake_zero_epoch,
						 &writes));
	/* Lost, then reset: the page is the new kernel's memory. */
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	fake_invalidate(f, 7, 8, MMU_NOTIFY_CLEAR);
	pvdma_reset(f->vm);
	KUNIT_EXPECT_FALSE(test, pvdma_lost_gfn(f->vm, false, &gfn));
	KUNIT_EXPECT_FALSE(test, pvdma_tell_lost(f->vm, 7, fake_zero_epoch,
						 &writes));
	KUNIT_EXPECT_EQ(test, writes, 1);
	expect_nothing_pinned(test, f);
}

static struct kunit_case pvdma_status_cases[] = {
	KUNIT_CASE(status_lost_on_discard),
	KUNIT_CASE(status_lost_then_replaced),
	KUNIT_CASE(status_kept),
	KUNIT_CASE(status_lost_cleared),
	KUNIT_CASE(status_lost_told_where_guest_reads),
	{}
};

/* ---- pvdma_host_invalidate: which changes move the epoch --------------- */

static void invalidate_protection_keeps_epoch(struct kunit *test)
{
	static const enum mmu_notifier_event keep[] = {
		MMU_NOTIFY_PROTECTION_VMA, MMU_NOTIFY_PROTECTION_PAGE,
		MMU_NOTIFY_SOFT_DIRTY,
	};
	static const enum mmu_notifier_event move[] = {
		MMU_NOTIFY_UNMAP, MMU_NOTIFY_CLEAR, MMU_NOTIFY_RELEASE,
		MMU_NOTIFY_MIGRATE, MMU_NOTIFY_EXCLUSIVE,
	};
	struct fake *f = test->priv;
	unsigned int i;
	u64 h, e;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(10, 0), 4 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	e = f->vm->epoch;
	for (i = 0; i < ARRAY_SIZE(keep); i++)
		fake_invalidate(f, 0, FAKE_NR_GFNS, keep[i]);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e);
	/* Pages that are not anonymous: the end cannot check them. */
	for (i = 0; i < ARRAY_SIZE(move); i++) {
		fake_invalidate(f, 12, 13, move[i]);
		KUNIT_EXPECT_EQ_MSG(test, f->vm->epoch, e + i + 1, "event %d",
				    move[i]);
	}
}

static void invalidate_slot_changes(struct kunit *test)
{
	struct fake *f = test->priv;
	u64 h, e;

	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(GFN_SLOT1 + 4, 0), PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	e = f->vm->epoch;
	/* Slots without pins: moved, deleted, logged. */
	pvdma_slot_changed(f->vm, fake_slots[0].hva, fake_slots[0].npages, true);
	pvdma_slot_changed(f->vm, fake_slots[4].hva, fake_slots[4].npages,
			   false);
	pvdma_slot_changed(f->vm, fake_slots[2].hva, 0, true);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e);
	/* The slot with the pin: logging on, then deleted. */
	pvdma_slot_changed(f->vm, fake_slots[1].hva, fake_slots[1].npages,
			   false);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 1);
	pvdma_slot_changed(f->vm, fake_slots[1].hva, fake_slots[1].npages, true);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 2);
	/* Gone once unmapped. */
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h, 1), 0);
	pvdma_slot_changed(f->vm, fake_slots[1].hva, fake_slots[1].npages, true);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 2);
}

static struct kunit_case pvdma_invalidate_cases[] = {
	KUNIT_CASE(invalidate_protection_keeps_epoch),
	KUNIT_CASE(invalidate_slot_changes),
	{}
};

/*
 * ---- pvdma_host_anon: real anonymous memory of a real mm ----------------
 *
 * The end of an invalidation decides for small anonymous pages by looking
 * at them, which a fake cannot imitate.  These cases map anonymous memory
 * into the test's mm, pin it with pin_user_pages_fast() and deliver that
 * mm's MMU-notifier events to the engine, as KVM does.
 */
#define ANON_BASE	0x10000000UL
#define ANON_PAGES	16

struct anon {
	struct mmu_notifier mn;
	struct fake *f;
};

static struct anon *anon_of(struct mmu_notifier *mn)
{
	return container_of(mn, struct anon, mn);
}

static int anon_invalidate_start(struct mmu_notifier *mn,
				 const struct mmu_notifier_range *range)
{
	struct fake *f = anon_of(mn)->f;

	pvdma_invalidate_start(f->vm, range->start, range->end, range->event);
	return 0;
}

static void anon_invalidate_end(struct mmu_notifier *mn,
				const struct mmu_notifier_range *range)
{
	struct fake *f = anon_of(mn)->f;

	pvdma_invalidate_end(f->vm, range->start, range->end, range->event);
}

static const struct mmu_notifier_ops anon_mn_ops = {
	.invalidate_range_start = anon_invalidate_start,
	.invalidate_range_end = anon_invalidate_end,
};

static long anon_resolve(void *ctx, u64 gfn, unsigned long max, bool write,
			 unsigned long *hva)
{
	if (gfn >= ANON_PAGES)
		return -KVM_EFAULT;
	*hva = ANON_BASE + (gfn << PAGE_SHIFT);
	return min_t(u64, max, ANON_PAGES - gfn);
}

static long anon_pin(void *ctx, unsigned long hva, unsigned long npages,
		     bool write, struct page **pages)
{
	return pin_user_pages_fast(hva, npages,
				   FOLL_LONGTERM | (write ? FOLL_WRITE : 0),
				   pages);
}

static void anon_unpin(struct page **pages, unsigned long npages, bool dirty)
{
	unpin_user_pages_dirty_lock(pages, npages, dirty);
}

static const struct pvdma_pin_backend anon_backend = {
	.resolve = anon_resolve,
	.pin = anon_pin,
	.unpin = anon_unpin,
};

/* The test's mm with anonymous memory at ANON_BASE, its notifier on. */
static struct anon *anon_setup(struct kunit *test)
{
	struct fake *f = test->priv;
	struct anon *a;
	unsigned long addr;

	a = kunit_kzalloc(test, sizeof(*a), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, a);
	a->f = f;
	kthread_use_mm(f->mm);
	addr = vm_mmap(NULL, ANON_BASE, ANON_PAGES * PAGE_SIZE,
		       PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, 0);
	if (addr != ANON_BASE) {
		kthread_unuse_mm(f->mm);
		KUNIT_FAIL(test, "vm_mmap: %ld", (long)addr);
		return NULL;
	}
	a->mn.ops = &anon_mn_ops;
	if (mmu_notifier_register(&a->mn, f->mm)) {
		vm_munmap(ANON_BASE, ANON_PAGES * PAGE_SIZE);
		kthread_unuse_mm(f->mm);
		KUNIT_FAIL(test, "mmu_notifier_register failed");
		return NULL;
	}
	fake_set_vm(test, f, &anon_backend, 4096, 64, 2048);
	return a;
}

static void anon_teardown(struct anon *a)
{
	struct fake *f = a->f;

	pvdma_vm_destroy(f->vm);
	f->vm = NULL;
	mmu_notifier_unregister(&a->mn, f->mm);
	vm_munmap(ANON_BASE, ANON_PAGES * PAGE_SIZE);
	kthread_unuse_mm(f->mm);
	/* A fresh tracker for the exit handler, which checks it is empty. */
	f->vm = pvdma_vm_create(f->mm, &fake_backend, &f->limits);
}

/* KSM gives up on a pinned page: notifier start and end, PTE put back. */
static void anon_clear_given_up_keeps_epoch(struct kunit *test)
{
	struct fake *f = test->priv;
	struct mmu_notifier_range range;
	struct anon *a = anon_setup(test);
	u64 h, e;

	if (!a)
		return;
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(2, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	e = f->vm->epoch;
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, f->mm,
				ANON_BASE + 2 * PAGE_SIZE,
				ANON_BASE + 3 * PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e);
	anon_teardown(a);
}

/* madvise(MADV_DONTNEED) of a pinned page: it is gone from the VMM. */
static void anon_discard_bumps_epoch(struct kunit *test)
{
	struct fake *f = test->priv;
	struct anon *a = anon_setup(test);
	u64 h, e;

	if (!a)
		return;
	KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(2, 0), 2 * PAGE_SIZE,
					PVDMA_MAP_FROM_DEVICE, &h), 0);
	e = f->vm->epoch;
	KUNIT_EXPECT_EQ(test, do_madvise(f->mm, ANON_BASE + 8 * PAGE_SIZE,
					 PAGE_SIZE, MADV_DONTNEED), 0);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e);
	KUNIT_EXPECT_EQ(test, do_madvise(f->mm, ANON_BASE + 3 * PAGE_SIZE,
					 PAGE_SIZE, MADV_DONTNEED), 0);
	KUNIT_EXPECT_EQ(test, f->vm->epoch, e + 1);
	anon_teardown(a);
}

/* The status page of a guest, discarded by its VMM, is lost. */
static void anon_status_page_discarded(struct kunit *test)
{
	struct fake *f = test->priv;
	struct anon *a = anon_setup(test);

	if (!a)
		return;
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 5), 0);
	KUNIT_EXPECT_FALSE(test, pvdma_shared_lost(f->vm));
	KUNIT_EXPECT_EQ(test, do_madvise(f->mm, ANON_BASE + 5 * PAGE_SIZE,
					 PAGE_SIZE, MADV_DONTNEED), 0);
	KUNIT_EXPECT_TRUE(test, pvdma_shared_lost(f->vm));
	anon_teardown(a);
}

static struct kunit_case pvdma_anon_cases[] = {
	KUNIT_CASE(anon_clear_given_up_keeps_epoch),
	KUNIT_CASE(anon_discard_bumps_epoch),
	KUNIT_CASE(anon_status_page_discarded),
	{}
};

/* ---- pvdma_host_page_refs: a page pinned too often --------------------- */

/*
 * A page whose reference count is so high that more pins could overflow it
 * is refused, with nothing of the map left pinned.
 */
static void page_refs_ceiling(struct kunit *test)
{
	struct fake *f = test->priv;
	struct page *p = fake_page(f, 9);
	long ret;

	page_ref_add(p, PVDMA_PAGE_REF_CEILING);
	ret = fake_map1(f, GPA(8, 0), 3 * PAGE_SIZE, PVDMA_MAP_TO_DEVICE, NULL);
	KUNIT_EXPECT_EQ(test, ret, -PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, pvdma_set_shared(f->vm, f, 9), -PVDMA_ENOSPC);
	page_ref_sub(p, PVDMA_PAGE_REF_CEILING);
	expect_failed_map(test, f);
	KUNIT_EXPECT_NULL(test, f->vm->shared_page);
}

/* The bound holds for the page, whichever VM pins it. */
static void page_refs_two_vms(struct kunit *test)
{
	struct fake *f = test->priv;
	struct page *p = fake_page(f, 9);
	int base = PVDMA_PAGE_REF_CEILING - 2 * GUP_PIN_COUNTING_BIAS -
		   page_ref_count(p);
	struct pvdma_vm *other;
	u64 h[3];

	other = pvdma_vm_create(f->mm, &fake_backend, &f->limits);
	KUNIT_ASSERT_NOT_NULL(test, other);
	page_ref_add(p, base);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(9, 0), 1, PVDMA_MAP_TO_DEVICE,
					&h[0]), 0);
	swap(f->vm, other);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(9, 0), 1, PVDMA_MAP_TO_DEVICE,
					&h[1]), 0);
	swap(f->vm, other);
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(9, 0), 1, PVDMA_MAP_TO_DEVICE,
					&h[2]), -PVDMA_ENOSPC);
	KUNIT_EXPECT_EQ(test, f->pins[f->host_idx[9]], 2);
	pvdma_vm_destroy(other);
	KUNIT_EXPECT_EQ(test, pvdma_unmap(f->vm, f, &h[0], 1), 0);
	page_ref_sub(p, base);
	expect_nothing_pinned(test, f);
}

static struct kunit_case pvdma_page_refs_cases[] = {
	KUNIT_CASE(page_refs_ceiling),
	KUNIT_CASE(page_refs_two_vms),
	{}
};

/* ---- pvdma_host_reset: PVDMA_PROBE_RESET -------------------------------- */

static void reset_releases_everything(struct kunit *test)
{
	struct fake *f = test->priv;
	const struct pvdma_counters *c = &f->vm->counters;
	u64 h[4], e;
	unsigned int i;

	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 7), 0);
	for (i = 0; i < 4; i++)
		KUNIT_ASSERT_EQ(test, fake_map1(f, GPA(20 * i, 3),
						(i + 1) * PAGE_SIZE,
						i % 2 ? PVDMA_MAP_FROM_DEVICE :
							PVDMA_MAP_TO_DEVICE,
						&h[i]), 0);
	/* One mapping is half way through a logged unmap. */
	fake_ring(f, 1, 0);
	KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h[3]), -PVDMA_EAGAIN);
	fake_ring(f, 0, 0);
	e = f->vm->epoch;
	f->mark_dirty_pages = 0;

	pvdma_reset(f->vm);
	KUNIT_EXPECT_EQ(test, f->live_pins, 0);
	KUNIT_EXPECT_EQ(test, fake_pinned_vm(f), 0);
	KUNIT_EXPECT_EQ(test, c->pinned_pages, 0);
	KUNIT_EXPECT_EQ(test, c->live_handles, 0);
	KUNIT_EXPECT_EQ(test, c->tracker_bytes, 0);
	KUNIT_EXPECT_TRUE(test, xa_empty(&f->vm->handles));
	KUNIT_EXPECT_TRUE(test, RB_EMPTY_ROOT(&f->vm->pinned.rb_root));
	KUNIT_EXPECT_NULL(test, f->vm->shared_page);
	/* Not logged: that memory belongs to the kernel that is gone. */
	KUNIT_EXPECT_EQ(test, f->mark_dirty_pages, 0);
	for (i = 0; i < 4; i++)
		KUNIT_EXPECT_EQ(test, pvdma_unmap_one(f->vm, f, h[i]),
				-PVDMA_ENOENT);
	/* The old status page is never written again. */
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), e);
	pvdma_bump_epoch(f->vm);
	KUNIT_EXPECT_EQ(test, shared_epoch(f, 7), e);
	/* A page registered afterwards shows a newer epoch. */
	KUNIT_ASSERT_EQ(test, pvdma_set_shared(f->vm, f, 8), 0);
	KUNIT_EXPECT_GT(test, shared_epoch(f, 8), e);
	/* And the tracker works on. */
	KUNIT_EXPECT_EQ(test, fake_map1(f, GPA(0, 0), PAGE_SIZE,
					PVDMA_MAP_TO_DEVICE, &h[0]), 0);
	KUNIT_EXPECT_EQ(test, f->live_pins, 2);
}

static void reset_empty(struct kunit *test)
{
	struct fake *f = test->priv;

	pvdma_reset(f->vm);
	pvdma_reset(f->vm);
	KUNIT_EXPECT_EQ(test, f->unpin_calls, 0);
	expect_nothing_pinned(test, f);
}

static struct kunit_case pvdma_reset_cases[] = {
	KUNIT_CASE(reset_releases_everything),
	KUNIT_CASE(reset_empty),
	{}
};

#define PVDMA_HOST_SUITE(_name, _cases)					\
	static struct kunit_suite _name##_suite = {			\
		.name = #_name,						\
		.init = pvdma_test_init,				\
		.exit = pvdma_test_exit,				\
		.test_cases = _cases,					\
	}

PVDMA_HOST_SUITE(pvdma_host_validate, pvdma_validate_cases);
PVDMA_HOST_SUITE(pvdma_host_pin, pvdma_pin_cases);
PVDMA_HOST_SUITE(pvdma_host_merge, pvdma_merge_cases);
PVDMA_HOST_SUITE(pvdma_host_refcount, pvdma_refcount_cases);
PVDMA_HOST_SUITE(pvdma_host_limits, pvdma_limits_cases);
PVDMA_HOST_SUITE(pvdma_host_unwind, pvdma_unwind_cases);
PVDMA_HOST_SUITE(pvdma_host_unmap, pvdma_unmap_cases);
PVDMA_HOST_SUITE(pvdma_host_tracker, pvdma_tracker_cases);
PVDMA_HOST_SUITE(pvdma_host_epoch, pvdma_epoch_cases);
PVDMA_HOST_SUITE(pvdma_host_race, pvdma_race_cases);
PVDMA_HOST_SUITE(pvdma_host_dirty_ring, pvdma_dirty_ring_cases);
PVDMA_HOST_SUITE(pvdma_host_status, pvdma_status_cases);
PVDMA_HOST_SUITE(pvdma_host_invalidate, pvdma_invalidate_cases);
PVDMA_HOST_SUITE(pvdma_host_anon, pvdma_anon_cases);
PVDMA_HOST_SUITE(pvdma_host_page_refs, pvdma_page_refs_cases);
PVDMA_HOST_SUITE(pvdma_host_reset, pvdma_reset_cases);

kunit_test_suites(&pvdma_host_validate_suite, &pvdma_host_pin_suite,
		  &pvdma_host_merge_suite, &pvdma_host_refcount_suite,
		  &pvdma_host_limits_suite, &pvdma_host_unwind_suite,
		  &pvdma_host_unmap_suite, &pvdma_host_tracker_suite,
		  &pvdma_host_epoch_suite, &pvdma_host_race_suite,
		  &pvdma_host_dirty_ring_suite, &pvdma_host_status_suite,
		  &pvdma_host_invalidate_suite, &pvdma_host_anon_suite,
		  &pvdma_host_page_refs_suite, &pvdma_host_reset_suite);
