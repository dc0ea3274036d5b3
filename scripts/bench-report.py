#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Turn the rig's bench-result lines into a table, JSON and a PNG chart.

Usage: bench-report.py CONSOLE_LOG OUT_DIR

Every figure comes from the log of one run: counts per operation (one
operation is a map + unmap pair) and times, with ratios taken against
forced bouncing in the same run.
"""
import json
import re
import sys

MODES = ['pvdma-nocache', 'pvdma-cache', 'bounce', 'untranslated']
RESULT = re.compile(r'^bench-result: (.*)$')
PEAK = re.compile(r'^host: bench: peak pinned_pages=(\d+) live_handles=(\d+) '
                  r'tracker_bytes=(\d+)$')
FIO = re.compile(r'^bench-fio: (.*)$')
PINNED = re.compile(r'^bench-pinned: (.*)$')
FIO_MODES = ['cache-on', 'cache-off', 'bounce']


def workload(size, nents):
    if nents:
        return f'sg {nents} x 4 KiB'
    return f'{size >> 10} KiB' if size < 1 << 20 else f'{size >> 20} MiB'


def fields(text):
    return dict(kv.split('=', 1) for kv in text.split() if '=' in kv)


def parse(path):
    rows, peak, fio, pinned = [], None, [], None
    with open(path, errors='replace') as log:
        for line in log:
            line = line.strip()
            m = FIO.match(line)
            if m:
                fio.append(fields(m.group(1)))
                continue
            m = PINNED.match(line)
            if m:
                pinned = {k: int(v) for k, v in fields(m.group(1)).items()}
                continue
            m = PEAK.match(line)
            if m:
                peak = dict(zip(('pinned_pages', 'live_handles',
                                 'tracker_bytes'), map(int, m.groups())))
                continue
            m = RESULT.match(line)
            if not m:
                continue
            f = dict(kv.split('=', 1) for kv in m.group(1).split()
                     if '=' in kv)
            row = {'mode': f['mode'], 'size': int(f['size']),
                   'nents': int(f['nents'])}
            row['workload'] = workload(row['size'], row['nents'])
            if 'ns' not in f:
                row['error'] = 'run failed'
                rows.append(row)
                continue
            iters = int(f['iters'])
            row.update({
                'iterations': iters,
                'failed_maps': int(f['errors']),
                'ns_per_op': int(f['ns']) / iters,
                'hypercalls_per_op': int(f['hypercalls']) / iters,
                'map_hypercalls_per_op': int(f['map_hypercalls']) / iters,
                'bytes_copied_per_op': int(f['copied_bytes']) / iters,
                'pins_per_op': int(f['pinned_pages']) / iters,
            })
            rows.append(row)
    return rows, peak, fio, pinned


def median(values):
    v = sorted(values)
    n = len(v)
    if not n:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def device_section(fio, pinned):
    """fio on the assigned NVMe: medians over the interleaved repetitions,
    ratios against the pin cache on, taken within each repetition."""
    out = {'runs': fio, 'summary': [], 'pinned': pinned}
    for bs in dict.fromkeys(r['bs'] for r in fio):
        reps = {}
        for r in fio:
            if r['bs'] == bs and r.get('err') == '0':
                reps.setdefault(r['rep'], {})[r['mode']] = r
        for mode in FIO_MODES:
            runs = [rep[mode] for rep in reps.values() if mode in rep]
            if not runs:
                continue
            iops = [int(r['iops']) for r in runs]
            ratios = [int(rep[mode]['iops']) / int(rep['cache-on']['iops'])
                      for rep in reps.values()
                      if mode in rep and 'cache-on' in rep and
                      int(rep['cache-on']['iops'])]
            ios = [int(r['read_kib']) * 1024 / (int(bs[:-1]) * 1024)
                   for r in runs]
            out['summary'].append({
                'bs': bs, 'mode': mode, 'reps': len(runs),
                'iops_median': median(iops), 'iops_min': min(iops),
                'iops_max': max(iops),
                'kib_s_median': median([int(r['kbs']) for r in runs]),
                'iops_vs_cache_on': median(ratios),
                'map_hypercalls_per_io': median(
                    [int(r['map_hypercalls']) / n for r, n in zip(runs, ios)]),
                'cache_hits_per_io': median(
                    [int(r['cache_hits']) / n for r, n in zip(runs, ios)]),
                'copied_bytes_per_io': median(
                    [int(r['copied_bytes']) / n for r, n in zip(runs, ios)]),
            })
    return out


def device_table(dev):
    print('device: fio random reads on the assigned NVMe, queue depth 16 '
          '(medians over interleaved repetitions)')
    head = (f"{'bs':<6}{'mode':<11}{'reps':>5}{'IOPS':>8}{'min-max':>13}"
            f"{'KiB/s':>9}{'vs cache on':>13}{'MAP hc/IO':>11}"
            f"{'hits/IO':>9}{'copied B/IO':>13}")
    print(head)
    print('-' * len(head))
    for r in dev['summary']:
        print(f"{r['bs']:<6}{r['mode']:<11}{r['reps']:>5}"
              f"{fmt(r['iops_median'], '.0f'):>8}"
              f"{r['iops_min']:>6}-{r['iops_max']:<6}"
              f"{fmt(r['kib_s_median'], '.0f'):>9}"
              f"{fmt(r['iops_vs_cache_on'], '.3f'):>13}"
              f"{fmt(r['map_hypercalls_per_io'], '.3f'):>11}"
              f"{fmt(r['cache_hits_per_io'], '.3f'):>9}"
              f"{fmt(r['copied_bytes_per_io'], '.0f'):>13}")
    p = dev['pinned']
    if p:
        host = (p['bounce_pool_pages'] + p['cached_pages']) * 4
        ram = p['guest_ram_kib']
        print(f"device: pinned on the host for this guest's DMA at the end: "
              f"{host} KiB ({p['bounce_pool_pages']} pool pages + "
              f"{p['cached_pages']} kept by the pin cache) against "
              f"{ram} KiB of guest RAM ({100.0 * host / ram:.1f}%); VFIO "
              f"type1 would pin all of it")


def add_ratios(rows):
    bounce = {(r['workload']): r for r in rows
              if r['mode'] == 'bounce' and 'ns_per_op' in r
              and not r['failed_maps']}
    for r in rows:
        b = bounce.get(r['workload'])
        if b and 'ns_per_op' in r:
            r['time_vs_bounce'] = r['ns_per_op'] / b['ns_per_op']


def find(rows, wl, mode):
    for r in rows:
        if r['workload'] == wl and r['mode'] == mode and 'ns_per_op' in r:
            return r
    return None


def targets(rows, peak):
    out = []

    def target(name, want, got, met):
        out.append({'target': name, 'want': want, 'measured': got,
                    'met': bool(met)})

    r = find(rows, 'sg 256 x 4 KiB', 'pvdma-nocache')
    target('map_sg of 256 entries: hypercalls per map', '== 1',
           r and r['map_hypercalls_per_op'],
           r and r['map_hypercalls_per_op'] == 1 and not r['failed_maps'])
    worst = max((r['hypercalls_per_op'] for r in rows
                 if r['mode'] == 'pvdma-cache' and 'ns_per_op' in r),
                default=None)
    target('recycled buffer, cache on: hypercalls per map+unmap',
           '<= 0.05', worst, worst is not None and worst <= 0.05)
    copied = max((r['bytes_copied_per_op'] for r in rows
                  if r['mode'] in ('pvdma-nocache', 'pvdma-cache')
                  and 'ns_per_op' in r), default=None)
    target('bytes copied on the translated path', '== 0', copied,
           copied == 0)
    bpp = peak and peak['pinned_pages'] and \
        peak['tracker_bytes'] / peak['pinned_pages']
    target('host tracking memory per pinned page (bytes)', '<= 16',
           bpp and round(bpp, 2), bpp and bpp <= 16)
    c, b = find(rows, '64 KiB', 'pvdma-cache'), find(rows, '64 KiB', 'bounce')
    target('64 KiB map+unmap, cache on, vs forced bouncing (time ratio)',
           '< 1', c and b and round(c['ns_per_op'] / b['ns_per_op'], 3),
           c and b and c['ns_per_op'] < b['ns_per_op'])
    return out


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else '-'


def table(rows):
    head = (f"{'workload':<16}{'mode':<15}{'hcalls/op':>10}{'map hc/op':>10}"
            f"{'copied B/op':>12}{'pins/op':>9}{'ns/op':>12}{'vs bounce':>10}"
            f"{'failed':>8}")
    print(head)
    print('-' * len(head))
    for r in rows:
        if 'error' in r:
            print(f"{r['workload']:<16}{r['mode']:<15}  {r['error']}")
            continue
        print(f"{r['workload']:<16}{r['mode']:<15}"
              f"{fmt(r['hypercalls_per_op'], '.3f'):>10}"
              f"{fmt(r['map_hypercalls_per_op'], '.3f'):>10}"
              f"{fmt(r['bytes_copied_per_op'], '.0f'):>12}"
              f"{fmt(r['pins_per_op'], '.2f'):>9}"
              f"{fmt(r['ns_per_op'], '.0f'):>12}"
              f"{fmt(r.get('time_vs_bounce'), '.3f'):>10}"
              f"{r['failed_maps']:>8}")


def chart(rows, path, dev=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    wls = list(dict.fromkeys(r['workload'] for r in rows))
    panels = (('ns_per_op', 'time per map+unmap (ns, log scale;\n'
                            'compare within this run only)', True),
              ('hypercalls_per_op', 'hypercalls per map+unmap', False),
              ('bytes_copied_per_op', 'bytes copied per map+unmap', False))
    fio_rows = dev['summary'] if dev else []
    fig, axes = plt.subplots(1, len(panels) + bool(fio_rows),
                             figsize=(18 + 6 * bool(fio_rows), 5.5))
    width = 0.8 / len(MODES)
    for i, mode in enumerate(MODES):
        for ax, (key, _, _) in zip(axes, panels):
            for x, wl in enumerate(wls):
                r = find(rows, wl, mode)
                pos = x + i * width
                if not r or r['failed_maps']:
                    # A mode that cannot serve the workload at all.
                    ax.text(pos, 0.02, 'failed', rotation=90, fontsize=7,
                            ha='center', va='bottom',
                            transform=ax.get_xaxis_transform())
                    continue
                ax.bar(pos, r[key], width, color=f'C{i}',
                       label=mode if x == 0 else None)
    if fio_rows:
        ax = axes[-1]
        sizes = list(dict.fromkeys(r['bs'] for r in fio_rows))
        w = 0.8 / len(FIO_MODES)
        for i, mode in enumerate(FIO_MODES):
            for x, bs in enumerate(sizes):
                r = next((r for r in fio_rows
                          if r['bs'] == bs and r['mode'] == mode), None)
                if r:
                    ax.bar(x + i * w, r['iops_vs_cache_on'], w,
                           color=f'C{i + 4}', label=mode if x == 0 else None)
        ax.set_xticks([x + 0.4 - w / 2 for x in range(len(sizes))])
        ax.set_xticklabels([f'fio {bs} randread' for bs in sizes])
        ax.set_title('assigned NVMe: IOPS relative to the pin cache on\n'
                     '(median of interleaved runs)', fontsize=10)
        ax.legend(fontsize=8)
    for ax, (_, title, log) in zip(axes, panels):
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(wls))])
        ax.set_xticklabels(wls, rotation=20)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        if log:
            ax.set_yscale('log')
    fig.suptitle('PVDMA map+unmap of recycled buffers (nested rig, one run)')
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    log, out = sys.argv[1], sys.argv[2]
    rows, peak, fio, pinned = parse(log)
    if not rows:
        sys.exit('bench: no results in ' + log)
    add_ratios(rows)
    tg = targets(rows, peak)
    dev = device_section(fio, pinned)
    table(rows)
    print()
    if dev['summary']:
        device_table(dev)
        print()
    for t in tg:
        print(f"target: {t['target']}: want {t['want']}, measured "
              f"{t['measured']}: {'met' if t['met'] else 'NOT met'}")
    if peak:
        print(f"host: at peak {peak['pinned_pages']} pages pinned under "
              f"{peak['live_handles']} handles, tracked in "
              f"{peak['tracker_bytes']} bytes")
    png = out + '/bench.png'
    chart(rows, png, dev)
    path = out + '/bench.json'
    with open(path, 'w') as f:
        json.dump({'results': rows, 'targets': tg, 'host_peak': peak,
                   'device': dev, 'chart': png}, f, indent=1)
    print(f'bench: chart in {png}')
    print(f'bench: results in {path}')


if __name__ == '__main__':
    main()
