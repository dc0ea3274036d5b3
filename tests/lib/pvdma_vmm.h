/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A tiny VMM for PVDMA's host-level tests (tests/host-abi, tests/stress), in
 * the style of the KVM selftests.
 *
 * Each vCPU runs one page of 64-bit code at CODE_GPA: "vmmcall; out %al,
 * $0x10".  For each hypercall the VMM loads RAX/RBX/RCX/RDX/RSI, runs the
 * vCPU until the OUT exit and reads RAX back, so every argument, valid or
 * hostile, reaches the host exactly as a guest would pass it.
 *
 * A program using this file defines die(): what to print, and how to end,
 * when the VMM itself cannot go on.
 */
#ifndef PVDMA_VMM_H
#define PVDMA_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <linux/kvm.h>
#include <linux/pvdma.h>

/* The kernel's own names, as in tools/include: these tests are kernel code. */
typedef __u64 u64;
typedef __s64 s64;
typedef __u32 u32;
typedef __s32 s32;
typedef __u16 u16;
typedef __u8 u8;

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define BIT_ULL(n)		(1ULL << (n))
#define __printf(a, b)		__attribute__((format(printf, a, b)))

#define PAGE		4096ULL
#define MEM_SIZE	(8ULL << 20)	/* slot 0: GPA 0 .. 8 MiB */
#define PML4_GPA	0x1000ULL
#define PDPT_GPA	0x2000ULL
#define PD_GPA		0x3000ULL
#define CODE_GPA	0x8000ULL

#define VMM_MAX_SLOTS	16
#define VMM_MAX_VCPUS	4

/* Memslots both tests give their VMs. */
#define RO_SLOT		1
#define RO_GPA		0x1000000ULL
#define RO_SIZE		(64ULL << 10)
#define MMIO_SLOT	2			/* edu's BAR: PFNMAP */
#define MMIO_GPA	0x2000000ULL
#define DIRTY_SLOT	3			/* dirty logging on */
#define DIRTY_GPA	0x3000000ULL
#define DIRTY_SIZE	0x100000ULL

struct vm;

/**
 * struct vmm_vcpu - one vCPU of a test VM
 * @fd:		the vCPU file.
 * @run:	its mapped struct kvm_run.
 * @ring:	its dirty ring, if the VM has one.
 * @ring_next:	the next ring entry to harvest.
 * @ring_full_exits: how often it exited with KVM_EXIT_DIRTY_RING_FULL.
 */
struct vmm_vcpu {
	int fd;
	struct kvm_run *run;
	struct kvm_dirty_gfn *ring;
	u32 ring_next;
	unsigned int ring_full_exits;
};

/**
 * struct vmm_slot - a memslot as the VMM created it
 * @gpa:	guest-physical start.
 * @size:	bytes; 0 if the slot does not exist.
 * @hva:	the VMM's mapping of it.
 * @flags:	KVM_MEM_* flags.
 */
struct vmm_slot {
	u64 gpa, size;
	u8 *hva;
	u32 flags;
};

/**
 * struct vm_opts - how vm_create_opts() builds a VM
 * @optin:		enable KVM_CAP_PVDMA.
 * @cpl:		privilege level every vCPU starts at (0 or 3).
 * @nr_vcpus:		1..VMM_MAX_VCPUS; 0 means 1.
 * @dirty_ring_bytes:	enable KVM_CAP_DIRTY_LOG_RING of this size, or 0.
 */
struct vm_opts {
	bool optin;
	int cpl;
	int nr_vcpus;
	u32 dirty_ring_bytes;
};

/**
 * struct vmm_ring_log - what the dirty ring logged for one memslot
 * @slot:	the memslot whose pages are counted.
 * @npages:	how many of its pages, from its start.
 * @seen:	ring entries per page, @npages of them (the caller's array).
 * @other:	entries for other memslots, or beyond @npages.
 *
 * vm_ring_log() makes the harvest of a VM's dirty rings count into one.
 */
struct vmm_ring_log {
	u32 slot;
	u64 npages;
	u16 *seen;
	unsigned int other;
};

struct vm {
	int kvm, fd, stats;
	int run_size, nr_vcpus;
	struct vmm_vcpu vcpus[VMM_MAX_VCPUS];
	u8 *mem;			/* slot 0, MEM_SIZE bytes */
	struct vmm_slot slots[VMM_MAX_SLOTS];
	u32 ring_entries;
	/*
	 * Called from hc() for each dirty-ring entry harvested when the vCPU
	 * exits with KVM_EXIT_DIRTY_RING_FULL; may be NULL.
	 */
	void (*on_dirty)(struct vm *vm, u32 slot, u64 offset);
	void *priv;
	/* Stat names and their offsets in the stats data, read once. */
	unsigned int nr_stats;
	char (*stat_names)[64];
	u64 *stat_offsets;
};

noreturn void die(const char *what);

/* Host state. */
long long foll_pins(void);
long long vm_pinned_kb(void);
void set_param(const char *name, const char *val);
unsigned long get_param(const char *name);
void drop_cap(int capability);

/* Guest memory. */
void *anon(u64 size);
void *anon_small(u64 size);
void add_slot(struct vm *vm, int slot, u64 gpa, u64 size,
	      void *hva, u32 flags);
void set_slot_flags(struct vm *vm, int slot, u32 flags);
void *gpa_hva(struct vm *vm, u64 gpa, u64 len);
u64 epoch_at(struct vm *vm, u64 gpa);
u64 hpa_of(void *hva);
void pagemap_read(void *hva, unsigned long npages, u64 *hpas);
int expect_segs(struct vm *vm, const struct pvdma_range *r, unsigned int nr,
		struct pvdma_seg *out, unsigned int max);
bool segs_match(struct vm *vm, const struct pvdma_range *r, unsigned int nr,
		const struct pvdma_map_result *res, char *why, size_t sz);
bool run_in_child(bool (*fn)(void *arg, char *msg, size_t sz), void *arg,
		  char *msg, size_t sz);

/* VMs and vCPUs. */
void vm_create(struct vm *vm, bool optin, int cpl);
void vm_create_opts(struct vm *vm, const struct vm_opts *opts);
void vm_destroy(struct vm *vm);
void vcpu_set_mode(struct vm *vm, int cpu, int cpl, bool compat);
u64 vm_stat(struct vm *vm, const char *name);
int vm_stat_try(struct vm *vm, const char *name, u64 *val);
unsigned int vm_harvest_ring(struct vm *vm, int cpu);
void vm_ring_log(struct vm *vm, struct vmm_ring_log *log, u32 slot,
		 u16 *seen, u64 npages);
void ring_log_clear(struct vmm_ring_log *log);
unsigned int ring_log_missing(const struct vmm_ring_log *log, u64 first,
			      u64 npages);

/* Hypercalls: returns RAX, or 1 if the guest did not reach its OUT. */
s64 hc(struct vm *vm, u64 nr, u64 a0, u64 a1, u64 a2, u64 a3);
s64 hc_on(struct vm *vm, int cpu, u64 nr, u64 a0, u64 a1, u64 a2, u64 a3);

#endif /* PVDMA_VMM_H */
