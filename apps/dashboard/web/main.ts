// Footfall live dashboard: map of cells by live device count, popular-now list, time travel, place
// detail, and "my time" for a signed-in user. Data: the query API of the same origin (docs/api.md).

import './style.css';
import {
  ApiRequestError,
  type BBox,
  FootfallApi,
  type LivePopular,
  type NowcastLocation,
  type TopLocation,
  tokenSubject,
} from './api.ts';
import { disposeChart, occupancyChart, timeBars } from './charts.ts';
import {
  colourFor,
  el,
  formatClock,
  formatDuration,
  formatTime,
  fromLocalInput,
  RAMP_CSS,
  shortCell,
  toLocalInput,
} from './format.ts';
import { HexMap } from './map.ts';
import { PlacesUi } from './places-ui.ts';

interface RuntimeConfig {
  tileUrl: string | null;
  tileAttribution: string | null;
}

const params = new URLSearchParams(location.search);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const TOKEN_KEY = 'footfall.userToken';
const MAP_K = 100; // cells fetched for the map (the API's maximum k)
const LIST_K = Math.max(1, Math.min(100, Number(params.get('k')) || 10));
const HISTORY_SPAN_MS = 24 * 3_600_000;

async function loadConfig(): Promise<RuntimeConfig> {
  const fallback: RuntimeConfig = { tileUrl: null, tileAttribution: null };
  try {
    const res = await fetch('./config.json', { cache: 'no-cache' });
    if (res.ok && (res.headers.get('content-type') ?? '').includes('json'))
      return { ...fallback, ...(await res.json()) };
  } catch {}
  return fallback;
}

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
let selected: string | undefined;
let placeWindowMs = 3_600_000;
let fitted = false;
let myMarks: { cell: string; rank: number }[] = [];
/** How long after its start a bucket may still change (the live answer's finalAtMs − bucketStartMs). */
let finalityDelayMs = 60_000;

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
  finalityDelayMs: () => finalityDelayMs,
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
      button.addEventListener('click', () => selectCell(l.cell, true));
      const li = el('li', { 'data-testid': 'topk-item' }, button);
      li.classList.toggle('active', l.cell === selected);
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
    ...(myMarks.length
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
  if (Number.isFinite(p.finalAtMs)) finalityDelayMs = Math.max(bucketMs, p.finalAtMs - p.bucketStartMs);
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
    if (c.cell === selected && mode === 'live') schedulePlaceRefresh();
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
    if (selected) void refreshPlace();
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
  if (selected) void refreshPlace();
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

// --- place detail ---
function selectCell(cell: string, focus = false): void {
  selected = cell;
  map.select(cell);
  if (focus) map.focus(cell);
  for (const li of $('topk').querySelectorAll('li')) {
    li.classList.toggle('active', li.querySelector('button')?.dataset.cell === cell);
  }
  $('place-panel').hidden = false;
  $('place-cell').textContent = cell;
  void refreshPlace();
}
map.onSelect((cell) => selectCell(cell));
$('place-close').addEventListener('click', () => {
  selected = undefined;
  map.select(undefined);
  $('place-panel').hidden = true;
});
for (const b of $('place-range').querySelectorAll<HTMLButtonElement>('button')) {
  b.addEventListener('click', () => {
    placeWindowMs = Number(b.dataset.window);
    for (const o of $('place-range').querySelectorAll('button'))
      o.setAttribute('aria-pressed', String(o === b));
    void refreshPlace();
  });
}

let placeSeq = 0;
async function refreshPlace(): Promise<void> {
  const cell = selected;
  if (!cell) return;
  const seq = ++placeSeq;
  const ref = mode === 'live' ? (liveBucket ?? bucketOf(Date.now())) : historyAt;
  const to = ref + bucketMs;
  // ≤ 180 bars: the step is a multiple of the bucket.
  const stepMs = Math.max(1, Math.ceil(placeWindowMs / bucketMs / 180)) * bucketMs;
  const from = to - Math.ceil(placeWindowMs / stepMs) * stepMs;
  try {
    const [series, now] = await Promise.all([api.series(cell, from, to, stepMs), api.occupancy(cell, ref)]);
    if (seq !== placeSeq) return;
    const box = $('place-chart-box');
    disposeChart(box.firstElementChild);
    box.replaceChildren(
      occupancyChart(series.points, {
        stepMs,
        kAnonymity: series.kAnonymity ?? kAnonymity,
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
    if (seq === placeSeq)
      $('place-chart-box').replaceChildren(el('p', { class: 'error' }, (error as Error).message));
  }
}
let placeTimer: ReturnType<typeof setTimeout> | undefined;
function schedulePlaceRefresh(): void {
  if (placeTimer !== undefined) return;
  placeTimer = setTimeout(() => {
    placeTimer = undefined;
    void refreshPlace();
  }, 5_000);
}
setInterval(() => {
  if (mode === 'live' && selected) void refreshPlace();
  if (mode === 'live') places.refresh();
}, 30_000);

// --- my time ---
const tokenInput = $<HTMLInputElement>('token');
const userInput = $<HTMLInputElement>('user-id');
tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
userInput.value = tokenSubject(tokenInput.value) ?? '';
tokenInput.addEventListener('input', () => {
  const sub = tokenSubject(tokenInput.value);
  if (sub) userInput.value = sub;
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  tokenInput.value = '';
  userInput.value = '';
  myMarks = [];
  map.setMarks([]);
  $('mytime-chart-box').replaceChildren();
  $('mytime-places-box').replaceChildren();
  $('mytime-status').textContent = '';
  renderLegend();
});
$<HTMLInputElement>('mytime-onmap').addEventListener('change', (e) => {
  map.setMarks((e.target as HTMLInputElement).checked ? myMarks : []);
});

const USER_ERRORS: Record<number, string> = {
  401: 'The token is invalid or expired.',
  403: 'This token belongs to another user.',
  404: 'No visits recorded for this user yet.',
  410: 'This user’s data was erased.',
};

$('mytime-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const token = tokenInput.value.trim();
  const userId = userInput.value.trim() || tokenSubject(token);
  const status = $('mytime-status');
  if (!token || !userId) {
    status.textContent = 'Paste your token (the user id is read from it).';
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const toMs = Date.now();
  const fromMs = toMs - Number($<HTMLSelectElement>('mytime-range').value);
  status.textContent = 'Loading…';
  try {
    const [a, atPlaces] = await Promise.all([
      api.userTime(userId, token, fromMs, toMs),
      // Time per named place; an older API without it leaves the list out.
      api.userPlaceTime(userId, token, fromMs, toMs).catch(() => undefined),
    ]);
    $('mytime-places-box').replaceChildren(atPlaces ? places.userPlaces(atPlaces) : '');
    const top = a.locations.slice(0, 10);
    myMarks = top.map((l, i) => ({ cell: l.cell, rank: i + 1 }));
    const range = $<HTMLSelectElement>('mytime-range');
    const rangeText = range.selectedOptions[0]?.textContent ?? '';
    status.textContent = top.length
      ? `${formatDuration(a.totalMs)} at ${a.locations.length} place${a.locations.length === 1 ? '' : 's'} in the ${rangeText}`
      : `No visits in the ${rangeText}.`;
    const box = $('mytime-chart-box');
    box.replaceChildren(top.length ? timeBars(top, (cell) => selectCell(cell, true)) : '');
    map.setMarks($<HTMLInputElement>('mytime-onmap').checked ? myMarks : []);
    if (top.length) map.fit(top.map((l) => l.cell));
    renderLegend();
  } catch (error) {
    const s = error instanceof ApiRequestError ? error.status : 0;
    status.textContent = USER_ERRORS[s] ?? (error as Error).message;
    $('mytime-chart-box').replaceChildren();
    $('mytime-places-box').replaceChildren();
  }
});

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
