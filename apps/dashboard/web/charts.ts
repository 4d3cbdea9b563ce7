// Hand-rolled SVG charts (no chart library): occupancy over time, and a ranked bar chart.

import type { SeriesPoint, TimeAtPlace } from './api.ts';
import { formatClock, formatDuration, formatTime, shortCell, svg } from './format.ts';

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 2.5, 5, 10].map((m) => m * p).find((n) => n >= v) ?? 10 * p) as number;
}

/**
 * Occupancy series as bars: one per step, height = peak devices. Suppressed steps (below k) are drawn as
 * hatched stubs up to the k line, never as a number; a dashed line marks k; a vertical line marks `markMs`.
 */
export function occupancyChart(
  points: SeriesPoint[],
  opts: { stepMs: number; kAnonymity: number; markMs?: number; width?: number; height?: number },
): SVGSVGElement {
  const W = opts.width ?? 340;
  const H = opts.height ?? 170;
  const m = { l: 34, r: 8, t: 10, b: 22 };
  const iw = W - m.l - m.r;
  const ih = H - m.t - m.b;
  const k = opts.kAnonymity;
  const maxV = niceMax(Math.max(k, ...points.map((p) => p.devices ?? 0)));
  const y = (v: number) => m.t + ih - (v / maxV) * ih;
  const t0 = points[0]?.startMs ?? 0;
  const t1 = (points.at(-1)?.startMs ?? t0) + opts.stepMs;
  const x = (t: number) => m.l + ((t - t0) / (t1 - t0 || 1)) * iw;
  const bw = Math.max(1, iw / Math.max(1, points.length) - (points.length > 60 ? 0 : 1));
  const root = svg('svg', {
    class: 'chart occupancy-chart',
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: 'img',
    'data-testid': 'place-chart',
  });
  root.append(
    svg(
      'defs',
      {},
      svg(
        'pattern',
        {
          id: 'hatch-chart',
          width: 4,
          height: 4,
          patternUnits: 'userSpaceOnUse',
          patternTransform: 'rotate(45)',
        },
        svg('rect', { width: 4, height: 4, fill: '#eee' }),
        svg('line', { x1: 0, y1: 0, x2: 0, y2: 4, stroke: '#aaa', 'stroke-width': 1.5 }),
      ),
    ),
  );
  // y grid + labels
  for (let i = 0; i <= 4; i++) {
    const v = (maxV / 4) * i;
    root.append(
      svg('line', { class: 'grid', x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }),
      svg(
        'text',
        { class: 'axis', x: m.l - 4, y: y(v), 'text-anchor': 'end', 'dominant-baseline': 'middle' },
        String(+v.toFixed(1)),
      ),
    );
  }
  // x labels: ~4 ticks
  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) / ticks) * i;
    root.append(
      svg(
        'text',
        {
          class: 'axis',
          x: x(t),
          y: H - 6,
          'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle',
        },
        formatClock(t),
      ),
    );
  }
  for (const p of points) {
    const bx = x(p.startMs);
    const title = svg(
      'title',
      {},
      `${formatTime(p.startMs)}: ${p.suppressed ? `suppressed (fewer than ${k})` : `${p.devices} devices (peak)`}`,
    );
    if (p.suppressed || p.devices === null) {
      root.append(
        svg(
          'rect',
          {
            class: 'bar suppressed',
            x: bx,
            y: y(k),
            width: bw,
            height: y(0) - y(k),
            fill: 'url(#hatch-chart)',
          },
          title,
        ),
      );
    } else {
      root.append(
        svg('rect', { class: 'bar', x: bx, y: y(p.devices), width: bw, height: y(0) - y(p.devices) }, title),
      );
    }
  }
  root.append(
    svg('line', { class: 'k-line', x1: m.l, x2: W - m.r, y1: y(k), y2: y(k) }),
    svg('text', { class: 'k-label', x: m.l + 3, y: y(k) - 3 }, `k = ${k}`),
    svg('line', { class: 'axis-line', x1: m.l, x2: W - m.r, y1: y(0), y2: y(0) }),
  );
  if (opts.markMs !== undefined && opts.markMs >= t0 && opts.markMs <= t1) {
    root.append(
      svg('line', { class: 'mark-line', x1: x(opts.markMs), x2: x(opts.markMs), y1: m.t, y2: y(0) }),
    );
  }
  return root;
}

/** Ranked horizontal bars: time spent per place. `onPick` is called with the cell of a clicked row. */
export function timeBars(
  locations: TimeAtPlace[],
  onPick: (cell: string) => void,
  width = 340,
): SVGSVGElement {
  const row = 26;
  const labelW = 130;
  const H = Math.max(row, locations.length * row);
  const max = Math.max(1, ...locations.map((l) => l.timeSpentMs));
  const root = svg('svg', {
    class: 'chart time-bars',
    viewBox: `0 0 ${width} ${H}`,
    width,
    height: H,
    role: 'list',
    'data-testid': 'mytime-chart',
  });
  locations.forEach((l, i) => {
    const y = i * row;
    const bw = Math.max(2, ((width - labelW - 4) * l.timeSpentMs) / max);
    const g = svg(
      'g',
      { class: 'time-row', role: 'listitem', 'data-cell': l.cell, tabindex: 0 },
      svg(
        'title',
        {},
        `${l.cell}: ${formatDuration(l.timeSpentMs)}, ${l.visits} visit${l.visits === 1 ? '' : 's'}`,
      ),
      svg('text', { class: 'rank', x: 0, y: y + row / 2, 'dominant-baseline': 'middle' }, `${i + 1}`),
      svg(
        'text',
        { class: 'cell-label', x: 18, y: y + row / 2, 'dominant-baseline': 'middle' },
        shortCell(l.cell),
      ),
      svg('rect', { class: 'bar', x: labelW, y: y + 4, width: bw, height: row - 8, rx: 2 }),
      svg(
        'text',
        {
          class: 'value',
          x: bw > 110 ? labelW + bw - 4 : labelW + bw + 4,
          y: y + row / 2,
          'text-anchor': bw > 110 ? 'end' : 'start',
          'dominant-baseline': 'middle',
        },
        `${formatDuration(l.timeSpentMs)} · ${l.visits}×`,
      ),
    );
    g.classList.toggle('inside', bw > 110);
    g.addEventListener('click', () => onPick(l.cell));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') onPick(l.cell);
    });
    root.append(g);
  });
  return root;
}
