// Named places on the map: outlines from the registry's GeoJSON (GET /v1/places), a faint fill to
// click, and names as HTML buttons (like the count labels: no glyph server needed, and a button is
// reachable by keyboard and screen reader, which a map feature is not).

import type { Feature, FeatureCollection, Geometry } from 'geojson';
import { type GeoJSONSource, type Map as MapLibreMap, Marker } from 'maplibre-gl';
import type { PlaceInfo } from './api.ts';
import { el } from './format.ts';

export const PLACE_FILL_LAYER = 'places-fill';

export class PlaceLayer {
  readonly #map: MapLibreMap;
  readonly #ready: Promise<void>;
  #places = new Map<string, PlaceInfo>();
  #names: Marker[] = [];
  #selected: string | undefined;
  #listeners: ((place: PlaceInfo) => void)[] = [];

  constructor(map: MapLibreMap) {
    this.#map = map;
    this.#ready = new Promise<void>((resolve) => {
      if (map.isStyleLoaded()) resolve();
      else map.once('load', () => resolve());
    }).then(() => {
      map.addSource('places', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
      // Under the cells: the fill only catches clicks; the outline on top of everything but the
      // selected cell, so that places stay readable over a busy crowd.
      map.addLayer(
        {
          id: PLACE_FILL_LAYER,
          type: 'fill',
          source: 'places',
          paint: { 'fill-color': '#5f3dc4', 'fill-opacity': 0.06 },
        },
        'cells-fill',
      );
      map.addLayer(
        {
          id: 'places-outline',
          type: 'line',
          source: 'places',
          paint: {
            'line-color': '#5f3dc4',
            'line-width': ['case', ['==', ['get', 'selected'], true], 3.5, 1.8],
          },
        },
        'selected-outline',
      );
      map.on('click', PLACE_FILL_LAYER, (e) => {
        const id = e.features?.[0]?.properties?.id;
        const place = typeof id === 'string' ? this.#places.get(id) : undefined;
        if (place) this.#pick(place);
      });
    });
  }

  onSelect(listener: (place: PlaceInfo) => void): void {
    this.#listeners.push(listener);
  }

  #pick(place: PlaceInfo): void {
    for (const l of this.#listeners) l(place);
  }

  get(id: string): PlaceInfo | undefined {
    return this.#places.get(id);
  }

  /** Replaces the places drawn (those of the current view). */
  setPlaces(places: PlaceInfo[]): void {
    this.#places = new Map(places.map((p) => [p.id, p]));
    void this.#ready.then(() => this.#draw());
  }

  /** Adds one place (picked from the search, maybe outside the view). */
  add(place: PlaceInfo): void {
    this.#places.set(place.id, place);
    void this.#ready.then(() => this.#draw());
  }

  select(id: string | undefined): void {
    this.#selected = id;
    void this.#ready.then(() => this.#draw());
  }

  /** Fits the view to a place's bounding box. */
  focus(place: PlaceInfo): void {
    const [w = 0, s = 0, e = 0, n = 0] = place.bbox;
    this.#map.fitBounds(
      [
        [w, s],
        [e, n],
      ],
      { padding: { top: 60, bottom: 60, left: 60, right: 240 }, maxZoom: 16, duration: 0 },
    );
  }

  #draw(): void {
    const features: Feature[] = [...this.#places.values()].map((p) => ({
      type: 'Feature',
      properties: { id: p.id, name: p.name, selected: p.id === this.#selected },
      geometry: p.geometry as unknown as Geometry,
    }));
    const data: FeatureCollection = { type: 'FeatureCollection', features };
    (this.#map.getSource('places') as GeoJSONSource).setData(data);
    for (const m of this.#names) m.remove();
    this.#names = [...this.#places.values()].map((p) => {
      const [w = 0, s = 0, e = 0, n = 0] = p.bbox;
      const button = el(
        'button',
        {
          type: 'button',
          class: `place-name${p.id === this.#selected ? ' selected' : ''}`,
          'data-place': p.id,
          title: `${p.name} (${p.category}): show popular times`,
        },
        p.name,
      );
      button.addEventListener('click', (ev) => {
        ev.stopPropagation(); // not also a click on the cell under the name
        this.#pick(p);
      });
      return new Marker({ element: button, anchor: 'center' })
        .setLngLat([(w + e) / 2, (s + n) / 2])
        .addTo(this.#map);
    });
  }
}
