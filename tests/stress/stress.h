/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * PVDMA host stress suite: what its scenarios share.  See pvdma_stress.c.
 */
#ifndef PVDMA_STRESS_H
#define PVDMA_STRESS_H

#include <errno.h>	/* the KVM_E* codes are errno values */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/pvdma.h>

#include "../lib/pvdma_vmm.h"

/*
 * Slot 0 of every VM (MEM_SIZE bytes): page tables and code below 64 KiB
 * (pvdma_vmm.h), then one area per vCPU with its descriptors, the status
 * page candidates, a scratch zone for descriptors placed anywhere, and data
 * pages to map.
 */
#define AREA_GPA(c)	(0x10000ULL + (u64)(c) * 0x20000ULL)
#define DESC_GPA(c)	(AREA_GPA(c))			/* ranges, one page */
#define HANDLES_GPA(c)	(AREA_GPA(c) + 0x1000)		/* batch handles */
#define INFO_GPA(c)	(AREA_GPA(c) + 0x2000)
#define RESULT_GPA(c)	(AREA_GPA(c) + 0x4000)		/* 16 KiB + 16 */
#define SYSTEM_END	0x10000ULL
#define SHARED_GPA	0x90000ULL			/* status pages */
#define SHARED_PAGES	16
#define SCRATCH_GPA	0xa0000ULL
#define SCRATCH_END	0x200000ULL
#define DATA_GPA	0x200000ULL
#define DATA_PAGES	((MEM_SIZE - DATA_GPA) / PAGE)

/* The other memslots a scenario may add. */
#define ADJ_A_SLOT	4				/* two slots that touch */
#define ADJ_A_GPA	0x4000000ULL
#define ADJ_SIZE	0x100000ULL
#define ADJ_B_SLOT	5
#define ADJ_B_GPA	(ADJ_A_GPA + ADJ_SIZE)
#define HIGH_SLOT	6				/* at the top of the GPA space */
#define HIGH_SIZE	(64ULL << 10)
#define EXTRA_SLOT	7				/* per scenario */
#define EXTRA_GPA	0x8000000ULL
#define EXTRA2_SLOT	8
#define EXTRA2_GPA	0xc000000ULL

#define RESULT_BYTES(segs)	(sizeof(struct pvdma_map_result) + \
				 (u64)(segs) * sizeof(struct pvdma_seg))

/* xoshiro256**: fast, and a seed replays a run exactly. */
struct rng {
	u64 s[4];
};

void rng_seed(struct rng *r, u64 seed);
u64 rng_next(struct rng *r);
u64 rng_below(struct rng *r, u64 n);
bool rng_pct(struct rng *r, unsigned int percent);

/* What the run was asked to do (environment, see pvdma_stress.c). */
struct stress_cfg {
	u64 seed;
	u64 calls;		/* STRESS_CALLS: fuzz hypercalls */
	unsigned int race_iters;	/* STRESS_RACE_ITERS */
	unsigned int kills;	/* STRESS_KILLS */
	unsigned int vcpus;	/* STRESS_VCPUS: vCPU threads in the races */
	bool refcount;		/* STRESS_REFCOUNT: the 2^21-pin scenario */
	const char *edu;	/* edu's resource0: a real MMIO BAR */
	long ncpus;		/* online CPUs of the host */
};

extern struct stress_cfg cfg;

/* One scenario's run: its name, its own random stream, its verdict. */
struct sc {
	const char *name;
	u64 seed;
	struct rng rng;
	char figures[1024];
	char why[512];
	unsigned int failures;
	long long pins0;	/* FOLL_PIN pins when it started */
};

void sc_fig(struct sc *sc, const char *fmt, ...) __printf(2, 3);
void sc_fail(struct sc *sc, const char *fmt, ...) __printf(2, 3);
bool sc_check(struct sc *sc, bool ok, const char *fmt, ...) __printf(3, 4);
void sc_note(struct sc *sc, const char *fmt, ...) __printf(2, 3);

double now(void);
extern __thread unsigned long eagain_seen;
const char *code_name(s64 ret);
bool documented(s64 ret);

/* Hypercalls from vCPU @cpu with its own descriptor area. */
struct pvdma_range *ranges_of(struct vm *vm, int cpu);
struct pvdma_map_result *result_of(struct vm *vm, int cpu);
s64 map_on(struct vm *vm, int cpu, unsigned int nr, u32 dir);
s64 map1_on(struct vm *vm, int cpu, u64 gpa, u64 len, u32 dir);
s64 unmap_on(struct vm *vm, int cpu, u64 handle);
s64 batch_on(struct vm *vm, int cpu, const u64 *handles, unsigned int nr);
s64 set_shared(struct vm *vm, u64 gpa);

u64 range_pages(const struct pvdma_range *r);
void stress_slots(struct vm *vm, u64 *high_gpa);
void run_threads(unsigned int n, void *(*fn)(void *), void *args, size_t size);
void restore_params(void);

/* The fuzz engine, also run by the second VM of the confidentiality case. */
struct fuzz;
struct fuzz *fuzz_new(struct sc *sc, struct vm *vm, bool shadow);
void fuzz_run(struct fuzz *f, u64 calls);
void fuzz_finish(struct fuzz *f);
void fuzz_free(struct fuzz *f);
void fuzz_write(struct fuzz *f, u64 gpa, const void *src, u64 len);
u64 fuzz_map_once(struct fuzz *f);
void fuzz_figures(struct fuzz *f, double secs);
size_t fuzz_host_writes(struct fuzz *f,
			void (*fn)(void *ctx, u64 gpa, const u8 *p,
				   size_t len), void *ctx);

/* The scenarios. */
void scenario_fuzz(struct sc *sc);
void scenario_race_overlap(struct sc *sc);
void scenario_race_double_unmap(struct sc *sc);
void scenario_race_invalidate(struct sc *sc);
void scenario_fault_sigkill(struct sc *sc);
void scenario_fault_memslot(struct sc *sc);
void scenario_fault_limits(struct sc *sc);
void scenario_fault_dirty_ring(struct sc *sc);
void scenario_fault_refcount(struct sc *sc);
void scenario_conf_not_opted_in(struct sc *sc);
void scenario_conf_cpl3(struct sc *sc);
void scenario_conf_second_vm(struct sc *sc);

#endif /* PVDMA_STRESS_H */
