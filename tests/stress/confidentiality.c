// SPDX-License-Identifier: GPL-2.0-only
/*
 * The confidentiality scenarios: host-physical addresses go only to the
 * kernel of a VM that was opted in, and only its own.  A VM that is not
 * opted in and guest user space get -KVM_EPERM and not a byte written; a
 * second VM cannot name the first one's mappings, and nothing the host
 * writes into it holds an address of the first one's pages.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "stress.h"

#define OWNER_MAPS	300

/* A VM holding live mappings whose host frames the others must not see. */
struct owner {
	struct vm vm;
	u64 handles[OWNER_MAPS];
	u64 *frames;
	unsigned int nr_frames;
	u64 pinned;
};

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static void owner_create(struct sc *sc, struct owner *o)
{
	unsigned int i, j;

	vm_create(&o->vm, true, 0);
	o->frames = calloc(OWNER_MAPS * 10, sizeof(*o->frames));
	if (!o->frames)
		die("calloc");
	o->nr_frames = 0;
	for (i = 0; i < OWNER_MAPS; i++) {
		struct pvdma_map_result *res = result_of(&o->vm, 0);
		u64 len = 1 + rng_below(&sc->rng, 8 * PAGE);

		if (map1_on(&o->vm, 0, DATA_GPA + rng_below(&sc->rng, DATA_PAGES - 9) *
			    PAGE + rng_below(&sc->rng, PAGE), len,
			    PVDMA_MAP_BIDIRECTIONAL))
			die("owner VM: MAP");
		o->handles[i] = res->handle;
		for (j = 0; j < res->nr_segs; j++) {
			u64 a = res->segs[j].addr & ~(PAGE - 1);

			for (; a < res->segs[j].addr + res->segs[j].len; a += PAGE)
				o->frames[o->nr_frames++] = a;
		}
	}
	qsort(o->frames, o->nr_frames, sizeof(*o->frames), cmp_u64);
	for (i = 1, j = 1; i < o->nr_frames; i++)
		if (o->frames[i] != o->frames[j - 1])
			o->frames[j++] = o->frames[i];
	o->nr_frames = j;
	o->pinned = vm_stat(&o->vm, "pvdma_pinned_pages");
}

static bool owner_has_frame(struct owner *o, u64 frame)
{
	return bsearch(&frame, o->frames, o->nr_frames, sizeof(frame),
		       cmp_u64) != NULL;
}

/* Whatever the others did, the owner's mappings are all still there. */
static void owner_intact(struct sc *sc, struct owner *o, const char *when)
{
	sc_check(sc, vm_stat(&o->vm, "pvdma_live_handles") == OWNER_MAPS &&
		 vm_stat(&o->vm, "pvdma_pinned_pages") == o->pinned,
		 "%s: the first VM now holds %llu handles / %llu pages, it had %u / %llu",
		 when, (unsigned long long)vm_stat(&o->vm, "pvdma_live_handles"),
		 (unsigned long long)vm_stat(&o->vm, "pvdma_pinned_pages"),
		 OWNER_MAPS, (unsigned long long)o->pinned);
}

static void owner_destroy(struct sc *sc, struct owner *o)
{
	unsigned int i, bad = 0;

	for (i = 0; i < OWNER_MAPS; i++)
		bad += unmap_on(&o->vm, 0, o->handles[i]) != 0;
	sc_check(sc, !bad, "%u of the first VM's own unmaps failed", bad);
	vm_destroy(&o->vm);
	free(o->frames);
}

/*
 * Every PVDMA call a guest could make, with descriptors that would be
 * valid for an opted-in VM at CPL 0, then random ones.  Each must be
 * refused with @want.  Returns how many calls were made.
 */
static unsigned int refused_calls(struct sc *sc, struct vm *vm, s64 want,
				  const u64 *handles, unsigned int nh,
				  const char *who)
{
	struct {
		u64 nr, a0, a1, a2, a3;
	} c[64];
	unsigned int n = 0, i, calls = 0, bad = 0;
	s64 ret;

	c[n++] = (typeof(c[0])){ KVM_HC_PVDMA_PROBE, INFO_GPA(0), 0, 0, 0 };
	c[n++] = (typeof(c[0])){ KVM_HC_PVDMA_PROBE, INFO_GPA(0), PVDMA_PROBE_RESET, 0, 0 };
	for (i = 1; i <= 3; i++)
		c[n++] = (typeof(c[0])){ KVM_HC_PVDMA_MAP, DESC_GPA(0), 4, RESULT_GPA(0), i };
	c[n++] = (typeof(c[0])){ KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA(0),
				 nh ? nh : 1, 0, 0 };
	c[n++] = (typeof(c[0])){ KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0 };
	c[n++] = (typeof(c[0])){ KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0 };

	for (i = 0; i < n; i++, calls++) {
		ret = hc(vm, c[i].nr, c[i].a0, c[i].a1, c[i].a2, c[i].a3);
		if (ret != want && bad++ < 4)
			sc_fail(sc, "%s: call %#llx(%#llx, %#llx, %#llx, %#llx): %s, want %s",
				who, (unsigned long long)c[i].nr,
				(unsigned long long)c[i].a0, (unsigned long long)c[i].a1,
				(unsigned long long)c[i].a2, (unsigned long long)c[i].a3,
				code_name(ret), code_name(want));
	}
	/* UNMAP of every handle number anyone here was given, and beyond. */
	for (i = 0; i < nh + 64; i++, calls++) {
		u64 h = i < nh ? handles[i] : i;

		ret = hc(vm, KVM_HC_PVDMA_UNMAP, h, 0, 0, 0);
		if (ret != want && bad++ < 4)
			sc_fail(sc, "%s: UNMAP(%llu): %s, want %s", who,
				(unsigned long long)h, code_name(ret),
				code_name(want));
	}
	for (i = 0; i < 400; i++, calls++) {
		u64 nr = KVM_HC_PVDMA_PROBE + rng_below(&sc->rng, 5);
		u64 a[4];
		int k;

		for (k = 0; k < 4; k++)
			a[k] = rng_pct(&sc->rng, 50) ? rng_below(&sc->rng, 4) :
			       rng_pct(&sc->rng, 50) ? rng_below(&sc->rng, MEM_SIZE) :
			       rng_next(&sc->rng);
		ret = hc(vm, nr, a[0], a[1], a[2], a[3]);
		if (ret != want && bad++ < 4)
			sc_fail(sc, "%s: random call %#llx: %s, want %s", who,
				(unsigned long long)nr, code_name(ret),
				code_name(want));
	}
	return calls;
}

/* Lay out descriptors that an opted-in VM at CPL 0 could really use. */
static void valid_descriptors(struct vm *vm, const u64 *handles,
			      unsigned int nh)
{
	unsigned int i;

	for (i = 0; i < 4; i++)
		ranges_of(vm, 0)[i] = (struct pvdma_range){
			DATA_GPA + i * 5 * PAGE + 100, 3 * PAGE };
	result_of(vm, 0)->max_segs = PVDMA_MAX_SEGS;
	memcpy(vm->mem + HANDLES_GPA(0), handles, nh * sizeof(*handles));
}

/* The first byte where @vm's slot 0 differs from @copy, or -1. */
static long first_diff(struct vm *vm, const u8 *copy, u64 skip_gpa,
		       u64 skip_len)
{
	u64 i;

	for (i = 0; i < MEM_SIZE; i++)
		if (vm->mem[i] != copy[i] &&
		    (i < skip_gpa || i >= skip_gpa + skip_len))
			return i;
	return -1;
}

static void stats_all_zero(struct sc *sc, struct vm *vm, const char *who)
{
	static const char *const names[] = {
		"pvdma_pinned_pages", "pvdma_live_handles", "pvdma_tracker_bytes",
		"pvdma_maps", "pvdma_unmaps", "pvdma_fail_invalid",
		"pvdma_fail_fault", "pvdma_fail_limit", "pvdma_fail_nomem",
		"pvdma_fail_handle",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		u64 v = vm_stat(vm, names[i]);

		sc_check(sc, v == 0, "%s: stat %s is %llu", who, names[i],
			 (unsigned long long)v);
	}
}

void scenario_conf_not_opted_in(struct sc *sc)
{
	static struct owner o;
	u8 *copy = malloc(MEM_SIZE);
	long long pins;
	unsigned int calls;
	struct vm vm;
	long at;

	if (!copy)
		die("malloc");
	owner_create(sc, &o);
	vm_create(&vm, false, 0);
	sc_check(sc, ioctl(vm.fd, KVM_CHECK_EXTENSION, KVM_CAP_PVDMA) == 1,
		 "KVM_CHECK_EXTENSION(KVM_CAP_PVDMA) is not 1");
	valid_descriptors(&vm, o.handles, 64);
	memcpy(copy, vm.mem, MEM_SIZE);
	pins = foll_pins();

	calls = refused_calls(sc, &vm, -KVM_EPERM, o.handles, OWNER_MAPS,
			      "not opted in");
	at = first_diff(&vm, copy, 0, 0);
	sc_check(sc, at < 0,
		 "the host wrote into the memory of a VM that is not opted in, at GPA %#lx",
		 at);
	stats_all_zero(sc, &vm, "not opted in");
	sc_check(sc, foll_pins() == pins, "%lld pins taken for a VM that is not opted in",
		 foll_pins() - pins);
	owner_intact(sc, &o, "not opted in");
	vm_destroy(&vm);
	owner_destroy(sc, &o);
	free(copy);
	sc_fig(sc,
	       "%u calls, all -KVM_EPERM, %u MiB of guest memory unchanged, next to a VM with %u live mappings",
	       calls, (unsigned int)(MEM_SIZE >> 20), OWNER_MAPS);
}

void scenario_conf_cpl3(struct sc *sc)
{
	static const char *const names[] = {
		"pvdma_pinned_pages", "pvdma_live_handles", "pvdma_maps",
		"pvdma_unmaps", "pvdma_fail_invalid", "pvdma_fail_handle",
	};
	u64 before[6];
	u8 *copy = malloc(MEM_SIZE);
	static struct owner o;
	unsigned int calls, i, bad = 0;
	long long pins;
	long at;

	if (!copy)
		die("malloc");
	/* The VM's own kernel holds mappings; its user space tries its luck. */
	owner_create(sc, &o);
	if (set_shared(&o.vm, SHARED_GPA))
		die("conf-cpl3: SET_SHARED");
	valid_descriptors(&o.vm, o.handles, 64);
	memcpy(copy, o.vm.mem, MEM_SIZE);
	for (i = 0; i < 6; i++)
		before[i] = vm_stat(&o.vm, names[i]);
	pins = foll_pins();

	vcpu_set_mode(&o.vm, 0, 3, false);
	calls = refused_calls(sc, &o.vm, -KVM_EPERM, o.handles, OWNER_MAPS,
			      "CPL 3");
	vcpu_set_mode(&o.vm, 0, 0, false);
	/* The epoch may move meanwhile; nothing else may change. */
	at = first_diff(&o.vm, copy, SHARED_GPA, 8);
	sc_check(sc, at < 0, "the host wrote into guest memory for CPL 3, at GPA %#lx",
		 at);
	for (i = 0; i < 6; i++)
		sc_check(sc, vm_stat(&o.vm, names[i]) == before[i],
			 "CPL 3 changed stat %s from %llu to %llu", names[i],
			 (unsigned long long)before[i],
			 (unsigned long long)vm_stat(&o.vm, names[i]));
	sc_check(sc, foll_pins() == pins, "CPL 3 changed the pins by %lld",
		 foll_pins() - pins);
	owner_intact(sc, &o, "CPL 3");
	/* Back at CPL 0 the kernel's mappings are all still its own. */
	bad = hc(&o.vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0) != 0;
	sc_check(sc, !bad, "clearing the status page at CPL 0 failed");
	owner_destroy(sc, &o);
	free(copy);
	sc_fig(sc,
	       "%u calls from CPL 3, all -KVM_EPERM, with %u live mappings and a status page; nothing written, nothing released",
	       calls, OWNER_MAPS);
}

struct scan {
	struct owner *o;
	u64 control;
	unsigned int hits, straddling, control_seen;
	u64 first_gpa, first_val;
	size_t scanned;
};

/*
 * Every 8 bytes of what the host wrote, at every 8-byte aligned GPA.  The
 * host writes guest memory only as naturally aligned fields (the ABI
 * refuses a misaligned info, result, handle array or status page, which
 * the fuzz checks), so an address it hands out lies in one of them.  An
 * unaligned window straddles two fields (say the high bytes of a
 * segment's address and the low bytes of its length, len << 16) and
 * names a frame only by chance: those are counted apart, as a figure.
 */
static void scan_run(void *ctx, u64 gpa, const u8 *p, size_t len)
{
	struct scan *s = ctx;
	size_t i;

	for (i = 0; i + 8 <= len; i++) {
		u64 v, frame;

		memcpy(&v, p + i, 8);
		frame = v & ~(PAGE - 1);
		if ((gpa + i) % 8) {
			s->straddling += owner_has_frame(s->o, frame);
			continue;
		}
		if (frame == s->control)
			s->control_seen++;
		if (owner_has_frame(s->o, frame) && !s->hits++) {
			s->first_gpa = gpa + i;
			s->first_val = v;
		}
	}
	s->scanned += len;
}

void scenario_conf_second_vm(struct sc *sc)
{
	static struct owner o;
	struct scan s = { .o = &o };
	u64 max_h = 0, h;
	unsigned int i, bad = 0;
	struct fuzz *f;
	size_t written;
	struct vm b;
	s64 ret;

	owner_create(sc, &o);
	vm_create(&b, true, 0);
	f = fuzz_new(sc, &b, true);

	/* B's handle space is B's own: A's numbers name nothing there. */
	for (i = 0; i < OWNER_MAPS; i++)
		max_h = o.handles[i] > max_h ? o.handles[i] : max_h;
	for (h = 0; h <= max_h + 64; h++) {
		ret = hc(&b, KVM_HC_PVDMA_UNMAP, h, 0, 0, 0);
		if (ret != -PVDMA_ENOENT && bad++ < 4)
			sc_fail(sc, "the second VM unmapping handle %llu of the first: %s",
				(unsigned long long)h, code_name(ret));
	}
	for (i = 0; i + 64 <= OWNER_MAPS; i += 64) {
		fuzz_write(f, HANDLES_GPA(0), o.handles + i, 64 * 8);
		ret = hc(&b, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA(0), 64, 0, 0);
		if (ret != -PVDMA_ENOENT && bad++ < 4)
			sc_fail(sc, "the second VM batch-unmapping the first's handles: %s",
				code_name(ret));
	}
	owner_intact(sc, &o, "after the second VM named its handles");

	/* B maps and unmaps its own, with numbers that A has too. */
	fuzz_run(f, cfg.calls / 10 > 2000 ? cfg.calls / 10 : 2000);
	owner_intact(sc, &o, "after the second VM's fuzz");
	fuzz_finish(f);
	s.control = fuzz_map_once(f);
	fuzz_finish(f);

	written = fuzz_host_writes(f, scan_run, &s);
	sc_check(sc, !s.hits,
		 "%u values the host wrote into the second VM name frames of the first VM's mappings, first %#llx at GPA %#llx",
		 s.hits, (unsigned long long)s.first_val,
		 (unsigned long long)s.first_gpa);
	/* The scan finds what it looks for: the second VM's own last frame. */
	sc_check(sc, s.control != ~0ULL && s.control_seen,
		 "the scan did not find the second VM's own frame %#llx in what the host wrote",
		 (unsigned long long)s.control);
	sc_fig(sc, "%llu handles of the first VM named from the second, all -PVDMA_ENOENT",
	       (unsigned long long)max_h + 65);
	sc_fig(sc, "the second VM ran %llu fuzz calls",
	       (unsigned long long)(cfg.calls / 10 > 2000 ? cfg.calls / 10 : 2000));
	sc_fig(sc,
	       "the host wrote %zu bytes into it; none names any of the first VM's %u frames (its own frame: found %u times; %u chance matches across field boundaries)",
	       written, o.nr_frames, s.control_seen, s.straddling);
	fuzz_free(f);
	vm_destroy(&b);
	owner_destroy(sc, &o);
}
