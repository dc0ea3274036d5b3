// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvdma-qemu - run the distribution's QEMU with PCI devices assigned from
 * VFIO no-IOMMU groups, their DMA translated by PVDMA.
 *
 * On a host without an IOMMU, VFIO can hand a device to user space only in
 * its no-IOMMU mode, which QEMU does not support, and the device then DMAs
 * to whatever addresses it is given.  A guest running pvdma gives it
 * host-physical addresses, which it gets from the host by hypercall once
 * the VM is opted in with KVM_CAP_PVDMA.  This wrapper:
 *
 *  - checks the host: PVDMA-capable KVM, VFIO in no-IOMMU mode, each
 *    assigned device bound to vfio-pci in a no-IOMMU group, and the
 *    privileges no-IOMMU groups and the capability need;
 *  - refuses what would let a device DMA with untranslated addresses
 *    before pvdma exists in the guest or without it: firmware that drives
 *    the device (option ROMs, a boot device, firmware other than SeaBIOS
 *    with strict boot), a vIOMMU, an accelerator other than KVM, incoming
 *    migration; and sets rombar=0 and -boot strict=on where the command
 *    line leaves them out;
 *  - runs QEMU with libpvdma-vfio.so preloaded (pvdma_vfio_preload.c),
 *    which opens the no-IOMMU groups for QEMU and enables KVM_CAP_PVDMA on
 *    exactly this VM.
 *
 * Usage: pvdma-qemu [--qemu=PATH] [--preload=PATH] [--dry-run] [--]
 *                   QEMU-ARGUMENTS...
 * See --help, and Documentation/pvdma/admin-guide.rst for a full example.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <linux/pvdma.h>

#define PREFIX		"pvdma-qemu: "
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_ASSIGNED	32
#define PRELOAD_NAME	"libpvdma-vfio.so"
/* Room for a sysfs device path; longer ones are refused. */
#define SYSDEV_MAX	256

static const char usage[] =
"Usage: pvdma-qemu [OPTIONS] [--] QEMU-ARGUMENTS...\n"
"\n"
"Run qemu-system-x86_64 with PCI devices assigned from VFIO no-IOMMU groups\n"
"(-device vfio-pci,host=BDF), their DMA translated by PVDMA: the guest's\n"
"pvdma driver asks the host for host-physical addresses by hypercall, and\n"
"this VM, and only this one, is opted in to PVDMA (KVM_CAP_PVDMA).\n"
"\n"
"Options (before the QEMU arguments):\n"
"  --qemu=PATH      QEMU binary (default: $PVDMA_QEMU, else\n"
"                   qemu-system-x86_64 from PATH)\n"
"  --preload=PATH   the VFIO preload library (default: $PVDMA_QEMU_PRELOAD,\n"
"                   else " PRELOAD_NAME " next to this program, in\n"
"                   ../lib/pvdma/ from it, or in /usr/lib/pvdma/)\n"
"  --dry-run        check everything, print the QEMU command, run nothing\n"
"  --help           this text\n"
"\n"
"Checks, and refuses with a message saying what to change:\n"
"  - the host's KVM supports PVDMA (KVM_CHECK_EXTENSION(KVM_CAP_PVDMA));\n"
"  - vfio is loaded with enable_unsafe_noiommu_mode=1;\n"
"  - every -device vfio-pci names its device with host=BDF or\n"
"    sysfsdev=PATH, and the device is bound to vfio-pci in a no-IOMMU\n"
"    group (a device behind an IOMMU needs no PVDMA: use QEMU directly);\n"
"  - this process may open no-IOMMU groups (CAP_SYS_RAWIO) and enable the\n"
"    capability (CAP_SYS_ADMIN): run it as root;\n"
"  - nothing drives an assigned device before the guest's pvdma exists:\n"
"    no option ROM (rombar=0 is added, rombar=1 and romfile= are refused),\n"
"    no bootindex on it, SeaBIOS only (-bios, -pflash and if=pflash are\n"
"    refused) with strict boot order (-boot strict=on is added,\n"
"    strict=off is refused);\n"
"  - no vIOMMU (intel-iommu, amd-iommu, virtio-iommu): the guest would\n"
"    program it, not PVDMA;\n"
"  - KVM as the accelerator (-accel kvm is added if none is given; any\n"
"    other, or a fallback, is refused: without KVM there is no PVDMA);\n"
"  - no -incoming: pinned host addresses cannot migrate;\n"
"  - no -readconfig: devices in a config file cannot be checked.\n"
"\n"
"The guest must attach pvdma to the assigned devices before their drivers\n"
"bind: pvdma.ko with the shipped modprobe.d install lines and\n"
"\"options pvdma devices=...\", or a kernel with pvdma built in booted with\n"
"pvdma=on pvdma.devices=....  An assigned device can DMA to any host\n"
"memory: assign it only to a guest you trust like the host.\n"
"\n"
"Example:\n"
"  pvdma-qemu -machine q35 -m 2G -smp 2 -nographic \\\n"
"      -drive file=guest.img,if=virtio \\\n"
"      -device vfio-pci,host=0000:03:00.0\n";

struct assigned {
	char bdf[32];
	char group[16];
};

static struct assigned assigned[MAX_ASSIGNED];
static int nr_assigned;
static bool failed;

#define __printf(a, b)	__attribute__((format(printf, a, b)))

static void __printf(1, 2) refuse_err(const char *fmt, ...)
{
	va_list ap;

	fputs(PREFIX "refused: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failed = true;
}

static void __printf(1, 2) pq_info(const char *fmt, ...)
{
	va_list ap;

	fputs(PREFIX, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static bool read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, len, f);
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

/* The value of key @key in a QEMU option string "a,key=value,b=c", or NULL. */
static const char *opt_get(const char *opts, const char *key, char *buf,
			   size_t len)
{
	size_t klen = strlen(key);
	const char *p = opts;

	while (p && *p) {
		size_t n = strcspn(p, ",");

		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(buf, len, "%.*s", (int)(n - klen - 1),
				 p + klen + 1);
			return buf;
		}
		if (n == klen && !strncmp(p, key, klen)) {
			/* A bare key means "on" to QEMU. */
			snprintf(buf, len, "on");
			return buf;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return NULL;
}

static bool opt_is_on(const char *val)
{
	return !strcmp(val, "on") || !strcmp(val, "1") || !strcmp(val, "true") ||
	       !strcmp(val, "yes");
}

/* The driver a -device value names: its first field, or driver=. */
static void device_driver(const char *opts, char *buf, size_t len)
{
	size_t n = strcspn(opts, ",");

	if (memchr(opts, '=', n)) {
		if (!opt_get(opts, "driver", buf, len))
			buf[0] = '\0';
		return;
	}
	snprintf(buf, len, "%.*s", (int)n, opts);
}

static bool is_viommu(const char *driver)
{
	static const char *const viommus[] = {
		"intel-iommu", "amd-iommu", "AMDVI-PCI", "virtio-iommu",
		"virtio-iommu-pci", "virtio-iommu-device",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(viommus); i++)
		if (!strcmp(driver, viommus[i]))
			return true;
	return false;
}

/* Is the device at @sysdev bound to vfio-pci in a no-IOMMU group? */
static void check_host_device(const char *bdf, const char *sysdev,
			      struct assigned *a)
{
	char path[PATH_MAX], link[PATH_MAX], name[64];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/driver", sysdev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		refuse_err("%s is not bound to a driver: bind it to vfio-pci (echo vfio-pci > %s/driver_override; echo %s > /sys/bus/pci/drivers_probe)",
			   bdf, sysdev, bdf);
		return;
	}
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strcmp(base, "vfio-pci")) {
		refuse_err("%s is bound to %s, not vfio-pci: unbind it and bind it to vfio-pci (echo vfio-pci > %s/driver_override; echo %s > %s/driver/unbind; echo %s > /sys/bus/pci/drivers_probe)",
			   bdf, base, sysdev, bdf, sysdev, bdf);
		return;
	}

	snprintf(path, sizeof(path), "%s/iommu_group", sysdev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		refuse_err("%s has no IOMMU group: load vfio with enable_unsafe_noiommu_mode=1 before vfio-pci binds it",
			   bdf);
		return;
	}
	link[n] = '\0';
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	snprintf(a->group, sizeof(a->group), "%.15s", base);

	snprintf(path, sizeof(path), "%s/iommu_group/name", sysdev);
	if (!read_line(path, name, sizeof(name)) ||
	    strcmp(name, "vfio-noiommu")) {
		refuse_err("%s is behind an IOMMU (group %s): PVDMA is for hosts without one; assign it with qemu-system-x86_64 directly",
			   bdf, a->group);
		return;
	}
	snprintf(path, sizeof(path), "/dev/vfio/noiommu-%s", a->group);
	if (access(path, F_OK)) {
		refuse_err("%s: %s does not exist: is vfio-pci bound with vfio in no-IOMMU mode?",
			   bdf, path);
		return;
	}
}

/*
 * Check one -device vfio-pci value; on success, write it to @out with
 * rombar=0 added if it had no rombar.
 */
static void check_vfio_device(const char *opts, char *out, size_t len)
{
	char val[PATH_MAX], sysdev[SYSDEV_MAX], bdf[32];
	struct assigned *a;

	snprintf(out, len, "%s", opts);
	if (strstr(opts, ",,")) {
		refuse_err("-device %s: escaped commas are not supported; name the device with host=BDF",
			   opts);
		return;
	}
	if (nr_assigned == MAX_ASSIGNED) {
		refuse_err("more than %d assigned devices", MAX_ASSIGNED);
		return;
	}
	a = &assigned[nr_assigned];

	if (opt_get(opts, "host", val, sizeof(val))) {
		/* QEMU accepts BDF without the domain, as lspci prints it. */
		if (strchr(val, ':') == strrchr(val, ':'))
			snprintf(bdf, sizeof(bdf), "0000:%.20s", val);
		else
			snprintf(bdf, sizeof(bdf), "%.31s", val);
		snprintf(sysdev, sizeof(sysdev), "/sys/bus/pci/devices/%s", bdf);
	} else if (opt_get(opts, "sysfsdev", val, sizeof(val))) {
		const char *s = strrchr(val, '/');

		if (strlen(val) >= sizeof(sysdev)) {
			refuse_err("-device %s: sysfsdev path too long", opts);
			return;
		}
		snprintf(bdf, sizeof(bdf), "%.31s", s ? s + 1 : val);
		snprintf(sysdev, sizeof(sysdev), "%s", val);
	} else {
		refuse_err("-device %s: name the device with host=BDF or sysfsdev=PATH (file descriptors passed in cannot be checked)",
			   opts);
		return;
	}
	snprintf(a->bdf, sizeof(a->bdf), "%s", bdf);
	if (access(sysdev, F_OK)) {
		refuse_err("%s: no such PCI device (%s)", bdf, sysdev);
		return;
	}

	if (opt_get(opts, "romfile", val, sizeof(val)))
		refuse_err("%s: romfile=%s would run an option ROM that drives the device with guest-physical addresses before pvdma exists; remove romfile=",
			   bdf, val);
	if (opt_get(opts, "bootindex", val, sizeof(val)))
		refuse_err("%s: bootindex=%s makes the firmware drive the device with guest-physical addresses before pvdma exists; boot from another disk (or -kernel) and remove bootindex=",
			   bdf, val);
	if (opt_get(opts, "rombar", val, sizeof(val))) {
		if (strcmp(val, "0") && strcmp(val, "off"))
			refuse_err("%s: rombar=%s exposes the device's option ROM to the firmware, which would run it with guest-physical addresses; use rombar=0",
				   bdf, val);
	} else {
		snprintf(out, len, "%s,rombar=0", opts);
	}
	check_host_device(bdf, sysdev, a);
	nr_assigned++;
}

/* Return the -boot value with strict=on, or refuse. */
static void check_boot(const char *opts, char *out, size_t len)
{
	char val[64];

	snprintf(out, len, "%s", opts);
	if (opt_get(opts, "strict", val, sizeof(val))) {
		if (!opt_is_on(val))
			refuse_err("-boot %s: strict=%s lets SeaBIOS try every bootable device, and it drives NVMe and others with guest-physical addresses; use strict=on",
				   opts, val);
		return;
	}
	snprintf(out, len, "%s%sstrict=on", opts, *opts ? "," : "");
}

/* What the accelerator option says: 1 kvm only, 0 none given, -1 refused. */
static int check_accel(const char *opt, const char *val)
{
	char accel[64];

	if (!strcmp(opt, "-accel") || !strcmp(opt, "--accel")) {
		size_t n = strcspn(val, ",");

		snprintf(accel, sizeof(accel), "%.*s", (int)n, val);
		if (strchr(accel, '='))
			opt_get(val, "accel", accel, sizeof(accel));
	} else if (!opt_get(val, "accel", accel, sizeof(accel))) {
		return 0;
	}
	if (strcmp(accel, "kvm")) {
		refuse_err("accelerator %s: PVDMA needs KVM only (without it the guest gets no host addresses, and a fallback would silently drop PVDMA); use -accel kvm",
			   accel);
		return -1;
	}
	return 1;
}

/* Does this process have capability @cap in its effective set? */
static bool has_cap(int cap)
{
	unsigned long long eff = 0;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/status", "r");
	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff & (1ULL << cap);
}

static void check_host(void)
{
	char val[16];
	int kvm, r;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		refuse_err("cannot open /dev/kvm (%s): load kvm and kvm_amd or kvm_intel",
			   strerror(errno));
	} else {
		r = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PVDMA);
		if (r != 1)
			refuse_err("the host's KVM has no PVDMA (KVM_CHECK_EXTENSION(KVM_CAP_PVDMA) = %d): install and load the PVDMA kvm modules (see Documentation/pvdma/admin-guide.rst)",
				   r);
		close(kvm);
	}

	if (!read_line("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
		       val, sizeof(val)))
		refuse_err("vfio has no no-IOMMU mode (no /sys/module/vfio/parameters/enable_unsafe_noiommu_mode): load the PVDMA build of vfio.ko with enable_unsafe_noiommu_mode=1");
	else if (strcmp(val, "Y"))
		refuse_err("vfio's no-IOMMU mode is off: echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode, or load vfio with enable_unsafe_noiommu_mode=1, then bind the devices to vfio-pci again");

	if (!has_cap(CAP_SYS_RAWIO) || !has_cap(CAP_SYS_ADMIN))
		refuse_err("no-IOMMU groups need CAP_SYS_RAWIO and KVM_CAP_PVDMA needs CAP_SYS_ADMIN: run pvdma-qemu as root");
}

static const char *find_preload(const char *self, char *buf, size_t len)
{
	char dir[PATH_MAX - 64];
	const char *env = getenv("PVDMA_QEMU_PRELOAD");
	char *slash;
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n < 0)
		snprintf(dir, sizeof(dir), "%s", self);
	else
		dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		snprintf(buf, len, "%s/%s", dir, PRELOAD_NAME);
		if (!access(buf, R_OK))
			return buf;
		snprintf(buf, len, "%s/../lib/pvdma/%s", dir, PRELOAD_NAME);
		if (!access(buf, R_OK))
			return buf;
	}
	snprintf(buf, len, "/usr/lib/pvdma/%s", PRELOAD_NAME);
	return buf;
}

static bool is_opt(const char *arg, const char *name)
{
	/* QEMU takes -opt and --opt alike. */
	if (arg[0] == '-' && arg[1] == '-')
		arg++;
	return !strcmp(arg, name);
}

int main(int argc, char **argv)
{
	const char *qemu = getenv("PVDMA_QEMU"), *preload = NULL;
	char preload_buf[PATH_MAX], groups[MAX_ASSIGNED * 8] = "";
	char env[PATH_MAX + 64], *old_env;
	bool dry_run = false, boot_seen = false;
	int accel = 0, i, first, n = 0;
	char **args;

	for (first = 1; first < argc; first++) {
		const char *a = argv[first];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strncmp(a, "--qemu=", 7)) {
			qemu = a + 7;
		} else if (!strncmp(a, "--preload=", 10)) {
			preload = a + 10;
		} else if (!strcmp(a, "--dry-run")) {
			dry_run = true;
		} else {
			/* The first QEMU argument, or "--" before it. */
			first += !strcmp(a, "--");
			break;
		}
	}
	if (first >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (!qemu || !*qemu)
		qemu = "qemu-system-x86_64";
	if (!preload)
		preload = find_preload(argv[0], preload_buf, sizeof(preload_buf));

	/* The QEMU command: every argument, some rewritten, a few added. */
	args = calloc(argc - first + 8, sizeof(*args));
	if (!args)
		return 1;
	args[n++] = (char *)qemu;
	for (i = first; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char driver[64], *out;
		size_t len;

		args[n++] = argv[i];
		if (is_opt(a, "-enable-kvm")) {
			if (!accel)
				accel = 1;
			continue;
		}
		if (!v)
			continue;
		len = strlen(v) + 32;
		if (is_opt(a, "-device")) {
			device_driver(v, driver, sizeof(driver));
			if (v[0] == '{' && strstr(v, "vfio-pci")) {
				refuse_err("-device %s: JSON device syntax is not checked by pvdma-qemu; use -device vfio-pci,host=BDF",
					   v);
			} else if (!strcmp(driver, "vfio-pci")) {
				out = malloc(len);
				if (!out)
					return 1;
				check_vfio_device(v, out, len);
				args[n++] = out;
				i++;
			} else if (is_viommu(driver)) {
				refuse_err("-device %s: a vIOMMU would have the guest program it instead of PVDMA; remove it",
					   driver);
			}
		} else if (is_opt(a, "-boot")) {
			out = malloc(len);
			if (!out)
				return 1;
			check_boot(v, out, len);
			args[n++] = out;
			i++;
			boot_seen = true;
		} else if (is_opt(a, "-bios") || is_opt(a, "-pflash")) {
			refuse_err("%s %s: only QEMU's SeaBIOS with -boot strict=on is known not to drive assigned devices before pvdma exists; remove %s",
				   a, v, a);
		} else if (is_opt(a, "-drive")) {
			char val[32];

			if (opt_get(v, "if", val, sizeof(val)) &&
			    !strcmp(val, "pflash"))
				refuse_err("-drive %s: firmware images other than QEMU's SeaBIOS may drive assigned devices before pvdma exists; remove it",
					   v);
		} else if (is_opt(a, "-accel") || is_opt(a, "-machine") ||
			   is_opt(a, "-M")) {
			int r = check_accel(a, v);

			if (r && accel == 1)
				refuse_err("more than one accelerator: a fallback would run the guest without PVDMA; give -accel kvm once");
			else if (r)
				accel = r;
		} else if (is_opt(a, "-incoming")) {
			refuse_err("-incoming: a guest with PVDMA-assigned devices cannot migrate (host addresses and pins do not move with it)");
		} else if (is_opt(a, "-readconfig")) {
			refuse_err("-readconfig %s: devices in a config file cannot be checked; put them on the command line",
				   v);
		}
	}
	if (!accel) {
		args[n++] = "-accel";
		args[n++] = "kvm";
	}
	if (!boot_seen) {
		args[n++] = "-boot";
		args[n++] = "strict=on";
	}
	args[n] = NULL;

	if (!nr_assigned && !failed)
		refuse_err("no -device vfio-pci,host=BDF: there is nothing for PVDMA to do; run qemu-system-x86_64 directly");
	check_host();
	if (access(preload, R_OK))
		refuse_err("cannot read the preload library %s: install it or pass --preload=PATH",
			   preload);
	if (failed)
		return 1;

	for (i = 0; i < nr_assigned; i++) {
		size_t used = strlen(groups);

		snprintf(groups + used, sizeof(groups) - used, "%s%s",
			 used ? "," : "", assigned[i].group);
		pq_info("assigning %s (no-IOMMU group %s) with DMA translated by PVDMA\n",
			assigned[i].bdf, assigned[i].group);
	}
	pq_info("this VM will be opted in to PVDMA: its assigned devices can DMA to any host memory\n");

	if (dry_run) {
		printf("PVDMA_QEMU_GROUPS=%s LD_PRELOAD=%s", groups, preload);
		for (i = 0; i < n; i++)
			printf(" %s", args[i]);
		printf("\n");
		return 0;
	}

	if (setenv("PVDMA_QEMU_GROUPS", groups, 1))
		return 1;
	old_env = getenv("LD_PRELOAD");
	snprintf(env, sizeof(env), "%s%s%s", preload, old_env ? ":" : "",
		 old_env ? old_env : "");
	if (setenv("LD_PRELOAD", env, 1))
		return 1;
	execvp(qemu, args);
	pq_info("cannot run %s: %s\n", qemu, strerror(errno));
	return 127;
}
