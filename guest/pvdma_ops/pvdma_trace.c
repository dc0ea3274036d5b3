// SPDX-License-Identifier: GPL-2.0
/*
 * The definitions of pvdma's tracepoints (pvdma_trace.h), at the bottom of
 * the guest side, so that every part above may use them.
 */

#define CREATE_TRACE_POINTS
#include "pvdma_trace.h"
