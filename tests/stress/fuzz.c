// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fuzz scenario: random and malformed PVDMA hypercalls from one vCPU,
 * mixed with valid maps and unmaps so that live pins go up and down.
 *
 * The engine keeps a model of what the host holds for the VM (live handles,
 * their pages, the status page) and, for every call, works out from the
 * guest memory the host is about to read which outcomes the ABI allows:
 * each argument that breaks a rule of <linux/pvdma.h> adds the code of that
 * rule; a call that breaks none must succeed.  The ABI does not say which
 * rule wins when several are broken, so any of theirs is accepted, but
 * never another code, and never success.  Then:
 *
 * - after every call, the VM's stats pvdma_live_handles and
 *   pvdma_pinned_pages equal the model (a partial pin shows at once);
 * - a successful MAP returns a new handle, exactly the segments
 *   /proc/self/pagemap gives, the right flags, and writes nothing beyond
 *   its last segment; a failed call writes nothing at all;
 * - every few thousand calls the host's FOLL_PIN pins, VmPin, the dirty
 *   log (device-written pages unmapped since) and the read-only slot (never
 *   written) are checked against the model.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "stress.h"

#define U32_MAX_	0xffffffffULL
#define CHECKPOINT	2500
#define MAX_LIVE	700
#define MAX_KINDS	32

/* Outcomes as bits, so a call's allowed outcomes form a set. */
enum {
	B_OK, B_EINVAL, B_E2BIG, B_EFAULT, B_EOPNOTSUPP, B_ENOSYS, B_EPERM,
	B_ENOENT, B_EIO, B_EAGAIN, B_ENOMEM, B_EACCES, B_ENOSPC, B_NR
};

#define BIT(b)		(1U << (b))
/* What a call reading device registers as descriptors may fail with. */
#define ANY_FAIL	(BIT(B_EINVAL) | BIT(B_E2BIG) | BIT(B_EFAULT) | \
			 BIT(B_EIO) | BIT(B_EACCES) | BIT(B_ENOENT))

static const s64 bit_code[B_NR] = {
	0, -KVM_EINVAL, -KVM_E2BIG, -KVM_EFAULT, -KVM_EOPNOTSUPP, -KVM_ENOSYS,
	-KVM_EPERM, -PVDMA_ENOENT, -PVDMA_EIO, -PVDMA_EAGAIN, -PVDMA_ENOMEM,
	-PVDMA_EACCES, -PVDMA_ENOSPC,
};

static int code_bit(s64 ret)
{
	int b;

	for (b = 0; b < B_NR; b++)
		if (bit_code[b] == ret)
			return b;
	return -1;
}

enum kind { K_HOLE, K_RAM, K_RO, K_MMIO };

struct live {
	u64 handle;
	u64 pages;
	u32 dir;
	unsigned int nr;
	struct pvdma_range *r;
};

struct fuzz {
	struct sc *sc;
	struct vm *vm;
	struct rng *rng;
	u64 high_gpa;
	struct pvdma_info info;
	/* The model of what the host holds for this VM. */
	struct live *live;
	unsigned int nr_live;
	u64 pinned;
	u64 shared_gpa;		/* 0: no status page */
	u64 epoch_seen;
	u64 max_handle;
	u64 dead[64];
	unsigned int nr_dead;
	u8 dirty_want[DIRTY_SIZE / PAGE];
	u8 *ro_shadow;
	u8 *shadow[VMM_MAX_SLOTS];	/* guest memory as the VMM wrote it */
	long long pins0, kb0;	/* FOLL_PIN pins, VmPin kB before */
	s64 apart_live, apart_pinned;	/* host minus model */
	u64 target, target_epoch;		/* live mappings to head for */
	/* Figures. */
	u64 calls, by_code[B_NR], maps_ok, unmaps_ok, batches_ok;
	u64 segs_checked, checkpoints, compat_calls, queries;
	unsigned int peak_live;
	u64 peak_pinned;
	int reset;			/* PROBE_RESET: 1 works, -1 refused */
	struct {
		char kind[64];
		const char *op;
		u64 count;
	} kinds[MAX_KINDS];
	unsigned int nr_kinds;
	u64 last_hpa;		/* a frame of the last successful map */
};

/* A call, for the failure messages. */
struct call {
	const char *op;
	u64 nr, a[4];
	bool compat;
};

static int slot_of(struct vm *vm, u64 gpa)
{
	int i;

	for (i = 0; i < VMM_MAX_SLOTS; i++)
		if (vm->slots[i].size && gpa >= vm->slots[i].gpa &&
		    gpa - vm->slots[i].gpa < vm->slots[i].size)
			return i;
	return -1;
}

static enum kind kind_of(struct fuzz *f, u64 gpa)
{
	int s = slot_of(f->vm, gpa);

	if (s < 0)
		return K_HOLE;
	if (s == MMIO_SLOT)
		return K_MMIO;
	return f->vm->slots[s].flags & KVM_MEM_READONLY ? K_RO : K_RAM;
}

/* The worst kind of memory in [gpa, gpa + len): hole, MMIO, RO, RAM. */
static enum kind kind_range(struct fuzz *f, u64 gpa, u64 len)
{
	enum kind worst = K_RAM;
	u64 p, last;

	if (!len)
		return K_RAM;
	if (gpa + len - 1 < gpa)
		return K_HOLE;
	last = (gpa + len - 1) & ~(PAGE - 1);
	for (p = gpa & ~(PAGE - 1);; p += PAGE) {
		enum kind k = kind_of(f, p);

		if (k == K_HOLE)
			return K_HOLE;
		if (k == K_MMIO)
			worst = K_MMIO;
		else if (k == K_RO && worst == K_RAM)
			worst = K_RO;
		if (p == last)
			break;
	}
	return worst;
}

/* Copy guest memory the VMM can read plainly (RAM and read-only slots). */
static bool gr(struct fuzz *f, u64 gpa, void *dst, u64 len)
{
	u8 *d = dst;

	while (len) {
		u64 n = PAGE - gpa % PAGE;
		enum kind k = kind_of(f, gpa);
		u8 *hva;

		n = n < len ? n : len;
		if (k != K_RAM && k != K_RO)
			return false;
		hva = gpa_hva(f->vm, gpa, n);
		memcpy(d, hva, n);
		d += n;
		gpa += n;
		len -= n;
	}
	return true;
}

/*
 * Write guest memory as the guest's kernel would, keeping the shadow copies
 * up to date; what is not RAM or a read-only slot is skipped (the VMM never
 * writes device registers).
 */
static void gw(struct fuzz *f, u64 gpa, const void *src, u64 len)
{
	const u8 *s = src;

	while (len) {
		u64 n = PAGE - gpa % PAGE;
		int slot = slot_of(f->vm, gpa);
		enum kind k = kind_of(f, gpa);

		n = n < len ? n : len;
		if (k == K_RAM || k == K_RO) {
			u64 off = gpa - f->vm->slots[slot].gpa;

			memcpy(f->vm->slots[slot].hva + off, s, n);
			if (slot == RO_SLOT)
				memcpy(f->ro_shadow + off, s, n);
			if (f->shadow[slot])
				memcpy(f->shadow[slot] + off, s, n);
		}
		s += n;
		gpa += n;
		len -= n;
	}
}

/* A snapshot of what a failed call must leave as it was. */
struct snap {
	unsigned int n;
	struct {
		u8 *hva;
		u64 len;
	} part[8];
	u8 data[RESULT_BYTES(PVDMA_MAX_SEGS) + 2 * PAGE];
};

static void snap_take(struct fuzz *f, struct snap *s, u64 gpa,
		      u64 len)
{
	u64 used = 0;

	s->n = 0;
	if (gpa + len < gpa)
		len = -gpa;
	while (len && s->n < 8) {
		u64 n = PAGE - gpa % PAGE;
		enum kind k = kind_of(f, gpa);

		n = n < len ? n : len;
		if (k == K_RAM || k == K_RO) {
			s->part[s->n].hva = gpa_hva(f->vm, gpa, n);
			s->part[s->n].len = n;
			memcpy(s->data + used, s->part[s->n].hva, n);
			used += n;
			s->n++;
		}
		gpa += n;
		len -= n;
	}
}

/* Bytes that changed since the snapshot, from @skip bytes into it on. */
static long snap_changed(struct snap *s, u64 skip)
{
	u64 used = 0, pos = 0, i;
	unsigned int p;

	for (p = 0; p < s->n; p++) {
		for (i = 0; i < s->part[p].len; i++, pos++)
			if (pos >= skip && s->part[p].hva[i] != s->data[used + i])
				return pos;
		used += s->part[p].len;
	}
	return -1;
}

static void describe(char *buf, size_t sz, const struct call *c)
{
	snprintf(buf, sz, "%s nr=%#llx a0=%#llx a1=%#llx a2=%#llx a3=%#llx",
		 c->op, (unsigned long long)c->nr,
		 (unsigned long long)c->a[0], (unsigned long long)c->a[1],
		 (unsigned long long)c->a[2], (unsigned long long)c->a[3]);
}

static void allowed_names(char *buf, size_t sz, u32 allowed)
{
	size_t len = 0;
	int b;

	buf[0] = 0;
	for (b = 0; b < B_NR; b++)
		if (allowed & BIT(b))
			len += snprintf(buf + len, len < sz ? sz - len : 0,
					"%s%s", len ? " " : "",
					code_name(bit_code[b]));
}

/*
 * A failed check.  Each kind of failure (an operation and @kind) is shown
 * in full the first time and counted after that, so that one defect hit a
 * thousand times does not hide another one hit once.
 */
static void call_fail(struct fuzz *f, const struct call *c, const char *kind,
		      const char *fmt, ...)
{
	char desc[192], detail[256];
	unsigned int i;
	va_list ap;

	for (i = 0; i < f->nr_kinds; i++)
		if (!strcmp(f->kinds[i].kind, kind) &&
		    !strcmp(f->kinds[i].op, c->op))
			break;
	if (i == f->nr_kinds && i < MAX_KINDS) {
		snprintf(f->kinds[i].kind, sizeof(f->kinds[i].kind), "%s", kind);
		f->kinds[i].op = c->op;
		f->nr_kinds++;
	}
	if (i < MAX_KINDS && f->kinds[i].count++) {
		f->sc->failures++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	describe(desc, sizeof(desc), c);
	sc_fail(f->sc, "call %llu (%s): %s: %s",
		(unsigned long long)f->calls, desc, kind, detail);
}

/* Is @ret one of @allowed? */
static void judge(struct fuzz *f, const struct call *c, s64 ret,
		  u32 allowed)
{
	char kind[64], names[256];
	int b = code_bit(ret);

	/* "Nothing happened, call again" is always an answer to a valid call. */
	if (allowed & BIT(B_OK))
		allowed |= BIT(B_EAGAIN);
	snprintf(kind, sizeof(kind), "returned %s", code_name(ret));
	if (b < 0) {
		call_fail(f, c, kind, "not a code <linux/pvdma.h> documents");
	} else if (!(allowed & BIT(b))) {
		allowed_names(names, sizeof(names), allowed);
		call_fail(f, c, kind, "the ABI allows only {%s}", names);
	}
}

/* Issue a call and check its code against the allowed set. */
static s64 issue(struct fuzz *f, struct call *c, u32 allowed)
{
	s64 ret = hc(f->vm, c->nr, c->a[0], c->a[1], c->a[2], c->a[3]);

	/* KVM hands a 32-bit caller the low half of the code: sign-extend. */
	if (c->compat)
		ret = (s32)ret;
	f->calls++;
	if (code_bit(ret) >= 0)
		f->by_code[code_bit(ret)]++;
	if (allowed)
		judge(f, c, ret, allowed);
	return ret;
}

static struct live *find_live(struct fuzz *f, u64 handle)
{
	unsigned int i;

	for (i = 0; i < f->nr_live; i++)
		if (f->live[i].handle == handle)
			return &f->live[i];
	return NULL;
}

static bool in_dirty_slot(u64 gpa)
{
	return gpa >= DIRTY_GPA && gpa - DIRTY_GPA < DIRTY_SIZE;
}

/* The model's side of an unmap: device-written dirty-slot pages to log. */
static void model_release(struct fuzz *f, struct live *l, bool log_dirty)
{
	unsigned int i;
	u64 g;

	if (log_dirty && (l->dir & PVDMA_MAP_FROM_DEVICE)) {
		for (i = 0; i < l->nr; i++) {
			u64 first = l->r[i].gpa >> 12;
			u64 last = (l->r[i].gpa + l->r[i].len - 1) >> 12;

			for (g = first; g <= last; g++)
				if (in_dirty_slot(g << 12))
					f->dirty_want[(g << 12) / PAGE -
						      DIRTY_GPA / PAGE] = 1;
		}
	}
	f->pinned -= l->pages;
	f->dead[f->nr_dead++ % 64] = l->handle;
	free(l->r);
	*l = f->live[--f->nr_live];
}

static void model_check(struct fuzz *f, const struct call *c)
{
	u64 live = vm_stat(f->vm, "pvdma_live_handles");
	u64 pinned = vm_stat(f->vm, "pvdma_pinned_pages");
	s64 dl = live - f->nr_live, dp = pinned - f->pinned;

	/* Once apart, say so again only when the difference changes. */
	if (dl != f->apart_live || dp != f->apart_pinned) {
		if (dl || dp)
			call_fail(f, c, "the host and the model disagree after it",
				  "the host holds %llu handles / %llu pages, the model %u / %llu",
				  (unsigned long long)live, (unsigned long long)pinned,
				  f->nr_live, (unsigned long long)f->pinned);
		f->apart_live = dl;
		f->apart_pinned = dp;
	}
}

/* Interesting guest-physical addresses: the edges of every memslot. */
static u64 edge_gpa(struct fuzz *f)
{
	static const s64 d[] = { -4097, -4096, -4095, -32, -17, -16, -8,
				     -1, 0, 1, 8, 16, 4095, 4096 };
	static const int slots[] = { 0, RO_SLOT, MMIO_SLOT, DIRTY_SLOT,
				     ADJ_A_SLOT, ADJ_B_SLOT, HIGH_SLOT };
	struct vmm_slot *s;

	do {
		s = &f->vm->slots[slots[rng_below(f->rng, 7)]];
	} while (!s->size);
	return (rng_pct(f->rng, 50) ? s->gpa : s->gpa + s->size) +
	       d[rng_below(f->rng, ARRAY_SIZE(d))];
}

static u64 wild_u64(struct fuzz *f)
{
	switch (rng_below(f->rng, 14)) {
	case 0: return 0;
	case 1: return ~0ULL;
	case 2: return ~0ULL - 15;
	case 3: return 1ULL << 63;
	case 4: return 1ULL << 52;
	case 5: return (1ULL << 40) + rng_below(f->rng, 1 << 20);
	case 6: return f->high_gpa + HIGH_SIZE + rng_below(f->rng, 64);
	case 7: return 0x5000000 + rng_below(f->rng, 1 << 24);	/* hole */
	case 8: return KVM_HC_PVDMA_BASE;
	case 9: return U32_MAX_;
	case 10: return 1ULL << 32;
	case 11: return edge_gpa(f);
	default: return rng_next(f->rng);
	}
}

/*
 * Would the host writing [gpa, gpa + len) clobber what must stay: page
 * tables and code, or the status pages (whose epoch the model follows)?
 * A hostile guest may do that to itself, but then this VMM cannot go on.
 */
static bool write_unsafe(u64 gpa, u64 len)
{
	u64 end = gpa + len < gpa ? ~0ULL : gpa + len;

	return gpa < SYSTEM_END || (gpa < SCRATCH_GPA && end > SHARED_GPA);
}

/* A range the host must pin for @dir. */
static struct pvdma_range gen_range(struct fuzz *f, u32 dir)
{
	bool write = dir & PVDMA_MAP_FROM_DEVICE;
	u64 base = DATA_GPA, span = DATA_PAGES * PAGE, len;

	switch (rng_below(f->rng, 10)) {
	case 6:
		base = DIRTY_GPA;
		span = DIRTY_SIZE;
		break;
	case 7: {
		/* Across the boundary of the two slots that touch. */
		u64 gpa = ADJ_B_GPA - rng_below(f->rng, 3) * PAGE -
			       1 - rng_below(f->rng, PAGE - 1);

		return (struct pvdma_range){
			gpa, ADJ_B_GPA - gpa + 1 + rng_below(f->rng, 3 * PAGE) };
	}
	case 8:
		base = f->high_gpa;
		span = HIGH_SIZE;
		break;
	case 9:
		if (!write) {
			base = RO_GPA;
			span = RO_SIZE;
		}
		break;
	}
	if (rng_pct(f->rng, 60))
		len = 1 + rng_below(f->rng, PAGE);
	else if (rng_pct(f->rng, 75))
		len = 1 + rng_below(f->rng, 4 * PAGE);
	else
		len = 1 + rng_below(f->rng, 8 * PAGE);
	if (rng_pct(f->rng, 20))
		len = (len + PAGE - 1) & ~(PAGE - 1);
	return (struct pvdma_range){ base + rng_below(f->rng, span - len), len };
}

static unsigned int gen_count(struct fuzz *f)
{
	unsigned int p = rng_below(f->rng, 100);

	if (p < 55)
		return 1;
	if (p < 80)
		return 2 + rng_below(f->rng, 7);
	if (p < 92)
		return 9 + rng_below(f->rng, 24);
	return 33 + rng_below(f->rng, PVDMA_MAX_RANGES - 32);
}

/* A 16-byte aligned place in the scratch zone for @len bytes in one page. */
static u64 scratch_spot(struct fuzz *f, u64 len)
{
	u64 page = SCRATCH_GPA + rng_below(f->rng, (SCRATCH_END -
					SCRATCH_GPA) / PAGE - 5) * PAGE;

	return page + rng_below(f->rng, (PAGE - len) / 16 + 1) * 16;
}

/*
 * What pinning a page of memory of kind @k breaks: a hole is -KVM_EFAULT,
 * a device-write pin of a read-only slot -PVDMA_EACCES, device memory
 * @mmio.
 */
static u32 pin_rule(enum kind k, bool write, u32 mmio)
{
	switch (k) {
	case K_HOLE:
		return BIT(B_EFAULT);
	case K_MMIO:
		return mmio;
	case K_RO:
		return write ? BIT(B_EACCES) : 0;
	default:
		return 0;
	}
}

/*
 * What the ABI allows a MAP of these arguments to return, from the guest
 * memory the host is about to read.  Sets *frames_decide when nothing is
 * wrong with the arguments, so success depends on how many segments the
 * host frames make and whether the result can take them.
 */
static u32 map_rules(struct fuzz *f, const struct call *c,
		     struct pvdma_range *r, unsigned int *nr_out,
		     unsigned int *max_segs, bool *frames_decide)
{
	u64 a0 = c->a[0], nr = c->a[1], a2 = c->a[2], dir = c->a[3];
	bool nr_ok = nr >= 1 && nr <= PVDMA_MAX_RANGES, ranges_read = false;
	struct pvdma_map_result hdr;
	u64 total = 0;
	u32 v = 0;
	unsigned int i;
	enum kind k;

	*nr_out = 0;
	*max_segs = 0;
	*frames_decide = false;
	if (!dir || (dir & ~(u64)PVDMA_MAP_BIDIRECTIONAL))
		v |= BIT(B_EINVAL);
	if (!nr)
		v |= BIT(B_EINVAL);
	if (nr > PVDMA_MAX_RANGES)
		v |= BIT(B_E2BIG);
	if (nr_ok && (a0 % 16 || a0 % PAGE + nr * 16 > PAGE))
		v |= BIT(B_EINVAL);
	if (a2 % 16)
		v |= BIT(B_EINVAL);

	k = kind_range(f, a2, sizeof(hdr));
	if (k == K_HOLE) {
		v |= BIT(B_EFAULT);
	} else if (k == K_MMIO) {
		v |= ANY_FAIL;		/* device registers as a header */
	} else {
		u64 end;

		gr(f, a2, &hdr, sizeof(hdr));
		*max_segs = hdr.max_segs;
		if (!hdr.max_segs)
			v |= BIT(B_EINVAL);
		if (hdr.max_segs > PVDMA_MAX_SEGS)
			v |= BIT(B_E2BIG);
		end = a2 + RESULT_BYTES(hdr.max_segs);
		if (end < a2)
			v |= BIT(B_EINVAL);
		else if (nr_ok && a2 < a0 + nr * 16 && a0 < end)
			v |= BIT(B_EINVAL);
		/*
		 * Every page the result may take, with the capacity the guest
		 * declared, must be writable guest RAM: the host checks that
		 * before it reads or pins anything else.
		 */
		if (end >= a2 &&
		    kind_range(f, a2, RESULT_BYTES(hdr.max_segs)) != K_RAM)
			v |= BIT(B_EFAULT);
	}

	if (nr_ok) {
		k = kind_range(f, a0, nr * 16);
		if (k == K_HOLE)
			v |= BIT(B_EFAULT);
		else if (k == K_MMIO)
			v |= ANY_FAIL;
		else
			ranges_read = gr(f, a0, r, nr * 16);
	}
	if (!ranges_read)
		return v;
	*nr_out = nr;
	/*
	 * A zero-length or overflowing range (gpa + len may not even reach
	 * 2^64 exactly) is -KVM_EINVAL, too many pages -KVM_E2BIG,
	 * whichever the host meets first.
	 */
	for (i = 0; i < nr; i++) {
		if (!r[i].len || r[i].len > ~0ULL - r[i].gpa) {
			v |= BIT(B_EINVAL);
			continue;
		}
		total += range_pages(&r[i]);
		if (total > f->info.max_map_pages)
			v |= BIT(B_E2BIG);
	}
	if (v)
		return v;
	if (f->nr_live >= f->info.max_handles ||
	    f->pinned + total > f->info.max_pinned_pages)
		v |= BIT(B_ENOSPC);
	/* Every page must be RAM the device may use that way. */
	for (i = 0; i < nr; i++) {
		u64 p = r[i].gpa & ~(PAGE - 1);
		u64 last = (r[i].gpa + r[i].len - 1) & ~(PAGE - 1);

		for (;; p += PAGE) {
			v |= pin_rule(kind_of(f, p), dir & PVDMA_MAP_FROM_DEVICE,
				      BIT(B_EIO));
			if (p == last)
				break;
		}
	}
	*frames_decide = !v;
	return v;
}

static void do_map(struct fuzz *f, bool valid)
{
	static struct pvdma_range gen[PVDMA_MAX_RANGES], r[PVDMA_MAX_RANGES];
	static struct pvdma_seg want[PVDMA_MAX_SEGS];
	static struct snap snap;
	struct call c = { .op = valid ? "MAP" : "MAP(malformed)",
			  .nr = KVM_HC_PVDMA_MAP };
	unsigned int nr = gen_count(f), i, nr_read, max_segs;
	u32 dir = 1 + rng_below(f->rng, 3), allowed;
	struct pvdma_map_result hdr;
	bool frames_decide, dirty = false;
	u64 pages = 0;
	s64 ret;
	int nsegs = -1;

	for (i = 0; i < nr; i++)
		gen[i] = gen_range(f, dir);
	c.a[0] = DESC_GPA(0);
	c.a[1] = nr;
	c.a[2] = RESULT_GPA(0);
	c.a[3] = dir;
	hdr = (struct pvdma_map_result){
		.handle = rng_next(f->rng), .nr_segs = rng_next(f->rng),
		.max_segs = PVDMA_MAX_SEGS, .flags = rng_next(f->rng) };
	/* Valid, but placed where the host must take care. */
	switch (rng_below(f->rng, 12)) {
	case 0:
		c.a[0] = scratch_spot(f, nr * 16);
		break;
	case 1:
		/* Descriptors may lie in a read-only slot: only read. */
		c.a[0] = RO_GPA + rng_below(f->rng, RO_SIZE / PAGE) * PAGE;
		break;
	case 2:
		c.a[2] = scratch_spot(f, PAGE) & ~(PAGE - 1);
		break;
	case 3:
		/* Straddling two slots that touch: the segments fit. */
		c.a[2] = ADJ_B_GPA - 16 * (1 + rng_below(f->rng, 64));
		break;
	case 4:
		/* At the end of a slot: the segments may run into a hole. */
		c.a[2] = (rng_pct(f->rng, 50) ? MEM_SIZE : f->high_gpa + HIGH_SIZE) -
			 16 * (1 + rng_below(f->rng, 8));
		break;
	case 5:
		hdr.max_segs = 1 + rng_below(f->rng, 8);
		break;
	}

	if (!valid) {
		unsigned int m, n = 1 + rng_below(f->rng, 3);

		for (m = 0; m < n; m++) {
			switch (rng_below(f->rng, 16)) {
			case 0:
				c.a[3] = rng_pct(f->rng, 50) ? 0 :
					 1ULL << rng_below(f->rng, 64);
				break;
			case 1:
				c.a[3] = wild_u64(f);
				break;
			case 2: {
				static const u64 bad[] = {
					0, PVDMA_MAX_RANGES + 1, 1ULL << 32,
					(1ULL << 32) | 1, ~0ULL, 1ULL << 63 };

				c.a[1] = rng_pct(f->rng, 80) ?
					 bad[rng_below(f->rng, 6)] :
					 rng_next(f->rng);
				break;
			}
			case 3:
				c.a[0] += rng_pct(f->rng, 50) ? 8 : 1 + rng_below(f->rng, 15);
				break;
			case 4:
				/* The array runs over the end of its page. */
				c.a[0] = (c.a[0] & ~(PAGE - 1)) + PAGE - 16 *
					 (nr > 1 ? nr - 1 : 1);
				if (nr == 1) {
					nr = 2;
					c.a[1] = nr;
				}
				break;
			case 5:
				c.a[0] = rng_pct(f->rng, 50) ? wild_u64(f) : edge_gpa(f);
				break;
			case 6:
				c.a[0] = rng_pct(f->rng, 50) ? MMIO_GPA :
					 0x6000000 + rng_below(f->rng, 1 << 20) * 16;
				break;
			case 7:
				c.a[2] += rng_pct(f->rng, 50) ? 8 : 1 + rng_below(f->rng, 15);
				break;
			case 8:
				c.a[2] = rng_pct(f->rng, 30) ? wild_u64(f) : edge_gpa(f);
				break;
			case 9:
				/* The result over the ranges it is made from. */
				c.a[2] = (c.a[0] & ~15ULL) + 16 *
					 (rng_below(f->rng, nr + 2)) - 16;
				break;
			case 10:
				c.a[2] = rng_pct(f->rng, 50) ? MMIO_GPA :
					 RO_GPA + rng_below(f->rng, RO_SIZE / 16) * 16;
				break;
			case 11: {
				static const u16 ms[] = { 0, 1, 1024, 0xffff };

				hdr.max_segs = ms[rng_below(f->rng, 4)];
				break;
			}
			default: {
				/* Break one range. */
				struct pvdma_range *g = &gen[rng_below(f->rng, nr)];

				switch (rng_below(f->rng, 10)) {
				case 0:
					g->len = 0;
					break;
				case 1:
					g->len = ~0ULL;
					break;
				case 2:
					/* Past 2^64, or ending exactly there. */
					g->gpa = ~0ULL - rng_below(f->rng, 64);
					g->len = rng_pct(f->rng, 50) ? 100 :
						 ~0ULL - g->gpa + 1;
					break;
				case 3:
					g->gpa = wild_u64(f);
					break;
				case 4:
					g->gpa = edge_gpa(f);
					break;
				case 5:
					g->gpa = RO_GPA + rng_below(f->rng, RO_SIZE);
					c.a[3] |= PVDMA_MAP_FROM_DEVICE;
					break;
				case 6:
					g->gpa = MMIO_GPA + rng_below(f->rng, PAGE / 2);
					break;
				case 7:
					g->len = (f->info.max_map_pages +
						  rng_below(f->rng, 3)) * PAGE;
					break;
				case 8:
					g->gpa = MEM_SIZE - rng_below(f->rng, 2 * PAGE);
					g->len = 1 + rng_below(f->rng, 4 * PAGE);
					break;
				default: {
					/* So many pages the map is too big. */
					unsigned int j;

					nr = PVDMA_MAX_RANGES;
					c.a[1] = nr;
					for (j = 0; j < nr; j++)
						gen[j] = (struct pvdma_range){
							DATA_GPA + j * PAGE,
							(f->info.max_map_pages / nr + 2) * PAGE };
				}
				}
			}
			}
		}
	}
	if (write_unsafe(c.a[2], RESULT_BYTES(PVDMA_MAX_SEGS)))
		c.a[2] = RESULT_GPA(0);

	/* Lay the descriptors out as the guest would, then ask the rules. */
	if (c.a[1] >= 1 && c.a[1] <= PVDMA_MAX_RANGES &&
	    !write_unsafe(c.a[0], c.a[1] * 16))
		gw(f, c.a[0], gen, c.a[1] * 16);
	gw(f, c.a[2], &hdr, sizeof(hdr));
	allowed = map_rules(f, &c, r, &nr_read, &max_segs, &frames_decide);
	snap_take(f, &snap, c.a[2], RESULT_BYTES(PVDMA_MAX_SEGS));

	ret = issue(f, &c, 0);		/* judged below, once frames are known */
	if (frames_decide) {
		nsegs = expect_segs(f->vm, r, nr_read, want, PVDMA_MAX_SEGS);
		if (nsegs < 0)
			allowed = ANY_FAIL | BIT(B_OK);	/* cannot tell */
		else if ((unsigned int)nsegs > max_segs)
			allowed = BIT(B_E2BIG);
		else
			allowed = BIT(B_OK);
	}
	judge(f, &c, ret, allowed);

	if (ret) {
		long at = snap_changed(&snap, 0);

		if (at >= 0)
			call_fail(f, &c, "failed, but wrote into the result",
				  "%s, byte %ld of the result changed",
				  code_name(ret), at);
	} else {
		static union {
			struct pvdma_map_result r;
			u8 b[RESULT_BYTES(PVDMA_MAX_SEGS)];
		} out;
		struct pvdma_map_result *res = &out.r;
		char why[160] = "";
		struct live *l;

		/*
		 * The result may span memslots: read it as the guest sees it,
		 * as far as the segments the host says it wrote.
		 */
		if (!gr(f, c.a[2], &out, sizeof(out.r)) ||
		    out.r.nr_segs > max_segs ||
		    !gr(f, c.a[2], &out, RESULT_BYTES(out.r.nr_segs))) {
			call_fail(f, &c, "succeeded with a result the guest cannot read",
				  "%u segments of %u", out.r.nr_segs, max_segs);
			out.r.nr_segs = 0;
		}
		for (i = 0; i < nr_read; i++) {
			pages += range_pages(&r[i]);
			dirty |= in_dirty_slot(r[i].gpa) ||
				 in_dirty_slot(r[i].gpa + r[i].len - 1);
		}
		if (!res->handle || res->handle > U32_MAX_ ||
		    find_live(f, res->handle))
			call_fail(f, &c, "succeeded with a handle 0, too big or already live",
				  "handle %llu", (unsigned long long)res->handle);
		if (res->max_segs != max_segs ||
		    res->flags != (dirty ? PVDMA_RESULT_NO_CACHE : 0))
			call_fail(f, &c, "succeeded with max_segs or flags wrong",
				  "max_segs %u (was %u), flags %#x", res->max_segs,
				  max_segs, res->flags);
		if (!segs_match(f->vm, r, nr_read, res, why, sizeof(why)))
			call_fail(f, &c, "succeeded with segments pagemap disagrees with",
				  "%s", why);
		else if (snap_changed(&snap, RESULT_BYTES(res->nr_segs)) >= 0)
			call_fail(f, &c, "succeeded, but wrote beyond its last segment",
				  "%u segments", res->nr_segs);
		f->segs_checked += res->nr_segs;
		if (res->nr_segs)
			f->last_hpa = res->segs[0].addr & ~(PAGE - 1);
		f->maps_ok++;
		if (res->handle > f->max_handle && res->handle <= U32_MAX_)
			f->max_handle = res->handle;
		l = &f->live[f->nr_live++];
		*l = (struct live){ res->handle, pages, (u32)c.a[3], nr_read,
				    malloc(nr_read * sizeof(*r)) };
		memcpy(l->r, r, nr_read * sizeof(*r));
		f->pinned += pages;
		if (f->nr_live > f->peak_live)
			f->peak_live = f->nr_live;
		if (f->pinned > f->peak_pinned)
			f->peak_pinned = f->pinned;
	}
	model_check(f, &c);
}

/* A handle no mapping has: never issued, unmapped already, or mangled. */
static u64 dead_handle(struct fuzz *f)
{
	u64 h;

	switch (rng_below(f->rng, 6)) {
	case 0:
		h = f->nr_dead ? f->dead[rng_below(f->rng, f->nr_dead < 64 ?
						   f->nr_dead : 64)] : 0;
		break;
	case 1:
		h = f->max_handle + 1 + rng_below(f->rng, 1000);
		break;
	case 2:
		h = 0;
		break;
	case 3:
		h = f->nr_live ? f->live[rng_below(f->rng, f->nr_live)].handle |
				 (1ULL << (32 + rng_below(f->rng, 32))) : ~0ULL;
		break;
	case 4:
		h = ~0ULL - rng_below(f->rng, 4);
		break;
	default:
		h = rng_next(f->rng);
	}
	return h;
}

static bool handle_live(struct fuzz *f, u64 h)
{
	return h <= U32_MAX_ && find_live(f, h);
}

/* Unused arguments: 0, or now and then junk the host may ignore. */
static u64 unused_arg(struct fuzz *f)
{
	return rng_pct(f->rng, 3) ? wild_u64(f) : 0;
}

static void do_unmap(struct fuzz *f, bool valid)
{
	struct call c = { .op = valid ? "UNMAP" : "UNMAP(malformed)",
			  .nr = KVM_HC_PVDMA_UNMAP };
	u32 allowed = 0;
	struct live *l;
	s64 ret;

	c.a[0] = f->nr_live && (valid || rng_pct(f->rng, 30)) ?
		 f->live[rng_below(f->rng, f->nr_live)].handle : dead_handle(f);
	if (!valid && rng_pct(f->rng, 40))
		c.a[1] = 1ULL << rng_below(f->rng, 64);
	c.a[2] = unused_arg(f);
	c.a[3] = unused_arg(f);
	if (c.a[1])
		allowed |= BIT(B_EINVAL);
	if (!handle_live(f, c.a[0]))
		allowed |= BIT(B_ENOENT);
	if (!allowed)
		allowed = BIT(B_OK) | (c.a[2] || c.a[3] ? BIT(B_EINVAL) : 0);
	ret = issue(f, &c, allowed);
	l = ret ? NULL : find_live(f, c.a[0]);
	if (l) {
		model_release(f, l, true);
		f->unmaps_ok++;
	}
	model_check(f, &c);
}

static void do_batch(struct fuzz *f, bool valid)
{
	static u64 h[PVDMA_MAX_BATCH];
	struct call c = { .op = valid ? "UNMAP_BATCH" : "UNMAP_BATCH(malformed)",
			  .nr = KVM_HC_PVDMA_UNMAP_BATCH };
	unsigned int n, i, j;
	u32 allowed = 0;
	bool readable = false;
	s64 ret;
	enum kind k;

	if (!f->nr_live && valid)
		return;
	if (f->nr_live) {
		/*
		 * Distinct live handles, a partial shuffle of the live list:
		 * mostly a few, as a driver completing some requests does.
		 */
		n = rng_pct(f->rng, 80) ? 8 : 64;
		n = 1 + rng_below(f->rng, f->nr_live < n ? f->nr_live : n);
		for (i = 0; i < n; i++) {
			struct live tmp = f->live[i];

			j = i + rng_below(f->rng, f->nr_live - i);
			f->live[i] = f->live[j];
			f->live[j] = tmp;
			h[i] = f->live[i].handle;
		}
	} else {
		n = 1 + rng_below(f->rng, 4);
		for (i = 0; i < n; i++)
			h[i] = dead_handle(f);
	}
	c.a[0] = HANDLES_GPA(0);
	c.a[1] = n;
	c.a[2] = 0;
	c.a[3] = unused_arg(f);
	if (!valid) {
		switch (rng_below(f->rng, 11)) {
		case 0:
			h[rng_below(f->rng, n)] = h[rng_below(f->rng, n)];
			if (n == 1 && n < PVDMA_MAX_BATCH)
				h[n++] = h[0];
			c.a[1] = n;
			break;
		case 1:
			h[rng_below(f->rng, n)] = dead_handle(f);
			break;
		case 2:
			c.a[2] = 1ULL << rng_below(f->rng, 64);
			break;
		case 3: {
			static const u64 bad[] = {
				0, PVDMA_MAX_BATCH + 1, 1ULL << 32, ~0ULL };

			c.a[1] = bad[rng_below(f->rng, 4)];
			break;
		}
		case 4:
			c.a[0] += 1 + rng_below(f->rng, 7);
			break;
		case 5:
			c.a[0] = HANDLES_GPA(0) + PAGE - 8 * (n > 1 ? n - 1 : 1);
			if (n == 1)
				c.a[1] = 2;
			break;
		case 6:
			c.a[0] = rng_pct(f->rng, 50) ? MMIO_GPA : wild_u64(f) & ~7ULL;
			break;
		case 7:
			c.a[0] = RO_GPA + rng_below(f->rng, RO_SIZE / PAGE) * PAGE;
			break;
		case 8:
			c.a[0] = scratch_spot(f, n * 8);
			break;
		case 9:
			c.a[0] = edge_gpa(f) & ~7ULL;
			break;
		default:
			h[rng_below(f->rng, n)] |= 1ULL << (32 + rng_below(f->rng, 32));
		}
	}
	if (c.a[1] >= 1 && c.a[1] <= PVDMA_MAX_BATCH &&
	    !write_unsafe(c.a[0], c.a[1] * 8))
		gw(f, c.a[0], h, c.a[1] * 8);

	if (c.a[2] || !c.a[1])
		allowed |= BIT(B_EINVAL);
	if (c.a[1] > PVDMA_MAX_BATCH)
		allowed |= BIT(B_E2BIG);
	if (c.a[1] >= 1 && c.a[1] <= PVDMA_MAX_BATCH) {
		if (c.a[0] % 8 || c.a[0] % PAGE + c.a[1] * 8 > PAGE)
			allowed |= BIT(B_EINVAL);
		k = kind_range(f, c.a[0], c.a[1] * 8);
		if (k == K_HOLE)
			allowed |= BIT(B_EFAULT);
		else if (k == K_MMIO)
			allowed |= ANY_FAIL;
		else
			readable = gr(f, c.a[0], h, c.a[1] * 8);
	}
	if (readable) {
		for (i = 0; i < c.a[1]; i++) {
			bool dup = false;

			for (j = 0; j < i && !dup; j++)
				dup = h[j] == h[i];
			if (!handle_live(f, h[i]))
				allowed |= BIT(B_ENOENT);
			else if (dup)
				allowed |= BIT(B_EINVAL);
		}
	}
	if (!allowed)
		allowed = BIT(B_OK) | (c.a[3] ? BIT(B_EINVAL) : 0);
	ret = issue(f, &c, allowed);
	if (!ret && readable) {
		for (i = 0; i < c.a[1]; i++) {
			struct live *l = find_live(f, h[i]);

			if (l)
				model_release(f, l, true);
		}
		f->batches_ok++;
	}
	model_check(f, &c);
}

/* A status page the fuzz may register: its own pages only. */
static u64 shared_page(struct fuzz *f)
{
	return SHARED_GPA + rng_below(f->rng, SHARED_PAGES) * PAGE;
}

static void do_set_shared(struct fuzz *f)
{
	struct call c = { .op = "SET_SHARED", .nr = KVM_HC_PVDMA_SET_SHARED };
	u32 allowed = 0;
	u64 before = 0;
	u8 *at;
	s64 ret;

	c.a[0] = shared_page(f);
	switch (rng_below(f->rng, 12)) {
	case 0:
		c.a[0] = 0;
		c.a[1] = PVDMA_SHARED_CLEAR;
		break;
	case 1:
		c.a[0] += rng_pct(f->rng, 50) ? 8 : 1 + rng_below(f->rng, PAGE - 1);
		break;
	case 2:
		c.a[1] = 1ULL << rng_below(f->rng, 64);
		break;
	case 3:
		c.a[0] = RO_GPA + rng_below(f->rng, RO_SIZE / PAGE) * PAGE;
		break;
	case 4:
		c.a[0] = MMIO_GPA;
		break;
	case 5:
		c.a[0] = (0x5000000 + rng_below(f->rng, 1 << 24)) & ~(PAGE - 1);
		break;
	case 6:
		c.a[0] = wild_u64(f);
		break;
	case 7:
		c.a[0] = f->high_gpa + HIGH_SIZE;
		break;
	}
	c.a[2] = unused_arg(f);
	c.a[3] = unused_arg(f);
	/* Never let the host write the epoch over pages this VMM needs. */
	if (!(c.a[1] == PVDMA_SHARED_CLEAR && !c.a[0]) &&
	    kind_of(f, c.a[0]) == K_RAM &&
	    (c.a[0] < SHARED_GPA || c.a[0] >= SHARED_GPA + SHARED_PAGES * PAGE))
		c.a[0] = shared_page(f) + (c.a[0] & (PAGE - 1));

	if (c.a[1] == PVDMA_SHARED_CLEAR && !c.a[0]) {
		allowed = BIT(B_OK);
	} else {
		if (c.a[1] || c.a[0] % PAGE)
			allowed |= BIT(B_EINVAL);
		/* Not writable guest RAM: the ABI names EFAULT, EIO says why. */
		allowed |= pin_rule(kind_of(f, c.a[0]), true, BIT(B_EFAULT) |
				    BIT(B_EIO) | BIT(B_EACCES));
	}
	if (allowed == BIT(B_OK) || !allowed)
		allowed = BIT(B_OK) | (c.a[2] || c.a[3] ? BIT(B_EINVAL) : 0);
	at = kind_of(f, c.a[0]) == K_RAM ? gpa_hva(f->vm, c.a[0], 8) : NULL;
	if (at)
		memcpy(&before, at, 8);
	ret = issue(f, &c, allowed);
	if (ret) {
		if (at && memcmp(&before, at, 8))
			call_fail(f, &c, "failed, but wrote the page", "%s",
				  code_name(ret));
	} else if (c.a[1] == PVDMA_SHARED_CLEAR) {
		f->shared_gpa = 0;
	} else {
		u64 e = epoch_at(f->vm, c.a[0]);

		if (!e || e <= f->epoch_seen)
			call_fail(f, &c, "succeeded, but the epoch there did not move on",
				  "epoch %llu, seen before %llu", (unsigned long long)e,
				  (unsigned long long)f->epoch_seen);
		f->epoch_seen = e;
		f->shared_gpa = c.a[0];
	}
	model_check(f, &c);
}

static void do_probe(struct fuzz *f)
{
	struct call c = { .op = "PROBE", .nr = KVM_HC_PVDMA_PROBE };
	struct pvdma_info before, *info;
	u32 allowed = 0;
	bool reset = false;
	unsigned int i;
	s64 ret;
	enum kind k;

	c.a[0] = INFO_GPA(0);
	switch (rng_below(f->rng, 10)) {
	case 0:
		c.a[0] += 1 + rng_below(f->rng, 7);
		break;
	case 1:
		c.a[0] += PAGE - 8 * (1 + rng_below(f->rng, 4));
		break;
	case 2:
		c.a[0] = RO_GPA + rng_below(f->rng, RO_SIZE / 8) * 8;
		break;
	case 3:
		c.a[0] = wild_u64(f) & ~7ULL;
		break;
	case 4:
		c.a[1] = 2ULL << rng_below(f->rng, 63);
		break;
	case 5:
		/* Rarely: start from a clean slate, as a rebooting guest does. */
		if (rng_pct(f->rng, 5)) {
			c.a[1] = PVDMA_PROBE_RESET;
			reset = true;
		}
		break;
	}
	c.a[2] = unused_arg(f);
	c.a[3] = unused_arg(f);
	k = kind_range(f, c.a[0], sizeof(before));
	if (k == K_MMIO || (k == K_RAM && write_unsafe(c.a[0], sizeof(before))))
		c.a[0] = INFO_GPA(0) + (c.a[0] & 7);
	k = kind_range(f, c.a[0], sizeof(before));

	if (c.a[1] & ~(u64)PVDMA_PROBE_RESET)
		allowed |= BIT(B_EINVAL);
	if (c.a[0] % 8 || c.a[0] % PAGE + sizeof(before) > PAGE)
		allowed |= BIT(B_EINVAL);
	if (k != K_RAM)
		allowed |= BIT(B_EFAULT);
	if (!allowed)
		allowed = BIT(B_OK) | (c.a[2] || c.a[3] ? BIT(B_EINVAL) : 0);
	if (k == K_RAM)
		gr(f, c.a[0], &before, sizeof(before));
	ret = issue(f, &c, allowed);
	info = k == K_RAM ? gpa_hva(f->vm, c.a[0], sizeof(*info)) : NULL;
	if (ret) {
		if (info && memcmp(&before, info, sizeof(before)))
			call_fail(f, &c, "failed, but wrote the info", "%s",
				  code_name(ret));
		if (reset)
			f->reset = -1;
	} else {
		if (!info || info->abi_version != PVDMA_ABI_VERSION ||
		    info->max_ranges != PVDMA_MAX_RANGES ||
		    info->max_segs != PVDMA_MAX_SEGS ||
		    info->max_batch != PVDMA_MAX_BATCH || info->flags ||
		    info->max_map_pages != f->info.max_map_pages)
			call_fail(f, &c, "succeeded with wrong limits", "");
		if (reset) {
			/* Everything of this VM is released, nothing logged. */
			f->reset = 1;
			while (f->nr_live)
				model_release(f, &f->live[0], false);
			f->shared_gpa = 0;
			for (i = 0; i < sizeof(f->dirty_want); i++)
				f->dirty_want[i] = 0;
		}
	}
	model_check(f, &c);
}

/* What KVM_HC_PVDMA_QUERY must answer for a few pages from @gpa. */
static s64 query_want(struct fuzz *f, u64 gpa, u64 len)
{
	u64 p, last = gpa + len - 1;
	s64 want = 0;

	for (p = gpa & ~(PAGE - 1); p <= last; p += PAGE) {
		switch (kind_of(f, p)) {
		case K_MMIO:
			want |= PVDMA_QUERY_DEVICE;
			break;
		case K_RAM:
		case K_RO:
			want |= PVDMA_QUERY_RAM;
			break;
		default:
			break;
		}
		if (p + PAGE < p)
			break;
	}
	return want;
}

/*
 * KVM_HC_PVDMA_QUERY: what backs a range.  A short range anywhere must be
 * answered exactly (RAM, device memory, both, neither), a wild one with a
 * valid answer; bad flags, a zero length or one past 2^64 with -KVM_EINVAL.
 * Nothing is pinned either way (model_check).
 */
static void do_query(struct fuzz *f)
{
	struct call c = { .op = "QUERY", .nr = KVM_HC_PVDMA_QUERY };
	bool exact = rng_pct(f->rng, 70);
	u64 end;
	s64 ret;

	c.a[0] = exact ? edge_gpa(f) : wild_u64(f);
	c.a[1] = exact ? 1 + rng_below(f->rng, 4 * PAGE) : wild_u64(f);
	c.a[2] = rng_pct(f->rng, 90) ? 0 : wild_u64(f);
	ret = issue(f, &c, 0);
	if (c.a[2] || !c.a[1] || __builtin_add_overflow(c.a[0], c.a[1] - 1, &end)) {
		if (ret != -KVM_EINVAL)
			call_fail(f, &c, "not refused", "returned %lld, want -KVM_EINVAL",
				  (long long)ret);
	} else if (ret < 0 || ret & ~(s64)(PVDMA_QUERY_RAM | PVDMA_QUERY_DEVICE)) {
		call_fail(f, &c, "bad answer", "returned %lld", (long long)ret);
	} else if (exact && ret != query_want(f, c.a[0], c.a[1])) {
		call_fail(f, &c, "wrong answer", "returned %lld, the slots say %lld",
			  (long long)ret, (long long)query_want(f, c.a[0], c.a[1]));
	}
	f->queries++;
	model_check(f, &c);
}

/* Numbers near PVDMA's that name nothing, and random ones. */
static void do_bad_nr(struct fuzz *f)
{
	struct call c = { .op = "unknown" };
	int i;

	do {
		switch (rng_below(f->rng, 3)) {
		case 0:
			c.nr = KVM_HC_PVDMA_BASE - 1 - rng_below(f->rng, 64);
			break;
		case 1:
			c.nr = KVM_HC_PVDMA_QUERY + 1 + rng_below(f->rng, 64);
			break;
		default:
			c.nr = rng_next(f->rng);
		}
	} while (c.nr < 0x100 || (c.nr >= KVM_HC_PVDMA_PROBE &&
				  c.nr <= KVM_HC_PVDMA_QUERY));
	for (i = 0; i < 4; i++)
		c.a[i] = wild_u64(f);
	issue(f, &c, BIT(B_ENOSYS));
	model_check(f, &c);
}

/*
 * A 32-bit caller (compatibility mode): the ABI passes 64-bit GPAs, so
 * every PVDMA call is refused and changes nothing, even a valid one.
 */
static void do_compat(struct fuzz *f)
{
	struct call c = { .op = "32-bit", .compat = true };
	static struct snap snap;
	s64 ret;

	ranges_of(f->vm, 0)[0] = (struct pvdma_range){ DATA_GPA, PAGE };
	gw(f, DESC_GPA(0), ranges_of(f->vm, 0), 16);
	result_of(f->vm, 0)->max_segs = PVDMA_MAX_SEGS;
	gw(f, RESULT_GPA(0), result_of(f->vm, 0), 16);
	c.nr = KVM_HC_PVDMA_PROBE + rng_below(f->rng, 5);
	c.a[0] = c.nr == KVM_HC_PVDMA_MAP ? DESC_GPA(0) :
		 c.nr == KVM_HC_PVDMA_SET_SHARED ? shared_page(f) :
		 c.nr == KVM_HC_PVDMA_PROBE ? INFO_GPA(0) :
		 f->nr_live ? f->live[0].handle : 1;
	c.a[1] = c.nr == KVM_HC_PVDMA_MAP ? 1 : 0;
	c.a[2] = c.nr == KVM_HC_PVDMA_MAP ? RESULT_GPA(0) : 0;
	c.a[3] = c.nr == KVM_HC_PVDMA_MAP ? PVDMA_MAP_TO_DEVICE : 0;
	snap_take(f, &snap, RESULT_GPA(0), RESULT_BYTES(PVDMA_MAX_SEGS));
	vcpu_set_mode(f->vm, 0, 0, true);
	ret = issue(f, &c, BIT(B_EINVAL));
	vcpu_set_mode(f->vm, 0, 0, false);
	f->compat_calls++;
	if (snap_changed(&snap, 0) >= 0)
		call_fail(f, &c, "refused, but wrote the result", "%s",
			  code_name(ret));
	model_check(f, &c);
}

/* The slow checks: host pins, VmPin, the dirty log, the read-only slot. */
static void checkpoint(struct fuzz *f)
{
	static u8 bitmap[DIRTY_SIZE / PAGE / 8];
	struct kvm_dirty_log log = { .slot = DIRTY_SLOT, .dirty_bitmap = bitmap };
	long long pins = foll_pins() - f->pins0;
	long long want = f->pinned + (f->shared_gpa ? 1 : 0);
	long long kb = vm_pinned_kb() - f->kb0;
	unsigned int i, missing = 0;

	f->checkpoints++;
	sc_check(f->sc, pins == want,
		 "after call %llu the host holds %lld FOLL_PIN pins for the VM, the model %lld",
		 (unsigned long long)f->calls, pins, want);
	sc_check(f->sc, kb == (long long)f->pinned * 4,
		 "after call %llu VmPin grew by %lld kB, the model %llu pages",
		 (unsigned long long)f->calls, kb,
		 (unsigned long long)f->pinned);
	memset(bitmap, 0, sizeof(bitmap));
	if (ioctl(f->vm->fd, KVM_GET_DIRTY_LOG, &log))
		die("KVM_GET_DIRTY_LOG");
	for (i = 0; i < DIRTY_SIZE / PAGE; i++) {
		if (f->dirty_want[i] && !(bitmap[i / 8] & (1 << (i % 8))))
			missing++;
		f->dirty_want[i] = 0;
	}
	sc_check(f->sc, !missing,
		 "by call %llu, %u device-written pages were unmapped but not logged dirty",
		 (unsigned long long)f->calls, missing);
	sc_check(f->sc, !memcmp(f->ro_shadow, f->vm->slots[RO_SLOT].hva, RO_SIZE),
		 "by call %llu the host wrote into the read-only slot",
		 (unsigned long long)f->calls);
}

struct fuzz *fuzz_new(struct sc *sc, struct vm *vm, bool shadow)
{
	struct fuzz *f = calloc(1, sizeof(*f));
	int i;

	if (!f)
		die("calloc");
	f->sc = sc;
	f->vm = vm;
	f->rng = &sc->rng;
	f->live = calloc(MAX_LIVE + PVDMA_MAX_BATCH, sizeof(*f->live));
	f->ro_shadow = malloc(RO_SIZE);
	if (!f->live || !f->ro_shadow)
		die("calloc");
	stress_slots(vm, &f->high_gpa);
	memcpy(f->ro_shadow, vm->slots[RO_SLOT].hva, RO_SIZE);
	for (i = 0; shadow && i < VMM_MAX_SLOTS; i++) {
		struct vmm_slot *s = &vm->slots[i];

		if (!s->size || i == MMIO_SLOT)
			continue;
		f->shadow[i] = malloc(s->size);
		if (!f->shadow[i])
			die("malloc");
		memcpy(f->shadow[i], s->hva, s->size);
	}
	if (hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA(0), 0, 0, 0))
		die("PVDMA_PROBE");
	f->info = *(struct pvdma_info *)(vm->mem + INFO_GPA(0));
	/* Another VM of this VMM (conf-second-vm) may hold pins all along. */
	f->pins0 = foll_pins();
	f->kb0 = vm_pinned_kb();
	return f;
}

void fuzz_run(struct fuzz *f, u64 calls)
{
	u64 end = f->calls + calls;

	while (f->calls < end) {
		unsigned int p = rng_below(f->rng, 1000);
		bool full = f->nr_live >= MAX_LIVE - PVDMA_MAX_RANGES;

		if (f->sc->failures > 5000) {
			sc_note(f->sc, "stopping after %u failures",
				f->sc->failures);
			break;
		}
		if (f->nr_live >= MAX_LIVE || f->pinned > 100000)
			do_batch(f, true);
		else if (p < 280)
			do_map(f, true);
		else if (p < 560)
			full ? do_unmap(f, true) : do_map(f, false);
		else if (p < 700)
			do_unmap(f, true);
		else if (p < 740)
			do_batch(f, true);
		else if (p < 810)
			do_unmap(f, false);
		else if (p < 870)
			do_batch(f, false);
		else if (p < 900)
			do_set_shared(f);
		else if (p < 930)
			do_probe(f);
		else if (p < 960)
			do_bad_nr(f);
		else if (p < 990)
			do_query(f);
		else
			do_compat(f);
		/*
		 * Live mappings wander between none and hundreds: every few
		 * thousand calls the engine picks a new level to head for.
		 */
		if (f->calls / 4000 != f->target_epoch) {
			f->target_epoch = f->calls / 4000;
			f->target = rng_below(f->rng, MAX_LIVE - PVDMA_MAX_BATCH / 4);
		}
		if (f->nr_live < f->target && rng_pct(f->rng, 60))
			do_map(f, true);
		else if (f->nr_live > f->target + 32 && rng_pct(f->rng, 60))
			do_unmap(f, true);
		if (f->calls / CHECKPOINT != (f->calls - 1) / CHECKPOINT)
			checkpoint(f);
	}
}

/* Release everything the model says is live: the host must agree. */
void fuzz_finish(struct fuzz *f)
{
	u64 h[PVDMA_MAX_BATCH];
	unsigned int n, i;
	s64 ret;

	while (f->nr_live) {
		n = f->nr_live < PVDMA_MAX_BATCH ? f->nr_live : PVDMA_MAX_BATCH;
		for (i = 0; i < n; i++)
			h[i] = f->live[i].handle;
		ret = batch_on(f->vm, 0, h, n);
		if (!sc_check(f->sc, ret == 0,
			      "releasing the last %u mappings: %s", n,
			      code_name(ret)))
			break;
		for (i = 0; i < n; i++)
			model_release(f, find_live(f, h[i]), true);
	}
	ret = hc(f->vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0);
	sc_check(f->sc, ret == 0, "clearing the status page: %s", code_name(ret));
	f->shared_gpa = 0;
	checkpoint(f);
	sc_check(f->sc, vm_stat(f->vm, "pvdma_live_handles") == 0 &&
		 vm_stat(f->vm, "pvdma_pinned_pages") == 0 &&
		 vm_stat(f->vm, "pvdma_maps") == f->maps_ok &&
		 (f->reset == 1 ||
		  vm_stat(f->vm, "pvdma_unmaps") == f->maps_ok),
		 "at the end the stats say %llu live, %llu pinned, %llu maps (%llu succeeded), %llu unmaps",
		 (unsigned long long)vm_stat(f->vm, "pvdma_live_handles"),
		 (unsigned long long)vm_stat(f->vm, "pvdma_pinned_pages"),
		 (unsigned long long)vm_stat(f->vm, "pvdma_maps"),
		 (unsigned long long)f->maps_ok,
		 (unsigned long long)vm_stat(f->vm, "pvdma_unmaps"));
}

void fuzz_figures(struct fuzz *f, double secs)
{
	unsigned int i;

	sc_fig(f->sc, "%llu calls in %.1f s (%.0f calls/s)",
	       (unsigned long long)f->calls, secs, f->calls / secs);
	sc_fig(f->sc, "seed %#llx", (unsigned long long)f->sc->seed);
	sc_fig(f->sc, "%llu maps + %llu unmaps + %llu batches succeeded",
	       (unsigned long long)f->maps_ok,
	       (unsigned long long)f->unmaps_ok,
	       (unsigned long long)f->batches_ok);
	sc_fig(f->sc, "%llu segments checked against pagemap",
	       (unsigned long long)f->segs_checked);
	sc_fig(f->sc, "%llu QUERY answers checked against the memslots",
	       (unsigned long long)f->queries);
	sc_fig(f->sc, "peak %u live handles / %llu pinned pages",
	       f->peak_live, (unsigned long long)f->peak_pinned);
	sc_fig(f->sc,
	       "refused: %llu EINVAL, %llu E2BIG, %llu EFAULT, %llu ENOENT, %llu EIO, %llu EACCES, %llu ENOSYS",
	       (unsigned long long)f->by_code[B_EINVAL],
	       (unsigned long long)f->by_code[B_E2BIG],
	       (unsigned long long)f->by_code[B_EFAULT],
	       (unsigned long long)f->by_code[B_ENOENT],
	       (unsigned long long)f->by_code[B_EIO],
	       (unsigned long long)f->by_code[B_EACCES],
	       (unsigned long long)f->by_code[B_ENOSYS]);
	if (f->by_code[B_EAGAIN])
		sc_fig(f->sc, "%llu EAGAIN", (unsigned long long)f->by_code[B_EAGAIN]);
	sc_fig(f->sc, "%llu checkpoints", (unsigned long long)f->checkpoints);
	if (f->reset)
		sc_fig(f->sc, "PROBE_RESET %s", f->reset > 0 ? "works" :
		       "refused");
	for (i = 0; i < f->nr_kinds; i++)
		sc_note(f->sc, "failed %llu times: %s %s",
			(unsigned long long)f->kinds[i].count, f->kinds[i].op,
			f->kinds[i].kind);
}

/*
 * Hand every run of bytes the host wrote into the VM's memory (memory that
 * differs from what the VMM wrote there) to @fn, with 7 bytes of context on
 * either side so values that straddle a run are seen whole.  Returns how
 * many bytes the host wrote.  Needs a fuzz made with @shadow.
 */
size_t fuzz_host_writes(struct fuzz *f,
			void (*fn)(void *ctx, u64 gpa, const u8 *p,
				   size_t len), void *ctx)
{
	size_t total = 0;
	int i;

	for (i = 0; i < VMM_MAX_SLOTS; i++) {
		struct vmm_slot *s = &f->vm->slots[i];
		u64 off = 0;

		if (!f->shadow[i])
			continue;
		while (off < s->size) {
			u64 start, end;

			if (s->hva[off] == f->shadow[i][off]) {
				off++;
				continue;
			}
			start = off;
			while (off < s->size && s->hva[off] != f->shadow[i][off])
				off++;
			total += off - start;
			end = off + 7 < s->size ? off + 7 : s->size;
			start = start >= 7 ? start - 7 : 0;
			fn(ctx, s->gpa + start, s->hva + start, end - start);
		}
	}
	return total;
}

/* Write guest memory of a fuzzed VM as its guest would (see gw()). */
void fuzz_write(struct fuzz *f, u64 gpa, const void *src, u64 len)
{
	gw(f, gpa, src, len);
}

/* One more valid map; returns a host frame of it, now in guest memory. */
u64 fuzz_map_once(struct fuzz *f)
{
	u64 ok = f->maps_ok;
	int tries;

	for (tries = 0; tries < 100 && f->maps_ok == ok; tries++)
		do_map(f, true);
	return f->maps_ok == ok ? ~0ULL : f->last_hpa;
}

void fuzz_free(struct fuzz *f)
{
	int i;

	while (f->nr_live)
		model_release(f, &f->live[0], false);
	for (i = 0; i < VMM_MAX_SLOTS; i++)
		free(f->shadow[i]);
	free(f->ro_shadow);
	free(f->live);
	free(f);
}

void scenario_fuzz(struct sc *sc)
{
	struct fuzz *f;
	struct vm vm;
	double t0;

	vm_create(&vm, true, 0);
	f = fuzz_new(sc, &vm, false);
	t0 = now();
	fuzz_run(f, cfg.calls);
	fuzz_figures(f, now() - t0);
	fuzz_finish(f);
	fuzz_free(f);
	vm_destroy(&vm);
}
