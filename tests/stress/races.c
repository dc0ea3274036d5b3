// SPDX-License-Identifier: GPL-2.0-only
/*
 * The race scenarios: vCPU threads of one VM (each thread its own vCPU)
 * mapping and unmapping the same pages, unmapping the same handles at
 * once, and a VMM thread discarding memory that a MAP is pinning.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "stress.h"

#define WINDOW_PAGES	64		/* the pages every thread maps */
#define OWN_MAX		32

struct racer {
	struct sc *sc;
	struct vm *vm;
	int cpu;
	struct rng rng;
	pthread_barrier_t *bar;
	unsigned int ops;
	/* race-overlap */
	u64 maps, unmaps, segs;
	u64 *issued;
	unsigned int nr_issued;
	/* race-double-unmap */
	u64 *handles;
	unsigned int nr_handles;
	s64 *rets;
	u64 wins;
};

static void racer_init(struct racer *r, unsigned int n, struct sc *sc,
		       struct vm *vm, pthread_barrier_t *bar)
{
	unsigned int i;

	memset(r, 0, n * sizeof(*r));
	for (i = 0; i < n; i++) {
		r[i].sc = sc;
		r[i].vm = vm;
		r[i].cpu = i;
		r[i].bar = bar;
		rng_seed(&r[i].rng, sc->seed + i);
	}
}

/* One thread of race-overlap: map, check, unmap, over and over. */
static void *overlap_thread(void *arg)
{
	struct racer *r = arg;
	struct vm *vm = r->vm;
	struct {
		u64 handle;
	} own[OWN_MAX];
	unsigned int nown = 0, op, i;
	char why[160];
	s64 ret;

	for (op = 0; op < r->ops; op++) {
		unsigned int p = rng_below(&r->rng, 100);

		if (nown < OWN_MAX && (p < 55 || !nown)) {
			struct pvdma_range *rg = ranges_of(vm, r->cpu);
			unsigned int nr = 1 + rng_below(&r->rng, 4);
			u32 dir = 1 + rng_below(&r->rng, 3);

			for (i = 0; i < nr; i++) {
				u64 len = 1 + rng_below(&r->rng, 3 * PAGE);

				rg[i].gpa = DATA_GPA + rng_below(&r->rng,
						WINDOW_PAGES * PAGE - len);
				rg[i].len = len;
			}
			ret = map_on(vm, r->cpu, nr, dir);
			if (!sc_check(r->sc, ret == 0,
				      "vCPU %d: MAP of %u ranges: %s", r->cpu,
				      nr, code_name(ret)))
				continue;
			/* Pinned by this mapping: stable whatever the others do. */
			sc_check(r->sc, segs_match(vm, rg, nr, result_of(vm, r->cpu),
						   why, sizeof(why)),
				 "vCPU %d: %s", r->cpu, why);
			r->segs += result_of(vm, r->cpu)->nr_segs;
			own[nown++].handle = result_of(vm, r->cpu)->handle;
			r->issued[r->nr_issued++] = own[nown - 1].handle;
			r->maps++;
		} else if (p < 85) {
			i = rng_below(&r->rng, nown);
			ret = unmap_on(vm, r->cpu, own[i].handle);
			sc_check(r->sc, ret == 0, "vCPU %d: UNMAP %llu: %s",
				 r->cpu, (unsigned long long)own[i].handle,
				 code_name(ret));
			own[i] = own[--nown];
			r->unmaps++;
		} else {
			u64 h[OWN_MAX];
			unsigned int k = 1 + rng_below(&r->rng, nown);

			for (i = 0; i < k; i++)
				h[i] = own[nown - k + i].handle;
			ret = batch_on(vm, r->cpu, h, k);
			sc_check(r->sc, ret == 0, "vCPU %d: UNMAP_BATCH of %u: %s",
				 r->cpu, k, code_name(ret));
			nown -= k;
			r->unmaps += k;
		}
	}
	while (nown) {
		ret = unmap_on(vm, r->cpu, own[--nown].handle);
		sc_check(r->sc, ret == 0, "vCPU %d: final UNMAP: %s", r->cpu,
			 code_name(ret));
		r->unmaps++;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

void scenario_race_overlap(struct sc *sc)
{
	struct racer r[VMM_MAX_VCPUS];
	unsigned int n = cfg.vcpus, i, j, dups = 0, total = 0;
	u64 maps = 0, unmaps = 0, segs = 0, *all;
	struct vm vm;
	double t0, secs;

	vm_create_opts(&vm, &(struct vm_opts){ .optin = true, .nr_vcpus = n });
	racer_init(r, n, sc, &vm, NULL);
	for (i = 0; i < n; i++) {
		r[i].ops = cfg.race_iters * 20;
		r[i].issued = calloc(r[i].ops, sizeof(u64));
		if (!r[i].issued)
			die("calloc");
	}
	t0 = now();
	run_threads(n, overlap_thread, r, sizeof(*r));
	secs = now() - t0;

	for (i = 0; i < n; i++) {
		maps += r[i].maps;
		unmaps += r[i].unmaps;
		segs += r[i].segs;
		total += r[i].nr_issued;
	}
	/* Handles are never reused while the test runs: all distinct. */
	all = calloc(total + 1, sizeof(*all));
	for (i = 0, j = 0; i < n; i++) {
		memcpy(all + j, r[i].issued, r[i].nr_issued * sizeof(*all));
		j += r[i].nr_issued;
		free(r[i].issued);
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	for (i = 1; i < total; i++)
		dups += all[i] == all[i - 1];
	free(all);
	sc_check(sc, !dups, "%u handles were handed to two mappings", dups);
	sc_check(sc, vm_stat(&vm, "pvdma_live_handles") == 0 &&
		 vm_stat(&vm, "pvdma_pinned_pages") == 0 &&
		 vm_stat(&vm, "pvdma_maps") == maps &&
		 vm_stat(&vm, "pvdma_unmaps") == unmaps,
		 "stats after the race: %llu live, %llu pinned, %llu maps, %llu unmaps (threads did %llu, %llu)",
		 (unsigned long long)vm_stat(&vm, "pvdma_live_handles"),
		 (unsigned long long)vm_stat(&vm, "pvdma_pinned_pages"),
		 (unsigned long long)vm_stat(&vm, "pvdma_maps"),
		 (unsigned long long)vm_stat(&vm, "pvdma_unmaps"),
		 (unsigned long long)maps, (unsigned long long)unmaps);
	sc_check(sc, foll_pins() == sc->pins0, "%lld pins left after the race",
		 foll_pins() - sc->pins0);
	vm_destroy(&vm);
	sc_fig(sc, "%u vCPU threads on %ld CPUs", n, cfg.ncpus);
	sc_fig(sc, "%llu maps + %llu unmaps of %u shared pages in %.1f s (%.0f calls/s)",
	       (unsigned long long)maps, (unsigned long long)unmaps,
	       WINDOW_PAGES, secs, (maps + unmaps) / secs);
	sc_fig(sc, "%llu segments checked against pagemap",
	       (unsigned long long)segs);
}

#define CONTESTED	64
#define BATCHES		4

/* vCPU 0 maps the handles every vCPU is about to unmap. */
static void map_contested(struct racer *r, u32 dir)
{
	unsigned int i;

	for (i = 0; i < CONTESTED; i++) {
		if (map1_on(r->vm, 0, DATA_GPA + rng_below(&r->rng, 8) * PAGE,
			    PAGE, dir))
			die("race-double-unmap: MAP");
		r->handles[i] = result_of(r->vm, 0)->handle;
	}
}

/* One thread of race-double-unmap: everyone unmaps the same handles. */
static void *double_thread(void *arg)
{
	struct racer *r = arg;
	unsigned int round, i;

	for (round = 0; round < r->ops; round++) {
		if (r->cpu == 0)
			map_contested(r, PVDMA_MAP_FROM_DEVICE);
		pthread_barrier_wait(r->bar);
		/* Same handles, same order, all vCPUs at once. */
		for (i = 0; i < CONTESTED; i++)
			r->rets[round * (CONTESTED + BATCHES) + i] =
				unmap_on(r->vm, r->cpu, r->handles[i]);
		pthread_barrier_wait(r->bar);
		if (r->cpu == 0)
			map_contested(r, PVDMA_MAP_TO_DEVICE);
		pthread_barrier_wait(r->bar);
		for (i = 0; i < BATCHES; i++)
			r->rets[round * (CONTESTED + BATCHES) + CONTESTED + i] =
				batch_on(r->vm, r->cpu, r->handles +
					 i * (CONTESTED / BATCHES),
					 CONTESTED / BATCHES);
		pthread_barrier_wait(r->bar);
	}
	return NULL;
}

void scenario_race_double_unmap(struct sc *sc)
{
	unsigned int n = cfg.vcpus, rounds = cfg.race_iters / 5, i, t, slot;
	struct racer r[VMM_MAX_VCPUS];
	u64 handles[CONTESTED], contested = 0, bad = 0;
	pthread_barrier_t bar;
	char wins[128] = "";
	struct vm vm;
	double t0;

	if (rounds < 10)
		rounds = 10;
	vm_create_opts(&vm, &(struct vm_opts){ .optin = true, .nr_vcpus = n });
	pthread_barrier_init(&bar, NULL, n);
	racer_init(r, n, sc, &vm, &bar);
	for (i = 0; i < n; i++) {
		r[i].ops = rounds;
		r[i].handles = handles;
		r[i].rets = calloc(rounds * (CONTESTED + BATCHES), sizeof(s64));
		if (!r[i].rets)
			die("calloc");
	}
	t0 = now();
	run_threads(n, double_thread, r, sizeof(*r));

	/* Exactly one vCPU releases each handle; the others are told ENOENT. */
	for (slot = 0; slot < rounds * (CONTESTED + BATCHES); slot++) {
		unsigned int won = 0, lost = 0;

		for (t = 0; t < n; t++) {
			if (r[t].rets[slot] == 0) {
				won++;
				r[t].wins++;
			} else if (r[t].rets[slot] == -PVDMA_ENOENT) {
				lost++;
			}
		}
		contested++;
		if (won != 1 || lost != n - 1) {
			if (bad++ < 5)
				sc_fail(sc,
					"round %u, %s %u: %u vCPUs released it, %u were told ENOENT, %u got something else",
					slot / (CONTESTED + BATCHES),
					slot % (CONTESTED + BATCHES) < CONTESTED ?
					"handle" : "batch",
					slot % (CONTESTED + BATCHES), won, lost,
					n - won - lost);
			else
				sc->failures++;
		}
	}
	sc_check(sc, vm_stat(&vm, "pvdma_live_handles") == 0 &&
		 vm_stat(&vm, "pvdma_pinned_pages") == 0,
		 "after the rounds %llu handles / %llu pages are still live",
		 (unsigned long long)vm_stat(&vm, "pvdma_live_handles"),
		 (unsigned long long)vm_stat(&vm, "pvdma_pinned_pages"));
	for (t = 0; t < n; t++) {
		snprintf(wins + strlen(wins), sizeof(wins) - strlen(wins),
			 "%s%llu", t ? "/" : "", (unsigned long long)r[t].wins);
		free(r[t].rets);
	}
	sc_fig(sc, "%u rounds, %llu contested handles and batches, %u vCPUs at once",
	       rounds, (unsigned long long)contested, n);
	sc_fig(sc, "won by vCPU %s in %.1f s", wins, now() - t0);
	pthread_barrier_destroy(&bar);
	vm_destroy(&vm);
}

/*
 * race-invalidate: the VMM discards (MADV_DONTNEED) one page of a buffer
 * while a vCPU is in the middle of a MAP of it.  Whatever the timing, a
 * translation the MAP returns that no longer names the page behind the
 * guest's address (pagemap after the race) must come with a new epoch in
 * the status page; the guest then knows to drop it.
 */
#define INV_PAGES	1024

struct invalidator {
	u8 *mem;
	int go, done, stop;
	u64 page;
	double start, delay, t_begin, t_end;
};

static void *invalidate_thread(void *arg)
{
	struct invalidator *inv = arg;

	for (;;) {
		while (!__atomic_load_n(&inv->go, __ATOMIC_ACQUIRE))
			if (__atomic_load_n(&inv->stop, __ATOMIC_ACQUIRE))
				return NULL;
		__atomic_store_n(&inv->go, 0, __ATOMIC_RELAXED);
		while (now() < inv->start + inv->delay)
			;
		inv->t_begin = now();
		madvise(inv->mem + inv->page * PAGE, PAGE, MADV_DONTNEED);
		inv->t_end = now();
		__atomic_store_n(&inv->done, 1, __ATOMIC_RELEASE);
	}
}

/* A translation went stale and the guest was not told. */
static void inv_report(struct sc *sc, unsigned int it, u64 page,
		       const u64 *got, const u64 *now_hpa, u64 epoch)
{
	char now_is[64];

	if (now_hpa[page] == ~0ULL)
		snprintf(now_is, sizeof(now_is), "not present");
	else
		snprintf(now_is, sizeof(now_is), "%#llx",
			 (unsigned long long)now_hpa[page]);
	sc_fail(sc,
		"iteration %u: page %llu: MAP returned %#llx, pagemap now says %s, and the epoch stayed %llu",
		it, (unsigned long long)page, (unsigned long long)got[page],
		now_is, (unsigned long long)epoch);
}

/* One MAP of the whole buffer; -PVDMA_EAGAIN is counted, not repeated. */
static s64 inv_map(struct vm *vm)
{
	ranges_of(vm, 0)[0] = (struct pvdma_range){ EXTRA_GPA, INV_PAGES * PAGE };
	result_of(vm, 0)->max_segs = PVDMA_MAX_SEGS;
	return hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA(0), 1, RESULT_GPA(0),
		  PVDMA_MAP_FROM_DEVICE);
}

void scenario_race_invalidate(struct sc *sc)
{
	static u64 now_hpa[INV_PAGES], got[INV_PAGES];
	struct invalidator inv = { 0 };
	unsigned int it, i, j, iters = cfg.race_iters;
	u64 stale_it = 0, caught = 0, bumped_fresh = 0, eagain = 0;
	u64 overlapped = 0, stale_bumped = 0;
	double t_map = 0;
	pthread_t thread;
	struct vm vm;

	vm_create(&vm, true, 0);
	/* Small pages: a discard then invalidates just the page discarded. */
	inv.mem = anon_small(INV_PAGES * PAGE);
	add_slot(&vm, EXTRA_SLOT, EXTRA_GPA, INV_PAGES * PAGE, inv.mem, 0);
	if (set_shared(&vm, SHARED_GPA))
		die("race-invalidate: SET_SHARED");

	/* How long a MAP of the buffer takes, to spread the discards over. */
	for (i = 0; i < 5; i++) {
		double t = now();

		if (map1_on(&vm, 0, EXTRA_GPA, INV_PAGES * PAGE,
			    PVDMA_MAP_FROM_DEVICE))
			die("race-invalidate: MAP");
		t_map += now() - t;
		unmap_on(&vm, 0, result_of(&vm, 0)->handle);
	}
	t_map /= 5;
	if (pthread_create(&thread, NULL, invalidate_thread, &inv))
		die("pthread_create");

	for (it = 0; it < iters; it++) {
		struct pvdma_map_result *res = result_of(&vm, 0);
		u64 e0 = epoch_at(&vm, SHARED_GPA), e1, stale = 0;
		double c0, c1;
		s64 ret;

		/*
		 * A page pinned early, discarded at any moment of the MAP or
		 * just after: the window between its pin and the end of the
		 * MAP is where a host that does not watch for invalidations
		 * hands out a stale frame.
		 */
		inv.page = rng_below(&sc->rng, INV_PAGES / 4);
		inv.delay = t_map * 1.1 * rng_below(&sc->rng, 1000) / 1000;
		inv.done = 0;
		c0 = now();
		inv.start = c0;
		__atomic_store_n(&inv.go, 1, __ATOMIC_RELEASE);
		ret = inv_map(&vm);
		c1 = now();
		while (!__atomic_load_n(&inv.done, __ATOMIC_ACQUIRE))
			;
		e1 = epoch_at(&vm, SHARED_GPA);
		if (inv.t_begin < c1 && inv.t_end > c0)
			overlapped++;

		if (ret == -PVDMA_EAGAIN) {
			eagain++;
		} else if (sc_check(sc, ret == 0, "iteration %u: MAP: %s", it,
				    code_name(ret))) {
			/* Each page's frame as returned, and as it is now. */
			for (i = 0, j = 0; i < res->nr_segs && j < INV_PAGES; i++) {
				u64 a;

				for (a = 0; a < res->segs[i].len && j < INV_PAGES;
				     a += PAGE)
					got[j++] = res->segs[i].addr + a;
			}
			sc_check(sc, j == INV_PAGES,
				 "iteration %u: the segments cover %u of %u pages",
				 it, j, INV_PAGES);
			pagemap_read(inv.mem, INV_PAGES, now_hpa);
			for (i = 0; i < INV_PAGES; i++)
				stale += got[i] != now_hpa[i];
			if (stale && e1 == e0 && caught++ < 3)
				inv_report(sc, it, inv.page, got, now_hpa, e0);
			else if (stale && e1 == e0)
				sc->failures++;
			stale_it += !!stale;
			stale_bumped += stale && e1 != e0;
			bumped_fresh += !stale && e1 != e0;
			if (unmap_on(&vm, 0, res->handle))
				die("race-invalidate: UNMAP");
		}
		/* Fault the discarded page back in for the next round. */
		inv.mem[inv.page * PAGE] = 0x5a;
	}
	__atomic_store_n(&inv.stop, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);

	sc_fig(sc, "%u iterations, MAP of %u pages takes %.2f ms, %ld host CPUs",
	       iters, INV_PAGES, t_map * 1000, cfg.ncpus);
	sc_fig(sc, "discard during the MAP in %llu", (unsigned long long)overlapped);
	sc_fig(sc,
	       "stale translations in %llu: %llu with a new epoch, %llu with the epoch unmoved (%.0f%% of iterations)",
	       (unsigned long long)stale_it, (unsigned long long)stale_bumped,
	       (unsigned long long)caught, 100.0 * caught / iters);
	sc_fig(sc, "epoch moved with nothing stale in %llu, EAGAIN in %llu",
	       (unsigned long long)bumped_fresh, (unsigned long long)eagain);
	/* A race that never happened proves nothing. */
	sc_check(sc, overlapped * 10 >= iters,
		 "a discard overlapped a MAP in only %llu of %u iterations: the race was not exercised",
		 (unsigned long long)overlapped, iters);
	hc(&vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0);
	vm_destroy(&vm);
	munmap(inv.mem, INV_PAGES * PAGE);
}
