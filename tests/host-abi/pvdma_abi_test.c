// SPDX-License-Identifier: GPL-2.0-only
/*
 * PVDMA host ABI test, in the style of the KVM selftests: a tiny VMM that
 * creates real VMs on the PVDMA-patched KVM and has their guest code issue
 * the PVDMA hypercalls with whatever arguments the test wants.
 *
 * The guest is one page of code in 64-bit mode: "vmmcall; out %al, $0x10".
 * For each hypercall the VMM loads RAX/RBX/RCX/RDX/RSI, runs the vCPU until
 * the OUT exit and reads RAX back.  So every argument, valid or hostile,
 * reaches the host exactly as a guest would pass it.  The VMM itself is
 * tests/lib/pvdma_vmm.c, shared with the stress suite (tests/stress).
 *
 * Checks: returned host-physical segments against /proc/self/pagemap, every
 * error path, CPL 3, a VM that is not opted in, limits and RLIMIT_MEMLOCK,
 * dirty logging (bitmap and dirty ring), memslot deletion while pinned,
 * what moves the epoch and what does not, a status page that is lost,
 * PVDMA_PROBE_RESET, and that destroying a VM releases every pin
 * (/proc/vmstat nr_foll_pin_*).
 *
 * Runs as root on the L1 host of the rig.  Prints one line per check and
 * "host-abi: N passed, M failed".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <linux/pvdma.h>

#include "../lib/pvdma_vmm.h"

#define DESC_GPA	0x10000ULL	/* ranges, one page */
#define RESULT_GPA	0x20000ULL	/* result, up to 16 KiB + 16 */
#define HANDLES_GPA	0x30000ULL	/* batch unmap handles */
#define INFO_GPA	0x31000ULL
#define SHARED_GPA	0x32000ULL	/* struct pvdma_shared */
#define DATA_GPA	0x100000ULL	/* data pages to map */

#define DEL_SLOT	4
#define DEL_GPA		0x4000000ULL
#define DEL_SIZE	(64ULL << 10)
#define BELOW_RO_SLOT	5		/* writable, right below the RO slot */
#define BELOW_RO_GPA	(RO_GPA - BELOW_RO_SIZE)
#define BELOW_RO_SIZE	(64ULL << 10)
#define SMALL_SLOT	6		/* 4 KiB pages only (MADV_NOHUGEPAGE) */
#define SMALL_GPA	0x5000000ULL
#define SMALL_SIZE	0x100000ULL
#define MOVE_SLOT	7		/* deleted, moved and flagged, unpinned */
#define MOVE_GPA	0x6000000ULL
#define MOVE_GPA2	0x7000000ULL
#define MOVE_SIZE	(64ULL << 10)
#define KSM_SLOT	8		/* MADV_MERGEABLE, all pages alike */
#define KSM_GPA		0x8000000ULL
#define KSM_PAGES	64ULL
#define MOVED_SLOT	9		/* a status page, then other memory */
#define MOVED_GPA	0x9000000ULL
#define MOVED_SIZE	(4 * PAGE)

/* The dirty ring VM: slot 0 plus one dirty-logged slot. */
#define RING_BYTES	4096ULL		/* 256 entries, the smallest ring */
#define RING_SLOT	1
#define RING_GPA	0x1000000ULL
#define RING_SIZE	(16ULL << 20)
#define RING_PAGES	(RING_SIZE / PAGE)

const char *vmm_name = "host-abi";
static int passed, failed;
static const char *edu_bar;

static void check(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("host-abi: %s: PASS\n", name);
		passed++;
		return;
	}
	printf("host-abi: %s: FAIL (", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(")\n");
	failed++;
}

void die(const char *what)
{
	printf("host-abi: setup: FAIL (%s: %s)\n", what, strerror(errno));
	printf("host-abi: %d passed, %d failed\n", passed, failed + 1);
	exit(1);
}

static struct pvdma_range *ranges(struct vm *vm)
{
	return (void *)(vm->mem + DESC_GPA);
}

static struct pvdma_map_result *result(struct vm *vm)
{
	return (void *)(vm->mem + RESULT_GPA);
}

/* MAP the ranges already at DESC_GPA with room for @max_segs segments. */
static int64_t map(struct vm *vm, unsigned int nr, uint32_t max_segs,
		   uint32_t dir)
{
	result(vm)->max_segs = max_segs;
	result(vm)->handle = 0;
	result(vm)->nr_segs = 0;
	return hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, nr, RESULT_GPA, dir);
}

static int64_t map1(struct vm *vm, uint64_t gpa, uint64_t len, uint32_t dir)
{
	ranges(vm)[0].gpa = gpa;
	ranges(vm)[0].len = len;
	return map(vm, 1, PVDMA_MAX_SEGS, dir);
}

static int64_t unmap(struct vm *vm, uint64_t handle)
{
	return hc(vm, KVM_HC_PVDMA_UNMAP, handle, 0, 0, 0);
}

/* The result at RESULT_GPA against pagemap, for the ranges at DESC_GPA. */
static bool result_matches(struct vm *vm, unsigned int nr, char *why,
			   size_t sz)
{
	return segs_match(vm, ranges(vm), nr, result(vm), why, sz);
}

#define EXPECT_RET(vm_call, want, name)					\
	do {								\
		int64_t __r = (vm_call), __w = (want);			\
		check(__r == __w, name, "returned %lld, want %lld",	\
		      (long long)__r, (long long)__w);			\
	} while (0)

static void test_not_opted_in(void)
{
	struct vm vm;
	int64_t r;

	vm_create(&vm, false, 0);
	check(ioctl(vm.fd, KVM_CHECK_EXTENSION, KVM_CAP_PVDMA) == 1,
	      "check-extension", "KVM_CHECK_EXTENSION(KVM_CAP_PVDMA) != 1");
	EXPECT_RET(hc(&vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0), -KVM_EPERM,
		   "not-opted-in-probe-eperm");
	memset(result(&vm), 0xee, 64);
	ranges(&vm)[0].gpa = DATA_GPA;
	ranges(&vm)[0].len = PAGE;
	r = hc(&vm, KVM_HC_PVDMA_MAP, DESC_GPA, 1, RESULT_GPA,
	       PVDMA_MAP_TO_DEVICE);
	check(r == -KVM_EPERM && result(&vm)->handle == 0xeeeeeeeeeeeeeeeeULL,
	      "not-opted-in-learns-nothing", "map returned %lld", (long long)r);
	EXPECT_RET(hc(&vm, KVM_HC_PVDMA_QUERY, DATA_GPA, PAGE, 0, 0),
		   -KVM_EPERM, "not-opted-in-query-eperm");
	vm_destroy(&vm);
}

/*
 * KVM_HC_PVDMA_QUERY: RAM, device memory (edu's BAR, a PFNMAP slot), both,
 * or nothing (a hole); bad arguments refused; nothing pinned.
 */
static void test_query(struct vm *vm)
{
	long long pins = foll_pins();

	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, DATA_GPA + 5, 3 * PAGE, 0, 0),
		   PVDMA_QUERY_RAM, "query-ram");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, RO_GPA, RO_SIZE, 0, 0),
		   PVDMA_QUERY_RAM, "query-read-only-ram");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, 0x10000000, 16 * PAGE, 0, 0), 0,
		   "query-hole-nothing");
	/* From the last byte of DIRTY_SLOT over a hole to DEL_SLOT's first. */
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, DIRTY_GPA + DIRTY_SIZE - 1,
		      DEL_GPA - DIRTY_GPA - DIRTY_SIZE + 2, 0, 0),
		   PVDMA_QUERY_RAM, "query-ram-across-a-hole");
	if (edu_bar) {
		EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, MMIO_GPA, PAGE, 0, 0),
			   PVDMA_QUERY_DEVICE, "query-device-memory");
		EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, RO_GPA,
			      MMIO_GPA + PAGE - RO_GPA, 0, 0),
			   PVDMA_QUERY_RAM | PVDMA_QUERY_DEVICE,
			   "query-ram-and-device-memory");
	}
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, DATA_GPA, PAGE, 1, 0),
		   -KVM_EINVAL, "query-flags-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, DATA_GPA, 0, 0, 0), -KVM_EINVAL,
		   "query-zero-length-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, ~0ULL, 2, 0, 0), -KVM_EINVAL,
		   "query-past-2-64-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_QUERY, ~0ULL, 1, 0, 0), 0,
		   "query-last-byte-nothing");
	check(foll_pins() == pins, "query-pins-nothing", "vmstat delta %lld",
	      foll_pins() - pins);
}

static void test_enable_cap(void)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_PVDMA };
	struct vm vm;
	int r;

	vm_create(&vm, false, 0);	/* has a vCPU already */
	r = ioctl(vm.fd, KVM_ENABLE_CAP, &cap);
	check(r == -1 && errno == EINVAL, "enable-cap-after-vcpu-einval",
	      "r=%d errno=%d", r, errno);
	vm_destroy(&vm);

	vm.kvm = open("/dev/kvm", O_RDWR);
	vm.fd = ioctl(vm.kvm, KVM_CREATE_VM, 0);
	cap.args[0] = 1;
	r = ioctl(vm.fd, KVM_ENABLE_CAP, &cap);
	check(r == -1 && errno == EINVAL, "enable-cap-bad-args-einval",
	      "r=%d errno=%d", r, errno);
	close(vm.fd);
	close(vm.kvm);
}

struct child_check {
	int (*fn)(char *why);
};

static bool child_check_run(void *arg, char *msg, size_t sz)
{
	(void)sz;	/* the checks write at most a line */
	return ((struct child_check *)arg)->fn(msg);
}

/* Run @fn in a child and report its verdict. */
static void in_child(const char *name, int (*fn)(char *why))
{
	char why[256];
	bool ok = run_in_child(child_check_run, &(struct child_check){ fn },
			       why, sizeof(why));

	check(ok, name, "%s", why[0] ? why : "child died");
}

static int child_no_sys_admin(char *why)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_PVDMA };
	int kvm, fd, r;

	drop_cap(CAP_SYS_ADMIN);
	kvm = open("/dev/kvm", O_RDWR);
	fd = ioctl(kvm, KVM_CREATE_VM, 0);
	r = ioctl(fd, KVM_ENABLE_CAP, &cap);
	sprintf(why, "enable without CAP_SYS_ADMIN: r=%d errno=%d", r, errno);
	return r == -1 && errno == EPERM;
}

static int child_memlock(char *why)
{
	struct rlimit rl = { 16 * PAGE, 16 * PAGE };
	struct vm vm;
	int64_t big, small;

	drop_cap(CAP_IPC_LOCK);
	if (setrlimit(RLIMIT_MEMLOCK, &rl)) {
		sprintf(why, "setrlimit: %s", strerror(errno));
		return 0;
	}
	vm_create(&vm, true, 0);
	big = map1(&vm, DATA_GPA, 32 * PAGE, PVDMA_MAP_TO_DEVICE);
	small = map1(&vm, DATA_GPA, 8 * PAGE, PVDMA_MAP_TO_DEVICE);
	sprintf(why, "32 pages over a 16-page RLIMIT_MEMLOCK: %lld, 8 pages: %lld",
		(long long)big, (long long)small);
	return big == -PVDMA_ENOSPC && small == 0;
}

static void test_probe(struct vm *vm)
{
	struct pvdma_info *info = (void *)(vm->mem + INFO_GPA);
	int64_t r;

	memset(info, 0xff, sizeof(*info));
	r = hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0);
	check(r == 0 && info->abi_version == PVDMA_ABI_VERSION &&
	      info->max_ranges == PVDMA_MAX_RANGES &&
	      info->max_segs == PVDMA_MAX_SEGS &&
	      info->max_batch == PVDMA_MAX_BATCH && info->max_map_pages &&
	      info->max_pinned_pages && info->max_handles && !info->flags,
	      "probe", "r=%lld version=%u", (long long)r, info->abi_version);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA + 4, 0, 0, 0),
		   -KVM_EINVAL, "probe-misaligned-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA + PAGE - 8, 0, 0, 0),
		   -KVM_EINVAL, "probe-crosses-page-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, PVDMA_PROBE_RESET << 1,
		      0, 0), -KVM_EINVAL, "probe-flags-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_PROBE, 0x7f000000, 0, 0, 0),
		   -KVM_EFAULT, "probe-outside-memslots-efault");
}

static uint64_t epoch(struct vm *vm)
{
	return epoch_at(vm, SHARED_GPA);
}

/*
 * What must move the epoch: the VMM discards the memory behind a pinned
 * page (DATA_GPA + 44 pages).  The page is then unmapped and faulted in
 * again, and the vCPU exits once more: the host logs there what it wrote
 * to the status page where no vCPU ran.
 */
static void discard_pinned(struct vm *vm)
{
	uint64_t gpa = DATA_GPA + 44 * PAGE, h;

	if (map1(vm, gpa, PAGE, PVDMA_MAP_TO_DEVICE))
		die("map of the page to discard");
	h = result(vm)->handle;
	madvise(vm->mem + gpa, PAGE, MADV_DONTNEED);
	unmap(vm, h);
	memset(vm->mem + gpa, 0x5a, PAGE);
	hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0);
}

/* The status page: the host says when kept translations may be stale. */
static void test_epoch(struct vm *vm)
{
	uint64_t e0, h;

	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA + 8, 0, 0, 0),
		   -KVM_EINVAL, "set-shared-misaligned-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 1, 0, 0),
		   -KVM_EINVAL, "set-shared-flags-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, 0x7f000000, 0, 0, 0),
		   -KVM_EFAULT, "set-shared-outside-memslots-efault");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, RO_GPA, 0, 0, 0),
		   -PVDMA_EACCES, "set-shared-readonly-slot-eacces");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA,
		      PVDMA_SHARED_CLEAR, 0, 0),
		   -KVM_EINVAL, "set-shared-clear-with-page-einval");
	if (edu_bar)
		EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, MMIO_GPA, 0, 0, 0),
			   -PVDMA_EIO, "set-shared-mmio-eio");
	memset(vm->mem + SHARED_GPA, 0, 8);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "set-shared");
	e0 = epoch(vm);
	check(e0 != 0, "set-shared-publishes-epoch", "epoch %llu",
	      (unsigned long long)e0);

	if (map1(vm, DATA_GPA + 40 * PAGE, PAGE, PVDMA_MAP_FROM_DEVICE))
		die("epoch setup map");
	h = result(vm)->handle;
	check(result(vm)->flags == 0, "map-plain-slot-cacheable", "flags %#x",
	      result(vm)->flags);
	/*
	 * Host memory that nothing pinned goes away: nothing is stale.  Take
	 * a page 4 MiB away, outside any transparent huge page holding the
	 * pinned one (splitting that huge page would invalidate all of it).
	 */
	madvise(vm->mem + DATA_GPA + 1024 * PAGE, PAGE, MADV_DONTNEED);
	check(epoch(vm) == e0, "discard-unpinned-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e0,
	      (unsigned long long)epoch(vm));
	/* The page behind a pinned frame goes away: the guest must know. */
	madvise(vm->mem + DATA_GPA + 40 * PAGE, PAGE, MADV_DONTNEED);
	check(epoch(vm) != e0, "discard-pinned-bumps-epoch", "epoch stayed %llu",
	      (unsigned long long)e0);
	unmap(vm, h);
	memset(vm->mem + DATA_GPA + 40 * PAGE, 0x5a, PAGE);
	memset(vm->mem + DATA_GPA + 1024 * PAGE, 0x5a, PAGE);

	/* A cleared page is no longer written: the guest may free it. */
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR << 1,
		      0, 0), -KVM_EINVAL, "set-shared-unknown-flag-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0),
		   0, "set-shared-clear");
	memset(vm->mem + SHARED_GPA, 0, 8);
	discard_pinned(vm);
	check(epoch(vm) == 0, "cleared-page-not-written", "epoch %llu",
	      (unsigned long long)epoch(vm));
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0),
		   0, "set-shared-clear-twice");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "set-shared-again");
	check(epoch(vm) > e0, "set-shared-again-epoch-moves-on",
	      "epoch %llu, was %llu", (unsigned long long)epoch(vm),
	      (unsigned long long)e0);
}

/*
 * A result whose first bytes are writable guest RAM but which runs on into
 * memory the host cannot write: the map fails and not one byte of a
 * host-physical address reaches the guest.
 */
static void test_result_checked_first(struct vm *vm)
{
	static const struct {
		uint64_t gpa;
		const char *name;
	} cases[] = {
		{ MEM_SIZE - 32, "map-result-off-memslot-writes-nothing" },
		{ RO_GPA - 32, "map-result-into-readonly-writes-nothing" },
	};
	long long pins0 = foll_pins();
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t *p = gpa_hva(vm, cases[i].gpa, 32);
		struct pvdma_map_result *res = (void *)p;
		unsigned int changed = 0;
		int64_t r;

		memset(p, 0xee, 32);
		res->max_segs = 2;
		/* The same page twice: two segments, the second beyond. */
		ranges(vm)[0] = (struct pvdma_range){ DATA_GPA, 100 };
		ranges(vm)[1] = (struct pvdma_range){ DATA_GPA, 100 };
		r = hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, 2, cases[i].gpa,
		       PVDMA_MAP_TO_DEVICE);
		for (j = 0; j < 32; j++)
			if (j != 12 && j != 13 && p[j] != 0xee)
				changed++;
		check(r == -KVM_EFAULT && !changed, cases[i].name,
		      "returned %lld, %u bytes of the result written",
		      (long long)r, changed);
	}
	check(foll_pins() == pins0, "map-unwritable-result-leaves-nothing-pinned",
	      "vmstat delta %lld", foll_pins() - pins0);
}

/* Is @page of @slot dirty in KVM's log (which this clears)? */
static bool dirty_bit(struct vm *vm, int slot, uint64_t page)
{
	uint8_t bitmap[DIRTY_SIZE / PAGE / 8] = { 0 };
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

	if (vm->slots[slot].size > DIRTY_SIZE)
		die("memslot larger than the dirty bitmap");
	if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log))
		die("KVM_GET_DIRTY_LOG");
	return bitmap[page / 8] & (1 << (page % 8));
}

/*
 * The status page is tracked like a pinned frame: when its memory goes
 * away the host lets go of it, the guest reads 0 and registers again; what
 * the host writes to it is dirty-logged.
 */
static void test_status_page_tracked(struct vm *vm)
{
	uint8_t *dirty = vm->slots[DIRTY_SLOT].hva;
	long long pins1;
	uint64_t e1, e2;

	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "status-set-shared");
	e1 = epoch(vm);
	pins1 = foll_pins();
	/* The VMM discards the status page: the host must let go of it. */
	madvise(vm->mem + SHARED_GPA, PAGE, MADV_DONTNEED);
	hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0);
	check(foll_pins() == pins1 - 1, "status-page-discarded-unpinned",
	      "vmstat delta %lld, want -1", foll_pins() - pins1);
	check(epoch(vm) == 0, "status-page-discarded-guest-reads-zero",
	      "epoch %llu", (unsigned long long)epoch(vm));
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "status-page-registered-again");
	e2 = epoch(vm);
	check(e2 > e1 && foll_pins() == pins1, "status-page-again-epoch-moves-on",
	      "epoch %llu, was %llu; vmstat delta %lld",
	      (unsigned long long)e2, (unsigned long long)e1,
	      foll_pins() - pins1);
	discard_pinned(vm);
	check(epoch(vm) > e2, "status-page-again-sees-bumps",
	      "epoch stayed %llu", (unsigned long long)e2);

	/* A status page in a dirty-logged slot is logged when written. */
	dirty_bit(vm, DIRTY_SLOT, 20);			/* clear */
	memset(dirty + 20 * PAGE, 0, 8);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, DIRTY_GPA + 20 * PAGE, 0, 0,
		      0), 0, "status-set-shared-logged-slot");
	check(dirty_bit(vm, DIRTY_SLOT, 20), "set-shared-logs-status-page",
	      "page not in the dirty log");
	e1 = epoch_at(vm, DIRTY_GPA + 20 * PAGE);
	/* Bumped from the VMM's madvise(), where no vCPU runs. */
	discard_pinned(vm);
	e2 = epoch_at(vm, DIRTY_GPA + 20 * PAGE);
	check(e2 > e1 && dirty_bit(vm, DIRTY_SLOT, 20),
	      "epoch-write-logs-status-page",
	      "epoch %llu, was %llu; page not in the dirty log",
	      (unsigned long long)e2, (unsigned long long)e1);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "status-back-to-shared-gpa");
}

/*
 * What must follow for the status page at MOVED_GPA, at epoch @e, once
 * other memory backs it: the guest reads 0 there (before any hypercall if
 * @before_exit), the old page is unpinned by the next hypercall, and the
 * page registered again is pinned and shows a newer epoch.  @pins0 counts
 * one status page.
 */
static void moved_lost(struct vm *vm, const char *what, uint64_t e,
		       long long pins0, bool before_exit)
{
	char name[96];

	if (!before_exit)
		hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0);
	snprintf(name, sizeof(name), "status-page-%s-guest-reads-zero", what);
	check(epoch_at(vm, MOVED_GPA) == 0, name,
	      "the guest reads epoch %llu from its new memory, was %llu",
	      (unsigned long long)epoch_at(vm, MOVED_GPA),
	      (unsigned long long)e);
	hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0);
	snprintf(name, sizeof(name), "status-page-%s-unpinned", what);
	check(foll_pins() == pins0 - 1, name, "vmstat delta %lld, want -1",
	      foll_pins() - pins0);
	snprintf(name, sizeof(name), "status-page-%s-registered-again", what);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, MOVED_GPA, 0, 0, 0), 0,
		   name);
	snprintf(name, sizeof(name), "status-page-%s-epoch-moves-on", what);
	check(epoch_at(vm, MOVED_GPA) > e && foll_pins() == pins0, name,
	      "epoch %llu, was %llu; vmstat delta %lld",
	      (unsigned long long)epoch_at(vm, MOVED_GPA),
	      (unsigned long long)e, foll_pins() - pins0);
}

/*
 * The VMM puts other memory behind the status page, with a copy of what
 * was there: a new memslot, or a new mapping over the old one.  The host
 * has lost the page, and the guest must read 0 in the memory it has now:
 * the copy of the old epoch would have it trust translations of which
 * the host can no longer say that they went stale.
 */
static void test_status_page_moved(struct vm *vm)
{
	uint8_t *mem = anon(MOVED_SIZE), *copy = anon(MOVED_SIZE);
	long long pins0 = foll_pins();	/* SHARED_GPA is registered */
	uint64_t e;

	add_slot(vm, MOVED_SLOT, MOVED_GPA, MOVED_SIZE, mem, 0);
	memset(mem, 0, 8);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, MOVED_GPA, 0, 0, 0), 0,
		   "moved-set-shared");

	/* A new memslot in its place, with a copy of the page. */
	e = epoch_at(vm, MOVED_GPA);
	memcpy(copy, mem, MOVED_SIZE);
	add_slot(vm, MOVED_SLOT, MOVED_GPA, 0, mem, 0);
	add_slot(vm, MOVED_SLOT, MOVED_GPA, MOVED_SIZE, copy, 0);
	moved_lost(vm, "slot-re-backed", e, pins0, true);

	/* New memory mapped over the old, with a copy of the page. */
	e = epoch_at(vm, MOVED_GPA);
	memcpy(mem, copy, MOVED_SIZE);
	if (mmap(copy, MOVED_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != copy)
		die("mmap over the status page");
	memcpy(copy, mem, MOVED_SIZE);
	moved_lost(vm, "remapped", e, pins0, false);

	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "moved-back-to-shared-gpa");
	add_slot(vm, MOVED_SLOT, MOVED_GPA, 0, copy, 0);
	munmap(mem, MOVED_SIZE);
	munmap(copy, MOVED_SIZE);
	check(foll_pins() == pins0, "status-page-moved-leaks-nothing",
	      "vmstat delta %lld", foll_pins() - pins0);
}

/*
 * The epoch moves only when a pinned frame may really be backed by other
 * memory now, or its device writes must now be logged.
 */
static void test_epoch_only_when_affected(struct vm *vm)
{
	uint8_t *small = vm->slots[SMALL_SLOT].hva, *move;
	uint64_t e0, e1, h;

	if (map1(vm, SMALL_GPA + 8 * PAGE, PAGE, PVDMA_MAP_FROM_DEVICE))
		die("spurious map");
	h = result(vm)->handle;
	e0 = epoch(vm);
	/* Protection changes keep the page: mprotect(), NUMA scanning. */
	mprotect(small + 8 * PAGE, PAGE, PROT_READ);
	mprotect(small + 8 * PAGE, PAGE, PROT_READ | PROT_WRITE);
	check(epoch(vm) == e0, "mprotect-pinned-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e0,
	      (unsigned long long)epoch(vm));
	/* Dirty logging on and off where nothing is pinned. */
	set_slot_flags(vm, MOVE_SLOT, KVM_MEM_LOG_DIRTY_PAGES);
	set_slot_flags(vm, MOVE_SLOT, 0);
	check(epoch(vm) == e0, "memslot-log-toggle-unpinned-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e0,
	      (unsigned long long)epoch(vm));
	/* On where a page is pinned: its device writes must now be logged. */
	set_slot_flags(vm, SMALL_SLOT, KVM_MEM_LOG_DIRTY_PAGES);
	e1 = epoch(vm);
	check(e1 != e0, "memslot-log-on-pinned-bumps-epoch", "epoch stayed %llu",
	      (unsigned long long)e0);
	/* Off again: the pinned page is what it was. */
	set_slot_flags(vm, SMALL_SLOT, 0);
	check(epoch(vm) == e1, "memslot-log-off-pinned-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e1,
	      (unsigned long long)epoch(vm));
	/* A slot with nothing pinned is moved, deleted and created again. */
	move = vm->slots[MOVE_SLOT].hva;
	add_slot(vm, MOVE_SLOT, MOVE_GPA2, MOVE_SIZE, move, 0);
	add_slot(vm, MOVE_SLOT, MOVE_GPA2, 0, move, 0);
	add_slot(vm, MOVE_SLOT, MOVE_GPA, MOVE_SIZE, anon(MOVE_SIZE), 0);
	check(epoch(vm) == e1, "memslot-move-delete-unpinned-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e1,
	      (unsigned long long)epoch(vm));
	/* The memory behind a pinned 4 KiB page is discarded: that counts. */
	madvise(small + 8 * PAGE, PAGE, MADV_DONTNEED);
	check(epoch(vm) != e1, "discard-pinned-4k-page-bumps-epoch",
	      "epoch stayed %llu", (unsigned long long)e1);
	unmap(vm, h);
	memset(small + 8 * PAGE, 0x5a, PAGE);
}

static long ksm_read(const char *name)
{
	char path[96];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static bool ksm_write(const char *name, long v)
{
	char path[96];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", name);
	f = fopen(path, "w");
	if (!f)
		return false;
	ok = fprintf(f, "%ld", v) > 0;
	return fclose(f) == 0 && ok;
}

/*
 * KSM merges pages alike, but gives up on a pinned one: it write-protects
 * the page (an MMU-notifier invalidation that clears its PTE), sees the
 * pin's references and puts the PTE back.  The page behind the pinned
 * frame never changed, so the epoch must not move.
 */
static void test_ksm(struct vm *vm)
{
	long run0 = ksm_read("run"), scan0 = ksm_read("pages_to_scan");
	long sleep0 = ksm_read("sleep_millisecs"), scans0 = 0, sharing = 0;
	uint8_t *mem;
	uint64_t e0, h, hpa0;
	int i;

	if (run0 < 0 || !ksm_write("pages_to_scan", 1000) ||
	    !ksm_write("sleep_millisecs", 10)) {
		printf("host-abi: note: no KSM in this kernel, KSM case skipped\n");
		return;
	}
	mem = anon_small(KSM_PAGES * PAGE);
	if (madvise(mem, KSM_PAGES * PAGE, MADV_MERGEABLE))
		die("MADV_MERGEABLE");
	add_slot(vm, KSM_SLOT, KSM_GPA, KSM_PAGES * PAGE, mem, 0);
	if (map1(vm, KSM_GPA + 3 * PAGE, PAGE, PVDMA_MAP_FROM_DEVICE))
		die("ksm map");
	h = result(vm)->handle;
	hpa0 = hpa_of(mem + 3 * PAGE);
	e0 = epoch(vm);
	ksm_write("run", 1);
	/*
	 * Once the others are merged, every scan tries the pinned page
	 * against their KSM page: wait for a few more full scans.
	 */
	for (i = 0; i < 600; i++) {
		usleep(100000);
		sharing = ksm_read("pages_sharing");
		if (sharing < (long)KSM_PAGES - 2)
			continue;
		if (!scans0)
			scans0 = ksm_read("full_scans");
		else if (ksm_read("full_scans") >= scans0 + 3)
			break;
	}
	check(sharing >= (long)KSM_PAGES - 2 && scans0, "ksm-merged-the-others",
	      "pages_sharing %ld after %d s", sharing, i / 10);
	check(epoch(vm) == e0, "ksm-pinned-page-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e0,
	      (unsigned long long)epoch(vm));
	check(hpa_of(mem + 3 * PAGE) == hpa0, "ksm-leaves-pinned-page",
	      "the pinned frame is backed by another page now");
	ksm_write("run", 2);		/* unmerge everything */
	ksm_write("run", run0);
	ksm_write("pages_to_scan", scan0);
	ksm_write("sleep_millisecs", sleep0);
	EXPECT_RET(unmap(vm, h), 0, "ksm-unmap");
	add_slot(vm, KSM_SLOT, KSM_GPA, 0, mem, 0);
	munmap(mem, KSM_PAGES * PAGE);
}

static int64_t unmap_until_done(struct vm *vm, uint64_t handle,
				unsigned int *calls)
{
	int64_t r;

	*calls = 0;
	do {
		r = unmap(vm, handle);
		(*calls)++;
	} while (r == -PVDMA_EAGAIN && *calls < 64);
	return r;
}

/* Map @pages pages of RING_SLOT from page @first, for the device to write. */
static uint64_t ring_map(struct vm *vm, uint64_t first, uint64_t pages)
{
	if (map1(vm, RING_GPA + first * PAGE, pages * PAGE,
		 PVDMA_MAP_FROM_DEVICE))
		die("dirty ring map");
	return result(vm)->handle;
}

/*
 * KVM's dirty ring has room for 256 entries here, 192 below its soft
 * limit.  Device writes are logged at unmap; no unmap may push more than
 * there is room for, and none may lose a page.
 */
static void test_dirty_ring(void)
{
	static uint16_t seen[RING_PAGES];
	long long pins0 = foll_pins();
	struct vmm_ring_log log;
	struct vmm_vcpu *v;
	uint64_t *handles;
	unsigned int calls, exits0, missing;
	struct vm vm;
	uint64_t h;
	int64_t r;

	vm_create_opts(&vm, &(struct vm_opts){
		.optin = true, .dirty_ring_bytes = RING_BYTES });
	vm_ring_log(&vm, &log, RING_SLOT, seen, RING_PAGES);
	v = &vm.vcpus[0];
	add_slot(&vm, RING_SLOT, RING_GPA, RING_SIZE, anon(RING_SIZE),
		 KVM_MEM_LOG_DIRTY_PAGES);
	handles = (void *)(vm.mem + HANDLES_GPA);

	/* One unmap with more pages to log than the ring holds. */
	h = ring_map(&vm, 0, 300);
	vm_harvest_ring(&vm, 0);
	r = unmap_until_done(&vm, h, &calls);
	vm_harvest_ring(&vm, 0);
	check(r == 0 && calls > 1 && v->ring_full_exits >= calls - 1,
	      "dirty-ring-unmap-repeated-until-logged",
	      "returned %lld after %u calls, %u ring-full exits", (long long)r,
	      calls, v->ring_full_exits);
	missing = ring_log_missing(&log, 0, 300);
	check(!missing, "dirty-ring-unmap-logs-every-page",
	      "%u of 300 pages never reached the ring", missing);
	check(foll_pins() == pins0 && vm_stat(&vm, "pvdma_pinned_pages") == 0,
	      "dirty-ring-unmap-releases-pins", "vmstat delta %lld",
	      foll_pins() - pins0);

	/* Within the room: one call. */
	EXPECT_RET(unmap(&vm, ring_map(&vm, 512, 150)), 0,
		   "dirty-ring-unmap-within-room");

	/* 42 entries left: a batch of 80 pages waits for the harvest. */
	handles[0] = ring_map(&vm, 1024, 40);
	handles[1] = ring_map(&vm, 1100, 40);
	exits0 = v->ring_full_exits;
	r = hc(&vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 2, 0, 0);
	check(r == -PVDMA_EAGAIN && v->ring_full_exits > exits0 &&
	      vm_stat(&vm, "pvdma_live_handles") == 2,
	      "dirty-ring-batch-waits-for-harvest",
	      "returned %lld, %u ring-full exits, %llu handles live",
	      (long long)r, v->ring_full_exits - exits0,
	      (unsigned long long)vm_stat(&vm, "pvdma_live_handles"));
	if (r == -PVDMA_EAGAIN)
		r = hc(&vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 2, 0, 0);
	vm_harvest_ring(&vm, 0);
	missing = ring_log_missing(&log, 1024, 40) +
		  ring_log_missing(&log, 1100, 40);
	check(r == 0 && !missing, "dirty-ring-batch-after-harvest",
	      "returned %lld, %u pages never logged", (long long)r, missing);

	/* More than half the room: never in one batch, one by one instead. */
	handles[0] = ring_map(&vm, 2048, 100);
	handles[1] = ring_map(&vm, 2200, 100);
	r = hc(&vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 2, 0, 0);
	check(r == -KVM_E2BIG && vm_stat(&vm, "pvdma_live_handles") == 2,
	      "dirty-ring-batch-too-big-e2big", "returned %lld", (long long)r);
	unmap_until_done(&vm, handles[0], &calls);
	unmap_until_done(&vm, handles[1], &calls);
	vm_harvest_ring(&vm, 0);
	missing = ring_log_missing(&log, 2048, 100) +
		  ring_log_missing(&log, 2200, 100);
	check(!missing && foll_pins() == pins0, "dirty-ring-one-by-one-logs-all",
	      "%u pages never logged, vmstat delta %lld", missing,
	      foll_pins() - pins0);
	check(!log.other, "dirty-ring-only-logged-slot",
	      "%u entries for other slots", log.other);
	vm_destroy(&vm);
}

/* PVDMA_PROBE_RESET: a new guest kernel starts from a clean slate. */
static void test_probe_reset(struct vm *vm)
{
	struct pvdma_info *info = (void *)(vm->mem + INFO_GPA);
	long long pins0 = foll_pins();
	uint64_t e1, h[3];
	int64_t r;
	int i;

	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "reset-setup-set-shared");
	e1 = epoch(vm);
	for (i = 0; i < 3; i++) {
		if (map1(vm, DATA_GPA + (200 + 8 * i) * PAGE, (i + 1) * PAGE,
			 i ? PVDMA_MAP_FROM_DEVICE : PVDMA_MAP_TO_DEVICE))
			die("reset map");
		h[i] = result(vm)->handle;
	}
	memset(info, 0, sizeof(*info));
	r = hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, PVDMA_PROBE_RESET, 0, 0);
	check(r == 0 && info->max_segs == PVDMA_MAX_SEGS, "probe-reset",
	      "returned %lld", (long long)r);
	/* The status page counts as one pin. */
	check(foll_pins() == pins0 - 1, "probe-reset-releases-every-pin",
	      "vmstat delta %lld, want -1", foll_pins() - pins0);
	check(vm_stat(vm, "pvdma_pinned_pages") == 0 &&
	      vm_stat(vm, "pvdma_live_handles") == 0 &&
	      vm_stat(vm, "pvdma_tracker_bytes") == 0, "probe-reset-stats-zero",
	      "pinned %llu, handles %llu, tracker bytes %llu",
	      (unsigned long long)vm_stat(vm, "pvdma_pinned_pages"),
	      (unsigned long long)vm_stat(vm, "pvdma_live_handles"),
	      (unsigned long long)vm_stat(vm, "pvdma_tracker_bytes"));
	EXPECT_RET(unmap(vm, h[1]), -PVDMA_ENOENT, "probe-reset-handles-gone");
	/* The old status page is no longer written. */
	memset(vm->mem + SHARED_GPA, 0, 8);
	discard_pinned(vm);
	check(epoch(vm) == 0, "probe-reset-forgets-status-page", "epoch %llu",
	      (unsigned long long)epoch(vm));
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "probe-reset-set-shared-again");
	check(epoch(vm) > e1, "probe-reset-epoch-moves-on",
	      "epoch %llu, was %llu", (unsigned long long)epoch(vm),
	      (unsigned long long)e1);
	check(foll_pins() == pins0, "probe-reset-then-status-page-pinned",
	      "vmstat delta %lld", foll_pins() - pins0);
}

static void test_map_translates(struct vm *vm)
{
	long long pins0 = foll_pins();
	char why[160] = "";
	int64_t r;
	uint64_t h;
	int i;

	r = map1(vm, DATA_GPA + 100, 3000, PVDMA_MAP_TO_DEVICE);
	h = result(vm)->handle;
	check(r == 0 && h && result_matches(vm, 1, why, sizeof(why)),
	      "map-one-page-hpa-matches-pagemap", "r=%lld %s", (long long)r, why);
	check(foll_pins() - pins0 == 1 && vm_stat(vm, "pvdma_pinned_pages") == 1 &&
	      vm_stat(vm, "pvdma_live_handles") == 1,
	      "map-pins-exactly-one-page", "vmstat delta %lld, stat %llu",
	      foll_pins() - pins0,
	      (unsigned long long)vm_stat(vm, "pvdma_pinned_pages"));
	EXPECT_RET(unmap(vm, h), 0, "unmap");
	check(foll_pins() == pins0 && vm_stat(vm, "pvdma_pinned_pages") == 0,
	      "unmap-releases-pin", "vmstat delta %lld", foll_pins() - pins0);
	EXPECT_RET(unmap(vm, h), -PVDMA_ENOENT, "unmap-twice-enoent");
	EXPECT_RET(unmap(vm, 0), -PVDMA_ENOENT, "unmap-handle-zero-enoent");
	EXPECT_RET(unmap(vm, 1ULL << 40), -PVDMA_ENOENT,
		   "unmap-huge-handle-enoent");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_UNMAP, 1, 1, 0, 0), -KVM_EINVAL,
		   "unmap-flags-einval");

	/* 256 ranges of scattered pages and sub-page pieces: one hypercall. */
	for (i = 0; i < PVDMA_MAX_RANGES; i++) {
		ranges(vm)[i].gpa = DATA_GPA + (uint64_t)(i * 7 % 300) * PAGE +
				    (i % 5) * 64;
		ranges(vm)[i].len = i % 3 ? PAGE - (i % 5) * 64 : 512;
	}
	r = map(vm, PVDMA_MAX_RANGES, PVDMA_MAX_SEGS, PVDMA_MAP_BIDIRECTIONAL);
	h = result(vm)->handle;
	check(r == 0 && result_matches(vm, PVDMA_MAX_RANGES, why, sizeof(why)),
	      "map-256-ranges-one-call-matches-pagemap", "r=%lld %s",
	      (long long)r, why);
	check(foll_pins() - pins0 == PVDMA_MAX_RANGES,
	      "map-256-ranges-pins-each-page", "vmstat delta %lld",
	      foll_pins() - pins0);
	EXPECT_RET(unmap(vm, h), 0, "unmap-256-ranges");

	/* A multi-page buffer: merged wherever the host frames are adjacent. */
	r = map1(vm, DATA_GPA + 123, 64 * PAGE, PVDMA_MAP_FROM_DEVICE);
	h = result(vm)->handle;
	check(r == 0 && result_matches(vm, 1, why, sizeof(why)),
	      "map-64-pages-merged-as-pagemap", "r=%lld %s", (long long)r, why);
	printf("host-abi: note: 64-page buffer -> %u host segments\n",
	       result(vm)->nr_segs);
	EXPECT_RET(unmap(vm, h), 0, "unmap-64-pages");

	/* The same page twice cannot merge: one segment is not enough. */
	ranges(vm)[0] = (struct pvdma_range){ DATA_GPA, 100 };
	ranges(vm)[1] = (struct pvdma_range){ DATA_GPA, 100 };
	EXPECT_RET(map(vm, 2, 1, PVDMA_MAP_TO_DEVICE), -KVM_E2BIG,
		   "map-result-too-small-e2big");
	check(foll_pins() == pins0, "map-e2big-leaves-nothing-pinned",
	      "vmstat delta %lld", foll_pins() - pins0);
}

static void test_map_errors(struct vm *vm)
{
	long long pins0 = foll_pins();
	int64_t r;

	ranges(vm)[0] = (struct pvdma_range){ DATA_GPA, PAGE };
	result(vm)->max_segs = 4;
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, 1, RESULT_GPA, 0),
		   -KVM_EINVAL, "map-no-direction-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, 1, RESULT_GPA, 4),
		   -KVM_EINVAL, "map-unknown-flag-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, 0, RESULT_GPA, 1),
		   -KVM_EINVAL, "map-zero-ranges-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, PVDMA_MAX_RANGES + 1,
		      RESULT_GPA, 1), -KVM_E2BIG, "map-too-many-ranges-e2big");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA + 8, 1, RESULT_GPA, 1),
		   -KVM_EINVAL, "map-misaligned-ranges-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA + PAGE - 16, 2,
		      RESULT_GPA, 1), -KVM_EINVAL, "map-ranges-cross-page-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, 1, RESULT_GPA + 8, 1),
		   -KVM_EINVAL, "map-misaligned-result-einval");
	((struct pvdma_map_result *)(vm->mem + DESC_GPA - 32))->max_segs = 4;
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, 1, DESC_GPA - 32, 1),
		   -KVM_EINVAL, "map-result-overlaps-ranges-einval");
	EXPECT_RET(map(vm, 1, 0, 1), -KVM_EINVAL, "map-zero-max-segs-einval");
	EXPECT_RET(map(vm, 1, PVDMA_MAX_SEGS + 1, 1), -KVM_E2BIG,
		   "map-max-segs-too-big-e2big");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_MAP, DESC_GPA, 1, 0x7f000000, 1),
		   -KVM_EFAULT, "map-result-outside-memslots-efault");
	EXPECT_RET(map1(vm, DATA_GPA, 0, 1), -KVM_EINVAL,
		   "map-zero-length-einval");
	EXPECT_RET(map1(vm, ~0ULL - 10, 100, 1), -KVM_EINVAL,
		   "map-overflowing-range-einval");
	/* gpa + len must not overflow: not even to exactly 2^64. */
	EXPECT_RET(map1(vm, 0ULL - PAGE, PAGE, 1), -KVM_EINVAL,
		   "map-range-ending-at-2-64-einval");
	EXPECT_RET(map1(vm, DATA_GPA, 64ULL << 20, 1), -KVM_E2BIG,
		   "map-too-many-pages-e2big");
	EXPECT_RET(map1(vm, 0x7f000000, PAGE, 1), -KVM_EFAULT,
		   "map-outside-memslots-efault");
	/* Partly outside: the first pages pin, then the hole must unwind them. */
	EXPECT_RET(map1(vm, MEM_SIZE - 2 * PAGE, 4 * PAGE, 1), -KVM_EFAULT,
		   "map-runs-off-memslot-efault");
	EXPECT_RET(map1(vm, RO_GPA, PAGE, PVDMA_MAP_FROM_DEVICE), -PVDMA_EACCES,
		   "map-device-write-readonly-slot-eacces");
	r = map1(vm, RO_GPA, PAGE, PVDMA_MAP_TO_DEVICE);
	check(r == 0, "map-device-read-readonly-slot", "returned %lld",
	      (long long)r);
	if (!r)
		unmap(vm, result(vm)->handle);
	if (edu_bar)
		EXPECT_RET(map1(vm, MMIO_GPA, PAGE, PVDMA_MAP_TO_DEVICE),
			   -PVDMA_EIO, "map-pfnmap-mmio-eio");
	check(foll_pins() == pins0, "map-errors-leave-nothing-pinned",
	      "vmstat delta %lld", foll_pins() - pins0);
	check(vm_stat(vm, "pvdma_fail_invalid") > 0 &&
	      vm_stat(vm, "pvdma_fail_fault") > 0,
	      "failures-counted-by-cause", "fail_invalid=%llu fail_fault=%llu",
	      (unsigned long long)vm_stat(vm, "pvdma_fail_invalid"),
	      (unsigned long long)vm_stat(vm, "pvdma_fail_fault"));
}

static void test_batch(struct vm *vm)
{
	uint64_t *handles = (void *)(vm->mem + HANDLES_GPA);
	long long pins0 = foll_pins();
	int i;

	for (i = 0; i < 8; i++) {
		if (map1(vm, DATA_GPA + i * PAGE, PAGE, PVDMA_MAP_TO_DEVICE))
			die("batch setup map");
		handles[i] = result(vm)->handle;
	}
	handles[8] = 999999;
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 9, 0, 0),
		   -PVDMA_ENOENT, "batch-unmap-bad-handle-enoent");
	check(foll_pins() - pins0 == 8, "batch-unmap-all-or-nothing",
	      "vmstat delta %lld, want 8", foll_pins() - pins0);
	handles[8] = handles[0];
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 9, 0, 0),
		   -KVM_EINVAL, "batch-unmap-duplicate-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 8, 1, 0),
		   -KVM_EINVAL, "batch-unmap-flags-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA,
		      PVDMA_MAX_BATCH + 1, 0, 0), -KVM_E2BIG,
		   "batch-unmap-too-many-e2big");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA + PAGE - 8, 2,
		      0, 0), -KVM_EINVAL, "batch-unmap-crosses-page-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 8, 0, 0), 0,
		   "batch-unmap");
	check(foll_pins() == pins0 && vm_stat(vm, "pvdma_live_handles") == 0,
	      "batch-unmap-releases-all", "vmstat delta %lld",
	      foll_pins() - pins0);
}

static void test_refcount(struct vm *vm)
{
	long long pins0 = foll_pins();
	uint64_t h1, h2;

	map1(vm, DATA_GPA, 4 * PAGE, PVDMA_MAP_TO_DEVICE);
	h1 = result(vm)->handle;
	map1(vm, DATA_GPA + 2 * PAGE, 4 * PAGE, PVDMA_MAP_FROM_DEVICE);
	h2 = result(vm)->handle;
	check(h1 && h2 && h1 != h2 && foll_pins() - pins0 == 8,
	      "overlapping-maps-pin-separately", "vmstat delta %lld",
	      foll_pins() - pins0);
	unmap(vm, h1);
	check(foll_pins() - pins0 == 4 && vm_stat(vm, "pvdma_pinned_pages") == 4,
	      "unmap-one-overlap-keeps-other", "vmstat delta %lld",
	      foll_pins() - pins0);
	unmap(vm, h2);
	check(foll_pins() == pins0, "overlaps-released", "vmstat delta %lld",
	      foll_pins() - pins0);
}

static void test_cpl3(void)
{
	struct vm vm;

	vm_create(&vm, true, 3);
	EXPECT_RET(hc(&vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0), -KVM_EPERM,
		   "cpl3-eperm");
	vm_destroy(&vm);
}

static void test_limits(void)
{
	long long pins0 = foll_pins();
	struct vm vm;
	uint64_t h;

	set_param("pvdma_max_handles", "2");
	set_param("pvdma_max_pinned_pages", "16");
	vm_create(&vm, true, 0);
	set_param("pvdma_max_handles", "65535");
	set_param("pvdma_max_pinned_pages", "262144");

	EXPECT_RET(map1(&vm, DATA_GPA, 17 * PAGE, 1), -PVDMA_ENOSPC,
		   "limit-pages-enospc");
	EXPECT_RET(map1(&vm, DATA_GPA, 16 * PAGE, 1), 0, "limit-pages-exact");
	h = result(&vm)->handle;
	EXPECT_RET(map1(&vm, DATA_GPA, PAGE, 1), -PVDMA_ENOSPC,
		   "limit-pages-full-enospc");
	unmap(&vm, h);
	EXPECT_RET(map1(&vm, DATA_GPA, PAGE, 1), 0, "limit-handles-first");
	EXPECT_RET(map1(&vm, DATA_GPA, PAGE, 1), 0, "limit-handles-second");
	EXPECT_RET(map1(&vm, DATA_GPA, PAGE, 1), -PVDMA_ENOSPC,
		   "limit-handles-enospc");
	check(vm_stat(&vm, "pvdma_fail_limit") == 3, "limit-failures-counted",
	      "fail_limit=%llu", (unsigned long long)vm_stat(&vm, "pvdma_fail_limit"));
	check(foll_pins() - pins0 == 2, "limits-leave-nothing-partial",
	      "vmstat delta %lld, want 2", foll_pins() - pins0);
	/* Destroy with two mappings still live: both must be released. */
	vm_destroy(&vm);
	check(foll_pins() == pins0, "vm-destroy-releases-pins",
	      "vmstat delta %lld", foll_pins() - pins0);
}

static void test_dirty_and_slots(struct vm *vm)
{
	uint8_t bitmap[DIRTY_SIZE / PAGE / 8];
	struct kvm_dirty_log log = { .slot = DIRTY_SLOT, .dirty_bitmap = bitmap };
	long long pins0 = foll_pins();
	uint64_t e0;
	int64_t r;

	ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log);		/* clear */
	map1(vm, DIRTY_GPA + 5 * PAGE, PAGE, PVDMA_MAP_FROM_DEVICE);
	unmap(vm, result(vm)->handle);
	map1(vm, DIRTY_GPA + 6 * PAGE, PAGE, PVDMA_MAP_TO_DEVICE);
	unmap(vm, result(vm)->handle);
	memset(bitmap, 0, sizeof(bitmap));
	if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log))
		die("KVM_GET_DIRTY_LOG");
	check(bitmap[0] & (1 << 5), "from-device-unmap-marks-dirty",
	      "bitmap %#x", bitmap[0]);
	check(!(bitmap[0] & (1 << 6)), "to-device-unmap-leaves-clean",
	      "bitmap %#x", bitmap[0]);
	r = map1(vm, DIRTY_GPA, PAGE, PVDMA_MAP_TO_DEVICE);
	check(r == 0 && result(vm)->flags == PVDMA_RESULT_NO_CACHE,
	      "map-dirty-logged-slot-no-cache", "r=%lld flags %#x",
	      (long long)r, result(vm)->flags);
	if (!r)
		unmap(vm, result(vm)->handle);
	e0 = epoch(vm);

	/* Pins outlive their memslot; unmap still releases them. */
	r = map1(vm, DEL_GPA, 4 * PAGE, PVDMA_MAP_FROM_DEVICE);
	add_slot(vm, DEL_SLOT, DEL_GPA, 0, vm->slots[DEL_SLOT].hva, 0);
	EXPECT_RET(r ? r : unmap(vm, result(vm)->handle), 0,
		   "unmap-after-memslot-deleted");
	check(foll_pins() == pins0, "memslot-delete-leaks-nothing",
	      "vmstat delta %lld", foll_pins() - pins0);
	check(epoch(vm) != e0, "memslot-delete-bumps-epoch",
	      "epoch stayed %llu", (unsigned long long)e0);
	EXPECT_RET(map1(vm, DEL_GPA, PAGE, 1), -KVM_EFAULT,
		   "map-deleted-memslot-efault");
}

int main(int argc, char **argv)
{
	long long pins0 = foll_pins();
	struct vm vm;

	setvbuf(stdout, NULL, _IOLBF, 0);
	edu_bar = argc > 1 ? argv[1] : NULL;
	set_param("pvdma_unsafe_all_vms", "0");

	test_not_opted_in();
	test_enable_cap();
	in_child("enable-cap-needs-sys-admin", child_no_sys_admin);

	vm_create(&vm, true, 0);
	add_slot(&vm, RO_SLOT, RO_GPA, RO_SIZE, anon(RO_SIZE), KVM_MEM_READONLY);
	add_slot(&vm, DIRTY_SLOT, DIRTY_GPA, DIRTY_SIZE, anon(DIRTY_SIZE),
		 KVM_MEM_LOG_DIRTY_PAGES);
	add_slot(&vm, DEL_SLOT, DEL_GPA, DEL_SIZE, anon(DEL_SIZE), 0);
	add_slot(&vm, BELOW_RO_SLOT, BELOW_RO_GPA, BELOW_RO_SIZE,
		 anon(BELOW_RO_SIZE), 0);
	add_slot(&vm, SMALL_SLOT, SMALL_GPA, SMALL_SIZE, anon_small(SMALL_SIZE),
		 0);
	add_slot(&vm, MOVE_SLOT, MOVE_GPA, MOVE_SIZE, anon(MOVE_SIZE), 0);
	if (edu_bar) {
		int fd = open(edu_bar, O_RDWR | O_SYNC);
		void *bar = fd < 0 ? MAP_FAILED :
			    mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);

		if (bar == MAP_FAILED)
			die(edu_bar);
		add_slot(&vm, MMIO_SLOT, MMIO_GPA, PAGE, bar, 0);
	}
	test_probe(&vm);
	test_query(&vm);
	test_epoch(&vm);
	test_status_page_tracked(&vm);
	test_status_page_moved(&vm);
	test_epoch_only_when_affected(&vm);
	test_ksm(&vm);
	test_map_translates(&vm);
	test_map_errors(&vm);
	test_result_checked_first(&vm);
	test_batch(&vm);
	test_refcount(&vm);
	test_probe_reset(&vm);
	test_dirty_and_slots(&vm);
	vm_destroy(&vm);

	test_dirty_ring();

	test_cpl3();
	test_limits();
	in_child("rlimit-memlock-enospc", child_memlock);

	check(foll_pins() == pins0, "no-pins-leaked-overall",
	      "vmstat delta %lld", foll_pins() - pins0);
	printf("host-abi: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
