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


def parse(path):
    rows, peak = [], None
    with open(path, errors='replace') as log:
        for line in log:
            line = line.strip()
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
    return rows, peak


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


def chart(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    wls = list(dict.fromkeys(r['workload'] for r in rows))
    panels = (('ns_per_op', 'time per map+unmap (ns, log scale;\n'
                            'compare within this run only)', True),
              ('hypercalls_per_op', 'hypercalls per map+unmap', False),
              ('bytes_copied_per_op', 'bytes copied per map+unmap', False))
    fig, axes = plt.subplots(1, len(panels), figsize=(18, 5.5))
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
    rows, peak = parse(log)
    if not rows:
        sys.exit('bench: no results in ' + log)
    add_ratios(rows)
    tg = targets(rows, peak)
    table(rows)
    print()
    for t in tg:
        print(f"target: {t['target']}: want {t['want']}, measured "
              f"{t['measured']}: {'met' if t['met'] else 'NOT met'}")
    if peak:
        print(f"host: at peak {peak['pinned_pages']} pages pinned under "
              f"{peak['live_handles']} handles, tracked in "
              f"{peak['tracker_bytes']} bytes")
    png = out + '/bench.png'
    chart(rows, png)
    path = out + '/bench.json'
    with open(path, 'w') as f:
        json.dump({'results': rows, 'targets': tg, 'host_peak': peak,
                   'chart': png}, f, indent=1)
    print(f'bench: chart in {png}')
    print(f'bench: results in {path}')


if __name__ == '__main__':
    main()
