// A small slippy map without WebGL: optional raster tiles (any XYZ template) under an SVG layer of H3
// hexagons. Web Mercator, integer zoom levels, drag to pan, wheel/buttons to zoom. Offline by default:
// without a tile URL the background is plain.

import { cellToBoundary, cellToLatLng } from 'h3-js';
import type { BBox } from './api.ts';
import { colourFor, el, svg } from './format.ts';

const TILE = 256;
const MIN_ZOOM = 2;
const MAX_ZOOM = 19;

export interface HexValue {
  cell: string;
  /** null = suppressed (below the k-anonymity threshold). */
  devices: number | null;
}

export interface MapOptions {
  tileUrl?: string | undefined;
  attribution?: string | undefined;
  kAnonymity: number;
  /** Tooltip text; `devices` undefined = the cell has no value on the map. */
  describe?: (cell: string, devices: number | null | undefined) => string;
}

const worldSize = (z: number) => TILE * 2 ** z;

function project(lat: number, lon: number, z: number): [number, number] {
  const w = worldSize(z);
  const s = Math.sin((Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180);
  return [((lon + 180) / 360) * w, (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * w];
}

function unproject(x: number, y: number, z: number): [number, number] {
  const w = worldSize(z);
  const lon = (x / w) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / w))) * 180) / Math.PI;
  return [lat, lon];
}

export class HexMap {
  readonly element: HTMLElement;
  #o: MapOptions;
  #lat = 20;
  #lon = 0;
  #zoom = MIN_ZOOM;
  #w = 0;
  #h = 0;
  #tiles: HTMLElement;
  #tileImgs = new Map<string, HTMLImageElement>();
  #svg: SVGSVGElement;
  #world: SVGGElement;
  #hexLayer: SVGGElement;
  #markLayer: SVGGElement;
  #selLayer: SVGGElement;
  #tooltip: HTMLElement;
  #scale: HTMLElement;
  #hexes = new Map<string, { poly: SVGPolygonElement; devices: number | null }>();
  #marks: { cell: string; rank: number }[] = [];
  #selected: string | undefined;
  #boundaries = new Map<string, [number, number][]>();
  #max = 1;
  #viewListeners: ((bbox: BBox) => void)[] = [];
  #selectListeners: ((cell: string) => void)[] = [];
  #viewTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(container: HTMLElement, options: MapOptions) {
    this.#o = options;
    this.element = container;
    container.classList.add('hexmap');
    this.#tiles = el('div', { class: 'tiles' });
    if (!options.tileUrl) container.classList.add('plain');
    this.#svg = svg('svg', { class: 'overlay', 'data-testid': 'map-svg' });
    const defs = svg(
      'defs',
      {},
      svg(
        'pattern',
        { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        svg('rect', { width: 6, height: 6, fill: '#e6e6e6' }),
        svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#9a9a9a', 'stroke-width': 2 }),
      ),
    );
    this.#world = svg('g');
    this.#hexLayer = svg('g', { class: 'hexes' });
    this.#markLayer = svg('g', { class: 'marks' });
    this.#selLayer = svg('g', { class: 'selection' });
    this.#world.append(this.#hexLayer, this.#markLayer, this.#selLayer);
    this.#svg.append(defs, this.#world);
    this.#tooltip = el('div', { class: 'tooltip', hidden: '' });
    this.#scale = el('div', { class: 'scalebar' });
    const zoomIn = el('button', { type: 'button', title: 'Zoom in', 'aria-label': 'Zoom in' }, '+');
    const zoomOut = el('button', { type: 'button', title: 'Zoom out', 'aria-label': 'Zoom out' }, '−');
    zoomIn.addEventListener('click', () => this.zoomBy(1));
    zoomOut.addEventListener('click', () => this.zoomBy(-1));
    const controls = el('div', { class: 'zoom' }, zoomIn, zoomOut);
    const attribution = el('div', { class: 'attribution' });
    // Text only: the attribution may come from the page URL, which anyone can craft.
    if (options.attribution) attribution.textContent = options.attribution;
    else if (!options.tileUrl) attribution.textContent = 'no base map configured (?tiles=…)';
    container.append(this.#tiles, this.#svg, controls, this.#scale, attribution, this.#tooltip);
    this.#bindPointer();
    new ResizeObserver(() => this.#resize()).observe(container);
    this.#resize();
  }

  get zoom(): number {
    return this.#zoom;
  }

  onViewChange(listener: (bbox: BBox) => void): void {
    this.#viewListeners.push(listener);
  }

  onSelect(listener: (cell: string) => void): void {
    this.#selectListeners.push(listener);
  }

  /** Visible area (lon/lat), clamped to the valid range. */
  bbox(): BBox {
    const [cx, cy] = project(this.#lat, this.#lon, this.#zoom);
    const [maxLat, minLon] = unproject(cx - this.#w / 2, cy - this.#h / 2, this.#zoom);
    const [minLat, maxLon] = unproject(cx + this.#w / 2, cy + this.#h / 2, this.#zoom);
    return [Math.max(-180, minLon), Math.max(-85, minLat), Math.min(180, maxLon), Math.min(85, maxLat)];
  }

  setView(lat: number, lon: number, zoom = this.#zoom): void {
    const zoomChanged = zoom !== this.#zoom;
    this.#lat = lat;
    this.#lon = lon;
    this.#zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, Math.round(zoom)));
    if (zoomChanged) this.#redrawShapes();
    this.#position();
    this.#viewChanged();
  }

  zoomBy(delta: number, anchor?: [number, number]): void {
    const z = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, this.#zoom + delta));
    if (z === this.#zoom) return;
    // Keep the geographic point under `anchor` (screen px) fixed.
    const [ax, ay] = anchor ?? [this.#w / 2, this.#h / 2];
    const [cx, cy] = project(this.#lat, this.#lon, this.#zoom);
    const [alat, alon] = unproject(cx - this.#w / 2 + ax, cy - this.#h / 2 + ay, this.#zoom);
    const [px, py] = project(alat, alon, z);
    const [lat, lon] = unproject(px - ax + this.#w / 2, py - ay + this.#h / 2, z);
    this.setView(lat, lon, z);
  }

  /** Centres a cell (and zooms in to at least `minZoom`). */
  focus(cell: string, minZoom = 15): void {
    const [lat, lon] = cellToLatLng(cell);
    this.setView(lat, lon, Math.max(this.#zoom, minZoom));
  }

  /** Fits the view to cells (no-op without cells). */
  fit(cells: string[], maxZoom = 16): void {
    if (!cells.length || !this.#w) return;
    let [minLat, minLon, maxLat, maxLon] = [90, 180, -90, -180];
    for (const c of cells) {
      for (const [lat, lon] of this.#boundary(c)) {
        minLat = Math.min(minLat, lat);
        maxLat = Math.max(maxLat, lat);
        minLon = Math.min(minLon, lon);
        maxLon = Math.max(maxLon, lon);
      }
    }
    let z = maxZoom;
    for (; z > MIN_ZOOM; z--) {
      const [x0, y0] = project(maxLat, minLon, z);
      const [x1, y1] = project(minLat, maxLon, z);
      if (x1 - x0 < this.#w * 0.8 && y1 - y0 < this.#h * 0.8) break;
    }
    const [x0, y0] = project(maxLat, minLon, z);
    const [x1, y1] = project(minLat, maxLon, z);
    const [lat, lon] = unproject((x0 + x1) / 2, (y0 + y1) / 2, z);
    this.setView(lat, lon, z);
  }

  /** Replaces the coloured hexagons (diffed: unchanged cells are only recoloured). */
  setCells(values: Iterable<HexValue>): void {
    const next = new Map<string, number | null>();
    for (const v of values) next.set(v.cell, v.devices);
    let max = this.#o.kAnonymity;
    for (const d of next.values()) if (d !== null && d > max) max = d;
    this.#max = max;
    for (const [cell, h] of this.#hexes) {
      if (!next.has(cell)) {
        h.poly.remove();
        this.#hexes.delete(cell);
      }
    }
    for (const [cell, devices] of next) {
      let h = this.#hexes.get(cell);
      if (!h) {
        const poly = svg('polygon', { class: 'hex', 'data-cell': cell, points: this.#points(cell) });
        this.#hexLayer.append(poly);
        h = { poly, devices };
        this.#hexes.set(cell, h);
      }
      h.devices = devices;
      this.#paint(h.poly, devices);
    }
    // Biggest crowds on top, so their outlines are not hidden by neighbours.
    const order = [...this.#hexes.values()].sort((a, b) => (a.devices ?? -1) - (b.devices ?? -1));
    for (const h of order) this.#hexLayer.append(h.poly);
  }

  get maxDevices(): number {
    return this.#max;
  }

  /** Ranked cells outlined on top of the map ("my time"); empty to clear. */
  setMarks(marks: { cell: string; rank: number }[]): void {
    this.#marks = marks;
    this.#drawMarks();
  }

  select(cell: string | undefined): void {
    this.#selected = cell;
    this.#drawSelection();
  }

  #paint(poly: SVGPolygonElement, devices: number | null): void {
    poly.classList.toggle('suppressed', devices === null);
    poly.setAttribute('data-devices', devices === null ? 'suppressed' : String(devices));
    poly.setAttribute(
      'fill',
      devices === null ? 'url(#hatch)' : colourFor(devices, this.#o.kAnonymity, this.#max),
    );
  }

  #boundary(cell: string): [number, number][] {
    let b = this.#boundaries.get(cell);
    if (!b) {
      b = cellToBoundary(cell) as [number, number][];
      if (this.#boundaries.size > 50_000) this.#boundaries.clear();
      this.#boundaries.set(cell, b);
    }
    return b;
  }

  #points(cell: string): string {
    return this.#boundary(cell)
      .map(([lat, lon]) => {
        const [x, y] = project(lat, lon, this.#zoom);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
  }

  #redrawShapes(): void {
    for (const [cell, h] of this.#hexes) h.poly.setAttribute('points', this.#points(cell));
    this.#drawMarks();
    this.#drawSelection();
  }

  #drawMarks(): void {
    this.#markLayer.replaceChildren();
    for (const m of this.#marks) {
      const [lat, lon] = cellToLatLng(m.cell);
      const [x, y] = project(lat, lon, this.#zoom);
      this.#markLayer.append(
        svg('polygon', { class: 'mark', 'data-cell': m.cell, points: this.#points(m.cell) }),
        svg('circle', { class: 'mark-badge', cx: x, cy: y, r: 9 }),
        svg(
          'text',
          { class: 'mark-label', x, y, 'text-anchor': 'middle', 'dominant-baseline': 'central' },
          String(m.rank),
        ),
      );
    }
  }

  #drawSelection(): void {
    this.#selLayer.replaceChildren();
    if (this.#selected) {
      this.#selLayer.append(svg('polygon', { class: 'selected', points: this.#points(this.#selected) }));
    }
  }

  #resize(): void {
    this.#w = this.element.clientWidth;
    this.#h = this.element.clientHeight;
    this.#svg.setAttribute('width', String(this.#w));
    this.#svg.setAttribute('height', String(this.#h));
    this.#position();
    this.#viewChanged();
  }

  /** Moves layers for the current centre; tiles are (re)used by key. */
  #position(): void {
    const [cx, cy] = project(this.#lat, this.#lon, this.#zoom);
    const ox = cx - this.#w / 2;
    const oy = cy - this.#h / 2;
    this.#world.setAttribute('transform', `translate(${(-ox).toFixed(1)},${(-oy).toFixed(1)})`);
    this.#drawTiles(ox, oy);
    this.#drawScale();
  }

  #drawTiles(ox: number, oy: number): void {
    const template = this.#o.tileUrl;
    if (!template) return;
    const z = this.#zoom;
    const n = 2 ** z;
    const wanted = new Set<string>();
    for (let ty = Math.floor(oy / TILE); ty * TILE < oy + this.#h; ty++) {
      if (ty < 0 || ty >= n) continue;
      for (let tx = Math.floor(ox / TILE); tx * TILE < ox + this.#w; tx++) {
        const key = `${z}/${tx}/${ty}`;
        wanted.add(key);
        let img = this.#tileImgs.get(key);
        if (!img) {
          const x = ((tx % n) + n) % n;
          img = el('img', { alt: '', draggable: 'false', decoding: 'async' });
          img.src = template
            .replace('{z}', String(z))
            .replace('{x}', String(x))
            .replace('{y}', String(ty))
            .replace('{s}', 'abc'[(x + ty) % 3] ?? 'a');
          img.addEventListener('error', () => img?.classList.add('failed'));
          this.#tileImgs.set(key, img);
          this.#tiles.append(img);
        }
        img.style.transform = `translate(${Math.round(tx * TILE - ox)}px, ${Math.round(ty * TILE - oy)}px)`;
      }
    }
    for (const [key, img] of this.#tileImgs) {
      if (!wanted.has(key)) {
        img.remove();
        this.#tileImgs.delete(key);
      }
    }
  }

  #drawScale(): void {
    const metresPerPx = (156_543.034 * Math.cos((this.#lat * Math.PI) / 180)) / 2 ** this.#zoom;
    const target = metresPerPx * 100;
    const p = 10 ** Math.floor(Math.log10(target));
    const nice = [5, 2, 1].map((m) => m * p).find((v) => v <= target) ?? p;
    this.#scale.style.width = `${Math.round(nice / metresPerPx)}px`;
    this.#scale.textContent = nice >= 1000 ? `${nice / 1000} km` : `${nice} m`;
  }

  #viewChanged(): void {
    if (this.#viewTimer) clearTimeout(this.#viewTimer);
    this.#viewTimer = setTimeout(() => {
      const b = this.bbox();
      for (const l of this.#viewListeners) l(b);
    }, 250);
  }

  #bindPointer(): void {
    const c = this.element;
    let drag: { x: number; y: number; cx: number; cy: number; moved: boolean; id: number } | undefined;
    c.addEventListener('pointerdown', (e) => {
      if ((e.target as Element).closest('button')) return;
      const [cx, cy] = project(this.#lat, this.#lon, this.#zoom);
      drag = { x: e.clientX, y: e.clientY, cx, cy, moved: false, id: e.pointerId };
    });
    c.addEventListener('pointermove', (e) => {
      if (drag && drag.id === e.pointerId) {
        const dx = e.clientX - drag.x;
        const dy = e.clientY - drag.y;
        if (!drag.moved && Math.hypot(dx, dy) > 4) {
          drag.moved = true;
          c.setPointerCapture(e.pointerId);
          c.classList.add('dragging');
        }
        if (drag.moved) {
          [this.#lat, this.#lon] = unproject(drag.cx - dx, drag.cy - dy, this.#zoom);
          this.#position();
          this.#tooltip.hidden = true;
          return;
        }
      }
      this.#hover(e);
    });
    const end = (e: PointerEvent) => {
      if (!drag || drag.id !== e.pointerId) return;
      const wasDrag = drag.moved;
      drag = undefined;
      c.classList.remove('dragging');
      if (wasDrag) {
        this.#viewChanged();
        return;
      }
      const cell = (e.target as Element).closest?.('[data-cell]')?.getAttribute('data-cell');
      if (cell) for (const l of this.#selectListeners) l(cell);
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', () => {
      drag = undefined;
      c.classList.remove('dragging');
    });
    c.addEventListener('pointerleave', () => {
      this.#tooltip.hidden = true;
    });
    let wheelAt = 0;
    c.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const now = performance.now();
        if (now - wheelAt < 180) return; // one level per wheel "notch burst"
        wheelAt = now;
        const r = c.getBoundingClientRect();
        this.zoomBy(e.deltaY < 0 ? 1 : -1, [e.clientX - r.left, e.clientY - r.top]);
      },
      { passive: false },
    );
    c.addEventListener('dblclick', (e) => {
      const r = c.getBoundingClientRect();
      this.zoomBy(1, [e.clientX - r.left, e.clientY - r.top]);
    });
  }

  #hover(e: PointerEvent): void {
    const target = (e.target as Element).closest?.('[data-cell]');
    const cell = target?.getAttribute('data-cell');
    if (!cell) {
      this.#tooltip.hidden = true;
      return;
    }
    const devices = this.#hexes.get(cell)?.devices;
    const text = this.#o.describe ? this.#o.describe(cell, devices) : `${cell}: ${devices ?? 'suppressed'}`;
    const r = this.element.getBoundingClientRect();
    this.#tooltip.textContent = text;
    this.#tooltip.hidden = false;
    this.#tooltip.style.transform = `translate(${Math.round(e.clientX - r.left + 12)}px, ${Math.round(e.clientY - r.top + 12)}px)`;
  }
}
