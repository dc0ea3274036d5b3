// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma_edu_test: in-guest end-to-end test driver for PVDMA.
 *
 * What it checks
 * --------------
 * In the nested rig (L0 QEMU/TCG with an `edu` device, L1 host with PVDMA
 * KVM and VFIO in no-IOMMU mode, L2 guest with pvdma), edu is assigned to
 * L2 with vfio-pci: L2 sees the real device, its config space, its BAR and
 * its MSI.  edu is a real DMA engine on L1's bus and there is no IOMMU: it
 * needs L1 (host) physical addresses.  pvdma installs dma_map_ops on the
 * device before we bind, so the standard DMA API hands us host-physical
 * addresses.
 *
 * This driver uses ONLY the standard DMA API (dma_map_single, dma_map_page,
 * dma_map_sg, dma_alloc_coherent, dma_sync_*) and runs round trips
 * RAM -> edu buffer (0x40000, 4 KiB) -> RAM, comparing every byte against a
 * pattern that differs per case and iteration.  Poisoned guard bytes around
 * the destination catch writes outside the mapping.  One line per case:
 *
 *   pvdma-e2e: <case-name>: PASS
 *   pvdma-e2e: <case-name>: FAIL (<reason>)
 *   pvdma-e2e: done: <N> passed, <M> failed
 *
 * The negative control (negative-control-gpa) shows why PVDMA exists: it
 * programs edu with the untranslated guest-physical address of a buffer and
 * checks that the data did NOT arrive, then repeats the transfer through a
 * translated mapping of the same buffer and checks that it did.
 *
 * Why DMA from a raw GPA is safe here: the GPA is only ever used as the
 * SOURCE of a RAM -> edu transfer, so the device only READS whatever L1
 * memory happens to sit at that address and copies it into its own
 * internal buffer.  The device never WRITES to an address that nobody
 * mapped; every edu -> RAM transfer targets an address returned by the DMA
 * API.  (In the rig L2 has 256 MiB, so the masked GPA lies in L1's low RAM,
 * not in an MMIO hole where a read could have side effects.)
 *
 * Further safety rules:
 *  - edu aborts QEMU on an out-of-range internal offset, so edu_dma()
 *    validates the device-side window before programming it.  QEMU 7.2's
 *    edu also rejects a window that ends at the buffer's last byte, so only
 *    4095 bytes are usable: 4 KiB round trips run in 2 KiB chunks (RAM ->
 *    edu -> RAM per chunk, through the same mappings);
 *  - edu clamps RAM addresses to its 32-bit dma_mask, so a device-write
 *    target above 4 GiB is refused rather than silently redirected;
 *  - by default nothing runs unless the device has dma_map_ops (pvdma is
 *    attached): with plain dma-direct, edu would write to L1 memory at
 *    guest-physical addresses (require_ops=0 overrides, e.g. on bare metal);
 *  - if a DMA times out, the device may still access the buffers later, so
 *    they are deliberately leaked (mapped and allocated) and all further
 *    DMA is refused.
 *
 * Completion is signalled by edu's MSI when the device has one (the
 * interrupt travels edu -> L1 -> vfio -> KVM -> L2), else polled; the
 * msi-completions case checks that every DMA's interrupt arrived.
 *
 * Module parameters: run_cases (default 1; 0 = just bind), iterations
 * (many-in-a-row, default 32), timeout_ms (per DMA, default 5000),
 * require_ops (default 1), msi (default 1).  For a self-test of this driver
 * on a VM that has a plain edu and no PVDMA, load it with require_ops=0:
 * there every case should pass except negative-control-gpa, which must
 * fail because GPA and DMA address are the same.
 */
#define pr_fmt(fmt) fmt

#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/interrupt.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/string.h>

#define DRV_NAME		"pvdma_edu_test"
#define E2E			"pvdma-e2e: "

#define EDU_REG_IDENT		0x00
#define EDU_REG_LIVENESS	0x04
#define EDU_REG_IRQ_STATUS	0x24
#define EDU_REG_IRQ_ACK		0x64
#define EDU_REG_DMA_SRC		0x80
#define EDU_REG_DMA_DST		0x88
#define EDU_REG_DMA_CNT		0x90
#define EDU_REG_DMA_CMD		0x98
#define EDU_IDENT		0x010000edU
#define EDU_DMA_RUN		BIT(0)
#define EDU_DMA_TO_RAM		BIT(1)
#define EDU_DMA_IRQ		BIT(2)
#define EDU_IRQ_DMA_DONE	0x100
#define EDU_BUF_ADDR		0x40000ULL
#define EDU_BUF_SIZE		4096U
/*
 * QEMU's edu (at least up to 7.2, the Debian 12 build) rejects a transfer
 * that ends exactly at the end of its buffer with hw_error(), which aborts
 * QEMU: its range check wants addr + count < 0x41000.  So at most 4095
 * bytes are usable, and 4 KiB round trips go in chunks of EDU_CHUNK.
 */
#define EDU_BUF_USABLE		(EDU_BUF_SIZE - 1)
#define EDU_CHUNK		2048U
#define EDU_DMA_MASK		DMA_BIT_MASK(32)

#define POISON			0xa5
#define T_LEN			4096U

static bool run_cases = true;
module_param(run_cases, bool, 0444);
MODULE_PARM_DESC(run_cases, "Run the test cases on probe (default: true)");

static unsigned int iterations = 32;
module_param(iterations, uint, 0444);
MODULE_PARM_DESC(iterations, "Round trips in many-in-a-row (1..1024, default 32)");

static unsigned int timeout_ms = 5000;
module_param(timeout_ms, uint, 0444);
MODULE_PARM_DESC(timeout_ms, "Timeout of one edu DMA in ms (default 5000)");

static bool msi = true;
module_param(msi, bool, 0444);
MODULE_PARM_DESC(msi, "Wait for edu's MSI at the end of each DMA instead of polling (default: true)");

static int small_mask_node = NUMA_NO_NODE;
module_param(small_mask_node, int, 0444);
MODULE_PARM_DESC(small_mask_node,
		 "Also run small-mask-bounced with buffers from this NUMA node, whose host memory must lie beyond 30 bits (default: off)");

static bool require_ops = true;
module_param(require_ops, bool, 0444);
MODULE_PARM_DESC(require_ops,
		 "Refuse to run unless the device has dma_map_ops (default: true)");

struct edu_test {
	struct pci_dev *pdev;
	struct device *dev;
	void __iomem *bar;
	u64 mask;		/* RAM addresses edu may be given */
	bool wedged;		/* a DMA timed out: no more DMA, leak buffers */
	unsigned int leaked;
	int irq;		/* edu's MSI, or 0: poll */
	struct completion dma_done;
	unsigned int dmas;	/* DMAs programmed while using the MSI */
	atomic_t dma_irqs;	/* DMA-done interrupts received */
	char why[192];
};

static __printf(2, 3) int t_fail(struct edu_test *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vscnprintf(e->why, sizeof(e->why), fmt, ap);
	va_end(ap);
	return -EIO;
}

/* ---- edu access ---------------------------------------------------------- */

static int edu_wait_idle(struct edu_test *e)
{
	unsigned long deadline = jiffies + msecs_to_jiffies(timeout_ms);

	for (;;) {
		bool expired = time_after(jiffies, deadline);

		if (!(readq(e->bar + EDU_REG_DMA_CMD) & EDU_DMA_RUN))
			return 0;
		if (expired)
			return -ETIMEDOUT;
		usleep_range(10000, 11000);
	}
}

/*
 * Program one edu DMA and wait for it.  @src/@dst are a RAM address and an
 * edu-internal address (0x40000..0x40fff), depending on @to_ram.
 * Returns 0, -EINVAL/-ERANGE (refused, nothing programmed), -EIO (register
 * readback mismatch) or -ETIMEDOUT (the device is then considered wedged).
 */
static int edu_dma(struct edu_test *e, u64 src, u64 dst, u64 count, bool to_ram)
{
	u64 dev_addr = to_ram ? src : dst;
	u64 ram_addr = to_ram ? dst : src;
	u64 cmd = EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0);

	if (e->wedged)
		return -EIO;
	/* edu hw_error()s (kills QEMU) on an out-of-range window. */
	if (!count || count > EDU_BUF_USABLE || dev_addr < EDU_BUF_ADDR ||
	    dev_addr - EDU_BUF_ADDR > EDU_BUF_USABLE - count) {
		dev_err(e->dev, "refusing edu window %#llx+%#llx\n",
			dev_addr, count);
		return -EINVAL;
	}
	/*
	 * edu clamps RAM addresses to its dma_mask: never let it write
	 * elsewhere.  Nor give it anything beyond the mask we declared.
	 */
	if (ram_addr > e->mask || count - 1 > e->mask - ram_addr) {
		dev_err(e->dev, "refusing RAM range %#llx+%#llx beyond the DMA mask %#llx\n",
			ram_addr, count, e->mask);
		return -ERANGE;
	}

	if (edu_wait_idle(e))
		goto timeout;

	writeq(src, e->bar + EDU_REG_DMA_SRC);
	writeq(dst, e->bar + EDU_REG_DMA_DST);
	writeq(count, e->bar + EDU_REG_DMA_CNT);
	if (readq(e->bar + EDU_REG_DMA_SRC) != src ||
	    readq(e->bar + EDU_REG_DMA_DST) != dst ||
	    readq(e->bar + EDU_REG_DMA_CNT) != count) {
		dev_err(e->dev, "edu DMA registers did not take 64-bit writes\n");
		return -EIO;
	}
	if (e->irq) {
		reinit_completion(&e->dma_done);
		cmd |= EDU_DMA_IRQ;
		e->dmas++;
	}
	/* writeq orders all prior normal-memory writes before the doorbell. */
	writeq(cmd, e->bar + EDU_REG_DMA_CMD);

	if (e->irq &&
	    !wait_for_completion_timeout(&e->dma_done,
					 msecs_to_jiffies(timeout_ms)))
		goto timeout;
	if (edu_wait_idle(e))
		goto timeout;
	/* The device wrote RAM: order the status read before buffer reads. */
	rmb();
	return 0;

timeout:
	e->wedged = true;
	dev_err(e->dev,
		"edu DMA %#llx -> %#llx (%llu bytes) timed out after %u ms; no more DMA, buffers are leaked\n",
		src, dst, count, timeout_ms);
	return -ETIMEDOUT;
}

/* edu raises its interrupt when a DMA with EDU_DMA_IRQ is done. */
static irqreturn_t edu_irq(int irq, void *data)
{
	struct edu_test *e = data;
	u32 status = readl(e->bar + EDU_REG_IRQ_STATUS);

	if (!status)
		return IRQ_NONE;
	writel(status, e->bar + EDU_REG_IRQ_ACK);
	if (status & EDU_IRQ_DMA_DONE) {
		atomic_inc(&e->dma_irqs);
		complete(&e->dma_done);
	}
	return IRQ_HANDLED;
}

/* ---- release helpers: leak on purpose once the device is wedged ---------- */

static bool t_leak(struct edu_test *e)
{
	if (e->wedged)
		e->leaked++;
	return e->wedged;
}

static void t_unmap_single(struct edu_test *e, dma_addr_t a, size_t len,
			   enum dma_data_direction dir)
{
	if (!t_leak(e))
		dma_unmap_single(e->dev, a, len, dir);
}

static void t_unmap_page(struct edu_test *e, dma_addr_t a, size_t len,
			 enum dma_data_direction dir)
{
	if (!t_leak(e))
		dma_unmap_page(e->dev, a, len, dir);
}

static void t_unmap_sg(struct edu_test *e, struct scatterlist *sgl, int nents,
		       enum dma_data_direction dir)
{
	if (!t_leak(e))
		dma_unmap_sg(e->dev, sgl, nents, dir);
}

static void t_kfree(struct edu_test *e, void *p)
{
	if (p && !t_leak(e))
		kfree(p);
}

static void t_free_pages(struct edu_test *e, struct page *p, unsigned int order)
{
	if (p && !t_leak(e))
		__free_pages(p, order);
}

static void t_free_coherent(struct edu_test *e, void *cpu, dma_addr_t h)
{
	if (cpu && !t_leak(e))
		dma_free_coherent(e->dev, T_LEN, cpu, h);
}

/* ---- patterns ------------------------------------------------------------ */

static u32 pat_seed(unsigned int case_nr, unsigned int iter)
{
	u32 s = (case_nr << 16 | iter) * 2654435761U ^ 0x9e3779b9U;

	return s ? s : 1;
}

static u32 xorshift32(u32 *s)
{
	u32 x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

static void fill_pattern(void *buf, size_t len, u32 seed)
{
	u8 *p = buf;
	u32 v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 3))
			v = xorshift32(&seed);
		p[i] = v >> ((i & 3) * 8);
	}
}

/*
 * Compare @buf against the pattern for @seed.  Returns the number of
 * matching bytes; *first_bad is the first mismatching offset or -1.
 */
static size_t match_pattern(const void *buf, size_t len, u32 seed,
			    long *first_bad)
{
	const u8 *p = buf;
	size_t i, good = 0;
	u32 v = 0;

	*first_bad = -1;
	for (i = 0; i < len; i++) {
		if (!(i & 3))
			v = xorshift32(&seed);
		if (p[i] == (u8)(v >> ((i & 3) * 8)))
			good++;
		else if (*first_bad < 0)
			*first_bad = i;
	}
	return good;
}

/* The pattern byte at offset @off, for failure reports. */
static u8 pattern_byte(u32 seed, size_t off)
{
	u32 v = 0;
	size_t i;

	for (i = 0; i <= off / 4; i++)
		v = xorshift32(&seed);
	return v >> ((off & 3) * 8);
}

static int t_check_pattern(struct edu_test *e, const char *what,
			   const void *buf, size_t len, u32 seed)
{
	const u8 *p = buf;
	size_t good;
	long bad;

	good = match_pattern(buf, len, seed, &bad);
	if (bad < 0)
		return 0;
	return t_fail(e, "%s: offset %ld of %zu is %#04x, want %#04x; %zu bytes differ",
		      what, bad, len, p[bad], pattern_byte(seed, bad),
		      len - good);
}

static int t_check_poison(struct edu_test *e, const char *what,
			  const void *buf, size_t len)
{
	const u8 *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != POISON)
			return t_fail(e, "%s: guard byte at offset %zu overwritten (%#04x)",
				      what, i, p[i]);
	return 0;
}

/* ---- round trips --------------------------------------------------------- */

/*
 * Copy @len bytes RAM @src -> edu (at @edu_off) -> RAM @dst, in chunks of at
 * most EDU_CHUNK bytes, each chunk going to the device and back before the
 * next.  @src and @dst are bus addresses the device can use.
 */
static int edu_round_trip(struct edu_test *e, u64 src, u64 dst, size_t len,
			  u64 edu_off)
{
	u64 eaddr = EDU_BUF_ADDR + edu_off;
	size_t done, n;
	int ret;

	for (done = 0; done < len; done += n) {
		n = min_t(size_t, len - done, EDU_CHUNK);
		ret = edu_dma(e, src + done, eaddr, n, false);
		if (ret)
			return t_fail(e, "DMA RAM %#llx -> edu (%zu bytes): %d",
				      src + done, n, ret);
		ret = edu_dma(e, eaddr, dst + done, n, true);
		if (ret)
			return t_fail(e, "DMA edu -> RAM %#llx (%zu bytes): %d",
				      dst + done, n, ret);
	}
	return 0;
}

/*
 * Fill @a with the pattern, poison @b, map @a TO_DEVICE and @b FROM_DEVICE,
 * copy @a -> edu (at @edu_off) -> @b, unmap, compare.
 */
static int rt_single(struct edu_test *e, void *a, void *b, size_t len,
		     u64 edu_off, u32 seed)
{
	dma_addr_t da, db;
	int ret;

	fill_pattern(a, len, seed);
	memset(b, POISON, len);

	da = dma_map_single(e->dev, a, len, DMA_TO_DEVICE);
	if (dma_mapping_error(e->dev, da))
		return t_fail(e, "dma_map_single(TO_DEVICE, %zu) failed", len);
	db = dma_map_single(e->dev, b, len, DMA_FROM_DEVICE);
	if (dma_mapping_error(e->dev, db)) {
		t_unmap_single(e, da, len, DMA_TO_DEVICE);
		return t_fail(e, "dma_map_single(FROM_DEVICE, %zu) failed", len);
	}
	ret = edu_round_trip(e, da, db, len, edu_off);
	t_unmap_single(e, db, len, DMA_FROM_DEVICE);
	t_unmap_single(e, da, len, DMA_TO_DEVICE);
	if (ret)
		return ret;
	return t_check_pattern(e, "read back", b, len, seed);
}

/* ---- cases --------------------------------------------------------------- */

static int case_single_4k(struct edu_test *e, unsigned int nr)
{
	void *a = kmalloc(T_LEN, GFP_KERNEL);
	void *b = kmalloc(T_LEN, GFP_KERNEL);
	int ret;

	if (!a || !b)
		ret = t_fail(e, "out of memory");
	else
		ret = rt_single(e, a, b, T_LEN, 0, pat_seed(nr, 0));
	t_kfree(e, b);
	t_kfree(e, a);
	return ret;
}

static int case_many_in_a_row(struct edu_test *e, unsigned int nr)
{
	unsigned int i, n = clamp(iterations, 1U, 1024U);
	char why[sizeof(e->why)];
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		void *a = kmalloc(T_LEN, GFP_KERNEL);
		void *b = kmalloc(T_LEN, GFP_KERNEL);

		if (!a || !b)
			ret = t_fail(e, "out of memory");
		else
			ret = rt_single(e, a, b, T_LEN, 0, pat_seed(nr, i));
		t_kfree(e, b);
		t_kfree(e, a);
	}
	if (ret) {
		/* Prefix the failing iteration (1-based). */
		strscpy(why, e->why);
		ret = t_fail(e, "iteration %u/%u: %s", i, n, why);
	}
	return ret;
}

/* Unaligned: odd offset and length, crossing a page boundary. */
#define UNALIGNED_OFF		2501U
#define UNALIGNED_LEN		3001U
#define UNALIGNED_EDU_OFF	123U

static int case_unaligned(struct edu_test *e, unsigned int nr)
{
	struct page *pa = alloc_pages(GFP_KERNEL, 1);
	struct page *pb = alloc_pages(GFP_KERNEL, 1);
	u8 *a, *b;
	int ret;

	BUILD_BUG_ON(UNALIGNED_OFF + UNALIGNED_LEN <= PAGE_SIZE);
	BUILD_BUG_ON(UNALIGNED_EDU_OFF + EDU_CHUNK > EDU_BUF_USABLE);

	if (!pa || !pb) {
		ret = t_fail(e, "out of memory");
		goto out;
	}
	a = page_address(pa);
	b = page_address(pb);
	memset(b, POISON, 2 * PAGE_SIZE);

	ret = rt_single(e, a + UNALIGNED_OFF, b + UNALIGNED_OFF, UNALIGNED_LEN,
			UNALIGNED_EDU_OFF, pat_seed(nr, 0));
	if (!ret)
		ret = t_check_poison(e, "head guard", b, UNALIGNED_OFF);
	if (!ret)
		ret = t_check_poison(e, "tail guard",
				     b + UNALIGNED_OFF + UNALIGNED_LEN,
				     2 * PAGE_SIZE - UNALIGNED_OFF - UNALIGNED_LEN);
out:
	t_free_pages(e, pb, 1);
	t_free_pages(e, pa, 1);
	return ret;
}

/*
 * Scatterlists of SG_NENTS x SG_CHUNK bytes.  "split": every entry in its own
 * page at offset i * SG_SPLIT_STRIDE, so no two entries are physically
 * adjacent.
 * "contig": consecutive chunks of one order-2 block starting at
 * SG_CONTIG_OFF, so entries cross page boundaries and may be coalesced.
 */
#define SG_NENTS		4
#define SG_CHUNK		1000U	/* 4 x 1000 fits edu's usable 4095 */
#define SG_SPLIT_STRIDE		1024U
#define SG_CONTIG_OFF		3584U
#define SG_CONTIG_ORDER		2

struct sg_side {
	struct sg_table t;
	bool have_table;
	struct page *pages[SG_NENTS];
	struct page *block;
};

static int sg_side_build(struct edu_test *e, struct sg_side *s, bool contig)
{
	struct scatterlist *sg;
	int i;

	memset(s, 0, sizeof(*s));
	if (sg_alloc_table(&s->t, SG_NENTS, GFP_KERNEL))
		return t_fail(e, "sg_alloc_table failed");
	s->have_table = true;

	if (contig) {
		u8 *base;

		s->block = alloc_pages(GFP_KERNEL, SG_CONTIG_ORDER);
		if (!s->block)
			return t_fail(e, "out of memory");
		base = page_address(s->block);
		memset(base, POISON, PAGE_SIZE << SG_CONTIG_ORDER);
		for_each_sg(s->t.sgl, sg, SG_NENTS, i)
			sg_set_buf(sg, base + SG_CONTIG_OFF + i * SG_CHUNK,
				   SG_CHUNK);
		return 0;
	}

	for_each_sg(s->t.sgl, sg, SG_NENTS, i) {
		s->pages[i] = alloc_page(GFP_KERNEL);
		if (!s->pages[i])
			return t_fail(e, "out of memory");
		memset(page_address(s->pages[i]), POISON, PAGE_SIZE);
		sg_set_page(sg, s->pages[i], SG_CHUNK, i * SG_SPLIT_STRIDE);
	}
	return 0;
}

/* Check that nothing outside the sg entries was written. */
static int sg_side_guards(struct edu_test *e, struct sg_side *s)
{
	u8 *p;
	int i, ret;

	if (s->block) {
		p = page_address(s->block);
		ret = t_check_poison(e, "sg head guard", p, SG_CONTIG_OFF);
		if (ret)
			return ret;
		p += SG_CONTIG_OFF + SG_NENTS * SG_CHUNK;
		return t_check_poison(e, "sg tail guard", p,
				      (PAGE_SIZE << SG_CONTIG_ORDER) -
				      SG_CONTIG_OFF - SG_NENTS * SG_CHUNK);
	}
	for (i = 0; i < SG_NENTS; i++) {
		p = page_address(s->pages[i]);
		size_t lo = i * SG_SPLIT_STRIDE, hi = lo + SG_CHUNK;

		ret = t_check_poison(e, "sg head guard", p, lo);
		if (ret)
			return ret;
		ret = t_check_poison(e, "sg tail guard", p + hi, PAGE_SIZE - hi);
		if (ret)
			return ret;
	}
	return 0;
}

static void sg_side_free(struct edu_test *e, struct sg_side *s)
{
	int i;

	t_free_pages(e, s->block, SG_CONTIG_ORDER);
	for (i = 0; i < SG_NENTS; i++)
		t_free_pages(e, s->pages[i], 0);
	if (s->have_table && !t_leak(e))
		sg_free_table(&s->t);
}

/* DMA every mapped segment to/from consecutive edu offsets. */
static int sg_dma_segments(struct edu_test *e, struct sg_side *s, int count,
			   bool to_ram)
{
	struct scatterlist *sg;
	u64 off = 0;
	int i, ret;

	for_each_sg(s->t.sgl, sg, count, i) {
		dma_addr_t a = sg_dma_address(sg);
		unsigned int len = sg_dma_len(sg);

		if (off + len > EDU_BUF_USABLE)
			return t_fail(e, "sg segments exceed %u bytes",
				      EDU_BUF_USABLE);
		if (to_ram)
			ret = edu_dma(e, EDU_BUF_ADDR + off, a, len, true);
		else
			ret = edu_dma(e, a, EDU_BUF_ADDR + off, len, false);
		if (ret)
			return t_fail(e, "DMA of sg segment %d (%pad+%u) %s: %d",
				      i, &a, len, to_ram ? "from edu" : "to edu",
				      ret);
		off += len;
	}
	if (off != SG_NENTS * SG_CHUNK)
		return t_fail(e, "mapped sg segments total %llu bytes, want %u",
			      off, SG_NENTS * SG_CHUNK);
	return 0;
}

static int sg_round_trip(struct edu_test *e, unsigned int nr, bool contig)
{
	struct sg_side *src, *dst;
	u8 *tmp;
	u32 seed = pat_seed(nr, 0);
	int n, ret;

	src = kzalloc(sizeof(*src), GFP_KERNEL);
	dst = kzalloc(sizeof(*dst), GFP_KERNEL);
	tmp = kmalloc(SG_NENTS * SG_CHUNK, GFP_KERNEL);
	if (!src || !dst || !tmp) {
		kfree(tmp);
		kfree(dst);
		kfree(src);
		return t_fail(e, "out of memory");
	}
	ret = sg_side_build(e, src, contig);
	if (!ret)
		ret = sg_side_build(e, dst, contig);
	if (ret)
		goto out;

	fill_pattern(tmp, SG_NENTS * SG_CHUNK, seed);
	sg_copy_from_buffer(src->t.sgl, SG_NENTS, tmp, SG_NENTS * SG_CHUNK);

	n = dma_map_sg(e->dev, src->t.sgl, SG_NENTS, DMA_TO_DEVICE);
	if (!n) {
		ret = t_fail(e, "dma_map_sg(TO_DEVICE) failed");
		goto out;
	}
	dev_info(e->dev, "sg %s TO_DEVICE: %d entries -> %d segments\n",
		 contig ? "contig" : "split", SG_NENTS, n);
	ret = sg_dma_segments(e, src, n, false);
	t_unmap_sg(e, src->t.sgl, SG_NENTS, DMA_TO_DEVICE);
	if (ret)
		goto out;

	n = dma_map_sg(e->dev, dst->t.sgl, SG_NENTS, DMA_FROM_DEVICE);
	if (!n) {
		ret = t_fail(e, "dma_map_sg(FROM_DEVICE) failed");
		goto out;
	}
	dev_info(e->dev, "sg %s FROM_DEVICE: %d entries -> %d segments\n",
		 contig ? "contig" : "split", SG_NENTS, n);
	ret = sg_dma_segments(e, dst, n, true);
	t_unmap_sg(e, dst->t.sgl, SG_NENTS, DMA_FROM_DEVICE);
	if (ret)
		goto out;

	memset(tmp, 0, SG_NENTS * SG_CHUNK);
	sg_copy_to_buffer(dst->t.sgl, SG_NENTS, tmp, SG_NENTS * SG_CHUNK);
	ret = t_check_pattern(e, "sg read back", tmp, SG_NENTS * SG_CHUNK, seed);
	if (!ret)
		ret = sg_side_guards(e, dst);
out:
	sg_side_free(e, dst);
	sg_side_free(e, src);
	kfree(tmp);
	t_kfree(e, dst);
	t_kfree(e, src);
	return ret;
}

static int case_scatterlist(struct edu_test *e, unsigned int nr)
{
	return sg_round_trip(e, nr, false);
}

static int case_scatterlist_contig(struct edu_test *e, unsigned int nr)
{
	return sg_round_trip(e, nr, true);
}

static int case_coherent(struct edu_test *e, unsigned int nr)
{
	u32 seed = pat_seed(nr, 0);
	dma_addr_t ha = 0, hb = 0;
	void *a, *b = NULL;
	int ret;

	a = dma_alloc_coherent(e->dev, T_LEN, &ha, GFP_KERNEL);
	if (!a)
		return t_fail(e, "dma_alloc_coherent #1 failed");
	b = dma_alloc_coherent(e->dev, T_LEN, &hb, GFP_KERNEL);
	if (!b) {
		ret = t_fail(e, "dma_alloc_coherent #2 failed");
		goto out;
	}
	fill_pattern(a, T_LEN, seed);
	memset(b, POISON, T_LEN);

	ret = edu_round_trip(e, ha, hb, T_LEN, 0);
	if (!ret)
		ret = t_check_pattern(e, "coherent read back", b, T_LEN, seed);
out:
	t_free_coherent(e, b, hb);
	t_free_coherent(e, a, ha);
	return ret;
}

static int case_bidirectional(struct edu_test *e, unsigned int nr)
{
	u32 seed = pat_seed(nr, 0);
	void *a = kmalloc(T_LEN, GFP_KERNEL);
	dma_addr_t da;
	size_t done;
	int ret;

	if (!a)
		return t_fail(e, "out of memory");
	fill_pattern(a, T_LEN, seed);

	da = dma_map_single(e->dev, a, T_LEN, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(e->dev, da)) {
		ret = t_fail(e, "dma_map_single(BIDIRECTIONAL) failed");
		goto out_free;
	}
	/* Per chunk: to edu, CPU clears the chunk, back from edu. */
	for (done = 0; done < T_LEN; done += EDU_CHUNK) {
		ret = edu_dma(e, da + done, EDU_BUF_ADDR, EDU_CHUNK, false);
		if (ret) {
			ret = t_fail(e, "DMA RAM %pad+%zu -> edu: %d", &da, done,
				     ret);
			goto out_unmap;
		}
		dma_sync_single_for_cpu(e->dev, da, T_LEN, DMA_BIDIRECTIONAL);
		memset(a + done, 0, EDU_CHUNK);
		dma_sync_single_for_device(e->dev, da, T_LEN,
					   DMA_BIDIRECTIONAL);
		ret = edu_dma(e, EDU_BUF_ADDR, da + done, EDU_CHUNK, true);
		if (ret) {
			ret = t_fail(e, "DMA edu -> RAM %pad+%zu: %d", &da, done,
				     ret);
			goto out_unmap;
		}
	}
	dma_sync_single_for_cpu(e->dev, da, T_LEN, DMA_BIDIRECTIONAL);
	ret = t_check_pattern(e, "bidirectional read back", a, T_LEN, seed);
out_unmap:
	t_unmap_single(e, da, T_LEN, DMA_BIDIRECTIONAL);
out_free:
	t_kfree(e, a);
	return ret;
}

/*
 * Negative control: the device READS the untranslated GPA (harmless, see the
 * comment at the top), then writes its buffer into a translated mapping.
 * Without translation the data must not arrive.  Then the same buffer goes
 * through a translated mapping, and the data must arrive.
 */
static int case_negative_control_gpa(struct edu_test *e, unsigned int nr)
{
	u32 seed = pat_seed(nr, 0);
	void *a = kmalloc(T_LEN, GFP_KERNEL);
	void *b = kmalloc(T_LEN, GFP_KERNEL);
	char why[sizeof(e->why)];
	phys_addr_t gpa;
	dma_addr_t da, db;
	size_t good;
	long bad;
	int ret;

	if (!a || !b) {
		ret = t_fail(e, "out of memory");
		goto out_free;
	}
	fill_pattern(a, T_LEN, seed);
	gpa = virt_to_phys(a);

	da = dma_map_single(e->dev, a, T_LEN, DMA_TO_DEVICE);
	if (dma_mapping_error(e->dev, da)) {
		ret = t_fail(e, "dma_map_single(TO_DEVICE) failed");
		goto out_free;
	}
	dev_info(e->dev, "negative-control: buffer gpa %pa, translated dma addr %pad\n",
		 &gpa, &da);

	memset(b, POISON, T_LEN);
	db = dma_map_single(e->dev, b, T_LEN, DMA_FROM_DEVICE);
	if (dma_mapping_error(e->dev, db)) {
		ret = t_fail(e, "dma_map_single(FROM_DEVICE) failed");
		goto out_unmap;
	}

	/*
	 * 1. Untranslated: the device READS RAM at the (32-bit masked) GPA;
	 * it writes only into the translated mapping of @b.
	 */
	ret = edu_round_trip(e, gpa & EDU_DMA_MASK, db, T_LEN, 0);
	if (ret)
		goto out_unmap_b;
	dma_sync_single_for_cpu(e->dev, db, T_LEN, DMA_FROM_DEVICE);
	good = match_pattern(b, T_LEN, seed, &bad);
	dev_info(e->dev, "negative-control: %zu of %u bytes matched via the untranslated gpa\n",
		 good, T_LEN);
	if (good * 100 >= T_LEN) {
		ret = t_fail(e, "untranslated gpa %pa delivered the data (%zu/%u match, dma %pad)",
			     &gpa, good, T_LEN, &da);
		goto out_unmap_b;
	}

	/* 2. Translated: the same buffer must now arrive intact. */
	memset(b, POISON, T_LEN);
	dma_sync_single_for_device(e->dev, db, T_LEN, DMA_FROM_DEVICE);
	ret = edu_round_trip(e, da, db, T_LEN, 0);
	if (ret) {
		strscpy(why, e->why);
		ret = t_fail(e, "positive leg: %s", why);
		goto out_unmap_b;
	}
	dma_sync_single_for_cpu(e->dev, db, T_LEN, DMA_FROM_DEVICE);
	ret = t_check_pattern(e, "positive leg read back", b, T_LEN, seed);
out_unmap_b:
	t_unmap_single(e, db, T_LEN, DMA_FROM_DEVICE);
out_unmap:
	t_unmap_single(e, da, T_LEN, DMA_TO_DEVICE);
out_free:
	t_kfree(e, b);
	t_kfree(e, a);
	return ret;
}

#define HIGHOFF			2048U
#define HIGHOFF_LEN		2048U

static int case_map_page_highoffset(struct edu_test *e, unsigned int nr)
{
	struct page *pa = alloc_page(GFP_KERNEL);
	struct page *pb = alloc_page(GFP_KERNEL);
	u32 seed = pat_seed(nr, 0);
	dma_addr_t da, db;
	u8 *a, *b;
	int ret;

	if (!pa || !pb) {
		ret = t_fail(e, "out of memory");
		goto out;
	}
	a = page_address(pa);
	b = page_address(pb);
	memset(a, 0, PAGE_SIZE);
	fill_pattern(a + HIGHOFF, HIGHOFF_LEN, seed);
	memset(b, POISON, PAGE_SIZE);

	da = dma_map_page(e->dev, pa, HIGHOFF, HIGHOFF_LEN, DMA_TO_DEVICE);
	if (dma_mapping_error(e->dev, da)) {
		ret = t_fail(e, "dma_map_page(TO_DEVICE) failed");
		goto out;
	}
	ret = edu_dma(e, da, EDU_BUF_ADDR, HIGHOFF_LEN, false);
	t_unmap_page(e, da, HIGHOFF_LEN, DMA_TO_DEVICE);
	if (ret) {
		ret = t_fail(e, "DMA RAM %pad -> edu: %d", &da, ret);
		goto out;
	}

	db = dma_map_page(e->dev, pb, HIGHOFF, HIGHOFF_LEN, DMA_FROM_DEVICE);
	if (dma_mapping_error(e->dev, db)) {
		ret = t_fail(e, "dma_map_page(FROM_DEVICE) failed");
		goto out;
	}
	ret = edu_dma(e, EDU_BUF_ADDR, db, HIGHOFF_LEN, true);
	t_unmap_page(e, db, HIGHOFF_LEN, DMA_FROM_DEVICE);
	if (ret) {
		ret = t_fail(e, "DMA edu -> RAM %pad: %d", &db, ret);
		goto out;
	}
	ret = t_check_pattern(e, "read back", b + HIGHOFF, HIGHOFF_LEN, seed);
	if (!ret)
		ret = t_check_poison(e, "low half guard", b, HIGHOFF);
out:
	t_free_pages(e, pb, 0);
	t_free_pages(e, pa, 0);
	return ret;
}

/*
 * The driver declares a 30-bit DMA mask and maps buffers from a NUMA node
 * whose host memory lies above 1 GiB (the rig binds it so): translation
 * cannot serve them, so they must be bounced below the mask, and the data
 * must still be right.  edu_dma() refuses any address beyond the mask.
 */
#define SMALL_MASK_BITS		30

static int case_small_mask(struct edu_test *e, unsigned int nr)
{
	struct page *pa, *pb;
	int ret;

	pa = alloc_pages_node(small_mask_node, GFP_KERNEL | __GFP_THISNODE, 0);
	pb = alloc_pages_node(small_mask_node, GFP_KERNEL | __GFP_THISNODE, 0);
	if (!pa || !pb) {
		ret = t_fail(e, "no memory on node %d", small_mask_node);
		goto out;
	}
	ret = dma_set_mask_and_coherent(e->dev, DMA_BIT_MASK(SMALL_MASK_BITS));
	if (ret) {
		ret = t_fail(e, "dma_set_mask_and_coherent(%d): %d",
			     SMALL_MASK_BITS, ret);
		goto out;
	}
	e->mask = DMA_BIT_MASK(SMALL_MASK_BITS);
	ret = rt_single(e, page_address(pa), page_address(pb), T_LEN, 0,
			pat_seed(nr, 0));
	e->mask = EDU_DMA_MASK;
	dma_set_mask_and_coherent(e->dev, EDU_DMA_MASK);
out:
	t_free_pages(e, pb, 0);
	t_free_pages(e, pa, 0);
	return ret;
}

struct edu_case {
	const char *name;
	int (*fn)(struct edu_test *e, unsigned int nr);
};

static const struct edu_case edu_cases[] = {
	{ "single-4k-to-device-and-back", case_single_4k },
	{ "many-in-a-row", case_many_in_a_row },
	{ "unaligned", case_unaligned },
	{ "scatterlist", case_scatterlist },
	{ "coherent", case_coherent },
	{ "bidirectional", case_bidirectional },
	{ "negative-control-gpa", case_negative_control_gpa },
	{ "dma-map-page-highoffset", case_map_page_highoffset },
	{ "scatterlist-contiguous", case_scatterlist_contig },
	{ "small-mask-bounced", case_small_mask },
};

static void edu_run_cases(struct edu_test *e)
{
	unsigned int i, passed = 0, failed = 0;

	for (i = 0; i < ARRAY_SIZE(edu_cases); i++) {
		const struct edu_case *c = &edu_cases[i];
		int ret;

		e->why[0] = '\0';
		if (c->fn == case_small_mask && small_mask_node == NUMA_NO_NODE)
			continue;
		if (e->wedged)
			ret = t_fail(e, "skipped: edu wedged by an earlier DMA timeout");
		else
			ret = c->fn(e, i + 1);
		if (!ret) {
			pr_info(E2E "%s: PASS\n", c->name);
			passed++;
		} else {
			pr_err(E2E "%s: FAIL (%s)\n", c->name,
			       e->why[0] ? e->why : "unspecified error");
			failed++;
		}
	}
	if (e->irq) {
		unsigned int irqs = atomic_read(&e->dma_irqs);

		if (e->dmas && irqs == e->dmas) {
			pr_info(E2E "msi-completions: PASS (%u DMAs, %u MSIs)\n",
				e->dmas, irqs);
			passed++;
		} else {
			pr_err(E2E "msi-completions: FAIL (%u DMAs, %u MSIs)\n",
			       e->dmas, irqs);
			failed++;
		}
	}
	if (e->leaked)
		dev_warn(e->dev, "leaked %u buffers/mappings because the device may still access them\n",
			 e->leaked);
	pr_info(E2E "done: %u passed, %u failed\n", passed, failed);
}

/* One FAIL line plus the summary, for failures before the cases run. */
static void edu_report_setup_failure(const char *what, const char *why)
{
	pr_err(E2E "%s: FAIL (%s)\n", what, why);
	pr_info(E2E "done: 0 passed, 1 failed\n");
}

/* ---- PCI glue ------------------------------------------------------------ */

static int edu_test_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct edu_test *e;
	char why[96];
	u32 ident, live;
	int ret;

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->pdev = pdev;
	e->dev = dev;
	e->mask = EDU_DMA_MASK;
	init_completion(&e->dma_done);

	ret = pci_enable_device(pdev);
	if (ret) {
		snprintf(why, sizeof(why), "pci_enable_device: %d", ret);
		goto err_report;
	}
	ret = pci_request_region(pdev, 0, DRV_NAME);
	if (ret) {
		snprintf(why, sizeof(why), "pci_request_region(BAR0): %d", ret);
		goto err_disable;
	}
	pci_set_master(pdev);

	e->bar = pci_iomap(pdev, 0, 0);
	if (!e->bar) {
		ret = -ENOMEM;
		snprintf(why, sizeof(why), "pci_iomap(BAR0) failed");
		goto err_release;
	}

	ident = readl(e->bar + EDU_REG_IDENT);
	if (ident != EDU_IDENT) {
		dev_err(dev, "BAR0 ident %#010x, not edu (%#010x)\n", ident,
			EDU_IDENT);
		ret = -ENODEV;
		snprintf(why, sizeof(why), "ident %#010x != %#010x", ident,
			 EDU_IDENT);
		goto err_unmap;
	}
	writel(0x12345678, e->bar + EDU_REG_LIVENESS);
	live = readl(e->bar + EDU_REG_LIVENESS);
	dev_info(dev, "edu ident %#010x, liveness %#010x\n", ident, live);

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32));
	if (ret) {
		snprintf(why, sizeof(why), "dma_set_mask_and_coherent(32): %d",
			 ret);
		goto err_unmap;
	}
	pci_set_drvdata(pdev, e);

	if (msi && pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI) == 1) {
		ret = request_irq(pci_irq_vector(pdev, 0), edu_irq, 0, DRV_NAME,
				  e);
		if (ret) {
			pci_free_irq_vectors(pdev);
			dev_warn(dev, "request_irq: %d; polling instead\n", ret);
		} else {
			e->irq = pci_irq_vector(pdev, 0);
		}
	}
	dev_info(dev, "DMA completion %s\n", e->irq ? "by MSI" : "polled");

	if (!run_cases) {
		dev_info(dev, "bound; run_cases=0, not running tests\n");
		return 0;
	}
	dev_info(dev, "dma_map_ops %ps\n", get_dma_ops(dev));
	if (!get_dma_ops(dev) && require_ops) {
		dev_err(dev, "no dma_map_ops: pvdma is not attached, and edu would write host memory at guest-physical addresses\n");
		edu_report_setup_failure("preflight",
					 "no dma_map_ops on the device (pvdma not attached); require_ops=0 overrides");
		return 0;
	}
	edu_run_cases(e);
	return 0;

err_unmap:
	pci_iounmap(pdev, e->bar);
err_release:
	pci_clear_master(pdev);
	pci_release_region(pdev, 0);
err_disable:
	pci_disable_device(pdev);
err_report:
	kfree(e);
	if (run_cases)
		edu_report_setup_failure("probe", why);
	return ret;
}

static void edu_test_remove(struct pci_dev *pdev)
{
	struct edu_test *e = pci_get_drvdata(pdev);

	if (e->wedged)
		dev_warn(&pdev->dev, "removing after a DMA timeout: %u leaked buffers stay mapped\n",
			 e->leaked);
	if (e->irq) {
		free_irq(e->irq, e);
		pci_free_irq_vectors(pdev);
	}
	pci_iounmap(pdev, e->bar);
	pci_clear_master(pdev);
	pci_release_region(pdev, 0);
	pci_disable_device(pdev);
	kfree(e);
}

static const struct pci_device_id edu_test_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },	/* QEMU's edu */
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_test_ids);

static struct pci_driver edu_test_driver = {
	.name		= DRV_NAME,
	.id_table	= edu_test_ids,
	.probe		= edu_test_probe,
	.remove		= edu_test_remove,
};
module_pci_driver(edu_test_driver);

MODULE_DESCRIPTION("PVDMA end-to-end test: edu DMA through the standard DMA API");
MODULE_LICENSE("GPL");
