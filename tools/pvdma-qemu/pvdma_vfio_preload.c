// SPDX-License-Identifier: GPL-2.0-only
/*
 * libpvdma-vfio.so - preloaded into QEMU by pvdma-qemu, so that an
 * unmodified QEMU (7.2 and later) can assign devices from VFIO no-IOMMU
 * groups to a guest whose DMA PVDMA translates.
 *
 * QEMU knows only IOMMU-backed VFIO: it opens /dev/vfio/<group> and wants a
 * TYPE1 container whose MAP_DMA programs an IOMMU with the guest's memory.
 * With no IOMMU there is nothing to program, and the group is
 * /dev/vfio/noiommu-<group>.  For exactly the groups pvdma-qemu checked and
 * named in $PVDMA_QEMU_GROUPS, this library:
 *
 *  - opens /dev/vfio/noiommu-N when QEMU opens /dev/vfio/N;
 *  - on a container holding such a group, answers the TYPE1 checks for the
 *    kernel's VFIO_NOIOMMU_IOMMU (if the kernel offers it), sets that
 *    instead, reports page sizes for VFIO_IOMMU_GET_INFO, and completes
 *    VFIO_IOMMU_MAP_DMA and UNMAP_DMA without doing anything: the guest
 *    asks PVDMA for host-physical addresses per mapping instead;
 *  - enables KVM_CAP_PVDMA on the VM QEMU creates, before any vCPU exists,
 *    and fails the VM's creation if it cannot: the assigned devices must
 *    never run in a guest without PVDMA.
 *
 * Everything else passes through untouched.  Set PVDMA_QEMU_DEBUG=1 to log
 * every call it changes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/pvdma.h>
#include <linux/vfio.h>

#define PREFIX	"pvdma-qemu: "
#define MAX_FDS	4096

#ifndef offsetofend
#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))
#endif

enum fd_kind { FD_OTHER, FD_CONTAINER, FD_NOIOMMU_GROUP };

/*
 * What each file descriptor is, for the ioctls that need to know, and
 * whether this library switched a container to VFIO_NOIOMMU_IOMMU.  QEMU
 * opens and uses them from several threads: relaxed atomic accesses.
 */
static unsigned char fd_kind[MAX_FDS];
static bool fd_noiommu[MAX_FDS];
static int nr_noiommu_groups;
static unsigned long nr_map_dma, nr_unmap_dma;

#define load(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define store(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define inc(x)		__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);

/* The no-IOMMU groups pvdma-qemu checked, e.g. "3,4"; NULL: do nothing. */
static const char *groups;
static bool debug;

#define pvdma_info(...)	fprintf(stderr, PREFIX __VA_ARGS__)
#define pvdma_dbg(...)	do { if (debug) pvdma_info(__VA_ARGS__); } while (0)

__attribute__((constructor)) static void preload_init(void)
{
	const char *d = getenv("PVDMA_QEMU_DEBUG");

	real_open = dlsym(RTLD_NEXT, "open");
	real_open64 = dlsym(RTLD_NEXT, "open64");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_openat64 = dlsym(RTLD_NEXT, "openat64");
	real___open_2 = dlsym(RTLD_NEXT, "__open_2");
	real___open64_2 = dlsym(RTLD_NEXT, "__open64_2");
	real_close = dlsym(RTLD_NEXT, "close");
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	debug = d && atoi(d);
	groups = getenv("PVDMA_QEMU_GROUPS");
	if (!groups || !*groups) {
		pvdma_info("libpvdma-vfio.so loaded without pvdma-qemu ($PVDMA_QEMU_GROUPS unset): doing nothing; start QEMU with pvdma-qemu\n");
		groups = NULL;
	}
}

static void set_kind(int fd, enum fd_kind kind)
{
	if (fd >= 0 && fd < MAX_FDS) {
		store(fd_kind[fd], kind);
		store(fd_noiommu[fd], false);
	}
}

static enum fd_kind kind_of(int fd)
{
	return fd >= 0 && fd < MAX_FDS ? load(fd_kind[fd]) : FD_OTHER;
}

/* Is @group one of the comma-separated $PVDMA_QEMU_GROUPS? */
static bool group_listed(const char *group)
{
	size_t len = strlen(group);
	const char *p = groups;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (n == len && !strncmp(p, group, len))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

/*
 * If @path is /dev/vfio/<N> for a listed group that exists only as
 * /dev/vfio/noiommu-<N>, write the latter to @alt and return true.
 */
static bool noiommu_path(const char *path, char *alt, size_t len)
{
	static const char dir[] = "/dev/vfio/";
	const char *group;
	struct stat st;

	if (!groups || !path || strncmp(path, dir, sizeof(dir) - 1))
		return false;
	group = path + sizeof(dir) - 1;
	if (!*group || strspn(group, "0123456789") != strlen(group) ||
	    !group_listed(group))
		return false;
	/* A group behind a real IOMMU is left to QEMU. */
	if (stat(path, &st) == 0)
		return false;
	snprintf(alt, len, "%snoiommu-%s", dir, group);
	return stat(alt, &st) == 0;
}

static int after_open(const char *path, int fd, bool noiommu)
{
	if (fd < 0)
		return fd;
	if (noiommu) {
		set_kind(fd, FD_NOIOMMU_GROUP);
		inc(nr_noiommu_groups);
		pvdma_info("%s is a no-IOMMU group: opened /dev/vfio/noiommu-%s; its DMA is translated by PVDMA in the guest\n",
			   path, path + strlen("/dev/vfio/"));
	} else if (path && !strcmp(path, "/dev/vfio/vfio")) {
		set_kind(fd, FD_CONTAINER);
	} else {
		set_kind(fd, FD_OTHER);
	}
	return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
	char alt[PATH_MAX];
	bool red = noiommu_path(path, alt, sizeof(alt));
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return after_open(path, real_open(red ? alt : path, flags, mode), red);
}

int open64(const char *path, int flags, ...)
{
	char alt[PATH_MAX];
	bool red = noiommu_path(path, alt, sizeof(alt));
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return after_open(path, real_open64(red ? alt : path, flags, mode), red);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	char alt[PATH_MAX];
	bool red = noiommu_path(path, alt, sizeof(alt));
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return after_open(path, real_openat(dirfd, red ? alt : path, flags, mode),
			  red);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	char alt[PATH_MAX];
	bool red = noiommu_path(path, alt, sizeof(alt));
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return after_open(path,
			  real_openat64(dirfd, red ? alt : path, flags, mode),
			  red);
}

/* The _FORTIFY_SOURCE entry points. */
int __open_2(const char *path, int flags)
{
	char alt[PATH_MAX];
	bool red = noiommu_path(path, alt, sizeof(alt));

	return after_open(path, real___open_2(red ? alt : path, flags), red);
}

int __open64_2(const char *path, int flags)
{
	char alt[PATH_MAX];
	bool red = noiommu_path(path, alt, sizeof(alt));

	return after_open(path, real___open64_2(red ? alt : path, flags), red);
}

int close(int fd)
{
	if (kind_of(fd) == FD_CONTAINER && load(fd_noiommu[fd]))
		pvdma_dbg("container fd %d closed: %lu MAP_DMA and %lu UNMAP_DMA left to PVDMA\n",
			  fd, load(nr_map_dma), load(nr_unmap_dma));
	set_kind(fd, FD_OTHER);
	return real_close(fd);
}

static bool is_type1(unsigned long type)
{
	return type == VFIO_TYPE1v2_IOMMU || type == VFIO_TYPE1_IOMMU;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

/* VFIO_IOMMU_GET_INFO of a container with no IOMMU: any page size works. */
static int fake_iommu_info(struct vfio_iommu_type1_info *info)
{
	if (info->argsz < offsetofend(struct vfio_iommu_type1_info,
				      iova_pgsizes))
		return fail(EINVAL);
	info->flags = VFIO_IOMMU_INFO_PGSIZES;
	info->iova_pgsizes = 0x1000 | 0x200000 | 0x40000000;
	if (info->argsz >= offsetofend(struct vfio_iommu_type1_info, cap_offset))
		info->cap_offset = 0;
	info->argsz = sizeof(*info);
	return 0;
}

static int container_ioctl(int fd, unsigned long req, void *arg)
{
	unsigned long val = (unsigned long)arg;
	bool noiommu = load(fd_noiommu[fd]);
	int ret;

	switch (req) {
	case VFIO_CHECK_EXTENSION:
		/* Claim TYPE1 only for our groups, only if NOIOMMU is there. */
		if (!is_type1(val) || !load(nr_noiommu_groups))
			break;
		if (!noiommu &&
		    real_ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU) != 1)
			break;
		pvdma_dbg("CHECK_EXTENSION(%lu) -> 1 (no-IOMMU)\n", val);
		return 1;
	case VFIO_SET_IOMMU:
		if (!is_type1(val) || !load(nr_noiommu_groups))
			break;
		ret = real_ioctl(fd, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU);
		if (ret) {
			pvdma_info("VFIO_SET_IOMMU(VFIO_NOIOMMU_IOMMU) failed: %s; is vfio in no-IOMMU mode?\n",
				   strerror(errno));
			return ret;
		}
		store(fd_noiommu[fd], true);
		pvdma_dbg("container fd %d: SET_IOMMU(type %lu) -> VFIO_NOIOMMU_IOMMU\n",
			  fd, val);
		return 0;
	case VFIO_IOMMU_GET_INFO:
		if (noiommu)
			return fake_iommu_info(arg);
		break;
	case VFIO_IOMMU_MAP_DMA:
		if (noiommu) {
			inc(nr_map_dma);
			return 0;
		}
		break;
	case VFIO_IOMMU_UNMAP_DMA:
		if (noiommu) {
			struct vfio_iommu_type1_dma_unmap *u = arg;

			/* There is no IOMMU dirty tracking to report. */
			if (u->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP)
				return fail(EINVAL);
			inc(nr_unmap_dma);
			return 0;
		}
		break;
	case VFIO_IOMMU_DIRTY_PAGES:
		if (noiommu)
			return fail(ENOTTY);
		break;
	}
	return real_ioctl(fd, req, arg);
}

/* Opt the new VM in, or make its creation fail. */
static int create_vm(int fd, unsigned long req, void *arg)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_PVDMA };
	int vm = real_ioctl(fd, req, arg);
	int err;

	if (vm < 0 || !groups)
		return vm;
	if (real_ioctl(vm, KVM_ENABLE_CAP, &cap) == 0) {
		pvdma_info("KVM_CAP_PVDMA enabled on this VM (pid %d)\n", getpid());
		return vm;
	}
	err = errno;
	pvdma_info("KVM_ENABLE_CAP(KVM_CAP_PVDMA) failed: %s; not starting a VM whose assigned devices would DMA untranslated\n",
		   strerror(err));
	real_close(vm);
	return fail(err);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);

	if (req == KVM_CREATE_VM)
		return create_vm(fd, req, arg);
	if (kind_of(fd) == FD_CONTAINER)
		return container_ioctl(fd, req, arg);
	return real_ioctl(fd, req, arg);
}
