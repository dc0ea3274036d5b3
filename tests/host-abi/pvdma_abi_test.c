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
 * dirty logging, memslot deletion while pinned, and that destroying a VM
 * releases every pin (/proc/vmstat nr_foll_pin_*).
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
		int64_t __r = (vm_call);				\
		check(__r == (int64_t)(want), name, "returned %lld, want %lld", \
		      (long long)__r, (long long)(want));		\
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
	vm_destroy(&vm);
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
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 1, 0, 0),
		   -KVM_EINVAL, "probe-flags-einval");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_PROBE, 0x7f000000, 0, 0, 0),
		   -KVM_EFAULT, "probe-outside-memslots-efault");
}

static uint64_t epoch(struct vm *vm)
{
	return ((volatile struct pvdma_shared *)(vm->mem + SHARED_GPA))->epoch;
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
	if (map1(vm, DATA_GPA + 40 * PAGE, PAGE, PVDMA_MAP_FROM_DEVICE))
		die("epoch clear map");
	h = result(vm)->handle;
	madvise(vm->mem + DATA_GPA + 40 * PAGE, PAGE, MADV_DONTNEED);
	check(epoch(vm) == 0, "cleared-page-not-written", "epoch %llu",
	      (unsigned long long)epoch(vm));
	unmap(vm, h);
	memset(vm->mem + DATA_GPA + 40 * PAGE, 0x5a, PAGE);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, 0, PVDMA_SHARED_CLEAR, 0, 0),
		   0, "set-shared-clear-twice");
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "set-shared-again");
	check(epoch(vm) > e0, "set-shared-again-epoch-moves-on",
	      "epoch %llu, was %llu", (unsigned long long)epoch(vm),
	      (unsigned long long)e0);
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
	test_epoch(&vm);
	test_map_translates(&vm);
	test_map_errors(&vm);
	test_batch(&vm);
	test_refcount(&vm);
	test_dirty_and_slots(&vm);
	vm_destroy(&vm);

	test_cpl3();
	test_limits();
	in_child("rlimit-memlock-enospc", child_memlock);

	check(foll_pins() == pins0, "no-pins-leaked-overall",
	      "vmstat delta %lld", foll_pins() - pins0);
	printf("host-abi: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
