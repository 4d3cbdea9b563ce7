// Formatting and colour helpers shared by the panels.

const hm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
const dayHm = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
});

/** "14:05" today, "3 May, 14:05" otherwise. */
export function formatTime(ms: number, now = Date.now()): string {
  const sameDay = new Date(ms).toDateString() === new Date(now).toDateString();
  return (sameDay ? hm : dayHm).format(ms);
}

export function formatClock(ms: number): string {
  return hm.format(ms);
}

/** "2 h 05 min", "12 min", "40 s". */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} min`;
}

/** The value for a `<input type="datetime-local">` in local time. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

export function fromLocalInput(value: string): number | undefined {
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

// YlOrRd, light to dark: low counts pale, crowds dark red.
const RAMP: [number, number, number][] = [
  [255, 237, 160],
  [254, 178, 76],
  [253, 141, 60],
  [240, 59, 32],
  [189, 0, 38],
  [128, 0, 38],
];

/** Colour of `devices` on a log scale from `min` (the k threshold) to `max`. */
export function colourFor(devices: number, min: number, max: number): string {
  const lo = Math.log(Math.max(1, min));
  const hi = Math.log(Math.max(min + 1, max));
  const t = Math.min(1, Math.max(0, (Math.log(Math.max(1, devices)) - lo) / (hi - lo || 1)));
  const x = t * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const a = RAMP[i] ?? [255, 237, 160];
  const b = RAMP[i + 1] ?? a;
  const c = a.map((v, j) => Math.round(v + ((b[j] ?? v) - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export const RAMP_CSS = `linear-gradient(90deg, ${RAMP.map(([r, g, b]) => `rgb(${r},${g},${b})`).join(', ')})`;

/** A short, readable label of an H3 cell id. */
export function shortCell(cell: string): string {
  return cell.replace(/f+$/, '');
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  ...children: (Node | string)[]
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  e.append(...children);
  return e;
}
