// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvdma-fragment-memory: leave a host's free memory in single pages, so
 * that a guest started next gets no two host-contiguous frames.
 *
 * A fresh host hands a guest's memory out in long physically contiguous
 * runs (huge pages, or order-0 pages split off one large block in order),
 * so a bug that merges pages which are not contiguous on the host passes
 * every DMA test.  For each NODE:MIB argument, this binds to NUMA node
 * NODE, touches MIB MiB of anonymous memory page by page, and then frees
 * every other page.  The freed pages cannot merge with their buddies,
 * which stay allocated, and the page allocator hands out such single pages
 * before it splits a larger block.  Run it with transparent huge pages off
 * and start the guest while it holds its memory (it waits for SIGTERM).
 *
 * Prints "fragment: node N: M single pages free" per node, then "ready".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE		4096UL
#define MPOL_BIND	2

static int bind_node(int node)
{
	unsigned long mask = 1UL << node;

	return syscall(SYS_set_mempolicy, MPOL_BIND, &mask, sizeof(mask) * 8);
}

static long fragment(int node, unsigned long mib)
{
	unsigned long len = mib << 20, off;
	long freed = 0;
	char *p;

	if (bind_node(node)) {
		fprintf(stderr, "fragment: set_mempolicy(node %d): %s\n", node,
			strerror(errno));
		return -1;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("fragment: mmap");
		return -1;
	}
	/* Order-0 faults, even if THP was left on. */
	madvise(p, len, MADV_NOHUGEPAGE);
	for (off = 0; off < len; off += PAGE)
		p[off] = 1;
	for (off = 0; off < len; off += 2 * PAGE)
		if (!madvise(p + off, PAGE, MADV_DONTNEED))
			freed++;
	return freed;
}

int main(int argc, char **argv)
{
	sigset_t set;
	int i, sig;

	if (argc < 2) {
		fprintf(stderr, "usage: %s NODE:MIB...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		unsigned long mib;
		int node;
		long freed;

		if (sscanf(argv[i], "%d:%lu", &node, &mib) != 2 || node < 0 ||
		    node > 63) {
			fprintf(stderr, "fragment: bad argument %s\n", argv[i]);
			return 2;
		}
		freed = fragment(node, mib);
		if (freed < 0)
			return 1;
		printf("fragment: node %d: %ld single pages free\n", node, freed);
	}
	printf("fragment: ready\n");
	fflush(stdout);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);
	return 0;
}
