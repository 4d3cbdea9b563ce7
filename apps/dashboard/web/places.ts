// The named-place panel (docs/places.md): the latest count, this hour against the usual one, popular
// times of the day, the dwell distribution and the last hours as a uPlot series.
//
// Popular times and dwell are plain HTML bars, not uPlot: they are a handful of labelled categories (24
// hours, 5 dwell buckets), not a time series; as an ordered list each bar is read by a screen reader
// with its hour and value, and the live bar is an element that tests and CSS can address. uPlot stays
// for the series, which is a time axis.

import type {
  DwellAnswer,
  FootfallApi,
  PlaceOccupancyAnswer,
  PlaceSeriesAnswer,
  PopularTimesAnswer,
} from './api.ts';
import { disposeChart, occupancyChart } from './charts.ts';
import { el, formatClock, formatDuration, formatTime } from './format.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const STATUS_TEXT: Record<PopularTimesAnswer['live']['status'], string> = {
  busier: 'Busier than usual',
  usual: 'As busy as usual',
  quieter: 'Quieter than usual',
  unknown: 'No comparison with the usual (too few devices or no history yet)',
};

/** The hour of the week (0 = Monday 00:00 UTC) of `ms`, as the API counts it. */
export function hourOfWeek(ms: number): number {
  const d = new Date(ms);
  return ((d.getUTCDay() + 6) % 7) * 24 + d.getUTCHours();
}

const hourLabel = (h: number) => `${String(h).padStart(2, '0')}:00`;

/** Popular times of the UTC day of `atMs`: the usual value per hour, the current hour's live bar marked. */
export function popularTimesBars(a: PopularTimesAnswer, atMs: number): HTMLElement {
  const dayStart = Math.floor(hourOfWeek(atMs) / 24) * 24;
  const hours = Array.from({ length: 24 }, (_, h) => a.hours[dayStart + h]);
  const liveHour = a.live.hourOfWeek - dayStart;
  // The live bar: the hour's peak so far, or the current minute's nowcast when that is higher (the
  // comparison the API's status uses).
  const liveNow = a.live.estimate == null ? a.live.current : Math.max(a.live.current ?? 0, a.live.estimate);
  const max = Math.max(a.kAnonymity, ...hours.map((x) => x?.usual ?? 0), liveNow ?? 0);
  const items = hours.map((x, h) => {
    const usual = x?.usual ?? null;
    const isLive = h === liveHour;
    const current = isLive ? liveNow : null;
    const text =
      `${hourLabel(h)}: usually ${usual ?? `fewer than ${a.kAnonymity}`}` +
      (isLive ? `; now ${current ?? `fewer than ${a.kAnonymity}`}` : '');
    const li = el(
      'li',
      { class: `pt-hour${isLive ? ' live' : ''}`, title: text, 'data-hour': String(h) },
      el('span', { class: 'visually-hidden' }, text),
      el('span', {
        class: `pt-usual${usual === null ? ' none' : ''}`,
        style: `height:${usual === null ? 2 : Math.max(2, (100 * usual) / max).toFixed(1)}%`,
        'aria-hidden': 'true',
      }),
    );
    if (isLive)
      li.append(
        el('span', {
          class: 'pt-live',
          'data-testid': 'popular-times-live',
          style: `height:${current === null ? 2 : Math.max(2, (100 * current) / max).toFixed(1)}%`,
          'aria-hidden': 'true',
        }),
      );
    if (h % 6 === 0) li.append(el('span', { class: 'pt-tick', 'aria-hidden': 'true' }, String(h)));
    return li;
  });
  return el(
    'div',
    { class: 'popular-times', 'data-testid': 'popular-times', 'data-hours': String(items.length) },
    el('ol', { class: 'pt-bars', 'aria-label': 'Popular times today (UTC hours)' }, ...items),
    el(
      'p',
      { class: 'note' },
      `Usual: median of each hour’s peak over ${a.history.fullWeeks.toFixed(1)} of ${a.history.weeksRequested} weeks of history. `,
      el('span', { class: 'pt-live-key', 'aria-hidden': 'true' }),
      ' now',
    ),
  );
}

/** The dwell distribution of one UTC day (visits per duration bucket) with its median. */
export function dwellBars(d: DwellAnswer): HTMLElement {
  const max = Math.max(1, ...d.buckets.map((b) => b.visits ?? 0));
  const unit = (label: string) => `${label} min`;
  return el(
    'div',
    { class: 'dwell', 'data-testid': 'dwell' },
    el(
      'ol',
      { class: 'time-bars', 'aria-label': `Visit durations on ${d.date}` },
      ...d.buckets.map((b) =>
        el(
          'li',
          { class: 'time-row' },
          el('span', { class: 'dwell-label' }, unit(b.label)),
          el(
            'span',
            { class: 'bar-track' },
            el('span', {
              class: `bar${b.visits === null ? ' none' : ''}`,
              style: `width:${b.visits === null ? 2 : Math.max(2, (100 * b.visits) / max).toFixed(1)}%`,
            }),
          ),
          el('span', { class: 'value' }, b.visits === null ? `< ${d.kAnonymity}` : `${b.visits}`),
        ),
      ),
    ),
    el(
      'p',
      { class: 'note' },
      d.visits === null
        ? `${d.date}: fewer than ${d.kAnonymity} visits (suppressed).`
        : `${d.date}: ${d.visits} visits` +
            (d.medianMs === null ? '.' : `, median stay ${formatDuration(d.medianMs)}.`),
    ),
  );
}

/**
 * The latest count with its state (from the answer itself): final; or provisional until `finalAtMs`
 * with the nowcast estimate, its interval and the completeness when the API published them.
 */
export function placeNowText(o: PlaceOccupancyAnswer): string {
  const count = o.suppressed ? `fewer than ${o.kAnonymity} devices (suppressed)` : `${o.devices} devices`;
  if (o.state === 'final') return `${formatTime(o.bucketStartMs)}: ${count}`;
  const until = `provisional until ${formatClock(o.finalAtMs)}`;
  const n = o.nowcast;
  // Without a publishable nowcast there is no estimate to qualify: the arrived count and its state.
  if (n?.estimate == null) return `${formatTime(o.bucketStartMs)}: ${count}, ${until}`;
  const interval = `${n.lower ?? `< ${o.kAnonymity}`}–${n.upper}`;
  const arrived = o.suppressed ? '' : `; ${o.devices} confirmed`;
  const part = `${Math.round(o.completeness * 100)} % of pings in`;
  return `${formatTime(o.bucketStartMs)}: about ${n.estimate} devices (${interval}${arrived}), ${until}, ${part}`;
}

export interface PlacePanelElements {
  panel: HTMLElement;
  name: HTMLElement;
  now: HTMLElement;
  live: HTMLElement;
  popular: HTMLElement;
  dwell: HTMLElement;
  series: HTMLElement;
}

/** Fetches and renders one place; a newer `show` cancels the rendering of an older one. */
export class PlacePanel {
  readonly #api: FootfallApi;
  readonly #e: PlacePanelElements;
  #seq = 0;
  id: string | undefined;

  constructor(api: FootfallApi, elements: PlacePanelElements) {
    this.#api = api;
    this.#e = elements;
  }

  close(): void {
    this.id = undefined;
    this.#seq++;
    this.#e.panel.hidden = true;
  }

  /** Shows place `id` at `atMs` with `windowMs` of series; states come from the answers themselves. */
  async show(
    id: string,
    name: string,
    o: { atMs: number; bucketMs: number; windowMs: number },
  ): Promise<void> {
    const seq = ++this.#seq;
    this.id = id;
    const e = this.#e;
    e.panel.hidden = false;
    e.panel.dataset.place = id;
    e.name.textContent = name;
    const stepMs = Math.max(1, Math.ceil(o.windowMs / o.bucketMs / 180)) * o.bucketMs;
    const to = Math.floor(o.atMs / o.bucketMs) * o.bucketMs + o.bucketMs;
    const from = to - Math.ceil(o.windowMs / stepMs) * stepMs;
    const day = new Date(Math.floor(o.atMs / DAY) * DAY).toISOString().slice(0, 10);
    const [now, popular, dwell, series] = await Promise.allSettled([
      this.#latest(id, o.atMs, o.bucketMs),
      this.#api.popularTimes(id, o.atMs),
      this.#api.dwell(id, day),
      this.#api.placeSeries(id, from, to, stepMs),
    ]);
    if (seq !== this.#seq) return;
    const failed = (r: PromiseRejectedResult) => el('p', { class: 'error' }, String(r.reason?.message));
    e.now.textContent = now.status === 'fulfilled' ? placeNowText(now.value) : String(now.reason?.message);
    e.now.dataset.state = now.status === 'fulfilled' ? now.value.state : '';
    if (popular.status === 'fulfilled') {
      const live = popular.value.live;
      e.live.textContent =
        `${STATUS_TEXT[live.status]}` +
        (live.usual === null ? '' : ` · usually ${live.usual} at ${hourLabel(live.hourOfWeek % 24)}`);
      e.live.dataset.status = live.status;
      e.popular.replaceChildren(popularTimesBars(popular.value, o.atMs));
    } else {
      e.live.textContent = '';
      e.popular.replaceChildren(failed(popular));
    }
    e.dwell.replaceChildren(dwell.status === 'fulfilled' ? dwellBars(dwell.value) : failed(dwell));
    disposeChart(e.series.firstElementChild);
    e.series.replaceChildren(
      series.status === 'fulfilled' ? this.#seriesChart(series.value, stepMs, o.atMs) : failed(series),
    );
  }

  /**
   * The count at `atMs`; if that minute has neither a publishable count nor a publishable nowcast (it
   * has just begun and nobody is carried into it), the minute before, which says its own time.
   */
  async #latest(id: string, atMs: number, bucketMs: number): Promise<PlaceOccupancyAnswer> {
    const now = await this.#api.placeOccupancy(id, atMs);
    if (!now.suppressed || now.nowcast?.estimate != null) return now;
    const before = await this.#api.placeOccupancy(id, now.bucketStartMs - bucketMs);
    return before.suppressed ? now : before;
  }

  #seriesChart(s: PlaceSeriesAnswer, stepMs: number, markMs: number): HTMLElement {
    // The provisional tail is the answer's own (provisionalFromMs), its nowcast drawn by the chart.
    return occupancyChart(s.points, {
      stepMs,
      kAnonymity: s.kAnonymity,
      markMs,
      provisionalFromMs: s.provisionalFromMs,
      width: this.#e.series.clientWidth || 340,
      height: 150,
      testId: 'place-series',
    });
  }
}
