// The cell detail panel: a cell's series (uPlot, with the answer's provisional tail) and its count at
// the minute shown, with the live-edge state. main.ts owns the clock (live or time travel) and asks here.

import type { FootfallApi } from './api.ts';
import { disposeChart, occupancyChart } from './charts.ts';
import { el, formatClock, formatTime } from './format.ts';
import type { HexMap } from './map.ts';

export interface CellPanelDeps {
  /** Start of the bucket shown (the live one, or the time-travel minute). */
  shownBucket(): number;
  bucketMs(): number;
  kAnonymity(): number;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
/** ≤ this many bars: the step is a multiple of the bucket. */
const MAX_BARS = 180;

export class CellPanel {
  readonly #api: FootfallApi;
  readonly #map: HexMap;
  readonly #d: CellPanelDeps;
  #selected: string | undefined;
  #windowMs = 3_600_000;
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(api: FootfallApi, map: HexMap, deps: CellPanelDeps) {
    this.#api = api;
    this.#map = map;
    this.#d = deps;
    $('place-close').addEventListener('click', () => {
      this.#selected = undefined;
      map.select(undefined);
      $('place-panel').hidden = true;
    });
    for (const b of $('place-range').querySelectorAll<HTMLButtonElement>('button')) {
      b.addEventListener('click', () => {
        this.#windowMs = Number(b.dataset.window);
        for (const o of $('place-range').querySelectorAll('button'))
          o.setAttribute('aria-pressed', String(o === b));
        void this.refresh();
      });
    }
  }

  /** The open cell, if any. */
  get selected(): string | undefined {
    return this.#selected;
  }

  select(cell: string, focus = false): void {
    this.#selected = cell;
    this.#map.select(cell);
    if (focus) this.#map.focus(cell);
    for (const li of $('topk').querySelectorAll('li')) {
      li.classList.toggle('active', li.querySelector('button')?.dataset.cell === cell);
    }
    $('place-panel').hidden = false;
    $('place-cell').textContent = cell;
    void this.refresh();
  }

  /** A refresh within 5 s (the live stream reports many changes of one cell in a row). */
  scheduleRefresh(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.refresh();
    }, 5_000);
  }

  /** Redraws the open cell at the minute shown (nothing when none is open). */
  async refresh(): Promise<void> {
    const cell = this.#selected;
    if (!cell) return;
    const seq = ++this.#seq;
    const bucketMs = this.#d.bucketMs();
    const ref = this.#d.shownBucket();
    const to = ref + bucketMs;
    const stepMs = Math.max(1, Math.ceil(this.#windowMs / bucketMs / MAX_BARS)) * bucketMs;
    const from = to - Math.ceil(this.#windowMs / stepMs) * stepMs;
    try {
      const [series, now] = await Promise.all([
        this.#api.series(cell, from, to, stepMs),
        this.#api.occupancy(cell, ref),
      ]);
      if (seq !== this.#seq) return;
      const box = $('place-chart-box');
      disposeChart(box.firstElementChild);
      box.replaceChildren(
        occupancyChart(series.points, {
          stepMs,
          kAnonymity: series.kAnonymity ?? this.#d.kAnonymity(),
          markMs: ref,
          provisionalFromMs: series.provisionalFromMs,
          width: box.clientWidth || 340,
        }),
      );
      const n = now.nowcast;
      const label =
        now.state === 'provisional' && n && !n.suppressed
          ? `≈${n.estimate} devices (${n.lower ?? `<${now.kAnonymity}`}–${n.upper}), provisional, ` +
            `~${Math.round(now.completeness * 100)}% of pings arrived, final ${formatClock(now.finalAtMs)}`
          : now.suppressed
            ? `suppressed (fewer than ${now.kAnonymity})${now.state === 'provisional' ? ', provisional' : ''}`
            : `${now.devices} devices${now.state === 'provisional' ? ' (provisional)' : ''}`;
      $('place-now').textContent = `${formatTime(ref)}: ${label}`;
      $('place-now').classList.toggle('suppressed', now.suppressed);
    } catch (error) {
      if (seq === this.#seq)
        $('place-chart-box').replaceChildren(el('p', { class: 'error' }, (error as Error).message));
    }
  }
}
