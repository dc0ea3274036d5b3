// SPDX-License-Identifier: GPL-2.0-only
/*
 * A tiny VMM for PVDMA's host-level tests: VMs with identity-mapped 64-bit
 * vCPUs that issue one hypercall per KVM_RUN, guest memory and its
 * host-physical frames (/proc/self/pagemap), KVM's binary stats, and the
 * host's pin counters.  See pvdma_vmm.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/pvdma.h>

#include "pvdma_vmm.h"

/* The program's name, for the notes printed here. */
extern const char *vmm_name;

/*
 * FOLL_PIN pins held in the whole host: nr_foll_pin_acquired minus
 * nr_foll_pin_released, after folding the per-CPU counters in.
 */
long long foll_pins(void)
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

/* VmPin of this process: its mm->pinned_vm, which PVDMA charges, in kB. */
long long vm_pinned_kb(void)
{
	long long kb = -1;
	char line[128];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		die("/proc/self/status");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

void set_param(const char *name, const char *val)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/sys/module/kvm/parameters/%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		die(path);
	close(fd);
}

unsigned long get_param(const char *name)
{
	char path[128];
	char buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), "/sys/module/kvm/parameters/%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		die(path);
	close(fd);
	/* Booleans read back as Y or N. */
	if (buf[0] == 'Y' || buf[0] == 'N')
		return buf[0] == 'Y';
	return strtoul(buf, NULL, 0);
}

void drop_cap(int capability)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		die("capget");
	d[0].effective &= ~(1U << capability);
	if (syscall(SYS_capset, &h, d))
		die("capset");
}

void *anon(u64 size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 0x5a, size);
	return p;
}

/*
 * Anonymous memory in 4 KiB pages only: a discard or an invalidation then
 * concerns the page it names, not the transparent huge page around it
 * (whose split would concern all of it).
 */
void *anon_small(u64 size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || madvise(p, size, MADV_NOHUGEPAGE))
		die("mmap small pages");
	memset(p, 0x5a, size);
	return p;
}

void add_slot(struct vm *vm, int slot, u64 gpa, u64 size,
	      void *hva, u32 flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r))
		die("KVM_SET_USER_MEMORY_REGION");
	vm->slots[slot] = (struct vmm_slot){ gpa, size, hva, flags };
}

/* Change the flags of an existing memslot (dirty logging on or off). */
void set_slot_flags(struct vm *vm, int slot, u32 flags)
{
	struct vmm_slot *s = &vm->slots[slot];

	add_slot(vm, slot, s->gpa, s->size, s->hva, flags);
}

/* The VMM's address of [gpa, gpa + len), if one memslot holds all of it. */
void *gpa_hva(struct vm *vm, u64 gpa, u64 len)
{
	int i;

	for (i = 0; i < VMM_MAX_SLOTS; i++) {
		struct vmm_slot *s = &vm->slots[i];

		if (s->size && gpa >= s->gpa && len <= s->size &&
		    gpa - s->gpa <= s->size - len)
			return s->hva + (gpa - s->gpa);
	}
	return NULL;
}

/* The epoch as the guest sees it in a status page at @gpa; ~0 if no RAM. */
u64 epoch_at(struct vm *vm, u64 gpa)
{
	struct pvdma_shared *s = gpa_hva(vm, gpa, 8);

	/* The host writes it behind this process's back. */
	return s ? __atomic_load_n(&s->epoch, __ATOMIC_RELAXED) : ~0ULL;
}

/* /proc/self/pagemap, opened once per process (a child has its own). */
static int pagemap_fd(void)
{
	static pid_t pid;
	static int fd = -1;

	if (fd < 0 || pid != getpid()) {
		if (fd >= 0)
			close(fd);
		fd = open("/proc/self/pagemap", O_RDONLY);
		if (fd < 0)
			die("/proc/self/pagemap");
		pid = getpid();
	}
	return fd;
}

/* Host-physical addresses of @npages pages from @hva; ~0 where not present. */
void pagemap_read(void *hva, unsigned long npages, u64 *hpas)
{
	u64 off = (uintptr_t)hva / PAGE * 8;
	unsigned long i;

	if (pread(pagemap_fd(), hpas, npages * 8, off) != (ssize_t)(npages * 8))
		die("/proc/self/pagemap");
	for (i = 0; i < npages; i++)
		hpas[i] = hpas[i] & (1ULL << 63) ?
			  (hpas[i] & ((1ULL << 55) - 1)) * PAGE : ~0ULL;
}

u64 hpa_of(void *hva)
{
	u64 hpa;

	pagemap_read(hva, 1, &hpa);
	return hpa;
}

/*
 * What the host must answer for @r, computed from this process's own page
 * tables: host frames in range order, merged when adjacent.  Returns how
 * many segments that makes (storing at most @max), or -1 if a page is not
 * RAM of a memslot or not present.
 */
int expect_segs(struct vm *vm, const struct pvdma_range *r, unsigned int nr,
		struct pvdma_seg *out, unsigned int max)
{
	static __thread u64 hpas[4096];
	u64 last_end = ~0ULL;
	unsigned int i;
	int n = 0;

	for (i = 0; i < nr; i++) {
		u64 gpa = r[i].gpa, left = r[i].len;

		while (left) {
			u64 base = gpa & ~(PAGE - 1), npages, j;
			u8 *hva = gpa_hva(vm, base, PAGE);
			struct vmm_slot *s = NULL;
			int k;

			if (!hva)
				return -1;
			for (k = 0; k < VMM_MAX_SLOTS; k++)
				if (vm->slots[k].size &&
				    hva >= vm->slots[k].hva &&
				    hva < vm->slots[k].hva + vm->slots[k].size)
					s = &vm->slots[k];
			/* The pages of this range within this slot. */
			npages = (gpa + left - 1 - base) / PAGE + 1;
			npages = npages < (u64)(s->hva + s->size - hva) / PAGE ?
				 npages : (u64)(s->hva + s->size - hva) / PAGE;
			if (npages > 4096)
				npages = 4096;
			pagemap_read(hva, npages, hpas);
			for (j = 0; j < npages && left; j++) {
				u64 off = gpa % PAGE;
				u64 len = left < PAGE - off ? left : PAGE - off;
				u64 addr = hpas[j] + off;

				if (hpas[j] == ~0ULL)
					return -1;
				if (n && last_end == addr) {
					if (n <= (int)max)
						out[n - 1].len += len;
				} else {
					if (n < (int)max)
						out[n] = (struct pvdma_seg){ addr, len };
					n++;
				}
				last_end = addr + len;
				gpa += len;
				left -= len;
			}
		}
	}
	return n;
}

bool segs_match(struct vm *vm, const struct pvdma_range *r, unsigned int nr,
		const struct pvdma_map_result *res, char *why, size_t sz)
{
	static __thread struct pvdma_seg want[PVDMA_MAX_SEGS];
	int n = expect_segs(vm, r, nr, want, PVDMA_MAX_SEGS);
	unsigned int i;

	if (n < 0) {
		snprintf(why, sz, "a mapped page is not present in pagemap");
		return false;
	}
	if (res->nr_segs != (unsigned int)n) {
		snprintf(why, sz, "%u segments, pagemap says %d", res->nr_segs, n);
		return false;
	}
	for (i = 0; i < res->nr_segs; i++) {
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

/*
 * Run @fn in a forked child (to drop capabilities or set limits for it
 * alone, or to let it die); its text comes back in @msg.  Returns true if
 * it returned true and exited normally.
 */
bool run_in_child(bool (*fn)(void *arg, char *msg, size_t sz), void *arg,
		  char *msg, size_t sz)
{
	int pfd[2], status = 0;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(pfd))
		die("pipe");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		bool ok;

		close(pfd[0]);
		msg[0] = 0;
		ok = fn(arg, msg, sz);
		if (write(pfd[1], msg, strlen(msg)) < 0)
			_exit(2);
		_exit(ok ? 0 : 1);
	}
	close(pfd[1]);
	while (got < (ssize_t)sz - 1 &&
	       (n = read(pfd[0], msg + got, sz - 1 - got)) > 0)
		got += n;
	msg[got] = 0;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		snprintf(msg + got, sz - got, "%schild killed by signal %d",
			 got ? "; " : "", WTERMSIG(status));
	else if (WEXITSTATUS(status) > 1)
		snprintf(msg + got, sz - got, "%schild exited with %d",
			 got ? "; " : "", WEXITSTATUS(status));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Identity-map the first GiB with 2 MiB pages, user-accessible for CPL 3. */
static void setup_page_tables(struct vm *vm)
{
	u64 *pml4 = (void *)(vm->mem + PML4_GPA);
	u64 *pdpt = (void *)(vm->mem + PDPT_GPA);
	u64 *pd = (void *)(vm->mem + PD_GPA);
	int i;

	/*
	 * Accessed and dirty are set already, so the guest's page walks never
	 * write guest memory: a test may then say that only the host did.
	 */
	for (i = 0; i < 512; i++)
		pd[i] = (i * (2ULL << 20)) | 0xe7;	/* P RW US A D PS */
	pdpt[0] = PD_GPA | 0x27;			/* P RW US A */
	pml4[0] = PDPT_GPA | 0x27;
}

/*
 * Put a vCPU in long mode at @cpl: 64-bit code, or 32-bit compatibility
 * mode if @compat (the same two instructions decode alike there).
 */
void vcpu_set_mode(struct vm *vm, int cpu, int cpl, bool compat)
{
	struct kvm_segment cs = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8 | cpl,
		.present = 1, .type = 11, .dpl = cpl, .s = 1, .l = !compat,
		.db = compat, .g = 1,
	};
	struct kvm_segment ds = cs;
	struct kvm_sregs sregs;
	int fd = vm->vcpus[cpu].fd;

	if (ioctl(fd, KVM_GET_SREGS, &sregs))
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
	sregs.ds = ds;
	sregs.es = ds;
	sregs.fs = ds;
	sregs.gs = ds;
	sregs.ss = ds;
	if (ioctl(fd, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
}

/* Long mode needs EFER.LME, which KVM allows only with CPUID.LM set. */
static void set_cpuid(struct vm *vm, int fd)
{
	struct kvm_cpuid2 *cpuid;
	int n = 256;

	cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
	if (!cpuid)
		die("calloc");
	cpuid->nent = n;
	if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid))
		die("KVM_GET_SUPPORTED_CPUID");
	if (ioctl(fd, KVM_SET_CPUID2, cpuid))
		die("KVM_SET_CPUID2");
	free(cpuid);
}

static void vm_enable_cap(struct vm *vm, u32 capability, u64 arg,
			  const char *what)
{
	struct kvm_enable_cap cap = { .cap = capability, .args = { arg } };

	if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap))
		die(what);
}

/* A VM with slot 0 and its vCPUs in 64-bit mode, as @opts says. */
void vm_create_opts(struct vm *vm, const struct vm_opts *opts)
{
	static const u8 code[] = {
		0x0f, 0x01, 0xd9,	/* vmmcall (KVM rewrites it on Intel) */
		0xe6, 0x10,		/* out %al, $0x10 */
	};
	int i;

	memset(vm, 0, sizeof(*vm));
	vm->nr_vcpus = opts->nr_vcpus ? opts->nr_vcpus : 1;
	if (vm->nr_vcpus > VMM_MAX_VCPUS)
		die("too many vCPUs");
	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0)
		die("/dev/kvm");
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		die("KVM_CREATE_VM");
	/* Both must come before the first vCPU. */
	if (opts->optin)
		vm_enable_cap(vm, KVM_CAP_PVDMA, 0,
			      "KVM_ENABLE_CAP(KVM_CAP_PVDMA)");
	if (opts->dirty_ring_bytes) {
		vm_enable_cap(vm, KVM_CAP_DIRTY_LOG_RING, opts->dirty_ring_bytes,
			      "KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING)");
		vm->ring_entries = opts->dirty_ring_bytes /
				   sizeof(struct kvm_dirty_gfn);
	}
	vm->mem = anon(MEM_SIZE);
	add_slot(vm, 0, 0, MEM_SIZE, vm->mem, 0);
	memcpy(vm->mem + CODE_GPA, code, sizeof(code));
	setup_page_tables(vm);
	vm->run_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpus[i];

		v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0)
			die("KVM_CREATE_VCPU");
		v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE,
			      MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED)
			die("mmap kvm_run");
		if (opts->dirty_ring_bytes) {
			v->ring = mmap(NULL, opts->dirty_ring_bytes,
				       PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
				       KVM_DIRTY_LOG_PAGE_OFFSET * PAGE);
			if (v->ring == MAP_FAILED)
				die("mmap dirty ring");
		}
		set_cpuid(vm, v->fd);
		vcpu_set_mode(vm, i, opts->cpl, false);
	}
	vm->stats = ioctl(vm->fd, KVM_GET_STATS_FD, NULL);
	if (vm->stats < 0)
		die("KVM_GET_STATS_FD");
}

/* A VM with slot 0 and one vCPU in 64-bit mode at @cpl; opted in if @optin. */
void vm_create(struct vm *vm, bool optin, int cpl)
{
	vm_create_opts(vm, &(struct vm_opts){ .optin = optin, .cpl = cpl });
}

/* Drop every reference to the VM, so KVM destroys it right here. */
void vm_destroy(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++) {
		/* The mappings hold the vCPU file. */
		munmap(vm->vcpus[i].run, vm->run_size);
		if (vm->vcpus[i].ring)
			munmap(vm->vcpus[i].ring, vm->ring_entries *
			       sizeof(struct kvm_dirty_gfn));
		close(vm->vcpus[i].fd);
	}
	close(vm->stats);
	close(vm->fd);
	close(vm->kvm);
	munmap(vm->mem, MEM_SIZE);
	free(vm->stat_names);
	free(vm->stat_offsets);
	vm->stat_names = NULL;
	vm->stat_offsets = NULL;
}

/* Read the stats descriptors once: names and where their values lie. */
static int stats_index(struct vm *vm)
{
	struct kvm_stats_header h;
	size_t dsz;
	char *descs;
	u32 i;

	if (pread(vm->stats, &h, sizeof(h), 0) != sizeof(h))
		return -1;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	vm->stat_names = calloc(h.num_desc, sizeof(*vm->stat_names));
	vm->stat_offsets = calloc(h.num_desc, sizeof(*vm->stat_offsets));
	if (!descs || !vm->stat_names || !vm->stat_offsets)
		die("calloc");
	if (pread(vm->stats, descs, h.num_desc * dsz, h.desc_offset) !=
	    (ssize_t)(h.num_desc * dsz)) {
		free(descs);
		return -1;
	}
	for (i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(descs + i * dsz);

		snprintf(vm->stat_names[i], sizeof(vm->stat_names[i]), "%s",
			 d->name);
		vm->stat_offsets[i] = h.data_offset + d->offset;
	}
	vm->nr_stats = h.num_desc;
	free(descs);
	return 0;
}

int vm_stat_try(struct vm *vm, const char *name, u64 *val)
{
	unsigned int i;

	if (!vm->stat_names && stats_index(vm))
		return -1;
	for (i = 0; i < vm->nr_stats; i++) {
		if (strcmp(vm->stat_names[i], name))
			continue;
		if (pread(vm->stats, val, sizeof(*val), vm->stat_offsets[i]) !=
		    sizeof(*val))
			return -1;
		return 0;
	}
	return -1;
}

u64 vm_stat(struct vm *vm, const char *name)
{
	u64 v = ~0ULL;

	if (vm_stat_try(vm, name, &v))
		printf("%s: note: stat %s not found\n", vmm_name, name);
	return v;
}

/*
 * Hand every dirty-ring entry of @cpu to vm->on_dirty and give the ring back
 * to KVM.  Returns the number of entries harvested.
 */
unsigned int vm_harvest_ring(struct vm *vm, int cpu)
{
	struct vmm_vcpu *v = &vm->vcpus[cpu];
	unsigned int n = 0;

	if (!v->ring)
		return 0;
	for (;;) {
		struct kvm_dirty_gfn *e = &v->ring[v->ring_next %
						   vm->ring_entries];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) &
		      KVM_DIRTY_GFN_F_DIRTY))
			break;
		if (vm->on_dirty)
			vm->on_dirty(vm, e->slot, e->offset);
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET,
				 __ATOMIC_RELEASE);
		v->ring_next++;
		n++;
		/* A ring KVM overfilled is all dirty: go round once only. */
		if (n == vm->ring_entries)
			break;
	}
	if (ioctl(vm->fd, KVM_RESET_DIRTY_RINGS) < 0)
		die("KVM_RESET_DIRTY_RINGS");
	return n;
}

static void ring_log_entry(struct vm *vm, u32 slot, u64 offset)
{
	struct vmm_ring_log *log = vm->priv;

	if (slot == log->slot && offset < log->npages)
		log->seen[offset]++;
	else
		log->other++;
}

/*
 * Count every dirty-ring entry harvested from now on into @log: per page of
 * the first @npages pages of memslot @slot, in @seen, and the rest.  An
 * entry KVM pushed over one not harvested yet is lost: the counts then
 * show it.
 */
void vm_ring_log(struct vm *vm, struct vmm_ring_log *log, u32 slot,
		 u16 *seen, u64 npages)
{
	*log = (struct vmm_ring_log){ .slot = slot, .npages = npages,
				      .seen = seen };
	ring_log_clear(log);
	vm->priv = log;
	vm->on_dirty = ring_log_entry;
}

void ring_log_clear(struct vmm_ring_log *log)
{
	memset(log->seen, 0, log->npages * sizeof(*log->seen));
	log->other = 0;
}

/* How many of the @npages pages from page @first were never logged. */
unsigned int ring_log_missing(const struct vmm_ring_log *log, u64 first,
			      u64 npages)
{
	unsigned int missing = 0;
	u64 i;

	for (i = first; i < first + npages; i++)
		if (i >= log->npages || !log->seen[i])
			missing++;
	return missing;
}

/*
 * Issue one hypercall from vCPU @cpu; returns RAX, or 1 if the guest did not
 * reach its OUT.  The registers travel in kvm_run (KVM_CAP_SYNC_REGS), so a
 * call costs one ioctl.  A full dirty ring is harvested on the way, as a VMM
 * must; a ring that stays full (KVM lost count of it) gives up after a few
 * rounds instead of spinning for ever.
 */
s64 hc_on(struct vm *vm, int cpu, u64 nr, u64 a0, u64 a1, u64 a2, u64 a3)
{
	struct vmm_vcpu *v = &vm->vcpus[cpu];
	struct kvm_regs *regs = &v->run->s.regs.regs;
	int stuck = 0;

	memset(regs, 0, sizeof(*regs));
	regs->rip = CODE_GPA;
	regs->rsp = 0x7000;
	regs->rflags = 0x3002;		/* IOPL 3: OUT works at CPL 3 too */
	regs->rax = nr;
	regs->rbx = a0;
	regs->rcx = a1;
	regs->rdx = a2;
	regs->rsi = a3;
	v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	v->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0)) {
			if (errno == EINTR)
				continue;
			die("KVM_RUN");
		}
		if (v->run->exit_reason != KVM_EXIT_DIRTY_RING_FULL)
			break;
		v->ring_full_exits++;
		if (vm_harvest_ring(vm, cpu)) {
			stuck = 0;
		} else if (++stuck == 8) {
			printf("%s: note: the dirty ring stays full after it was harvested\n",
			       vmm_name);
			return 1;
		}
	}
	if (v->run->exit_reason != KVM_EXIT_IO || v->run->io.port != 0x10) {
		printf("%s: note: unexpected exit %u\n", vmm_name,
		       v->run->exit_reason);
		return 1;
	}
	return (s64)regs->rax;
}

s64 hc(struct vm *vm, u64 nr, u64 a0, u64 a1, u64 a2, u64 a3)
{
	return hc_on(vm, 0, nr, a0, a1, a2, a3);
}
