// "My time": a signed-in user's time per cell and per named place (owner-only API answers), as ranked
// bars and optional marks on the map. The token stays in sessionStorage of this tab only.

import { ApiRequestError, type FootfallApi, tokenSubject } from './api.ts';
import { timeBars } from './charts.ts';
import { formatDuration } from './format.ts';
import type { HexMap } from './map.ts';
import type { PlacesUi } from './places-ui.ts';

export interface MyTimeDeps {
  /** Opens a cell of the list (the cell panel). */
  selectCell(cell: string): void;
  /** The marks changed (main.ts redraws the legend). */
  changed(): void;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const TOKEN_KEY = 'footfall.userToken';
const USER_ERRORS: Record<number, string> = {
  401: 'The token is invalid or expired.',
  403: 'This token belongs to another user.',
  404: 'No visits recorded for this user yet.',
  410: 'This user’s data was erased.',
};

export class MyTime {
  #marks: { cell: string; rank: number }[] = [];

  constructor(api: FootfallApi, map: HexMap, places: PlacesUi, deps: MyTimeDeps) {
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
      this.#marks = [];
      map.setMarks([]);
      $('mytime-chart-box').replaceChildren();
      $('mytime-places-box').replaceChildren();
      $('mytime-status').textContent = '';
      deps.changed();
    });
    $<HTMLInputElement>('mytime-onmap').addEventListener('change', (e) => {
      map.setMarks((e.target as HTMLInputElement).checked ? this.#marks : []);
    });
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
        this.#marks = top.map((l, i) => ({ cell: l.cell, rank: i + 1 }));
        const range = $<HTMLSelectElement>('mytime-range');
        const rangeText = range.selectedOptions[0]?.textContent ?? '';
        status.textContent = top.length
          ? `${formatDuration(a.totalMs)} at ${a.locations.length} place${a.locations.length === 1 ? '' : 's'} in the ${rangeText}`
          : `No visits in the ${rangeText}.`;
        const box = $('mytime-chart-box');
        box.replaceChildren(top.length ? timeBars(top, (cell) => deps.selectCell(cell)) : '');
        map.setMarks($<HTMLInputElement>('mytime-onmap').checked ? this.#marks : []);
        if (top.length) map.fit(top.map((l) => l.cell));
        deps.changed();
      } catch (error) {
        const s = error instanceof ApiRequestError ? error.status : 0;
        status.textContent = USER_ERRORS[s] ?? (error as Error).message;
        $('mytime-chart-box').replaceChildren();
        $('mytime-places-box').replaceChildren();
      }
    });
  }

  /** The user's top cells, ranked (drawn on the map when asked). */
  get marks(): readonly { cell: string; rank: number }[] {
    return this.#marks;
  }
}
