// SPDX-License-Identifier: GPL-2.0-only
/*
 * The fault scenarios: the VMM killed with live pins, memslots deleted,
 * moved and re-backed while pinned, every limit hit under load, a dirty
 * ring too small for an unmap, and one page pinned more often than its
 * reference count can count.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "stress.h"

/*
 * fault-sigkill: a VMM holding thousands of live mappings, some of its
 * vCPU in the middle of a MAP, is killed.  Destroying its VM must hand
 * every pin back.
 */
struct kill_share {
	u64 live;		/* written by the child, read by the parent */
};

static void sigkill_child(struct kill_share *sh, int ready, u64 seed)
{
	static u64 handles[4096];
	unsigned int n = 0;
	bool told = false;
	struct rng rng;
	struct vm vm;

	rng_seed(&rng, seed);
	vm_create(&vm, true, 0);
	for (;;) {
		if (n < 4096 && (n < 3000 || rng_pct(&rng, 60))) {
			s64 ret = map1_on(&vm, 0, DATA_GPA +
					      rng_below(&rng, DATA_PAGES - 2) * PAGE +
					      rng_below(&rng, PAGE),
					      1 + rng_below(&rng, PAGE),
					      1 + rng_below(&rng, 3));

			if (!ret)
				handles[n++] = result_of(&vm, 0)->handle;
		} else if (n) {
			unsigned int i = rng_below(&rng, n);

			if (!unmap_on(&vm, 0, handles[i]))
				handles[i] = handles[--n];
		}
		__atomic_store_n(&sh->live, n, __ATOMIC_RELAXED);
		if (n >= 1000 && !told) {
			told = true;
			if (write(ready, "r", 1) != 1)
				_exit(2);
		}
	}
}

void scenario_fault_sigkill(struct sc *sc)
{
	struct kill_share *sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	u64 live_min = ~0ULL, live_max = 0;
	long long pins_min = -1, pins_max = 0;
	double release_max = 0;
	unsigned int k;

	if (sh == MAP_FAILED)
		die("mmap");
	for (k = 0; k < cfg.kills; k++) {
		long long base = foll_pins(), held, after;
		u64 live;
		struct pollfd p;
		int pfd[2], status;
		double t;
		pid_t pid;
		char c;

		if (pipe(pfd))
			die("pipe");
		sh->live = 0;
		fflush(stdout);
		pid = fork();
		if (!pid) {
			close(pfd[0]);
			sigkill_child(sh, pfd[1], sc->seed + k);
		}
		close(pfd[1]);
		p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
		if (poll(&p, 1, 120000) != 1 || read(pfd[0], &c, 1) != 1) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			sc_fail(sc, "kill %u: the child never held 1000 mappings", k);
			close(pfd[0]);
			continue;
		}
		close(pfd[0]);
		/* Kill it at a random moment, usually mid-hypercall. */
		usleep(rng_below(&sc->rng, 50000));
		held = foll_pins() - base;
		if (kill(pid, SIGKILL))
			die("kill");
		t = now();
		waitpid(pid, &status, 0);
		after = foll_pins();
		t = now() - t;
		sc_check(sc, WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			 "kill %u: the child ended otherwise (status %#x)", k,
			 status);
		sc_check(sc, after == base,
			 "kill %u: %lld of the %lld pins of the killed VMM were not released",
			 k, after - base, held);
		live = __atomic_load_n(&sh->live, __ATOMIC_RELAXED);
		live_min = live < live_min ? live : live_min;
		live_max = live > live_max ? live : live_max;
		pins_min = pins_min < 0 || held < pins_min ? held : pins_min;
		pins_max = held > pins_max ? held : pins_max;
		release_max = t > release_max ? t : release_max;
	}
	munmap(sh, PAGE);
	sc_fig(sc, "%u kills with %llu..%llu live mappings (%lld..%lld pins) each",
	       cfg.kills, (unsigned long long)live_min,
	       (unsigned long long)live_max, pins_min, pins_max);
	sc_fig(sc, "all released by the time the VMM was reaped (at most %.0f ms)",
	       release_max * 1000);
}

/*
 * fault-memslot: memslots deleted, moved and changed while pages in them
 * are pinned.  Pins hold pages, not slots: unmap must still release them,
 * the old GPA must stop translating, the new one must translate to the
 * same pages, and the guest must learn of it through its status page, also
 * when that page itself moved to other host memory.
 */
#define MS_PAGES	256
#define MS_MAPS		64

static unsigned int ms_map_all(struct sc *sc, struct vm *vm, u64 gpa,
			       u64 *h, const char *when)
{
	unsigned int i, n = 0;

	for (i = 0; i < MS_MAPS; i++) {
		s64 ret = map1_on(vm, 0, gpa + (i * 3 % (MS_PAGES - 4)) * PAGE + i,
				      1 + (i % 4) * PAGE, PVDMA_MAP_FROM_DEVICE);

		if (sc_check(sc, ret == 0, "%s: MAP %u: %s", when, i,
			     code_name(ret)))
			h[n++] = result_of(vm, 0)->handle;
	}
	return n;
}

static void ms_unmap_all(struct sc *sc, struct vm *vm, u64 *h,
			 unsigned int n, const char *when)
{
	unsigned int i, bad = 0;

	for (i = 0; i < n; i++)
		bad += unmap_on(vm, 0, h[i]) != 0;
	sc_check(sc, !bad, "%s: %u of %u unmaps failed", when, bad, n);
}

/* Something that must bump the epoch: discard a pinned page. */
static void ms_bump(struct sc *sc, struct vm *vm)
{
	u64 gpa = DATA_GPA + 100 * PAGE;

	if (!sc_check(sc, map1_on(vm, 0, gpa, PAGE, PVDMA_MAP_FROM_DEVICE) == 0,
		      "bump: MAP failed"))
		return;
	madvise(vm->mem + gpa, PAGE, MADV_DONTNEED);
	unmap_on(vm, 0, result_of(vm, 0)->handle);
	vm->mem[gpa] = 0x5a;
	/* One more exit, for a host that refreshes the page on the way. */
	hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA(0), 0, 0, 0);
}

/*
 * The status page at @gpa was moved to other memory (epoch @e when it
 * was): the host has lost it, and the guest must read 0 there, in the
 * memory it has now.  Registering it again must then show a newer epoch,
 * and the next bump too.  Returns how many checks held.
 */
static unsigned int ms_lost(struct sc *sc, struct vm *vm, u64 gpa, u64 e,
			    const char *what)
{
	unsigned int held;
	u64 e2 = epoch_at(vm, gpa);
	s64 ret;

	held = sc_check(sc, e2 == 0,
			"%s: after an invalidation the guest reads epoch %llu (it was %llu), not 0: it cannot learn that the host lost its status page",
			what, (unsigned long long)e2, (unsigned long long)e);
	ret = set_shared(vm, gpa);
	e2 = epoch_at(vm, gpa);
	held += sc_check(sc, ret == 0 && e2 > e,
			 "%s: registered again: %s, epoch %llu (it was %llu)",
			 what, code_name(ret), (unsigned long long)e2,
			 (unsigned long long)e);
	ms_bump(sc, vm);
	held += sc_check(sc, epoch_at(vm, gpa) > e2,
			 "%s: registered again, an invalidation leaves the epoch at %llu",
			 what, (unsigned long long)e2);
	return held;
}

void scenario_fault_memslot(struct sc *sc)
{
	u8 *mem = anon(MS_PAGES * PAGE), *st = anon(16 * PAGE), *st2;
	u64 h[MS_MAPS], e, moved = EXTRA_GPA + (1ULL << 24);
	struct pvdma_map_result *res;
	unsigned int n, i, checks = 0;
	long long base;
	char why[160];
	struct vm vm;
	s64 ret;

	vm_create(&vm, true, 0);
	add_slot(&vm, EXTRA_SLOT, EXTRA_GPA, MS_PAGES * PAGE, mem, 0);
	add_slot(&vm, EXTRA2_SLOT, EXTRA2_GPA, 16 * PAGE, st, 0);
	/* The status page lives in a slot of its own. */
	memset(st, 0, 8);
	if (set_shared(&vm, EXTRA2_GPA))
		die("fault-memslot: SET_SHARED");
	base = foll_pins();

	/* Delete the slot under 64 live mappings. */
	n = ms_map_all(sc, &vm, EXTRA_GPA, h, "before delete");
	e = epoch_at(&vm, EXTRA2_GPA);
	add_slot(&vm, EXTRA_SLOT, EXTRA_GPA, 0, mem, 0);
	checks += sc_check(sc, epoch_at(&vm, EXTRA2_GPA) > e,
			   "deleting a slot with pinned pages left the epoch at %llu",
			   (unsigned long long)e);
	ret = map1_on(&vm, 0, EXTRA_GPA, PAGE, PVDMA_MAP_TO_DEVICE);
	checks += sc_check(sc, ret == -KVM_EFAULT,
			   "MAP of the deleted slot: %s, want -KVM_EFAULT",
			   code_name(ret));
	ms_unmap_all(sc, &vm, h, n, "after delete");
	checks += sc_check(sc, foll_pins() == base,
			   "after delete and unmap %lld pins are left",
			   foll_pins() - base);

	/* Move it (same memory, new GPA) under 64 live mappings. */
	add_slot(&vm, EXTRA_SLOT, EXTRA_GPA, MS_PAGES * PAGE, mem, 0);
	n = ms_map_all(sc, &vm, EXTRA_GPA, h, "before move");
	e = epoch_at(&vm, EXTRA2_GPA);
	add_slot(&vm, EXTRA_SLOT, moved, MS_PAGES * PAGE, mem, 0);
	checks += sc_check(sc, epoch_at(&vm, EXTRA2_GPA) > e,
			   "moving a slot with pinned pages left the epoch at %llu",
			   (unsigned long long)e);
	ret = map1_on(&vm, 0, EXTRA_GPA + PAGE, PAGE, PVDMA_MAP_TO_DEVICE);
	checks += sc_check(sc, ret == -KVM_EFAULT,
			   "MAP of the old place of a moved slot: %s, want -KVM_EFAULT",
			   code_name(ret));
	ret = map1_on(&vm, 0, moved + 10, 8 * PAGE, PVDMA_MAP_TO_DEVICE);
	res = result_of(&vm, 0);
	checks += sc_check(sc, ret == 0 && segs_match(&vm, ranges_of(&vm, 0), 1,
						    res, why, sizeof(why)),
			   "MAP at the new place of a moved slot: %s %s",
			   code_name(ret), ret ? "" : why);
	if (!ret)
		unmap_on(&vm, 0, res->handle);
	ms_unmap_all(sc, &vm, h, n, "after move");

	/* Dirty logging switched on under live mappings. */
	n = ms_map_all(sc, &vm, moved, h, "before dirty logging");
	e = epoch_at(&vm, EXTRA2_GPA);
	add_slot(&vm, EXTRA_SLOT, moved, MS_PAGES * PAGE, mem,
		 KVM_MEM_LOG_DIRTY_PAGES);
	checks += sc_check(sc, epoch_at(&vm, EXTRA2_GPA) > e,
			   "switching dirty logging on left the epoch at %llu",
			   (unsigned long long)e);
	ret = map1_on(&vm, 0, moved, PAGE, PVDMA_MAP_TO_DEVICE);
	checks += sc_check(sc, ret == 0 && res->flags == PVDMA_RESULT_NO_CACHE,
			   "MAP in a slot that is now dirty-logged: %s, flags %#x",
			   code_name(ret), res->flags);
	if (!ret)
		unmap_on(&vm, 0, res->handle);
	ms_unmap_all(sc, &vm, h, n, "after dirty logging");
	checks += sc_check(sc, foll_pins() == base,
			   "after the slot changes %lld pins are left",
			   foll_pins() - base);

	/*
	 * The status page's slot re-backed: the VMM copies the page to new
	 * memory and swaps the slot, as a VMM replacing guest RAM does.  The
	 * guest reads its epoch from the new memory, so that is where it
	 * must learn that the page was lost; the old epoch in the copy would
	 * have it go on using translations that went stale meanwhile.
	 */
	e = epoch_at(&vm, EXTRA2_GPA);
	st2 = anon(16 * PAGE);
	memcpy(st2, st, 16 * PAGE);
	add_slot(&vm, EXTRA2_SLOT, EXTRA2_GPA, 0, st, 0);
	add_slot(&vm, EXTRA2_SLOT, EXTRA2_GPA, 16 * PAGE, st2, 0);
	ms_bump(sc, &vm);
	checks += ms_lost(sc, &vm, EXTRA2_GPA, e, "status page slot re-backed");

	/*
	 * The status page itself discarded by the VMM: the guest's frame gets
	 * a new page, where it must learn the same.
	 */
	if (set_shared(&vm, SHARED_GPA))
		die("fault-memslot: SET_SHARED");
	e = epoch_at(&vm, SHARED_GPA);
	madvise(vm.mem + SHARED_GPA, PAGE, MADV_DONTNEED);
	ms_bump(sc, &vm);
	checks += ms_lost(sc, &vm, SHARED_GPA, e,
			  "status page discarded by the VMM");

	hc(&vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0);
	i = vm_stat(&vm, "pvdma_live_handles");
	checks += sc_check(sc, i == 0, "%u handles live at the end", i);
	vm_destroy(&vm);
	munmap(mem, MS_PAGES * PAGE);
	munmap(st, 16 * PAGE);
	munmap(st2, 16 * PAGE);
	sc_fig(sc, "%u mappings through delete, move and dirty logging, %u checks held",
	       3 * MS_MAPS, checks);
}

/*
 * fault-limits: vCPU threads map until a limit refuses them, unmap, map
 * again.  Every refusal is -PVDMA_ENOSPC with nothing pinned; at rest the
 * host holds exactly what the threads were told it holds, up to the limit
 * and no further; and everything comes back.
 */
enum lim { LIM_PAGES, LIM_HANDLES, LIM_MEMLOCK };

struct loader {
	struct sc *sc;
	struct vm *vm;
	int cpu;
	enum lim lim;
	struct rng rng;
	unsigned int ops, enospc, nown;
	u64 pages;
	struct {
		u64 handle, pages;
	} own[2048];
};

static void *load_thread(void *arg)
{
	struct loader *l = arg;
	unsigned int op;

	for (op = 0; op < 4000 && (op < 400 || l->enospc < 30); op++) {
		struct pvdma_range *r = ranges_of(l->vm, l->cpu);
		unsigned int nr = l->lim == LIM_HANDLES ? 1 : 1 + rng_below(&l->rng, 3);
		u64 pages = 0;
		unsigned int i;
		s64 ret;

		if (l->nown && (rng_pct(&l->rng, 25) || l->nown == 2048)) {
			i = rng_below(&l->rng, l->nown);
			ret = unmap_on(l->vm, l->cpu, l->own[i].handle);
			sc_check(l->sc, ret == 0, "vCPU %d: UNMAP: %s", l->cpu,
				 code_name(ret));
			l->pages -= l->own[i].pages;
			l->own[i] = l->own[--l->nown];
			continue;
		}
		for (i = 0; i < nr; i++) {
			u64 np = l->lim == LIM_HANDLES ? 1 :
				      1 + rng_below(&l->rng, 32);

			r[i].gpa = DATA_GPA + rng_below(&l->rng, DATA_PAGES - np) * PAGE;
			r[i].len = np * PAGE;
			pages += np;
		}
		ret = map_on(l->vm, l->cpu, nr, 1 + rng_below(&l->rng, 3));
		l->ops++;
		if (ret == -PVDMA_ENOSPC) {
			l->enospc++;
		} else if (sc_check(l->sc, ret == 0,
				    "vCPU %d: MAP of %llu pages under a limit: %s",
				    l->cpu, (unsigned long long)pages,
				    code_name(ret))) {
			l->own[l->nown].handle = result_of(l->vm, l->cpu)->handle;
			l->own[l->nown++].pages = pages;
			l->pages += pages;
		}
	}
	return NULL;
}

/* What the host holds for @vm must be exactly what its loaders were told. */
static void lim_agree(struct sc *sc, struct vm *vm, struct loader *l,
		      unsigned int n, const char *what)
{
	u64 pages = 0, handles = 0;
	unsigned int i;

	for (i = 0; i < n; i++) {
		pages += l[i].pages;
		handles += l[i].nown;
	}
	sc_check(sc, vm_stat(vm, "pvdma_pinned_pages") == pages &&
		 vm_stat(vm, "pvdma_live_handles") == handles,
		 "%s: the host holds %llu pages / %llu handles, the vCPUs were told %llu / %llu",
		 what, (unsigned long long)vm_stat(vm, "pvdma_pinned_pages"),
		 (unsigned long long)vm_stat(vm, "pvdma_live_handles"),
		 (unsigned long long)pages, (unsigned long long)handles);
}

/* Load @n vCPU threads, then fill up to the limit from vCPU 0, exactly. */
static void lim_run(struct sc *sc, struct vm *vm, struct loader *l,
		    unsigned int n, enum lim lim, u64 limit,
		    u64 *ops, u64 *enospc, const char *what)
{
	u64 held = 0, rem;
	unsigned int i;
	s64 ret;

	for (i = 0; i < n; i++) {
		memset(&l[i], 0, sizeof(l[i]));
		l[i] = (struct loader){ .sc = sc, .vm = vm, .cpu = i, .lim = lim };
		rng_seed(&l[i].rng, sc->seed + lim * 16 + i);
	}
	run_threads(n, load_thread, l, sizeof(*l));
	for (i = 0; i < n; i++) {
		*ops += l[i].ops;
		*enospc += l[i].enospc;
		held += lim == LIM_HANDLES ? l[i].nown : l[i].pages;
	}
	lim_agree(sc, vm, l, n, what);
	sc_check(sc, held <= limit, "%s: %llu held over a limit of %llu", what,
		 (unsigned long long)held, (unsigned long long)limit);

	/*
	 * Exactly the rest fits, not a page more; a request one page too big
	 * is refused whole, even when most of its ranges would fit.
	 */
	rem = limit - held;
	if (lim != LIM_HANDLES && rem) {
		struct pvdma_range *r = ranges_of(vm, 0);
		u64 before = vm_stat(vm, "pvdma_pinned_pages");

		r[0] = (struct pvdma_range){ DATA_GPA, (rem / 2 + 1) * PAGE };
		r[1] = (struct pvdma_range){ DATA_GPA + PAGE, (rem - rem / 2) * PAGE };
		ret = map_on(vm, 0, 2, PVDMA_MAP_TO_DEVICE);
		sc_check(sc, ret == -PVDMA_ENOSPC &&
			 vm_stat(vm, "pvdma_pinned_pages") == before,
			 "%s: %llu pages over the %llu left: %s, %llu pinned (was %llu)",
			 what, (unsigned long long)rem + 1, (unsigned long long)rem,
			 code_name(ret),
			 (unsigned long long)vm_stat(vm, "pvdma_pinned_pages"),
			 (unsigned long long)before);
	}
	while (rem) {
		u64 np = lim == LIM_HANDLES ? 1 : rem > 1024 ? 1024 : rem;

		ret = map1_on(vm, 0, DATA_GPA, np * PAGE, PVDMA_MAP_TO_DEVICE);
		if (!sc_check(sc, ret == 0, "%s: filling the last %llu: %s", what,
			      (unsigned long long)rem, code_name(ret)))
			break;
		l[0].own[l[0].nown].handle = result_of(vm, 0)->handle;
		l[0].own[l[0].nown++].pages = np;
		l[0].pages += np;
		rem -= lim == LIM_HANDLES ? 1 : np;
	}
	ret = map1_on(vm, 0, DATA_GPA, PAGE, PVDMA_MAP_TO_DEVICE);
	sc_check(sc, ret == -PVDMA_ENOSPC, "%s: one more at the limit: %s", what,
		 code_name(ret));
	lim_agree(sc, vm, l, n, what);
}

static void lim_release(struct sc *sc, struct vm *vm, struct loader *l,
			unsigned int n, const char *what)
{
	unsigned int i, bad = 0;

	for (i = 0; i < n; i++) {
		while (l[i].nown) {
			l[i].nown--;
			bad += unmap_on(vm, 0, l[i].own[l[i].nown].handle) != 0;
			l[i].pages -= l[i].own[l[i].nown].pages;
		}
	}
	sc_check(sc, !bad, "%s: %u unmaps failed", what, bad);
	lim_agree(sc, vm, l, n, what);
}

/* In a child: its limit and capabilities are its own. */
static bool memlock_child(void *arg, char *msg, size_t sz)
{
	struct sc *sc = arg;
	static struct loader l[VMM_MAX_VCPUS + 1];
	const u64 limit = 1024;
	struct rlimit rl = { limit * PAGE, limit * PAGE };
	u64 ops = 0, enospc = 0;
	struct vm a, b;
	int n = cfg.vcpus;

	sc->failures = 0;

	drop_cap(CAP_IPC_LOCK);
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		die("setrlimit");
	/* Two VMs of one VMM share its RLIMIT_MEMLOCK. */
	vm_create_opts(&a, &(struct vm_opts){ .optin = true, .nr_vcpus = n });
	vm_create(&b, true, 0);
	if (map1_on(&b, 0, DATA_GPA, 200 * PAGE, PVDMA_MAP_TO_DEVICE))
		die("memlock: MAP in the second VM");
	lim_run(sc, &a, l, n, LIM_MEMLOCK, limit - 200, &ops, &enospc,
		"RLIMIT_MEMLOCK");
	sc_check(sc, vm_pinned_kb() == (long long)limit * 4,
		 "RLIMIT_MEMLOCK: VmPin %lld kB at the limit of %llu pages",
		 vm_pinned_kb(), (unsigned long long)limit);
	lim_release(sc, &a, l, n, "RLIMIT_MEMLOCK");
	unmap_on(&b, 0, result_of(&b, 0)->handle);
	sc_check(sc, vm_pinned_kb() == 0, "RLIMIT_MEMLOCK: VmPin %lld kB after",
		 vm_pinned_kb());
	vm_destroy(&a);
	vm_destroy(&b);
	snprintf(msg, sz,
		 "RLIMIT_MEMLOCK %llu pages over 2 VMs: %llu maps, %llu ENOSPC",
		 (unsigned long long)limit, (unsigned long long)ops,
		 (unsigned long long)enospc);
	return !sc->failures;
}

/* A per-VM cap set while the VM is opted in, then loaded to the limit. */
static void lim_cap(struct sc *sc, const char *param, u64 limit, enum lim lim,
		    const char *what)
{
	static struct loader l[VMM_MAX_VCPUS];
	unsigned int n = cfg.vcpus;
	u64 ops = 0, enospc = 0;
	struct vm vm;
	char v[32];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)limit);
	set_param(param, v);
	vm_create_opts(&vm, &(struct vm_opts){ .optin = true, .nr_vcpus = n });
	restore_params();
	lim_run(sc, &vm, l, n, lim, limit, &ops, &enospc, what);
	lim_release(sc, &vm, l, n, what);
	vm_destroy(&vm);
	sc_fig(sc, "%s %llu: %llu maps, %llu ENOSPC", what,
	       (unsigned long long)limit, (unsigned long long)ops,
	       (unsigned long long)enospc);
}

void scenario_fault_limits(struct sc *sc)
{
	char msg[512];
	bool ok;

	lim_cap(sc, "pvdma_max_pinned_pages", 3000, LIM_PAGES, "page cap");
	lim_cap(sc, "pvdma_max_handles", 400, LIM_HANDLES, "handle cap");
	ok = run_in_child(memlock_child, sc, msg, sizeof(msg));
	sc_fig(sc, "%s", msg);
	sc_check(sc, ok, "the VMM under RLIMIT_MEMLOCK failed (its notes above)");
}

/*
 * fault-dirty-ring: a VM logging dirty pages through a dirty ring (the
 * smallest, 256 entries) unmaps more device-written pages than the ring
 * holds.  The host must log every page, or ask to be called again
 * (-PVDMA_EAGAIN) after the VMM harvested; never overflow the ring.
 */
#define RING_BYTES	4096
#define RING_PAGES	1024

/* Map @pages device-written pages of the slot, unmap, count what was logged. */
static unsigned int ring_round(struct sc *sc, struct vm *vm,
			       struct vmm_ring_log *log, unsigned int pages,
			       unsigned int *eagain, bool *wedged)
{
	unsigned int tries;
	u64 h;
	s64 ret;

	ring_log_clear(log);
	ret = map1_on(vm, 0, EXTRA_GPA, pages * PAGE, PVDMA_MAP_FROM_DEVICE);
	if (!sc_check(sc, ret == 0, "MAP of %u pages: %s", pages, code_name(ret)))
		return 0;
	h = result_of(vm, 0)->handle;
	tries = eagain_seen;
	ret = unmap_on(vm, 0, h);	/* repeated while -PVDMA_EAGAIN */
	tries = eagain_seen - tries;
	*eagain += tries;
	if (ret == 1) {
		*wedged = true;
		sc_fail(sc,
			"UNMAP of %u device-written pages through a %u-entry dirty ring: the vCPU cannot run any more, its ring stays full",
			pages, vm->ring_entries);
		return 0;
	}
	sc_check(sc, ret == 0, "UNMAP of %u pages: %s after %u EAGAIN", pages,
		 code_name(ret), tries);
	/* Let the vCPU exit once more, so the last entries are harvested. */
	hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA(0), 0, 0, 0);
	vm_harvest_ring(vm, 0);
	return pages - ring_log_missing(log, 0, pages);
}

void scenario_fault_dirty_ring(struct sc *sc)
{
	static u16 seen[RING_PAGES];
	unsigned int eagain = 0, small, big;
	struct vmm_ring_log log;
	bool wedged = false;
	u8 *mem;
	struct vm vm;
	int max, kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	max = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	close(kvm);
	if (!sc_check(sc, max >= RING_BYTES,
		      "KVM_CAP_DIRTY_LOG_RING: %d, no dirty ring to test", max))
		return;
	vm_create_opts(&vm, &(struct vm_opts){
		.optin = true, .dirty_ring_bytes = RING_BYTES });
	vm_ring_log(&vm, &log, EXTRA_SLOT, seen, RING_PAGES);
	mem = anon(RING_PAGES * PAGE);
	add_slot(&vm, EXTRA_SLOT, EXTRA_GPA, RING_PAGES * PAGE, mem,
		 KVM_MEM_LOG_DIRTY_PAGES);

	/* Within the ring: every page logged (the check itself works). */
	small = ring_round(sc, &vm, &log, 64, &eagain, &wedged);
	sc_check(sc, small == 64, "64 device-written pages unmapped, %u logged",
		 small);
	/* Four times the ring. */
	big = ring_round(sc, &vm, &log, RING_PAGES, &eagain, &wedged);
	sc_check(sc, wedged || big == RING_PAGES,
		 "%u device-written pages unmapped through a %u-entry ring, %u logged",
		 RING_PAGES, vm.ring_entries, big);
	sc_fig(sc, "%u-entry ring: 64 of 64 pages logged: %s, %u of %u: %s, %u EAGAIN",
	       vm.ring_entries, small == 64 ? "yes" : "no", big, RING_PAGES,
	       wedged ? "VM wedged" : big == RING_PAGES ? "yes" : "no", eagain);
	vm_destroy(&vm);
	munmap(mem, RING_PAGES * PAGE);
}

/*
 * fault-refcount: one small page pinned again and again (256 ranges of it
 * per MAP).  FOLL_PIN adds 1024 to a small page's reference count per pin,
 * so about 2^21 pins overflow it.  The host must refuse (-PVDMA_ENOSPC)
 * before that, without a warning, and everything must come back.
 */
#define RC_TARGET	((1ULL << 31) / 1024 + 8 * 256)

void scenario_fault_refcount(struct sc *sc)
{
	u64 pins = 0, maps = 0, *handles;
	unsigned int i, nh = 0, bad = 0;
	s64 ret = 0, first_refusal = 0;
	u8 *page;
	char v[32];
	struct vm vm;

	if (!cfg.refcount) {
		sc_fig(sc, "skipped (STRESS_REFCOUNT=0)");
		return;
	}
	handles = calloc(RC_TARGET / 256 + 1, sizeof(*handles));
	snprintf(v, sizeof(v), "%llu", RC_TARGET + 4096);
	set_param("pvdma_max_pinned_pages", v);
	snprintf(v, sizeof(v), "%llu", RC_TARGET / 256 + 64);
	set_param("pvdma_max_handles", v);
	vm_create(&vm, true, 0);
	restore_params();
	if (!handles)
		die("calloc");
	page = anon_small(4 * PAGE);
	add_slot(&vm, EXTRA_SLOT, EXTRA_GPA, 4 * PAGE, page, 0);
	for (i = 0; i < PVDMA_MAX_RANGES; i++)
		ranges_of(&vm, 0)[i] = (struct pvdma_range){ EXTRA_GPA + PAGE, 8 };

	while (pins < RC_TARGET) {
		ret = map_on(&vm, 0, PVDMA_MAX_RANGES, PVDMA_MAP_TO_DEVICE);
		maps++;
		if (ret)
			break;
		handles[nh++] = result_of(&vm, 0)->handle;
		pins += PVDMA_MAX_RANGES;
	}
	first_refusal = ret;
	sc_check(sc, ret == -PVDMA_ENOSPC,
		 "one page pinned %llu times: %s (want -PVDMA_ENOSPC before its reference count overflows at about %llu)",
		 (unsigned long long)pins, ret ? code_name(ret) : "still 0",
		 (1ULL << 31) / 1024);
	for (i = 0; i < nh; i += PVDMA_MAX_BATCH) {
		unsigned int k = nh - i < PVDMA_MAX_BATCH ? nh - i : PVDMA_MAX_BATCH;

		bad += batch_on(&vm, 0, handles + i, k) != 0;
	}
	sc_check(sc, !bad, "%u batch unmaps failed", bad);
	sc_check(sc, page[PAGE] == 0x5a && hpa_of(page + PAGE) != ~0ULL,
		 "the page pinned so often is gone or changed");
	vm_destroy(&vm);
	munmap(page, 4 * PAGE);
	free(handles);
	sc_fig(sc, "%llu pins of one page in %llu maps, then %s",
	       (unsigned long long)pins, (unsigned long long)maps,
	       first_refusal ? code_name(first_refusal) : "no refusal");
}
