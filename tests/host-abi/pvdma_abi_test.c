// SPDX-License-Identifier: GPL-2.0-only
/*
 * PVDMA host ABI test, in the style of the KVM selftests: a tiny VMM that
 * creates real VMs on the PVDMA-patched KVM and has their guest code issue
 * the PVDMA hypercalls with whatever arguments the test wants.
 *
 * The guest is one page of code in 64-bit mode: "vmmcall; out %al, $0x10".
 * For each hypercall the VMM loads RAX/RBX/RCX/RDX/RSI, runs the vCPU until
 * the OUT exit and reads RAX back.  So every argument, valid or hostile,
 * reaches the host exactly as a guest would pass it.
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

#define PAGE		4096ULL
#define MEM_SIZE	(8ULL << 20)	/* slot 0: GPA 0 .. 8 MiB */
#define PML4_GPA	0x1000ULL
#define PDPT_GPA	0x2000ULL
#define PD_GPA		0x3000ULL
#define CODE_GPA	0x8000ULL
#define DESC_GPA	0x10000ULL	/* ranges, one page */
#define RESULT_GPA	0x20000ULL	/* result, up to 16 KiB + 16 */
#define HANDLES_GPA	0x30000ULL	/* batch unmap handles */
#define INFO_GPA	0x31000ULL
#define SHARED_GPA	0x32000ULL	/* struct pvdma_shared */
#define DATA_GPA	0x100000ULL	/* data pages to map */

#define RO_SLOT		1
#define RO_GPA		0x1000000ULL
#define RO_SIZE		(64ULL << 10)
#define MMIO_SLOT	2
#define MMIO_GPA	0x2000000ULL
#define DIRTY_SLOT	3
#define DIRTY_GPA	0x3000000ULL
#define DIRTY_SIZE	(1ULL << 20)
#define DEL_SLOT	4
#define DEL_GPA		0x4000000ULL
#define DEL_SIZE	(64ULL << 10)
#define BELOW_RO_SLOT	5		/* writable, right below the RO slot */
#define BELOW_RO_GPA	(RO_GPA - BELOW_RO_SIZE)
#define BELOW_RO_SIZE	(64ULL << 10)
#define SMALL_SLOT	6		/* 4 KiB pages only (MADV_NOHUGEPAGE) */
#define SMALL_GPA	0x5000000ULL
#define SMALL_SIZE	(1ULL << 20)
#define MOVE_SLOT	7		/* deleted, moved and flagged, unpinned */
#define MOVE_GPA	0x6000000ULL
#define MOVE_GPA2	0x7000000ULL
#define MOVE_SIZE	(64ULL << 10)
#define KSM_SLOT	8		/* MADV_MERGEABLE, all pages alike */
#define KSM_GPA		0x8000000ULL
#define KSM_PAGES	64ULL
#define NR_SLOTS	9

/* The dirty ring VM: slot 0 plus one dirty-logged slot. */
#define RING_BYTES	4096ULL		/* 256 entries, the smallest ring */
#define RING_ENTRIES	(RING_BYTES / sizeof(struct kvm_dirty_gfn))
#define RING_SLOT	1
#define RING_GPA	0x1000000ULL
#define RING_SIZE	(16ULL << 20)
#define RING_PAGES	(RING_SIZE / PAGE)

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

static void die(const char *what)
{
	printf("host-abi: setup: FAIL (%s: %s)\n", what, strerror(errno));
	printf("host-abi: %d passed, %d failed\n", passed, failed + 1);
	exit(1);
}

struct vm {
	int kvm, fd, vcpu;
	struct kvm_run *run;
	int run_size;
	uint8_t *mem;
	uint8_t *slot_mem[NR_SLOTS];
	uint64_t slot_size[NR_SLOTS];
	int stats;
	/* With a dirty ring: the ring, what was harvested, per RING_SLOT page. */
	struct kvm_dirty_gfn *ring;
	uint32_t ring_next;
	unsigned int ring_full_exits;
	unsigned int ring_other;
	uint16_t ring_seen[RING_PAGES];
};

static long long foll_pins(void)
{
	long long acq = -1, rel = -1, v;
	char name[64];
	FILE *f;
	int fd;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			perror("stat_refresh");
		close(fd);
	}
	f = fopen("/proc/vmstat", "r");
	if (!f)
		die("/proc/vmstat");
	while (fscanf(f, "%63s %lld", name, &v) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			acq = v;
		else if (!strcmp(name, "nr_foll_pin_released"))
			rel = v;
	}
	fclose(f);
	return acq - rel;
}

static void set_param(const char *name, const char *val)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/sys/module/kvm/parameters/%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		die(path);
	close(fd);
}

static void add_slot(struct vm *vm, int slot, uint64_t gpa, uint64_t size,
		     void *hva, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r))
		die("KVM_SET_USER_MEMORY_REGION");
	vm->slot_mem[slot] = hva;
	vm->slot_size[slot] = size;
}

static void *anon(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 0x5a, size);
	return p;
}

/* Anonymous memory in 4 KiB pages only: no huge page splits in the way. */
static void *anon_small(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || madvise(p, size, MADV_NOHUGEPAGE))
		die("mmap small");
	memset(p, 0x5a, size);
	return p;
}

/* Identity-map the first GiB with 2 MiB pages, user-accessible for CPL 3. */
static void setup_long_mode(struct vm *vm, int cpl)
{
	uint64_t *pml4 = (void *)(vm->mem + PML4_GPA);
	uint64_t *pdpt = (void *)(vm->mem + PDPT_GPA);
	uint64_t *pd = (void *)(vm->mem + PD_GPA);
	struct kvm_segment cs = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8 | cpl,
		.present = 1, .type = 11, .dpl = cpl, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment ds = cs;
	struct kvm_sregs sregs;
	int i;

	for (i = 0; i < 512; i++)
		pd[i] = (i * (2ULL << 20)) | 0x87;	/* P, RW, US, PS */
	pdpt[0] = PD_GPA | 0x7;
	pml4[0] = PDPT_GPA | 0x7;

	if (ioctl(vm->vcpu, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 1 << 5;				/* PAE */
	sregs.cr0 = 0x80050033;				/* PG WP NE ET MP PE */
	sregs.efer = 0x500;				/* LME LMA */
	ds.type = 3;
	ds.l = 0;
	ds.db = 1;
	ds.selector = 0x10 | cpl;
	sregs.cs = cs;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
	if (ioctl(vm->vcpu, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
}

static int stats_fd_value(int fd, const char *name, uint64_t *val)
{
	struct kvm_stats_header h;
	size_t dsz;
	char *descs;
	uint32_t i;
	int ret = -1;

	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		return -1;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (pread(fd, descs, h.num_desc * dsz, h.desc_offset) !=
	    (ssize_t)(h.num_desc * dsz))
		goto out;
	for (i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(descs + i * dsz);

		if (strcmp(d->name, name))
			continue;
		if (pread(fd, val, sizeof(*val), h.data_offset + d->offset) ==
		    sizeof(*val))
			ret = 0;
		break;
	}
out:
	free(descs);
	return ret;
}

static uint64_t vm_stat(struct vm *vm, const char *name)
{
	uint64_t v = ~0ULL;

	if (stats_fd_value(vm->stats, name, &v))
		printf("host-abi: note: stat %s not found\n", name);
	return v;
}

/* Long mode needs EFER.LME, which KVM allows only with CPUID.LM set. */
static void set_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid;
	int n = 256;

	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	cpuid->nent = n;
	if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid))
		die("KVM_GET_SUPPORTED_CPUID");
	if (ioctl(vm->vcpu, KVM_SET_CPUID2, cpuid))
		die("KVM_SET_CPUID2");
	free(cpuid);
}

/*
 * A VM with slot 0 and one vCPU in 64-bit mode at @cpl; opted in if @optin;
 * with a dirty ring of @ring_bytes unless 0.
 */
static void vm_create_ring(struct vm *vm, bool optin, int cpl,
			   uint64_t ring_bytes)
{
	static const uint8_t code[] = {
		0x0f, 0x01, 0xd9,	/* vmmcall (KVM rewrites it on Intel) */
		0xe6, 0x10,		/* out %al, $0x10 */
	};
	struct kvm_enable_cap cap = { .cap = KVM_CAP_PVDMA };

	memset(vm, 0, sizeof(*vm));
	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0)
		die("/dev/kvm");
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		die("KVM_CREATE_VM");
	if (optin && ioctl(vm->fd, KVM_ENABLE_CAP, &cap))
		die("KVM_ENABLE_CAP(KVM_CAP_PVDMA)");
	if (ring_bytes) {
		struct kvm_enable_cap ring = {
			.cap = KVM_CAP_DIRTY_LOG_RING, .args = { ring_bytes },
		};

		if (ioctl(vm->fd, KVM_ENABLE_CAP, &ring))
			die("KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING)");
	}
	vm->mem = anon(MEM_SIZE);
	add_slot(vm, 0, 0, MEM_SIZE, vm->mem, 0);
	memcpy(vm->mem + CODE_GPA, code, sizeof(code));
	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu < 0)
		die("KVM_CREATE_VCPU");
	vm->run_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu, 0);
	if (vm->run == MAP_FAILED)
		die("mmap kvm_run");
	if (ring_bytes) {
		vm->ring = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE,
				MAP_SHARED, vm->vcpu,
				KVM_DIRTY_LOG_PAGE_OFFSET * PAGE);
		if (vm->ring == MAP_FAILED)
			die("mmap dirty ring");
	}
	vm->stats = ioctl(vm->fd, KVM_GET_STATS_FD, NULL);
	if (vm->stats < 0)
		die("KVM_GET_STATS_FD");
	set_cpuid(vm);
	setup_long_mode(vm, cpl);
}

static void vm_create(struct vm *vm, bool optin, int cpl)
{
	vm_create_ring(vm, optin, cpl, 0);
}

/*
 * Harvest the dirty ring as a VMM does: collect every entry KVM published,
 * hand them back and have KVM re-arm the pages.  Entries of RING_SLOT are
 * counted per page; an entry pushed over an unharvested one is lost, which
 * the counts then show.
 */
static void harvest(struct vm *vm)
{
	if (!vm->ring)
		return;
	for (;;) {
		struct kvm_dirty_gfn *e = &vm->ring[vm->ring_next % RING_ENTRIES];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
		      KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (e->slot == RING_SLOT && e->offset < RING_PAGES)
			vm->ring_seen[e->offset]++;
		else
			vm->ring_other++;
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET,
				 __ATOMIC_RELEASE);
		vm->ring_next++;
	}
	if (ioctl(vm->fd, KVM_RESET_DIRTY_RINGS) < 0)
		die("KVM_RESET_DIRTY_RINGS");
}

/* Drop every reference to the VM, so KVM destroys it right here. */
static void vm_destroy(struct vm *vm)
{
	munmap(vm->run, vm->run_size);	/* the mapping holds the vCPU file */
	if (vm->ring)
		munmap(vm->ring, RING_BYTES);
	close(vm->stats);
	close(vm->vcpu);
	close(vm->fd);
	close(vm->kvm);
	munmap(vm->mem, MEM_SIZE);
}

/* Issue one hypercall from the guest; returns RAX, or 1 if the guest died. */
static int64_t hc(struct vm *vm, uint64_t nr, uint64_t a0, uint64_t a1,
		  uint64_t a2, uint64_t a3)
{
	struct kvm_regs regs = {
		.rip = CODE_GPA, .rsp = 0x7000, .rflags = 0x3002, /* IOPL 3 */
		.rax = nr, .rbx = a0, .rcx = a1, .rdx = a2, .rsi = a3,
	};
	unsigned int stuck;

	if (ioctl(vm->vcpu, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");
	for (stuck = 0; stuck < 100; stuck++) {
		uint32_t next = vm->ring_next;

		if (ioctl(vm->vcpu, KVM_RUN, 0))
			die("KVM_RUN");
		/* The ring is (soft) full: harvest it, as a VMM must. */
		if (vm->run->exit_reason != KVM_EXIT_DIRTY_RING_FULL)
			break;
		vm->ring_full_exits++;
		harvest(vm);
		/* A ring KVM overran cannot be harvested any more. */
		if (vm->ring_next != next)
			stuck = 0;
	}
	if (vm->run->exit_reason != KVM_EXIT_IO || vm->run->io.port != 0x10) {
		printf("host-abi: note: unexpected exit %u\n",
		       vm->run->exit_reason);
		return 1;
	}
	if (ioctl(vm->vcpu, KVM_GET_REGS, &regs))
		die("KVM_GET_REGS");
	return (int64_t)regs.rax;
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

static uint64_t hpa_of(void *hva)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &e, 8, (uintptr_t)hva / PAGE * 8) != 8)
		die("/proc/self/pagemap");
	close(fd);
	if (!(e & (1ULL << 63)))
		return ~0ULL;
	return (e & ((1ULL << 55) - 1)) * PAGE;
}

/*
 * What the host must answer for the ranges at DESC_GPA, computed from the
 * VMM's own page tables: host frames in range order, merged when adjacent.
 */
static unsigned int expected_segs(struct vm *vm, unsigned int nr,
				  struct pvdma_seg *out)
{
	unsigned int n = 0, i;

	for (i = 0; i < nr; i++) {
		uint64_t gpa = ranges(vm)[i].gpa, left = ranges(vm)[i].len;

		while (left) {
			uint64_t off = gpa % PAGE;
			uint64_t len = left < PAGE - off ? left : PAGE - off;
			uint64_t addr = hpa_of(vm->mem + gpa - off) + off;

			if (n && out[n - 1].addr + out[n - 1].len == addr) {
				out[n - 1].len += len;
			} else {
				out[n].addr = addr;
				out[n].len = len;
				n++;
			}
			gpa += len;
			left -= len;
		}
	}
	return n;
}

static bool segs_match(struct vm *vm, unsigned int nr, char *why, size_t sz)
{
	struct pvdma_seg want[PVDMA_MAX_SEGS];
	struct pvdma_map_result *res = result(vm);
	unsigned int n = expected_segs(vm, nr, want), i;

	if (res->nr_segs != n) {
		snprintf(why, sz, "%u segments, pagemap says %u", res->nr_segs, n);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (res->segs[i].addr != want[i].addr ||
		    res->segs[i].len != want[i].len) {
			snprintf(why, sz, "segment %u is %#llx+%llu, pagemap says %#llx+%llu",
				 i, (unsigned long long)res->segs[i].addr,
				 (unsigned long long)res->segs[i].len,
				 (unsigned long long)want[i].addr,
				 (unsigned long long)want[i].len);
			return false;
		}
	}
	return true;
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

static void drop_cap(int capability)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		die("capget");
	d[0].effective &= ~(1U << capability);
	if (syscall(SYS_capset, &h, d))
		die("capset");
}

/* Run @fn in a child and report its verdict. */
static void in_child(const char *name, int (*fn)(char *why))
{
	char why[256] = "child died";
	int pfd[2], status = 0;
	pid_t pid;

	if (pipe(pfd))
		die("pipe");
	fflush(stdout);
	pid = fork();
	if (!pid) {
		int ok;

		close(pfd[0]);
		ok = fn(why);
		if (write(pfd[1], why, strlen(why) + 1) < 0)
			_exit(2);
		_exit(ok ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], why, sizeof(why) - 1) < 0)
		strcpy(why, "no answer");
	close(pfd[0]);
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, name, "%s", why);
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

static uint8_t *gpa_hva(struct vm *vm, int slot, uint64_t slot_gpa,
			uint64_t gpa)
{
	return vm->slot_mem[slot] + (gpa - slot_gpa);
}

/*
 * A result whose first bytes are writable guest RAM but which runs on into
 * memory the host cannot write: the map fails and not one byte of a
 * host-physical address reaches the guest.
 */
static void test_result_checked_first(struct vm *vm)
{
	static const struct {
		int slot;
		uint64_t slot_gpa, gpa;
		const char *name;
	} cases[] = {
		{ 0, 0, MEM_SIZE - 32, "map-result-off-memslot-writes-nothing" },
		{ BELOW_RO_SLOT, BELOW_RO_GPA, RO_GPA - 32,
		  "map-result-into-readonly-writes-nothing" },
	};
	long long pins0 = foll_pins();
	unsigned int i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *p = gpa_hva(vm, cases[i].slot, cases[i].slot_gpa,
				     cases[i].gpa);
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

static void set_slot_flags(struct vm *vm, int slot, uint64_t gpa,
			   uint32_t flags)
{
	add_slot(vm, slot, gpa, vm->slot_size[slot], vm->slot_mem[slot], flags);
}

static bool dirty_bit(struct vm *vm, int slot, uint64_t page)
{
	uint8_t bitmap[SMALL_SIZE / PAGE / 8] = { 0 };
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };

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
	uint8_t *dirty = vm->slot_mem[DIRTY_SLOT];
	long long pins1;
	uint64_t e1, e2, h;

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
	if (map1(vm, DATA_GPA + 44 * PAGE, PAGE, PVDMA_MAP_TO_DEVICE))
		die("status map");
	h = result(vm)->handle;
	madvise(vm->mem + DATA_GPA + 44 * PAGE, PAGE, MADV_DONTNEED);
	check(epoch(vm) > e2, "status-page-again-sees-bumps",
	      "epoch stayed %llu", (unsigned long long)e2);
	unmap(vm, h);
	memset(vm->mem + DATA_GPA + 44 * PAGE, 0x5a, PAGE);

	/* A status page in a dirty-logged slot is logged when written. */
	dirty_bit(vm, DIRTY_SLOT, 20);			/* clear */
	memset(dirty + 20 * PAGE, 0, 8);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, DIRTY_GPA + 20 * PAGE, 0, 0,
		      0), 0, "status-set-shared-logged-slot");
	check(dirty_bit(vm, DIRTY_SLOT, 20), "set-shared-logs-status-page",
	      "page not in the dirty log");
	if (map1(vm, DATA_GPA + 44 * PAGE, PAGE, PVDMA_MAP_TO_DEVICE))
		die("status map 2");
	h = result(vm)->handle;
	e1 = *(volatile uint64_t *)(dirty + 20 * PAGE);
	/* Bumped from the VMM's madvise(), where no vCPU runs. */
	madvise(vm->mem + DATA_GPA + 44 * PAGE, PAGE, MADV_DONTNEED);
	hc(vm, KVM_HC_PVDMA_PROBE, INFO_GPA, 0, 0, 0);
	check(*(volatile uint64_t *)(dirty + 20 * PAGE) > e1 &&
	      dirty_bit(vm, DIRTY_SLOT, 20), "epoch-write-logs-status-page",
	      "epoch %llu, was %llu; page not in the dirty log",
	      (unsigned long long)*(volatile uint64_t *)(dirty + 20 * PAGE),
	      (unsigned long long)e1);
	unmap(vm, h);
	memset(vm->mem + DATA_GPA + 44 * PAGE, 0x5a, PAGE);
	EXPECT_RET(hc(vm, KVM_HC_PVDMA_SET_SHARED, SHARED_GPA, 0, 0, 0), 0,
		   "status-back-to-shared-gpa");
}

/*
 * The epoch moves only when a pinned frame may really be backed by other
 * memory now, or its device writes must now be logged.
 */
static void test_epoch_only_when_affected(struct vm *vm)
{
	uint8_t *small = vm->slot_mem[SMALL_SLOT];
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
	set_slot_flags(vm, MOVE_SLOT, MOVE_GPA, KVM_MEM_LOG_DIRTY_PAGES);
	set_slot_flags(vm, MOVE_SLOT, MOVE_GPA, 0);
	check(epoch(vm) == e0, "memslot-log-toggle-unpinned-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e0,
	      (unsigned long long)epoch(vm));
	/* On where a page is pinned: its device writes must now be logged. */
	set_slot_flags(vm, SMALL_SLOT, SMALL_GPA, KVM_MEM_LOG_DIRTY_PAGES);
	e1 = epoch(vm);
	check(e1 != e0, "memslot-log-on-pinned-bumps-epoch", "epoch stayed %llu",
	      (unsigned long long)e0);
	/* Off again: the pinned page is what it was. */
	set_slot_flags(vm, SMALL_SLOT, SMALL_GPA, 0);
	check(epoch(vm) == e1, "memslot-log-off-pinned-keeps-epoch",
	      "epoch %llu -> %llu", (unsigned long long)e1,
	      (unsigned long long)epoch(vm));
	/* A slot with nothing pinned is moved, deleted and created again. */
	add_slot(vm, MOVE_SLOT, MOVE_GPA2, MOVE_SIZE, vm->slot_mem[MOVE_SLOT], 0);
	add_slot(vm, MOVE_SLOT, MOVE_GPA2, 0, vm->slot_mem[MOVE_SLOT], 0);
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

static unsigned int ring_missing(struct vm *vm, uint64_t first,
				 uint64_t pages)
{
	unsigned int missing = 0;
	uint64_t i;

	for (i = first; i < first + pages; i++)
		if (!vm->ring_seen[i])
			missing++;
	return missing;
}

/*
 * KVM's dirty ring has room for 256 entries here, 192 below its soft
 * limit.  Device writes are logged at unmap; no unmap may push more than
 * there is room for, and none may lose a page.
 */
static void test_dirty_ring(void)
{
	long long pins0 = foll_pins();
	uint64_t *handles;
	unsigned int calls, exits0;
	struct vm vm;
	uint64_t h;
	int64_t r;

	vm_create_ring(&vm, true, 0, RING_BYTES);
	add_slot(&vm, RING_SLOT, RING_GPA, RING_SIZE, anon(RING_SIZE),
		 KVM_MEM_LOG_DIRTY_PAGES);
	handles = (void *)(vm.mem + HANDLES_GPA);

	/* One unmap with more pages to log than the ring holds. */
	if (map1(&vm, RING_GPA, 300 * PAGE, PVDMA_MAP_FROM_DEVICE))
		die("ring map");
	h = result(&vm)->handle;
	harvest(&vm);
	r = unmap_until_done(&vm, h, &calls);
	harvest(&vm);
	check(r == 0 && calls > 1 && vm.ring_full_exits >= calls - 1,
	      "dirty-ring-unmap-repeated-until-logged",
	      "returned %lld after %u calls, %u ring-full exits", (long long)r,
	      calls, vm.ring_full_exits);
	check(!ring_missing(&vm, 0, 300), "dirty-ring-unmap-logs-every-page",
	      "%u of 300 pages never reached the ring",
	      ring_missing(&vm, 0, 300));
	check(foll_pins() == pins0 && vm_stat(&vm, "pvdma_pinned_pages") == 0,
	      "dirty-ring-unmap-releases-pins", "vmstat delta %lld",
	      foll_pins() - pins0);

	/* Within the room: one call. */
	if (map1(&vm, RING_GPA + 512 * PAGE, 150 * PAGE, PVDMA_MAP_FROM_DEVICE))
		die("ring map 150");
	EXPECT_RET(unmap(&vm, result(&vm)->handle), 0,
		   "dirty-ring-unmap-within-room");

	/* 42 entries left: a batch of 80 pages waits for the harvest. */
	if (map1(&vm, RING_GPA + 1024 * PAGE, 40 * PAGE, PVDMA_MAP_FROM_DEVICE))
		die("ring map a");
	handles[0] = result(&vm)->handle;
	if (map1(&vm, RING_GPA + 1100 * PAGE, 40 * PAGE, PVDMA_MAP_FROM_DEVICE))
		die("ring map b");
	handles[1] = result(&vm)->handle;
	exits0 = vm.ring_full_exits;
	r = hc(&vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 2, 0, 0);
	check(r == -PVDMA_EAGAIN && vm.ring_full_exits > exits0 &&
	      vm_stat(&vm, "pvdma_live_handles") == 2,
	      "dirty-ring-batch-waits-for-harvest",
	      "returned %lld, %u ring-full exits, %llu handles live",
	      (long long)r, vm.ring_full_exits - exits0,
	      (unsigned long long)vm_stat(&vm, "pvdma_live_handles"));
	if (r == -PVDMA_EAGAIN)
		r = hc(&vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 2, 0, 0);
	harvest(&vm);
	check(r == 0 && !ring_missing(&vm, 1024, 40) &&
	      !ring_missing(&vm, 1100, 40), "dirty-ring-batch-after-harvest",
	      "returned %lld, %u pages never logged", (long long)r,
	      ring_missing(&vm, 1024, 40) + ring_missing(&vm, 1100, 40));

	/* More than half the room: never in one batch, one by one instead. */
	if (map1(&vm, RING_GPA + 2048 * PAGE, 100 * PAGE, PVDMA_MAP_FROM_DEVICE))
		die("ring map c");
	handles[0] = result(&vm)->handle;
	if (map1(&vm, RING_GPA + 2200 * PAGE, 100 * PAGE, PVDMA_MAP_FROM_DEVICE))
		die("ring map d");
	handles[1] = result(&vm)->handle;
	r = hc(&vm, KVM_HC_PVDMA_UNMAP_BATCH, HANDLES_GPA, 2, 0, 0);
	check(r == -KVM_E2BIG && vm_stat(&vm, "pvdma_live_handles") == 2,
	      "dirty-ring-batch-too-big-e2big", "returned %lld", (long long)r);
	unmap_until_done(&vm, handles[0], &calls);
	unmap_until_done(&vm, handles[1], &calls);
	harvest(&vm);
	check(!ring_missing(&vm, 2048, 100) && !ring_missing(&vm, 2200, 100) &&
	      foll_pins() == pins0, "dirty-ring-one-by-one-logs-all",
	      "%u pages never logged, vmstat delta %lld",
	      ring_missing(&vm, 2048, 100) + ring_missing(&vm, 2200, 100),
	      foll_pins() - pins0);
	check(!vm.ring_other, "dirty-ring-only-logged-slot",
	      "%u entries for other slots", vm.ring_other);
	vm_destroy(&vm);
}

/* PVDMA_PROBE_RESET: a new guest kernel starts from a clean slate. */
static void test_probe_reset(struct vm *vm)
{
	struct pvdma_info *info = (void *)(vm->mem + INFO_GPA);
	long long pins0 = foll_pins();
	uint64_t e1, h[3], hp;
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
	if (map1(vm, DATA_GPA + 44 * PAGE, PAGE, PVDMA_MAP_TO_DEVICE))
		die("reset map 2");
	hp = result(vm)->handle;
	madvise(vm->mem + DATA_GPA + 44 * PAGE, PAGE, MADV_DONTNEED);
	check(epoch(vm) == 0, "probe-reset-forgets-status-page", "epoch %llu",
	      (unsigned long long)epoch(vm));
	unmap(vm, hp);
	memset(vm->mem + DATA_GPA + 44 * PAGE, 0x5a, PAGE);
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
	check(r == 0 && h && segs_match(vm, 1, why, sizeof(why)),
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
	check(r == 0 && segs_match(vm, PVDMA_MAX_RANGES, why, sizeof(why)),
	      "map-256-ranges-one-call-matches-pagemap", "r=%lld %s",
	      (long long)r, why);
	check(foll_pins() - pins0 == PVDMA_MAX_RANGES,
	      "map-256-ranges-pins-each-page", "vmstat delta %lld",
	      foll_pins() - pins0);
	EXPECT_RET(unmap(vm, h), 0, "unmap-256-ranges");

	/* A multi-page buffer: merged wherever the host frames are adjacent. */
	r = map1(vm, DATA_GPA + 123, 64 * PAGE, PVDMA_MAP_FROM_DEVICE);
	h = result(vm)->handle;
	check(r == 0 && segs_match(vm, 1, why, sizeof(why)),
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
	add_slot(vm, DEL_SLOT, DEL_GPA, 0, vm->slot_mem[DEL_SLOT], 0);
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
	test_epoch(&vm);
	test_status_page_tracked(&vm);
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
