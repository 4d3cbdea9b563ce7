// Charts: the occupancy time series with uPlot (bars per step, suppressed steps as grey stubs up to k,
// a dashed k line and a marker at the shown minute), and "my time" as a ranked HTML list whose bar
// widths are proportional (a list reads better to a screen reader than a canvas).

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { SeriesPoint, TimeAtPlace } from './api.ts';
import { el, formatClock, formatDuration, formatTime, shortCell } from './format.ts';

const BAR = '#d9480f';
const SUPPRESSED = 'rgba(140,140,140,0.45)';

/** A step of a series, with its live-edge state and nowcast (cells' and places' series both carry them). */
export type ChartPoint = Pick<SeriesPoint, 'startMs' | 'devices' | 'suppressed'> &
  Partial<Pick<SeriesPoint, 'state' | 'nowcast'>>;

export interface OccupancyChartOptions {
  stepMs: number;
  kAnonymity: number;
  /** A vertical marker (the minute shown). */
  markMs?: number | undefined;
  /** Start of the provisional tail (shaded; its nowcast estimates drawn as a dashed line). */
  provisionalFromMs?: number | null | undefined;
  width?: number;
  height?: number;
  /** data-testid of the chart (default `place-chart`). */
  testId?: string;
}

/**
 * Occupancy series as bars, one per step (peak devices). A step below k has no number: it is drawn as
 * a grey stub up to the k line. Returns the chart's container; call `destroy` on it via `disposeChart`.
 */
export function occupancyChart(points: ChartPoint[], opts: OccupancyChartOptions): HTMLElement {
  const k = opts.kAnonymity;
  const xs = points.map((p) => p.startMs / 1000);
  const shown = points.map((p) => (p.suppressed || p.devices === null ? null : p.devices));
  const hidden = points.map((p) => (p.suppressed || p.devices === null ? k : null));
  const kLine = points.map(() => k);
  // The provisional tail: the nowcast estimate (k-anonymised by the API; null when not publishable).
  const nowcast = points.map((p) => (p.state === 'provisional' ? (p.nowcast?.estimate ?? null) : null));
  const tail = opts.provisionalFromMs == null ? undefined : opts.provisionalFromMs / 1000;
  const bars = uPlot.paths.bars?.({ size: [0.85, 40], align: 1 });
  const box = el('div', {
    class: 'chart occupancy-chart',
    'data-testid': opts.testId ?? 'place-chart',
    'data-bars': String(shown.filter((v) => v !== null).length),
    'data-suppressed': String(hidden.filter((v) => v !== null).length),
    'data-provisional': String(points.filter((p) => p.state === 'provisional').length),
    role: 'img',
    'aria-label': describeSeries(points, k),
  });
  const mark = opts.markMs === undefined ? undefined : opts.markMs / 1000;
  const plot = new uPlot(
    {
      width: opts.width ?? 340,
      height: opts.height ?? 180,
      legend: { show: false },
      cursor: { y: false, points: { show: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(k * 1.5, max * 1.1)] } },
      axes: [
        { values: (_u, splits) => splits.map((s) => formatClock(s * 1000)), size: 28, gap: 2 },
        { size: 36, gap: 2 },
      ],
      series: [
        { value: (_u, v) => (v == null ? '' : formatTime(v * 1000)) },
        { label: 'devices', fill: BAR, stroke: BAR, paths: bars, points: { show: false } },
        {
          label: `fewer than ${k}`,
          fill: SUPPRESSED,
          stroke: SUPPRESSED,
          paths: bars,
          points: { show: false },
        },
        { label: `k = ${k}`, stroke: '#555', dash: [4, 4], width: 1, points: { show: false } },
        { label: 'nowcast (provisional)', stroke: '#1c7ed6', dash: [2, 3], width: 2, points: { show: true } },
      ],
      hooks: {
        draw: [
          (u) => {
            if (tail === undefined) return;
            const { ctx, bbox } = u;
            const x = Math.max(bbox.left, u.valToPos(tail, 'x', true));
            ctx.save();
            ctx.fillStyle = 'rgba(28,126,214,0.08)';
            ctx.fillRect(x, bbox.top, bbox.left + bbox.width - x, bbox.height);
            ctx.restore();
          },
          (u) => {
            if (mark === undefined) return;
            const x = u.valToPos(mark + opts.stepMs / 2000, 'x', true);
            const { ctx, bbox } = u;
            ctx.save();
            ctx.strokeStyle = '#111';
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x, bbox.top);
            ctx.lineTo(x, bbox.top + bbox.height);
            ctx.stroke();
            ctx.restore();
          },
        ],
      },
    },
    [xs, shown, hidden, kLine, nowcast],
    box,
  );
  (box as HTMLElement & { uplot?: uPlot }).uplot = plot;
  return box;
}

/** Frees a chart made by `occupancyChart` (uPlot keeps a resize listener). */
export function disposeChart(node: Element | null | undefined): void {
  (node as (Element & { uplot?: uPlot }) | null | undefined)?.uplot?.destroy();
}

function describeSeries(points: ChartPoint[], k: number): string {
  const values = points.filter((p) => !p.suppressed && p.devices !== null).map((p) => p.devices as number);
  const first = points[0];
  const last = points.at(-1);
  if (!first || !last) return 'no data';
  const range = `${formatTime(first.startMs)} to ${formatTime(last.startMs)}`;
  if (!values.length) return `${range}: every step below ${k} devices (suppressed)`;
  return `${range}: peak ${Math.max(...values)} devices; ${points.length - values.length} steps below ${k} (suppressed)`;
}

/** Ranked time per place; `onPick` gets the cell of a chosen row. */
export function timeBars(locations: TimeAtPlace[], onPick: (cell: string) => void): HTMLElement {
  const max = Math.max(1, ...locations.map((l) => l.timeSpentMs));
  return el(
    'ol',
    { class: 'time-bars', 'data-testid': 'mytime-chart' },
    ...locations.map((l, i) => {
      const button = el(
        'button',
        {
          type: 'button',
          class: 'time-row',
          'data-cell': l.cell,
          title: `${l.cell}: ${formatDuration(l.timeSpentMs)}, ${l.visits} visit${l.visits === 1 ? '' : 's'}`,
        },
        el('span', { class: 'rank' }, String(i + 1)),
        el('code', { class: 'cell-label' }, shortCell(l.cell)),
        el(
          'span',
          { class: 'bar-track' },
          el('span', {
            class: 'bar',
            style: `width:${Math.max(2, (100 * l.timeSpentMs) / max).toFixed(1)}%`,
          }),
        ),
        el('span', { class: 'value' }, `${formatDuration(l.timeSpentMs)} · ${l.visits}×`),
      );
      button.addEventListener('click', () => onPick(l.cell));
      return el('li', {}, button);
    }),
  );
}
