// SPDX-License-Identifier: GPL-2.0-only
/*
 * PVDMA host stress suite: keeps one promise true under load, faults and
 * hostile input, "the host-physical address a device is given is always
 * backed by the page the guest means, and every pin comes back".
 *
 * A VMM in the style of tests/host-abi (tests/lib/pvdma_vmm.c): its guests
 * are two instructions, "vmmcall; out", so every hypercall argument reaches
 * the host exactly as a guest would pass it.  Scenarios:
 *
 *   fuzz                  random and malformed hypercalls against a model
 *   race-*                vCPU threads mapping, unmapping and racing
 *                         invalidations of the same pages
 *   fault-*               SIGKILL with live pins, memslot changes, limits,
 *                         a full dirty ring, a page pinned 2^21 times
 *   conf-*                VMs and guest code that must never learn an HPA
 *
 * Each prints "stress: NAME: PASS (figures)" or "... FAIL (figures; why)";
 * the last line is "stress: N passed, M failed".  After every scenario the
 * host's FOLL_PIN pins and this process's VmPin must be back where they
 * were, and L1's kernel log must have no new warning.
 *
 * Environment: STRESS_SEED (replays a run), STRESS_CALLS (fuzz hypercalls,
 * 100000), STRESS_RACE_ITERS (300), STRESS_KILLS (5), STRESS_VCPUS (2),
 * STRESS_REFCOUNT (1), STRESS_ONLY (comma-separated scenario names or
 * prefixes).  argv[1]: edu's resource0, for a real MMIO slot.
 *
 * Runs as root in the rig's L1 host (scripts/rig/l1-stress).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

const char *vmm_name = "stress";
struct stress_cfg cfg;

static int passed, failed;
static int kmsg = -1;
static unsigned long saved_max_pinned, saved_max_handles, saved_all_vms;

void restore_params(void)
{
	char v[32];

	snprintf(v, sizeof(v), "%lu", saved_max_pinned);
	set_param("pvdma_max_pinned_pages", v);
	snprintf(v, sizeof(v), "%lu", saved_max_handles);
	set_param("pvdma_max_handles", v);
	set_param("pvdma_unsafe_all_vms", "0");
}

void die(const char *what)
{
	if (getpid() != getpgrp()) {
		/* A child's verdict goes through its parent. */
		printf("stress: child: setup failed (%s: %s)\n", what,
		       strerror(errno));
		_exit(3);
	}
	printf("stress: setup: FAIL (%s: %s)\n", what, strerror(errno));
	restore_params();
	set_param("pvdma_unsafe_all_vms", saved_all_vms ? "1" : "0");
	printf("stress: %d passed, %d failed\n", passed, failed + 1);
	exit(1);
}

void rng_seed(struct rng *r, u64 seed)
{
	int i;

	/* splitmix64 spreads any seed, 0 included, over the whole state. */
	for (i = 0; i < 4; i++) {
		u64 z = (seed += 0x9e3779b97f4a7c15ULL);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

static u64 rotl(u64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

u64 rng_next(struct rng *r)
{
	u64 *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

u64 rng_below(struct rng *r, u64 n)
{
	return n ? rng_next(r) % n : 0;
}

bool rng_pct(struct rng *r, unsigned int percent)
{
	return rng_below(r, 100) < percent;
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void vappend(char *buf, size_t size, const char *sep, const char *fmt,
		    va_list ap)
{
	size_t len = strlen(buf);

	if (len && len + strlen(sep) < size) {
		memcpy(buf + len, sep, strlen(sep) + 1);
		len += strlen(sep);
	}
	if (len < size)
		vsnprintf(buf + len, size - len, fmt, ap);
}

void sc_fig(struct sc *sc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(sc->figures, sizeof(sc->figures), ", ", fmt, ap);
	va_end(ap);
}

/*
 * Record a failure.  The first ones are printed in full, as notes, and the
 * first of all is also the reason on the verdict line.
 */
void sc_fail(struct sc *sc, const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	va_list ap;
	char msg[512] = "";

	va_start(ap, fmt);
	vappend(msg, sizeof(msg), "", fmt, ap);
	va_end(ap);
	/* vCPU threads of the race scenarios fail at the same time. */
	pthread_mutex_lock(&lock);
	if (sc->failures < 12)
		printf("stress: %s: note: FAIL: %s\n", sc->name, msg);
	else if (sc->failures == 12)
		printf("stress: %s: note: more failures not shown\n", sc->name);
	if (!sc->failures)
		snprintf(sc->why, sizeof(sc->why), "%s", msg);
	sc->failures++;
	pthread_mutex_unlock(&lock);
}

bool sc_check(struct sc *sc, bool ok, const char *fmt, ...)
{
	va_list ap;
	char msg[512] = "";

	if (ok)
		return true;
	va_start(ap, fmt);
	vappend(msg, sizeof(msg), "", fmt, ap);
	va_end(ap);
	sc_fail(sc, "%s", msg);
	return false;
}

void sc_note(struct sc *sc, const char *fmt, ...)
{
	va_list ap;

	printf("stress: %s: note: ", sc->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* The codes <linux/pvdma.h> documents, by name. */
static const struct {
	s64 code;
	const char *name;
} codes[] = {
	{ 0, "0" },
	{ -KVM_ENOSYS, "-KVM_ENOSYS" },
	{ -KVM_EPERM, "-KVM_EPERM" },
	{ -KVM_EINVAL, "-KVM_EINVAL" },
	{ -KVM_E2BIG, "-KVM_E2BIG" },
	{ -KVM_EFAULT, "-KVM_EFAULT" },
	{ -KVM_EOPNOTSUPP, "-KVM_EOPNOTSUPP" },
	{ -PVDMA_ENOENT, "-PVDMA_ENOENT" },
	{ -PVDMA_EIO, "-PVDMA_EIO" },
	{ -PVDMA_EAGAIN, "-PVDMA_EAGAIN" },
	{ -PVDMA_ENOMEM, "-PVDMA_ENOMEM" },
	{ -PVDMA_EACCES, "-PVDMA_EACCES" },
	{ -PVDMA_ENOSPC, "-PVDMA_ENOSPC" },
};

const char *code_name(s64 ret)
{
	static __thread char buf[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(codes); i++)
		if (codes[i].code == ret)
			return codes[i].name;
	snprintf(buf, sizeof(buf), "%lld (undocumented)", (long long)ret);
	return buf;
}

bool documented(s64 ret)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(codes); i++)
		if (codes[i].code == ret)
			return true;
	return false;
}

struct pvdma_range *ranges_of(struct vm *vm, int cpu)
{
	return (void *)(vm->mem + DESC_GPA(cpu));
}

struct pvdma_map_result *result_of(struct vm *vm, int cpu)
{
	return (void *)(vm->mem + RESULT_GPA(cpu));
}

__thread unsigned long eagain_seen;

/*
 * A hypercall as a guest issues it: -PVDMA_EAGAIN means "nothing happened,
 * call again", so it is called again (and counted in eagain_seen).
 */
static s64 hc_again(struct vm *vm, int cpu, u64 nr, u64 a0, u64 a1, u64 a2,
		    u64 a3)
{
	unsigned int tries;
	s64 ret = 0;

	for (tries = 0; tries < 1000; tries++) {
		ret = hc_on(vm, cpu, nr, a0, a1, a2, a3);
		if (ret != -PVDMA_EAGAIN)
			break;
		eagain_seen++;
	}
	return ret;
}

/* MAP the ranges at vCPU @cpu's DESC_GPA, with room for every segment. */
s64 map_on(struct vm *vm, int cpu, unsigned int nr, u32 dir)
{
	struct pvdma_map_result *res = result_of(vm, cpu);

	res->max_segs = PVDMA_MAX_SEGS;
	res->handle = 0;
	res->nr_segs = 0;
	return hc_again(vm, cpu, KVM_HC_PVDMA_MAP, DESC_GPA(cpu), nr,
			RESULT_GPA(cpu), dir);
}

s64 map1_on(struct vm *vm, int cpu, u64 gpa, u64 len, u32 dir)
{
	ranges_of(vm, cpu)[0] = (struct pvdma_range){ gpa, len };
	return map_on(vm, cpu, 1, dir);
}

s64 unmap_on(struct vm *vm, int cpu, u64 handle)
{
	return hc_again(vm, cpu, KVM_HC_PVDMA_UNMAP, handle, 0, 0, 0);
}

s64 batch_on(struct vm *vm, int cpu, const u64 *handles, unsigned int nr)
{
	memcpy(vm->mem + HANDLES_GPA(cpu), handles, nr * sizeof(*handles));
	return hc_again(vm, cpu, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA(cpu), nr,
			0, 0);
}

s64 set_shared(struct vm *vm, u64 gpa)
{
	return hc(vm, KVM_HC_PVDMA_SET_SHARED, gpa, 0, 0, 0);
}

u64 range_pages(const struct pvdma_range *r)
{
	return ((r->gpa + r->len - 1) >> 12) - (r->gpa >> 12) + 1;
}

/*
 * Run @fn on @n threads at once, the calling one included, thread i with
 * the i-th of @args (each @size bytes): each thread drives its own vCPU.
 */
void run_threads(unsigned int n, void *(*fn)(void *), void *args, size_t size)
{
	pthread_t t[VMM_MAX_VCPUS];
	unsigned int i;

	for (i = 1; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (char *)args + i * size))
			die("pthread_create");
	fn(args);
	for (i = 1; i < n; i++)
		pthread_join(t[i], NULL);
}

static void *edu_page(void)
{
	static void *bar;
	int fd;

	if (bar || !cfg.edu)
		return bar;
	fd = open(cfg.edu, O_RDWR | O_SYNC);
	bar = fd < 0 ? MAP_FAILED :
	      mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		die(cfg.edu);
	close(fd);
	return bar;
}

/*
 * The memslots of a VM that is fuzzed: read-only, MMIO (a real PCI BAR,
 * PFNMAP), dirty-logged, two slots that touch, and one at the top of the
 * guest-physical space KVM accepts (whose GPA goes to @high_gpa).
 */
void stress_slots(struct vm *vm, u64 *high_gpa)
{
	static const int bits[] = { 52, 48, 46, 44, 42, 40, 39, 36 };
	u8 *high = anon(HIGH_SIZE);
	unsigned int i;

	add_slot(vm, RO_SLOT, RO_GPA, RO_SIZE, anon(RO_SIZE), KVM_MEM_READONLY);
	if (edu_page())
		add_slot(vm, MMIO_SLOT, MMIO_GPA, PAGE, edu_page(), 0);
	add_slot(vm, DIRTY_SLOT, DIRTY_GPA, DIRTY_SIZE, anon(DIRTY_SIZE),
		 KVM_MEM_LOG_DIRTY_PAGES);
	add_slot(vm, ADJ_A_SLOT, ADJ_A_GPA, ADJ_SIZE, anon(ADJ_SIZE), 0);
	add_slot(vm, ADJ_B_SLOT, ADJ_B_GPA, ADJ_SIZE, anon(ADJ_SIZE), 0);
	*high_gpa = 0;
	for (i = 0; i < ARRAY_SIZE(bits); i++) {
		struct kvm_userspace_memory_region r = {
			.slot = HIGH_SLOT,
			.guest_phys_addr = (1ULL << bits[i]) - HIGH_SIZE,
			.memory_size = HIGH_SIZE,
			.userspace_addr = (uintptr_t)high,
		};

		if (!ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r)) {
			vm->slots[HIGH_SLOT] = (struct vmm_slot){
				r.guest_phys_addr, HIGH_SIZE, high, 0 };
			*high_gpa = r.guest_phys_addr;
			return;
		}
	}
	die("no memslot at the top of the guest-physical space");
}

/*
 * New kernel log lines that say the kernel is unwell.  (An RCU stall
 * report is not among them: under TCG on a loaded machine L1 may stall
 * without any fault of PVDMA's; a hung task or a warning is.)
 */
static void kmsg_check(struct sc *sc)
{
	static const char *const bad[] = {
		"WARNING:", "BUG:", "kernel BUG", "lockdep", "Oops",
		"general protection fault", "refcount_t:", "UBSAN:", "KASAN:",
		"INFO: task", "circular locking", "recursive locking",
		"list_add corruption", "list_del corruption",
	};
	char rec[2048];
	unsigned int shown = 0;
	ssize_t n;

	if (kmsg < 0)
		return;
	for (;;) {
		char *msg;
		size_t i;

		n = read(kmsg, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: read on */
		if (n <= 0)
			break;
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = 0;
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			if (!strstr(msg, bad[i]))
				continue;
			if (shown++ < 4)
				sc_fail(sc, "L1 kernel log: %s", msg);
			else
				sc->failures++;
			break;
		}
	}
}

static u64 env_u64(const char *name, u64 def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static const struct {
	const char *name;
	void (*run)(struct sc *sc);
} scenarios[] = {
	{ "fuzz", scenario_fuzz },
	{ "race-overlap", scenario_race_overlap },
	{ "race-double-unmap", scenario_race_double_unmap },
	{ "race-invalidate", scenario_race_invalidate },
	{ "fault-sigkill", scenario_fault_sigkill },
	{ "fault-memslot", scenario_fault_memslot },
	{ "fault-limits", scenario_fault_limits },
	{ "fault-dirty-ring", scenario_fault_dirty_ring },
	{ "fault-refcount", scenario_fault_refcount },
	{ "conf-not-opted-in", scenario_conf_not_opted_in },
	{ "conf-cpl3", scenario_conf_cpl3 },
	{ "conf-second-vm", scenario_conf_second_vm },
};

static bool selected(const char *name)
{
	const char *only = getenv("STRESS_ONLY");
	char buf[256], *tok, *save;

	if (!only || !*only)
		return true;
	snprintf(buf, sizeof(buf), "%s", only);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (!strncmp(name, tok, strlen(tok)))
			return true;
	return false;
}

static u64 name_hash(const char *s)
{
	u64 h = 1469598103934665603ULL;	/* FNV-1a */

	while (*s)
		h = (h ^ (u8)*s++) * 1099511628211ULL;
	return h;
}

static void run_scenario(const char *name, void (*fn)(struct sc *sc))
{
	struct sc sc = { .name = name };
	long long pins, kb;
	double t0;

	sc.seed = cfg.seed ^ name_hash(name);
	rng_seed(&sc.rng, sc.seed);
	sc.pins0 = foll_pins();
	t0 = now();
	fn(&sc);
	restore_params();
	/* Whatever the scenario did, every pin must have come back. */
	pins = foll_pins();
	kb = vm_pinned_kb();
	sc_check(&sc, pins == sc.pins0,
		 "%lld FOLL_PIN pins not released after the scenario",
		 pins - sc.pins0);
	sc_check(&sc, kb == 0, "VmPin %lld kB after the scenario", kb);
	kmsg_check(&sc);
	sc_fig(&sc, "%.1f s", now() - t0);
	if (sc.failures) {
		printf("stress: %s: FAIL (%s; %u failures, first: %s)\n", name,
		       sc.figures, sc.failures, sc.why);
		failed++;
	} else {
		printf("stress: %s: PASS (%s)\n", name, sc.figures);
		passed++;
	}
}

int main(int argc, char **argv)
{
	double t0 = now();
	struct vm keeper;
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setpgid(0, 0);
	cfg.edu = argc > 1 ? argv[1] : NULL;
	cfg.seed = env_u64("STRESS_SEED", (u64)time(NULL) * 2654435761ULL ^
			   (u64)getpid());
	cfg.calls = env_u64("STRESS_CALLS", 100000);
	cfg.race_iters = env_u64("STRESS_RACE_ITERS", 300);
	cfg.kills = env_u64("STRESS_KILLS", 5);
	cfg.vcpus = env_u64("STRESS_VCPUS", 2);
	cfg.refcount = env_u64("STRESS_REFCOUNT", 1);
	cfg.ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cfg.vcpus < 2)
		cfg.vcpus = 2;
	if (cfg.vcpus > VMM_MAX_VCPUS)
		cfg.vcpus = VMM_MAX_VCPUS;

	saved_all_vms = get_param("pvdma_unsafe_all_vms");
	saved_max_pinned = get_param("pvdma_max_pinned_pages");
	saved_max_handles = get_param("pvdma_max_handles");
	/* Only VMs that enable KVM_CAP_PVDMA are opted in. */
	set_param("pvdma_unsafe_all_vms", "0");
	/*
	 * One idle VM with a vCPU for the whole run.  KVM turns static keys
	 * on with the first VM and the first vCPU without an in-kernel LAPIC
	 * (preempt notifiers, kvm_has_noapic_vcpu) and off with the last, and
	 * each flip patches kernel text under the other CPUs.  The scenarios
	 * create and destroy hundreds of VMs; this way the text is patched
	 * once.  (QEMU's TCG, which runs the rig, was seen to take an int3
	 * Oops in __schedule on such a flip with two L1 CPUs.)
	 */
	vm_create(&keeper, false, 0);
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	else
		printf("stress: note: no /dev/kmsg, the kernel log is not checked\n");

	printf("stress: seed %#llx (replay with STRESS_SEED=%#llx)\n",
	       (unsigned long long)cfg.seed, (unsigned long long)cfg.seed);
	printf("stress: size: %llu fuzz calls, %u race iterations, %u kills\n",
	       (unsigned long long)cfg.calls, cfg.race_iters, cfg.kills);
	printf("stress: size: %u vCPU threads on %ld host CPUs, MMIO slot %s\n",
	       cfg.vcpus, cfg.ncpus, cfg.edu ? cfg.edu : "none");
	for (i = 0; i < ARRAY_SIZE(scenarios); i++)
		if (selected(scenarios[i].name))
			run_scenario(scenarios[i].name, scenarios[i].run);

	vm_destroy(&keeper);
	set_param("pvdma_unsafe_all_vms", saved_all_vms ? "1" : "0");
	printf("stress: ran for %.0f s\n", now() - t0);
	printf("stress: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
