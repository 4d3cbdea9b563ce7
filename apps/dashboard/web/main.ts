// Footfall live dashboard: map of cells by live device count, popular-now list and time travel; the cell
// panel (cell-panel.ts), named places (places-ui.ts) and "my time" (my-time.ts) are wired here. Data:
// the query API of the same origin (docs/api.md).

import './style.css';
import { type BBox, FootfallApi, type LivePopular, type NowcastLocation, type TopLocation } from './api.ts';
import { CellPanel } from './cell-panel.ts';
import { loadConfig } from './config.ts';
import {
  colourFor,
  el,
  formatClock,
  formatTime,
  fromLocalInput,
  RAMP_CSS,
  shortCell,
  toLocalInput,
} from './format.ts';
import { HexMap } from './map.ts';
import { MyTime } from './my-time.ts';
import { PlacesUi } from './places-ui.ts';

const params = new URLSearchParams(location.search);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const MAP_K = 100; // cells fetched for the map (the API's maximum k)
const LIST_K = Math.max(1, Math.min(100, Number(params.get('k')) || 10));
const HISTORY_SPAN_MS = 24 * 3_600_000;

// The base map comes from the API's configuration only (DASHBOARD_TILE_URL): the page's CSP allows
// connections to that tile server and nowhere else, so a URL parameter could not choose another.
const cfg = await loadConfig();
const tileUrl = cfg.tileUrl ?? undefined;
const attribution = cfg.tileAttribution ?? undefined;
// Always the page's own origin: a URL parameter choosing the API would let a crafted link collect the
// user tokens pasted into "my time".
const api = new FootfallApi();

// --- state ---
let kAnonymity = 5;
let bucketMs = 60_000;
let mode: 'live' | 'history' = 'live';
let liveBucket: number | undefined;
const liveCells = new Map<string, number | null>();
/** Changes the stream reported for buckets after the live one, by bucket start. */
const upcoming = new Map<number, Map<string, number | null>>();
let liveTop: TopLocation[] = [];
/** Nowcast entries of the live bucket by cell (estimate with interval), and its completeness. */
let liveNowcast = new Map<string, NowcastLocation>();
let liveCompleteness = 1;
let historyAt = 0;
let historyCells = new Map<string, number | null>();
let historyTop: TopLocation[] = [];
let fitted = false;

const bucketOf = (t: number) => Math.floor(t / bucketMs) * bucketMs;

// Ask once for k and the bucket size (also proves the API is reachable).
try {
  const first = await api.popular({ k: 1 });
  kAnonymity = first.kAnonymity ?? kAnonymity;
  bucketMs = first.bucketMs;
} catch (error) {
  setStatus('error', `API unreachable: ${(error as Error).message}`);
}

const map = new HexMap($('map'), {
  tileUrl,
  attribution,
  kAnonymity,
  describe: (cell, devices) =>
    `${shortCell(cell)} · ${
      devices === undefined
        ? 'no public count'
        : devices === null
          ? `suppressed (< ${kAnonymity})`
          : `${devices} devices`
    }`,
});
// For tests and the console: what the map renders (MapLibre's own rendered features).
(window as unknown as { footfallMap: HexMap }).footfallMap = map;
const places = new PlacesUi({
  api,
  map,
  shownAt: () => (mode === 'live' ? Date.now() : historyAt),
  bucketMs: () => bucketMs,
});
// --- cell detail (cell-panel.ts) ---
const cellPanel = new CellPanel(api, map, {
  shownBucket: () => (mode === 'live' ? (liveBucket ?? bucketOf(Date.now())) : historyAt),
  bucketMs: () => bucketMs,
  kAnonymity: () => kAnonymity,
});
map.onSelect((cell) => cellPanel.select(cell));
// --- my time (my-time.ts) ---
const myTime = new MyTime(api, map, places, {
  selectCell: (cell) => cellPanel.select(cell, true),
  changed: () => renderLegend(),
});

const center = params.get('center')?.split(',').map(Number);
if (center?.length === 2 && center.every(Number.isFinite)) {
  map.setView(center[0] ?? 0, center[1] ?? 0, Number(params.get('zoom')) || 14);
  fitted = true;
}

// --- status / header ---
function setStatus(state: 'connecting' | 'open' | 'error' | 'history', text: string): void {
  const s = $('status');
  s.textContent = text;
  s.dataset.state = state;
  if (state !== 'history') document.body.dataset.live = state;
}

function refreshHeader(): void {
  const slider = $<HTMLInputElement>('time-slider');
  const now = bucketOf(Date.now());
  slider.step = String(bucketMs);
  slider.max = String(now);
  const min = Math.min(now - HISTORY_SPAN_MS, mode === 'history' ? historyAt : now);
  slider.min = String(min);
  const shown = mode === 'live' ? (liveBucket ?? now) : historyAt;
  slider.value = String(shown);
  $<HTMLInputElement>('time-input').value = toLocalInput(shown);
  $('bucket-label').textContent = `${formatTime(shown)}–${formatClock(shown + bucketMs)}`;
  document.body.dataset.mode = mode;
  $('popular-title').textContent =
    mode === 'live'
      ? `Popular now · provisional, ~${Math.round(liveCompleteness * 100)}% of pings arrived`
      : `Popular at ${formatTime(historyAt)}`;
  $('live-btn').setAttribute('aria-pressed', String(mode === 'live'));
}

// --- rendering ---
function currentCells(): Map<string, number | null> {
  return mode === 'live' ? liveCells : historyCells;
}

// The live stream repeats the same answer every tick: redraw only what changed, so that the list keeps
// its focus and a pointer on it (rebuilding it each second would steal both).
let drawnCellsKey = '';
let drawnTopKey = '';

function render(): void {
  const cells = currentCells();
  const cellsKey = [...cells].map(([c, d]) => `${c}:${d}`).join();
  if (cellsKey !== drawnCellsKey) {
    drawnCellsKey = cellsKey;
    map.setCells([...cells].map(([cell, devices]) => ({ cell, devices })));
  }
  const top = mode === 'live' ? liveTop : historyTop;
  const topKey = `${top.map((l) => `${l.cell}:${l.devices}`).join()}|${kAnonymity}`;
  if (topKey !== drawnTopKey) {
    drawnTopKey = topKey;
    renderTop(top);
  }
  renderLegend();
  if (!fitted && cells.size) {
    const top = (mode === 'live' ? liveTop : historyTop).map((l) => l.cell);
    map.fit(top.length ? top : [...cells.keys()]);
    fitted = true;
  }
}

function renderTop(top: TopLocation[]): void {
  const list = $('topk');
  const max = Math.max(kAnonymity, ...top.map((l) => l.devices));
  list.replaceChildren(
    ...top.slice(0, LIST_K).map((l) => {
      const button = el(
        'button',
        { type: 'button', class: 'entry', 'data-cell': l.cell, title: `Show ${l.cell} on the map` },
        el('span', { class: 'rank' }, String(l.rank)),
        el('span', { class: 'swatch', style: `background:${colourFor(l.devices, kAnonymity, max)}` }),
        el('code', { class: 'cell' }, shortCell(l.cell)),
        el('span', { class: 'devices' }, nowcastLabel(l.cell, l.devices)),
      );
      button.addEventListener('click', () => cellPanel.select(l.cell, true));
      const li = el('li', { 'data-testid': 'topk-item' }, button);
      li.classList.toggle('active', l.cell === cellPanel.selected);
      return li;
    }),
  );
  $('topk-empty').hidden = top.length > 0;
}

/** "≈12 (9–15)" for a live nowcast entry, else the plain count. */
function nowcastLabel(cell: string, devices: number): string {
  const n = mode === 'live' ? liveNowcast.get(cell) : undefined;
  return n ? `≈${n.estimate} (${n.lower ?? `<${kAnonymity}`}–${n.upper})` : `${devices}`;
}

function renderLegend(): void {
  const max = map.maxDevices;
  const legend = $('legend');
  legend.replaceChildren(
    el('div', { class: 'legend-title' }, 'devices per cell'),
    el('div', { class: 'ramp', style: `background:${RAMP_CSS}` }),
    el('div', { class: 'ramp-labels' }, el('span', {}, String(kAnonymity)), el('span', {}, String(max))),
    el(
      'div',
      { class: 'legend-row' },
      el('span', { class: 'hatch-swatch' }),
      `fewer than ${kAnonymity}: suppressed`,
    ),
    ...(myTime.marks.length
      ? [el('div', { class: 'legend-row' }, el('span', { class: 'mark-swatch' }), 'my places (ranked)')]
      : []),
  );
}

// --- live ---
let viewBBox: BBox | undefined;

function onLivePopular(p: LivePopular): void {
  bucketMs = p.bucketMs;
  if (liveBucket === undefined || p.bucketStartMs > liveBucket) {
    const first = liveBucket === undefined;
    liveBucket = p.bucketStartMs;
    liveCells.clear();
    for (const [cell, devices] of upcoming.get(p.bucketStartMs) ?? []) liveCells.set(cell, devices);
    for (const b of upcoming.keys()) if (b <= p.bucketStartMs) upcoming.delete(b);
    if (!first) void fetchLiveView();
  }
  if (p.bucketStartMs < liveBucket) return;
  // The current bucket is provisional: rank and draw by the live-edge nowcast (presence carried to now
  // plus the reporting-delay correction); the confirmed counts only fill in cells it does not cover.
  const nowcast = p.nowcast ?? [];
  liveNowcast = new Map(nowcast.map((l) => [l.cell, l]));
  liveCompleteness = p.completeness ?? 1;
  liveTop = nowcast.length
    ? nowcast.map((l) => ({ rank: l.rank, cell: l.cell, devices: l.estimate, lat: l.lat, lon: l.lon }))
    : p.locations;
  for (const l of liveTop) liveCells.set(l.cell, l.devices);
  if (mode === 'live') {
    setStatus('open', `live · ${formatClock(Date.now())}`);
    refreshHeader();
    render();
  }
}

function onLiveOccupancy(o: {
  changes: { cell: string; bucketStartMs: number; devices: number | null }[];
}): void {
  let touched = false;
  for (const c of o.changes) {
    if (liveBucket !== undefined && c.bucketStartMs > liveBucket) {
      // A change for a bucket the stream has not reached yet (clocks differ by a little): keep it for
      // when it becomes the live one, or a cell suppressed from its first row would never be drawn.
      const next = upcoming.get(c.bucketStartMs) ?? new Map<string, number | null>();
      next.set(c.cell, c.devices);
      upcoming.set(c.bucketStartMs, next);
      continue;
    }
    if (c.bucketStartMs !== liveBucket) continue;
    if (liveNowcast.has(c.cell)) continue; // the nowcast (≥ the confirmed count) is what is drawn
    liveCells.set(c.cell, c.devices);
    touched = true;
    if (c.cell === cellPanel.selected && mode === 'live') cellPanel.scheduleRefresh();
  }
  if (touched && mode === 'live') render();
}

/** Cells of the current live bucket inside the view (beyond the global top list of the stream). */
async function fetchLiveView(): Promise<void> {
  if (liveBucket === undefined || !viewBBox) return;
  const bucket = liveBucket;
  try {
    const a = await api.popular({ at: bucket, k: MAP_K, bbox: viewBBox });
    if (bucket !== liveBucket) return;
    for (const l of a.locations) if (!liveCells.has(l.cell)) liveCells.set(l.cell, l.devices);
    if (mode === 'live') render();
  } catch {}
}

api.live(MAP_K, {
  popular: onLivePopular,
  occupancy: onLiveOccupancy,
  status: (s) => {
    if (mode === 'history') {
      document.body.dataset.live = s;
      return;
    }
    if (s === 'open') setStatus('open', 'live');
    else if (s === 'connecting')
      setStatus('connecting', liveBucket === undefined ? 'connecting…' : 'reconnecting…');
    else setStatus('error', 'live stream closed');
  },
});

// --- time travel ---
let historySeq = 0;
async function showHistory(at: number): Promise<void> {
  mode = 'history';
  historyAt = bucketOf(at);
  setStatus('history', 'time travel');
  refreshHeader();
  const seq = ++historySeq;
  try {
    const [top, view] = await Promise.all([
      api.popular({ at: historyAt, k: LIST_K }),
      viewBBox ? api.popular({ at: historyAt, k: MAP_K, bbox: viewBBox }) : undefined,
    ]);
    if (seq !== historySeq || mode !== 'history') return;
    historyTop = top.locations;
    historyCells = new Map(view?.locations.map((l) => [l.cell, l.devices]));
    for (const l of top.locations) historyCells.set(l.cell, l.devices);
    render();
    void cellPanel.refresh();
    places.refresh();
  } catch (error) {
    if (seq === historySeq) setStatus('error', (error as Error).message);
  }
}

function goLive(): void {
  mode = 'live';
  historySeq++;
  refreshHeader();
  render();
  setStatus(document.body.dataset.live === 'open' ? 'open' : 'connecting', 'live');
  void cellPanel.refresh();
  places.refresh();
}

let sliderTimer: ReturnType<typeof setTimeout> | undefined;
$<HTMLInputElement>('time-slider').addEventListener('input', (e) => {
  const v = Number((e.target as HTMLInputElement).value);
  $('bucket-label').textContent = `${formatTime(v)}–${formatClock(v + bucketMs)}`;
  if (sliderTimer) clearTimeout(sliderTimer);
  sliderTimer = setTimeout(() => void showHistory(v), 120);
});
$<HTMLInputElement>('time-input').addEventListener('change', (e) => {
  const v = fromLocalInput((e.target as HTMLInputElement).value);
  if (v !== undefined) void showHistory(Math.min(v, Date.now()));
});
const step = (n: number) => () => {
  const from = mode === 'live' ? (liveBucket ?? bucketOf(Date.now())) : historyAt;
  const to = from + n * bucketMs;
  if (to > bucketOf(Date.now())) goLive();
  else void showHistory(to);
};
$('back-btn').addEventListener('click', step(-1));
$('fwd-btn').addEventListener('click', step(1));
$('live-btn').addEventListener('click', goLive);

map.onViewChange((bbox) => {
  viewBBox = bbox;
  void places.onView(bbox);
  if (mode === 'live') void fetchLiveView();
  else void showHistory(historyAt);
});

setInterval(() => {
  if (mode === 'live') void cellPanel.refresh();
  if (mode === 'live') places.refresh();
}, 30_000);

// --- start ---
const startAt = params.get('at');
refreshHeader();
renderLegend();
if (startAt) {
  const t = /^\d+$/.test(startAt) ? Number(startAt) : Date.parse(startAt);
  if (Number.isFinite(t)) void showHistory(t);
}
setInterval(() => {
  if (mode === 'live') refreshHeader();
}, 15_000);
