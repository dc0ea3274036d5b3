// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvdma_bench: the in-guest half of `make bench`.
 *
 * Times map + unmap pairs through the standard DMA API, the way a driver
 * that recycles its buffers (a ring, a page pool) would issue them:
 *
 *  - on the directly assigned PCI device it binds to, which goes through
 *    whatever pvdma is configured to do (translate, cache, bounce);
 *  - on a device of its own that has no DMA ops, which takes the kernel's
 *    untranslated dma-direct path: the lower bound, never used for real
 *    DMA to an assigned device.
 *
 * Nothing is sent to the device: this measures the mapping layer only.
 * The figures that matter on the emulated rig are counts (hypercalls, bytes
 * copied, pages pinned), which the rig script reads from pvdma's debugfs
 * around each run; the time is only compared within one run.
 *
 * Interface, in debugfs pvdma_bench/run:
 *   echo "buf <bytes per buffer> <sg entries, 0 = map_single>" > run
 *	allocates the buffer every later run maps: one guest-contiguous
 *	buffer, or that many separate pages;
 *   echo "run <dev|direct> <iterations>" > run
 *	maps and unmaps the same buffer that many times, as a driver
 *	recycling it would;
 *   cat run    ->  "ns=<total> iters=<n> errors=<failed maps>"
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>

#define BENCH_MAX_ENTRIES	256
#define BENCH_MAX_BYTES		SZ_1M

static struct bench {
	struct mutex lock;		/* serialises commands */
	struct device *assigned;	/* the pvdma device */
	struct platform_device *direct;	/* no DMA ops: dma-direct */
	struct dentry *dir;
	size_t size;			/* bytes of @buf, or of each entry */
	unsigned int nents;		/* entries of @sgt, 0: use @buf */
	void *buf;
	struct sg_table sgt;
	char result[96];
} bench = { .lock = __MUTEX_INITIALIZER(bench.lock) };

/* Map and unmap one buffer @iters times; returns failed maps. */
static unsigned int bench_single(struct device *dev, void *buf, size_t size,
				 unsigned int iters)
{
	unsigned int i, errors = 0;

	for (i = 0; i < iters; i++) {
		dma_addr_t addr = dma_map_single(dev, buf, size,
						 DMA_BIDIRECTIONAL);

		if (dma_mapping_error(dev, addr)) {
			errors++;
			continue;
		}
		dma_unmap_single(dev, addr, size, DMA_BIDIRECTIONAL);
	}
	return errors;
}

/* Map and unmap one scatterlist @iters times; returns failed maps. */
static unsigned int bench_sg(struct device *dev, struct sg_table *sgt,
			     unsigned int iters)
{
	unsigned int i, errors = 0;

	for (i = 0; i < iters; i++) {
		if (dma_map_sgtable(dev, sgt, DMA_BIDIRECTIONAL, 0)) {
			errors++;
			continue;
		}
		dma_unmap_sgtable(dev, sgt, DMA_BIDIRECTIONAL, 0);
	}
	return errors;
}

static void bench_sg_free(struct sg_table *sgt)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sgtable_sg(sgt, sg, i)
		__free_page(sg_page(sg));
	sg_free_table(sgt);
}

/*
 * An sg list of @nents separate pages, @size bytes from each: allocated one
 * by one so that, as in a real driver, neighbours need not be adjacent.
 * Frees what it took if it fails.
 */
static int bench_sg_alloc(struct sg_table *sgt, unsigned int nents,
			  size_t size)
{
	struct scatterlist *sg;
	unsigned int i;

	if (sg_alloc_table(sgt, nents, GFP_KERNEL))
		return -ENOMEM;
	for_each_sgtable_sg(sgt, sg, i) {
		struct page *page = alloc_page(GFP_KERNEL);

		if (!page) {
			sgt->orig_nents = i;
			bench_sg_free(sgt);
			return -ENOMEM;
		}
		sg_set_page(sg, page, size, 0);
	}
	return 0;
}

static void bench_buf_free(void)
{
	if (bench.nents)
		bench_sg_free(&bench.sgt);
	else if (bench.buf)
		free_pages((unsigned long)bench.buf, get_order(bench.size));
	bench.buf = NULL;
	bench.nents = 0;
}

static int bench_buf_alloc(size_t size, unsigned int nents)
{
	int ret;

	bench_buf_free();
	if (nents) {
		ret = bench_sg_alloc(&bench.sgt, nents, size);
		if (ret)
			return ret;
		bench.nents = nents;
	} else {
		bench.buf = (void *)__get_free_pages(GFP_KERNEL,
						     get_order(size));
		if (!bench.buf)
			return -ENOMEM;
	}
	bench.size = size;
	return 0;
}

static int bench_run(struct device *dev, unsigned int iters)
{
	unsigned int errors;
	u64 start, ns;

	if (!bench.nents && !bench.buf)
		return -ENOENT;
	start = ktime_get_ns();
	if (bench.nents)
		errors = bench_sg(dev, &bench.sgt, iters);
	else
		errors = bench_single(dev, bench.buf, bench.size, iters);
	ns = ktime_get_ns() - start;
	snprintf(bench.result, sizeof(bench.result),
		 "ns=%llu iters=%u errors=%u\n", ns, iters, errors);
	return 0;
}

static int bench_command(const char *cmd)
{
	unsigned int nents, iters;
	struct device *dev;
	char which[8];
	size_t size;

	if (sscanf(cmd, "buf %zu %u", &size, &nents) == 2) {
		if (!size || nents > BENCH_MAX_ENTRIES ||
		    size > (nents ? PAGE_SIZE : BENCH_MAX_BYTES))
			return -EINVAL;
		return bench_buf_alloc(size, nents);
	}
	if (sscanf(cmd, "run %7s %u", which, &iters) != 2 || !iters)
		return -EINVAL;
	if (!strcmp(which, "dev"))
		dev = bench.assigned;
	else if (!strcmp(which, "direct"))
		dev = &bench.direct->dev;
	else
		return -EINVAL;
	if (!dev)
		return -ENODEV;
	return bench_run(dev, iters);
}

static ssize_t bench_write(struct file *file, const char __user *ubuf,
			   size_t len, loff_t *ppos)
{
	char cmd[64];
	int ret;

	if (len >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, len))
		return -EFAULT;
	cmd[len] = '\0';

	mutex_lock(&bench.lock);
	ret = bench_command(cmd);
	mutex_unlock(&bench.lock);
	return ret ?: len;
}

static ssize_t bench_read(struct file *file, char __user *ubuf, size_t len,
			  loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&bench.lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, bench.result,
				      strlen(bench.result));
	mutex_unlock(&bench.lock);
	return ret;
}

static const struct file_operations bench_fops = {
	.owner = THIS_MODULE,
	.read = bench_read,
	.write = bench_write,
	.llseek = default_llseek,
};

static int bench_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int ret;

	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(32));
	if (ret)
		return ret;
	mutex_lock(&bench.lock);
	bench.assigned = &pdev->dev;
	mutex_unlock(&bench.lock);
	dev_info(&pdev->dev, "bench: dma_map_ops %ps\n", get_dma_ops(&pdev->dev));
	return 0;
}

static void bench_remove(struct pci_dev *pdev)
{
	mutex_lock(&bench.lock);
	bench.assigned = NULL;
	mutex_unlock(&bench.lock);
}

/*
 * QEMU's edu, assigned to the rig's guest through vfio-pci: pvdma attaches
 * to it, and nothing is sent to it.
 */
static const struct pci_device_id bench_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, bench_ids);

static struct pci_driver bench_driver = {
	.name = "pvdma_bench",
	.id_table = bench_ids,
	.probe = bench_probe,
	.remove = bench_remove,
};

static int __init bench_init(void)
{
	int ret;

	bench.direct = platform_device_register_simple("pvdma_bench_direct",
						       -1, NULL, 0);
	if (IS_ERR(bench.direct))
		return PTR_ERR(bench.direct);
	ret = dma_coerce_mask_and_coherent(&bench.direct->dev,
					   DMA_BIT_MASK(64));
	if (ret)
		goto err_unregister;

	bench.dir = debugfs_create_dir("pvdma_bench", NULL);
	debugfs_create_file("run", 0600, bench.dir, NULL, &bench_fops);
	ret = pci_register_driver(&bench_driver);
	if (ret)
		goto err_debugfs;
	return 0;

err_debugfs:
	debugfs_remove(bench.dir);
err_unregister:
	platform_device_unregister(bench.direct);
	return ret;
}

static void __exit bench_exit(void)
{
	pci_unregister_driver(&bench_driver);
	debugfs_remove(bench.dir);
	bench_buf_free();
	platform_device_unregister(bench.direct);
}

module_init(bench_init);
module_exit(bench_exit);
MODULE_DESCRIPTION("PVDMA map/unmap benchmark (in the rig's guest)");
MODULE_LICENSE("GPL");
