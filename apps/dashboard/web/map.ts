// The map: MapLibre GL JS with H3 cells as GeoJSON layers (fill by live count, grey when below k,
// outlines, the selected cell, "my places"), an optional raster base map from configuration, a scale
// and HTML labels for the busiest cells. HTML labels rather than a symbol layer: symbol text needs a
// glyph server, and the map must stay readable without any network beyond the API.

import type { Feature, FeatureCollection, Polygon } from 'geojson';
import { cellToLatLng } from 'h3-js';
import {
  AttributionControl,
  type GeoJSONSource,
  type LngLatBoundsLike,
  Map as MapLibreMap,
  Marker,
  NavigationControl,
  Popup,
  ScaleControl,
  type StyleSpecification,
  setWorkerUrl,
} from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import 'maplibre-gl/dist/maplibre-gl.css';
import type { BBox } from './api.ts';
import { cellRing } from './cells.ts';
import { colourFor, el } from './format.ts';

// The worker is its own module file (MapLibre 6), emitted by Vite next to the bundle: same origin,
// so the page's CSP needs no blob: workers.
setWorkerUrl(workerUrl);

export interface HexValue {
  cell: string;
  /** null = suppressed (below the k-anonymity threshold). */
  devices: number | null;
}

export interface MapOptions {
  /** XYZ raster tile URL template (`https://…/{z}/{x}/{y}.png`); undefined → no base map. */
  tileUrl?: string | undefined;
  /** Attribution of the base map, shown as text. */
  attribution?: string | undefined;
  kAnonymity: number;
  /** Tooltip text; `devices` undefined = the cell has no value on the map. */
  describe?: (cell: string, devices: number | null | undefined) => string;
  /** How many of the busiest cells carry a label with their count (default 10). */
  labelled?: number;
}

/** What a test (or a curious user in the console) can ask the map: the cells it actually renders. */
export interface RenderedCell {
  cell: string;
  devices: number | null;
}

const EMPTY: FeatureCollection = { type: 'FeatureCollection', features: [] };
const CELL_LAYERS = ['cells-fill', 'cells-hatch'];

function polygon(cell: string, properties: Record<string, unknown>): Feature<Polygon> {
  return {
    type: 'Feature',
    properties: { cell, ...properties },
    geometry: { type: 'Polygon', coordinates: [cellRing(cell)] },
  };
}

/** A tile URL template filled for tile z/x/y ({s} → "a", {r} → ""). */
function tileAt(template: string, z: number, x: number, y: number): string {
  return template
    .replace('{z}', String(z))
    .replace('{x}', String(x))
    .replace('{y}', String(y))
    .replace('{s}', 'a')
    .replace('{r}', '');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export class HexMap {
  readonly element: HTMLElement;
  readonly map: MapLibreMap;
  #o: MapOptions;
  #values = new Map<string, number | null>();
  #marks: { cell: string; rank: number }[] = [];
  #selected: string | undefined;
  #max = 1;
  #labels: Marker[] = [];
  #markLabels: Marker[] = [];
  #viewListeners: ((bbox: BBox) => void)[] = [];
  #selectListeners: ((cell: string) => void)[] = [];
  #loaded: Promise<void>;
  #note: HTMLElement;

  constructor(container: HTMLElement, options: MapOptions) {
    this.#o = options;
    this.element = container;
    container.classList.add('hexmap');
    this.#note = el('p', { class: 'map-note', role: 'status', hidden: '' });
    container.append(this.#note);
    const style: StyleSpecification = {
      version: 8,
      sources: {
        cells: { type: 'geojson', data: EMPTY },
        selected: { type: 'geojson', data: EMPTY },
        marks: { type: 'geojson', data: EMPTY },
      },
      layers: [
        { id: 'background', type: 'background', paint: { 'background-color': '#eef1f4' } },
        {
          id: 'cells-fill',
          type: 'fill',
          source: 'cells',
          filter: ['!=', ['get', 'suppressed'], true],
          paint: { 'fill-color': ['get', 'fill'], 'fill-opacity': 0.72 },
        },
        {
          // Below k: no number, no colour of the ramp; grey with a dashed outline (see the legend).
          id: 'cells-hatch',
          type: 'fill',
          source: 'cells',
          filter: ['==', ['get', 'suppressed'], true],
          paint: { 'fill-color': '#b8bec8', 'fill-opacity': 0.55 },
        },
        {
          id: 'cells-hatch-outline',
          type: 'line',
          source: 'cells',
          filter: ['==', ['get', 'suppressed'], true],
          paint: { 'line-color': '#59606c', 'line-width': 1, 'line-dasharray': [2, 2] },
        },
        {
          id: 'cells-outline',
          type: 'line',
          source: 'cells',
          filter: ['!=', ['get', 'suppressed'], true],
          paint: { 'line-color': 'rgba(60,60,60,0.55)', 'line-width': 0.8 },
        },
        {
          id: 'marks-outline',
          type: 'line',
          source: 'marks',
          paint: { 'line-color': '#2456c9', 'line-width': 3, 'line-dasharray': [2, 1] },
        },
        {
          id: 'selected-outline',
          type: 'line',
          source: 'selected',
          paint: { 'line-color': '#111', 'line-width': 3 },
        },
      ],
    };
    this.map = new MapLibreMap({
      container,
      style,
      center: [0, 20],
      zoom: 1.5,
      attributionControl: false,
      // The page's own controls and labels carry the meaning; MapLibre's keyboard handling stays on.
      cooperativeGestures: false,
      fadeDuration: 0,
    });
    this.map.addControl(new NavigationControl({ showCompass: false }), 'top-left');
    this.map.addControl(new ScaleControl({ unit: 'metric', maxWidth: 120 }), 'bottom-left');
    this.map.addControl(
      new AttributionControl({
        compact: false,
        // MapLibre renders attributions as HTML: escape ours, it is configuration, not markup.
        customAttribution: options.tileUrl
          ? escapeHtml(options.attribution ?? 'base map')
          : 'no base map configured (DASHBOARD_TILE_URL)',
      }),
      'bottom-right',
    );
    // Every MapLibre error comes here instead of the console (MapLibre logs only when nobody listens).
    this.map.on('error', (e) => this.#onError(e.error?.message, (e as { sourceId?: string }).sourceId));
    this.#loaded = new Promise((resolve) => this.map.once('load', () => resolve()));
    void this.#loaded.then(() => {
      if (options.tileUrl) void this.#addBaseMap(options.tileUrl, options.attribution);
    });

    this.map.on('moveend', () => this.#emitView());
    this.map.on('click', (e) => {
      // A click inside a named place opens the place (place-layer.ts), not the cell under it.
      if (
        this.map.getLayer('places-fill') &&
        this.map.queryRenderedFeatures(e.point, { layers: ['places-fill'] }).length
      )
        return;
      const hit = this.map.queryRenderedFeatures(e.point, { layers: CELL_LAYERS })[0];
      const cell = hit?.properties?.cell;
      if (typeof cell === 'string') for (const l of this.#selectListeners) l(cell);
    });
    const popup = new Popup({ closeButton: false, closeOnClick: false, className: 'cell-tip', offset: 12 });
    this.map.on('mousemove', (e) => {
      const hit = this.map.queryRenderedFeatures(e.point, { layers: CELL_LAYERS })[0];
      const cell = hit?.properties?.cell;
      this.map.getCanvas().style.cursor = typeof cell === 'string' ? 'pointer' : '';
      if (typeof cell !== 'string') {
        popup.remove();
        return;
      }
      const text = this.#o.describe?.(cell, this.#values.get(cell)) ?? cell;
      popup.setLngLat(e.lngLat).setText(text).addTo(this.map);
    });
    this.map.on('mouseout', () => popup.remove());
  }

  /**
   * Adds the raster base map after one probe tile loads. Without network (CI, a laptop on a train) the
   * probe fails once and the map stays a plain background with cells, outlines, labels and a scale,
   * instead of dozens of failed tile requests.
   */
  async #addBaseMap(tileUrl: string, attribution: string | undefined): Promise<void> {
    try {
      const res = await fetch(tileAt(tileUrl, 0, 0, 0), { mode: 'cors' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (error) {
      this.#baseMapUnavailable((error as Error).message);
      return;
    }
    this.map.addSource('base', {
      type: 'raster',
      // MapLibre knows neither {s} (subdomain) nor {r} (retina suffix): list the usual a/b/c hosts.
      tiles: (tileUrl.includes('{s}') ? ['a', 'b', 'c'] : ['']).map((h) =>
        tileUrl.replace('{s}', h).replace('{r}', ''),
      ),
      tileSize: 256,
      maxzoom: 19,
      attribution: escapeHtml(attribution ?? ''),
    });
    this.map.addLayer(
      { id: 'base', type: 'raster', source: 'base', paint: { 'raster-opacity': 0.85 } },
      'cells-fill',
    );
    this.element.dataset.basemap = 'on';
  }

  #baseMapUnavailable(reason: string): void {
    if (this.element.dataset.basemap === 'unavailable') return;
    this.element.dataset.basemap = 'unavailable';
    if (this.map.getLayer('base')) this.map.removeLayer('base');
    if (this.map.getSource('base')) this.map.removeSource('base');
    this.#note.textContent = 'Base map unavailable (offline?): cells only.';
    this.#note.title = reason;
    this.#note.hidden = false;
  }

  #onError(message: string | undefined, sourceId: string | undefined): void {
    // A base-map tile that fails after the probe succeeded: drop the base map rather than show holes.
    if (sourceId === 'base') this.#baseMapUnavailable(message ?? 'tile error');
    else console.warn('map:', message);
  }

  get maxDevices(): number {
    return this.#max;
  }

  onViewChange(listener: (bbox: BBox) => void): void {
    this.#viewListeners.push(listener);
    if (this.map.loaded()) listener(this.bbox());
  }

  onSelect(listener: (cell: string) => void): void {
    this.#selectListeners.push(listener);
  }

  bbox(): BBox {
    const b = this.map.getBounds();
    return [
      Math.max(-180, b.getWest()),
      Math.max(-85, b.getSouth()),
      Math.min(180, b.getEast()),
      Math.min(85, b.getNorth()),
    ];
  }

  #emitView(): void {
    const bbox = this.bbox();
    for (const l of this.#viewListeners) l(bbox);
  }

  setView(lat: number, lon: number, zoom: number): void {
    this.map.jumpTo({ center: [lon, lat], zoom });
  }

  /** Centres a cell (and zooms in to at least `minZoom`). */
  focus(cell: string, minZoom = 14): void {
    const [lat, lon] = cellToLatLng(cell);
    this.map.easeTo({ center: [lon, lat], zoom: Math.max(this.map.getZoom(), minZoom), duration: 300 });
  }

  /** Fits the view to `cells`. */
  fit(cells: string[], maxZoom = 15): void {
    if (!cells.length) return;
    let [w, s, e, n] = [180, 90, -180, -90];
    for (const c of cells)
      for (const [lng, lat] of cellRing(c)) {
        w = Math.min(w, lng);
        e = Math.max(e, lng);
        s = Math.min(s, lat);
        n = Math.max(n, lat);
      }
    const bounds: LngLatBoundsLike = [
      [w, s],
      [e, n],
    ];
    // The legend sits top right and the scale/attribution at the bottom: keep cells clear of them.
    this.map.fitBounds(bounds, {
      padding: { top: 50, bottom: 50, left: 60, right: 230 },
      maxZoom,
      duration: 0,
    });
  }

  setCells(values: HexValue[]): void {
    this.#values = new Map(values.map((v) => [v.cell, v.devices]));
    this.#max = Math.max(this.#o.kAnonymity + 1, ...values.map((v) => v.devices ?? 0));
    const k = this.#o.kAnonymity;
    const features = values.map((v) =>
      polygon(v.cell, {
        devices: v.devices,
        suppressed: v.devices === null,
        fill: v.devices === null ? '#b8bec8' : colourFor(v.devices, k, this.#max),
      }),
    );
    void this.#loaded.then(() => {
      (this.map.getSource('cells') as GeoJSONSource).setData({ type: 'FeatureCollection', features });
      this.#renderLabels(values);
    });
  }

  /** Count labels on the busiest cells (HTML markers: no glyph server needed). */
  #renderLabels(values: HexValue[]): void {
    for (const m of this.#labels) m.remove();
    const top = values
      .filter((v): v is { cell: string; devices: number } => v.devices !== null)
      .sort((a, b) => b.devices - a.devices)
      .slice(0, this.#o.labelled ?? 10);
    this.#labels = top.map((v) => {
      const [lat, lon] = cellToLatLng(v.cell);
      const label = el(
        'div',
        { class: 'cell-label', 'aria-hidden': 'true', 'data-cell': v.cell },
        String(v.devices),
      );
      // Beside the cell, not on it: at city scale a cell is smaller than its label.
      return new Marker({ element: label, anchor: 'bottom-left', offset: [5, -5] })
        .setLngLat([lon, lat])
        .addTo(this.map);
    });
  }

  setMarks(marks: { cell: string; rank: number }[]): void {
    this.#marks = marks;
    void this.#loaded.then(() => {
      (this.map.getSource('marks') as GeoJSONSource).setData({
        type: 'FeatureCollection',
        features: marks.map((m) => polygon(m.cell, { rank: m.rank })),
      });
      for (const m of this.#markLabels) m.remove();
      this.#markLabels = this.#marks.map((m) => {
        const [lat, lon] = cellToLatLng(m.cell);
        const badge = el(
          'div',
          { class: 'mark-badge', 'aria-hidden': 'true', 'data-cell': m.cell },
          String(m.rank),
        );
        return new Marker({ element: badge, anchor: 'bottom', offset: [0, -8] })
          .setLngLat([lon, lat])
          .addTo(this.map);
      });
    });
  }

  select(cell: string | undefined): void {
    this.#selected = cell;
    void this.#loaded.then(() =>
      (this.map.getSource('selected') as GeoJSONSource).setData({
        type: 'FeatureCollection',
        features: this.#selected ? [polygon(this.#selected, {})] : [],
      }),
    );
  }

  /** The cells MapLibre actually draws in the current view (fill or hatch layer), for tests. */
  renderedCells(): RenderedCell[] {
    const seen = new Map<string, number | null>();
    for (const f of this.map.queryRenderedFeatures({ layers: CELL_LAYERS })) {
      const cell = f.properties?.cell;
      if (typeof cell === 'string')
        seen.set(cell, f.properties?.suppressed ? null : Number(f.properties?.devices));
    }
    return [...seen].map(([cell, devices]) => ({ cell, devices }));
  }
}
