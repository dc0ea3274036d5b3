/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvdma tracepoints: events/pvdma_guest/ in tracefs.
 *
 * They record guest-physical addresses and sizes, never the host-physical
 * DMA addresses: pvdma does not disclose HPAs to guest user space, and
 * tracefs is readable from it.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM pvdma_guest

#if !defined(_PVDMA_GUEST_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _PVDMA_GUEST_TRACE_H

#include <linux/device.h>
#include <linux/dma-direction.h>
#include <linux/tracepoint.h>

TRACE_DEFINE_ENUM(DMA_BIDIRECTIONAL);
TRACE_DEFINE_ENUM(DMA_TO_DEVICE);
TRACE_DEFINE_ENUM(DMA_FROM_DEVICE);
TRACE_DEFINE_ENUM(DMA_NONE);

#define pvdma_show_dir(dir)						\
	__print_symbolic(dir,						\
			 { DMA_BIDIRECTIONAL, "BIDIRECTIONAL" },	\
			 { DMA_TO_DEVICE, "TO_DEVICE" },		\
			 { DMA_FROM_DEVICE, "FROM_DEVICE" },		\
			 { DMA_NONE, "NONE" })

/* A buffer pinned and translated by the host. */
TRACE_EVENT(pvdma_guest_map,
	TP_PROTO(struct device *dev, phys_addr_t phys, size_t size,
		 enum dma_data_direction dir, int nr_segs),
	TP_ARGS(dev, phys, size, dir, nr_segs),

	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(u64, phys)
		__field(size_t, size)
		__field(int, dir)
		__field(int, nr_segs)
	),

	TP_fast_assign(
		__assign_str(dev_name);
		__entry->phys = phys;
		__entry->size = size;
		__entry->dir = dir;
		__entry->nr_segs = nr_segs;
	),

	TP_printk("%s gpa=%#llx size=%zu dir=%s segs=%d",
		  __get_str(dev_name), __entry->phys, __entry->size,
		  pvdma_show_dir(__entry->dir), __entry->nr_segs)
);

/* A buffer served from the bounce pool instead. */
TRACE_EVENT(pvdma_guest_bounce,
	TP_PROTO(struct device *dev, phys_addr_t phys, size_t size,
		 enum dma_data_direction dir),
	TP_ARGS(dev, phys, size, dir),

	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(u64, phys)
		__field(size_t, size)
		__field(int, dir)
	),

	TP_fast_assign(
		__assign_str(dev_name);
		__entry->phys = phys;
		__entry->size = size;
		__entry->dir = dir;
	),

	TP_printk("%s gpa=%#llx size=%zu dir=%s",
		  __get_str(dev_name), __entry->phys, __entry->size,
		  pvdma_show_dir(__entry->dir))
);

/* A mapping released, translated or bounced. */
TRACE_EVENT(pvdma_guest_unmap,
	TP_PROTO(struct device *dev, size_t size, enum dma_data_direction dir,
		 bool bounced),
	TP_ARGS(dev, size, dir, bounced),

	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__field(size_t, size)
		__field(int, dir)
		__field(bool, bounced)
	),

	TP_fast_assign(
		__assign_str(dev_name);
		__entry->size = size;
		__entry->dir = dir;
		__entry->bounced = bounced;
	),

	TP_printk("%s size=%zu dir=%s %s", __get_str(dev_name),
		  __entry->size, pvdma_show_dir(__entry->dir),
		  __entry->bounced ? "bounced" : "translated")
);

/*
 * Translation could not serve a mapping, or a mapping failed: @cause is
 * the name of the counter that counted it, @err the host's or the kernel's
 * error code (0 if there is none).
 */
TRACE_EVENT(pvdma_guest_fail,
	TP_PROTO(struct device *dev, phys_addr_t phys, size_t size,
		 const char *cause, long err),
	TP_ARGS(dev, phys, size, cause, err),

	TP_STRUCT__entry(
		__string(dev_name, dev_name(dev))
		__string(cause, cause)
		__field(u64, phys)
		__field(size_t, size)
		__field(long, err)
	),

	TP_fast_assign(
		__assign_str(dev_name);
		__assign_str(cause);
		__entry->phys = phys;
		__entry->size = size;
		__entry->err = err;
	),

	TP_printk("%s gpa=%#llx size=%zu cause=%s err=%ld",
		  __get_str(dev_name), __entry->phys, __entry->size,
		  __get_str(cause), __entry->err)
);

#endif /* _PVDMA_GUEST_TRACE_H */

/* Out of tree and in tree alike, the header sits next to its users. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE pvdma_trace

/* This part must be outside protection */
#include <trace/define_trace.h>
