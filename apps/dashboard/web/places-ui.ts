// Wiring of named places into the page: the places of the view on the map, the search by name, the
// place panel, and "my time" per place. main.ts owns the clock (live or time travel) and asks here.

import type { BBox, FootfallApi, PlaceInfo, UserPlaceTimeAnswer } from './api.ts';
import { el, formatDuration } from './format.ts';
import type { HexMap } from './map.ts';
import { PlaceLayer } from './place-layer.ts';
import { PlacePanel } from './places.ts';

export interface PlacesDeps {
  api: FootfallApi;
  map: HexMap;
  /** The minute shown (live or time travel). */
  shownAt(): number;
  bucketMs(): number;
  /** Called when a place opens (main.ts closes the cell detail). */
  onOpen?(): void;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const SERIES_WINDOW_MS = 6 * 3_600_000;

export class PlacesUi {
  readonly layer: PlaceLayer;
  readonly panel: PlacePanel;
  readonly #d: PlacesDeps;
  #open: { id: string; name: string } | undefined;
  #viewSeq = 0;
  #searchSeq = 0;
  #searchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(deps: PlacesDeps) {
    this.#d = deps;
    this.layer = new PlaceLayer(deps.map.map);
    this.panel = new PlacePanel(deps.api, {
      panel: $('named-place-panel'),
      name: $('named-place-title'),
      now: $('named-place-now'),
      live: $('named-place-live'),
      popular: $('named-place-popular'),
      dwell: $('named-place-dwell'),
      series: $('named-place-series'),
    });
    this.layer.onSelect((p) => this.open(p.id, p.name));
    $('named-place-close').addEventListener('click', () => {
      this.#open = undefined;
      this.panel.close();
      this.layer.select(undefined);
    });
    const input = $<HTMLInputElement>('place-search');
    input.addEventListener('input', () => {
      if (this.#searchTimer) clearTimeout(this.#searchTimer);
      this.#searchTimer = setTimeout(() => void this.#search(input.value.trim()), 200);
    });
    $('place-search-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#search(input.value.trim());
    });
  }

  /** Loads the places of the view (the registry's outlines; at most 200, the first by name). */
  async onView(bbox: BBox): Promise<void> {
    const seq = ++this.#viewSeq;
    try {
      const list = await this.#d.api.places({ bbox, limit: 200 });
      if (seq !== this.#viewSeq) return;
      const selected = this.#open ? this.layer.get(this.#open.id) : undefined;
      this.layer.setPlaces(
        selected && !list.places.some((p) => p.id === selected.id) ? [...list.places, selected] : list.places,
      );
    } catch {
      // The map keeps the places it has; the next move asks again.
    }
  }

  async #search(q: string): Promise<void> {
    const seq = ++this.#searchSeq;
    const results = $('place-results');
    if (!q) {
      results.replaceChildren();
      return;
    }
    try {
      const list = await this.#d.api.places({ q, limit: 10 });
      if (seq !== this.#searchSeq) return;
      results.replaceChildren(
        ...(list.places.length
          ? list.places.map((p) => {
              const b = el(
                'button',
                { type: 'button', class: 'place-pick', 'data-place': p.id },
                el('span', { class: 'place-result-name' }, p.name),
                el('span', { class: 'place-category' }, p.category),
              );
              b.addEventListener('click', () => this.pick(p));
              return el('li', { 'data-testid': 'place-result' }, b);
            })
          : [el('li', { class: 'note' }, `No place named “${q}…”.`)]),
      );
    } catch (error) {
      if (seq === this.#searchSeq)
        results.replaceChildren(el('li', { class: 'error' }, (error as Error).message));
    }
  }

  /** A place picked from a list: drawn, in view, and open. */
  pick(place: PlaceInfo): void {
    this.layer.add(place);
    this.layer.focus(place);
    this.open(place.id, place.name);
  }

  open(id: string, name: string): void {
    this.#open = { id, name };
    this.layer.select(id);
    this.#d.onOpen?.();
    this.refresh();
  }

  /** Redraws the open place at the minute shown (after time travel, or periodically when live). */
  refresh(): void {
    if (!this.#open) return;
    void this.panel.show(this.#open.id, this.#open.name, {
      atMs: this.#d.shownAt(),
      bucketMs: this.#d.bucketMs(),
      windowMs: SERIES_WINDOW_MS,
    });
  }

  /** "My time" per place: ranked rows; a row opens the place. */
  userPlaces(a: UserPlaceTimeAnswer): HTMLElement {
    if (!a.places.length) return el('p', { class: 'note' }, 'No time at named places in this range.');
    const max = Math.max(1, ...a.places.map((p) => p.timeSpentMs));
    return el(
      'div',
      {},
      el('h3', {}, 'Time per named place'),
      el(
        'ol',
        { class: 'time-bars', 'data-testid': 'mytime-places' },
        ...a.places.slice(0, 10).map((p, i) => {
          const b = el(
            'button',
            {
              type: 'button',
              class: 'time-row',
              'data-place': p.placeId,
              title: `${p.name}: ${formatDuration(p.timeSpentMs)}, ${p.visits} visit${p.visits === 1 ? '' : 's'}`,
            },
            el('span', { class: 'rank' }, String(i + 1)),
            el('span', { class: 'place-result-name' }, p.name),
            el(
              'span',
              { class: 'bar-track' },
              el('span', {
                class: 'bar',
                style: `width:${Math.max(2, (100 * p.timeSpentMs) / max).toFixed(1)}%`,
              }),
            ),
            el('span', { class: 'value' }, `${formatDuration(p.timeSpentMs)} · ${p.visits}×`),
          );
          b.addEventListener('click', () => {
            const known = this.layer.get(p.placeId);
            if (known) this.pick(known);
            else this.open(p.placeId, p.name);
          });
          return el('li', {}, b);
        }),
      ),
    );
  }
}
