// The dashboard in real headless Chromium against a real stack: Kafka `aggregated` → sink → PostgreSQL →
// query API (in-process) → the built page at /dashboard/. Screenshots go to test-artifacts/dashboard/
// (docs/dashboard.png comes from the real stack: `npm run screenshot`). What the map shows is read from
// MapLibre's rendered features (window.footfallMap.renderedCells()), not from pixels. There is no network
// to tile servers here (nor in CI): the configured public base map is unreachable, which is exactly
// the offline case the page must handle cleanly.

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Api, loadApiConfig, registerDashboard, startApi } from '@footfall/api';
import { issueUserToken } from '@footfall/auth';
import { AggregateRecord, livePlaceOccupancyKey, placeOccupancyKey } from '@footfall/contracts';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTopics } from '@footfall/kafka';
import { loadSinkConfig, type Sink, startSink } from '@footfall/sink';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  occRecord,
  produce,
  type TemporaryDatabase,
  type TestRecord,
  uniqueTopics,
  visitRecord,
  waitFor,
} from '@footfall/testing';
import Fastify from 'fastify';
import { gridDisk, gridDistance } from 'h3-js';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { chromiumSkipReason, launchChromium } from '../src/browser.ts';
import { ensureDashboardBuilt } from '../src/index.ts';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const ARTIFACTS = join(REPO, 'test-artifacts', 'dashboard');
const MIN = 60_000;
const HOUR = 3_600_000;
const SECRET = 'dashboard-test-user-secret-0123456789';
const OPERATOR = 'dashboard-test-operator-token-0123456789';
const DAY = 24 * HOUR;
const USER = 'dash-user';
const logger = pino({ level: 'silent' });
const PNG_1PX =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==';

const TILE_HOST = 'https://tile.openstreetmap.org/'; // the default DASHBOARD_TILE_URL
const skip = chromiumSkipReason();
if (skip) console.error(`[dashboard test] SKIPPED: ${skip}`);

interface Rendered {
  cell: string;
  devices: number | null;
}
/** The cells MapLibre draws in the current view. */
const rendered = (page: Page): Promise<Rendered[]> =>
  page.evaluate(() =>
    (globalThis as unknown as { footfallMap: { renderedCells(): Rendered[] } }).footfallMap.renderedCells(),
  );
/** Moves the map so that `cells` are in view (as a user would pan); callers then poll `rendered`. */
const showCells = (page: Page, cells: string[]) =>
  page.evaluate((cells) => {
    (globalThis as unknown as { footfallMap: { fit(c: string[]): void } }).footfallMap.fit(cells);
  }, cells);

/** Runs axe-core (from npm) in the page; returns the serious and critical violations. */
async function axeViolations(page: Page): Promise<string[]> {
  const source = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  // page.evaluate is not subject to the page's CSP (an injected <script> would be, rightly).
  await page.evaluate(source);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe;
    return (await axe.run()).violations as {
      id: string;
      impact: string;
      help: string;
      nodes: { target: string[] }[];
    }[];
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

// A synthetic neighbourhood in Berlin: a crowd around HOT_NOW now, around HOT_PAST 45 minutes ago.
const CENTRE = cellOf(52.52, 13.405);
const DISK = gridDisk(CENTRE, 6);
const HOT_NOW = CENTRE;
const HOT_PAST = gridDisk(CENTRE, 4).find((c) => gridDistance(CENTRE, c) === 4) as string;
const NEW_CELL = cellOf(52.5245, 13.43); // appears only after the page is open (live update)
const NEW_SUPPRESSED = cellOf(52.5135, 13.43);
const HOME = cellOf(52.515, 13.39);
const WORK = cellOf(52.523, 13.412);
const CAFE = cellOf(52.527, 13.4);
// A named place around the crowd and the café (not home, not work): ~1.4 km × 0.9 km.
const PLACE_NAME = 'Alexanderplatz (test)';
const PLACE_RING = [
  [13.397, 52.5175],
  [13.409, 52.5175],
  [13.409, 52.5295],
  [13.397, 52.5295],
  [13.397, 52.5175],
];
const PLACE_NOW = 60; // devices in the place in the current hour: busier than any usual hour
/** The usual peak of the place at hour `h` of a UTC day (8…28, all ≥ k). */
const placeUsual = (h: number) => 8 + Math.round(20 * Math.exp(-((h - 13) ** 2) / 8));

/** A `place_occupancy` record as the processor writes it to `aggregated`. */
function placeRecord(placeId: string, bucketStartMs: number, devices: number): TestRecord {
  const region = regionOf(CENTRE);
  const value = AggregateRecord.encode({
    region,
    placeOccupancy: { placeId, bucketStartMs, bucketMs: MIN, devices, version: 1 },
  }).finish();
  return {
    key: Buffer.from(placeOccupancyKey({ placeId, bucketStartMs })),
    value: Buffer.from(value),
    region,
  };
}

/** The place's provisional value (the processor's `liveplace:` record): a nowcast above the arrived 60. */
const PLACE_NOWCAST = { observed: 64, confirmed: PLACE_NOW, estimate: 66, lower: 58, upper: 75 };
function livePlaceRecord(placeId: string, bucketStartMs: number): TestRecord {
  const region = regionOf(CENTRE);
  const value = AggregateRecord.encode({
    region,
    livePlaceOccupancy: {
      placeId,
      bucketStartMs,
      bucketMs: MIN,
      ...PLACE_NOWCAST,
      completeness: 0.4,
      finalAtMs: bucketStartMs + MIN + 900_000,
      computedAtMs: Date.now(),
      version: 1,
    },
  }).finish();
  return {
    key: Buffer.from(livePlaceOccupancyKey({ placeId, bucketStartMs })),
    value: Buffer.from(value),
    region,
  };
}

/** Devices in `cell` at `b`, relative to `now` (a bucket): a peak moving from HOT_PAST to HOT_NOW. */
/**
 * Waits until the current bucket has at least 40 s left. The page starts every new live bucket empty
 * (then refills it from /v1/popular, which leaves cells below k out), so a test that shows a cell and
 * then withdraws it must finish inside one bucket.
 */
const earlyInMinute = () => waitFor('early in the minute', () => Date.now() % MIN < 20_000, 70_000, 250);

function devicesAt(cell: string, b: number, now: number): number {
  const minutesAgo = (now - b) / MIN;
  const past = Math.exp(-((minutesAgo - 45) ** 2) / 60); // HOT_PAST peaks 45 min ago
  const present = Math.exp(-(Math.max(0, minutesAgo) ** 2) / 300);
  const dNow = gridDistance(HOT_NOW, cell);
  const dPast = gridDistance(HOT_PAST, cell);
  const wobble = ((cell.charCodeAt(12) * 7 + b / MIN) % 5) - 2;
  const v = 60 * present * Math.exp(-(dNow ** 2) / 6) + 45 * past * Math.exp(-(dPast ** 2) / 3) + 3 + wobble;
  return Math.max(0, Math.round(v));
}

describe('dashboard in headless Chromium', { skip }, () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let sink: Sink;
  let api: Api;
  let topic: string;
  let browser: Browser;
  let page: Page;
  let pageUrl: string;
  let closeProxy: (() => Promise<void>) | undefined;
  let produced = 0;
  let placeId = '';
  const pageErrors: string[] = [];
  const tileErrors: string[] = [];
  const tileRequests: string[] = [];
  const now = bucketStart(Date.now(), MIN);
  const pastAt = now - 45 * MIN;

  const send = async (records: TestRecord[]) => {
    for (let i = 0; i < records.length; i += 2000)
      await produce(kafkaBootstrap(), topic, records.slice(i, i + 2000));
    produced += records.length;
    const target = produced;
    await waitFor(
      'sink caught up',
      async () => ((await sink.metrics.recordsRead.get()).values[0]?.value ?? 0) >= target,
      60_000,
    );
  };

  const attr = (selector: string, name: string) =>
    page
      .locator(selector)
      .first()
      .getAttribute(name, { timeout: 1000 })
      .catch(() => null);

  const shot = async (name: string) => {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
  };

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const [dist] = await Promise.all([
      ensureDashboardBuilt(),
      (async () => {
        tmp = await createTemporaryDatabase();
        db = await openDatabase({ url: tmp.url });
      })(),
    ]);
    topic = (await uniqueTopics()).aggregated;
    const placesTopic = `places-${topic}`;
    await createTopics(kafkaBootstrap(), [
      { name: placesTopic, partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ]);
    sink = await startSink(
      loadSinkConfig(
        {},
        {
          kafkaBootstrap: [kafkaBootstrap()],
          topicAggregated: topic,
          // Own group per test file: files sharing a group on different topics rebalance each other.
          groupId: `footfall-sink-${topic}`,
          opsPort: 0,
          flushIntervalMs: 50,
          logLevel: 'silent',
        },
      ),
      { db, logger },
    );
    api = await startApi(
      loadApiConfig(
        {},
        {
          port: 0,
          host: '127.0.0.1',
          userTokenSecret: SECRET,
          // Place definitions are published to Kafka (docs/places.md), registered by the operator.
          kafkaBootstrap: [kafkaBootstrap()],
          topicPlaces: placesTopic,
          operatorToken: OPERATOR,
          liveIntervalMs: 500,
          popularCacheMs: 0,
          logLevel: 'silent',
        },
      ),
      { db, logger },
    );

    // An hour of history plus a few minutes ahead (the live view follows the wall clock).
    const records: TestRecord[] = [];
    for (let b = now - 60 * MIN; b <= now + 5 * MIN; b += MIN) {
      for (const cell of DISK) {
        const devices = devicesAt(cell, b, now);
        if (devices > 0) records.push(occRecord({ cell, bucketStartMs: b, devices }));
      }
    }
    const day = 24 * HOUR;
    records.push(
      visitRecord({
        deviceId: USER,
        cell: HOME,
        startMs: now - 2 * day,
        endMs: now - 2 * day + 9 * HOUR,
        closed: true,
      }),
      visitRecord({
        deviceId: USER,
        cell: HOME,
        startMs: now - day,
        endMs: now - day + 8 * HOUR,
        closed: true,
      }),
      visitRecord({
        deviceId: USER,
        cell: WORK,
        startMs: now - day + 9 * HOUR,
        endMs: now - day + 15 * HOUR,
        closed: true,
      }),
      visitRecord({ deviceId: USER, cell: CAFE, startMs: now - 3 * HOUR, endMs: now - 2 * HOUR }),
    );
    await send(records);

    // A named place registered through the API, with two weeks of history (effective 15 days back, so
    // popular times have usual values) and a crowd in the current hour, as the processor would count it.
    const created = await fetch(`${api.url}/v1/places`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: PLACE_NAME,
        category: 'square',
        geometry: { type: 'Polygon', coordinates: [PLACE_RING] },
        effectiveFrom: String(now - 15 * DAY),
      }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    placeId = ((await created.json()) as { id: string }).id;
    const hourNow = Math.floor(now / HOUR) * HOUR;
    const placeRecords: TestRecord[] = [];
    for (let h = hourNow - 14 * DAY; h < hourNow - HOUR; h += HOUR)
      placeRecords.push(placeRecord(placeId, h + 10 * MIN, placeUsual(new Date(h).getUTCHours())));
    // The last hour and a few minutes ahead (the test may cross into the next hour).
    for (let b = now - 60 * MIN; b <= now + 5 * MIN; b += MIN)
      placeRecords.push(placeRecord(placeId, b, PLACE_NOW));
    // The live edge of the minutes near now, through the sink like every record.
    for (let b = now - 2 * MIN; b <= now + 5 * MIN; b += MIN) placeRecords.push(livePlaceRecord(placeId, b));
    await send(placeRecords);

    pageUrl = await servePage(api, dist, (close) => {
      closeProxy = close;
    });

    browser = await launchChromium();
    const context = await browser.newContext({
      viewport: { width: 1400, height: 860 },
      timezoneId: 'UTC',
      locale: 'en-GB',
      deviceScaleFactor: 1,
    });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      // The one failed request the page makes without network: its probe of the base map's server.
      if (m.location().url.startsWith(TILE_HOST)) tileErrors.push(m.text());
      else pageErrors.push(m.text());
    });
    // Nothing outside the stack may be fetched (no CDN); the tile server is "offline" as in CI.
    await page.route(
      (url) => !url.href.startsWith(pageUrl.replace(/\/dashboard\/$/, '')),
      (route) => {
        const url = route.request().url();
        if (url.startsWith(TILE_HOST)) tileRequests.push(url);
        else pageErrors.push(`external request: ${url}`);
        return route.abort('internetdisconnected');
      },
    );
    await page.goto(pageUrl);
  });

  after(async () => {
    await browser?.close();
    await closeProxy?.();
    await api?.close();
    await sink?.close();
    await db?.close();
    await tmp?.drop();
  });

  it('draws the cells the API returns, coloured by live count, and a live popular list', async () => {
    await page.waitForSelector('body[data-live="open"]', { timeout: 20_000 });
    await waitFor('cells on the map', async () => (await rendered(page)).length >= 20, 20_000);
    const items = page.getByTestId('topk-item');
    await waitFor('top-K entries', async () => (await items.count()) >= 5, 20_000);
    const first = await items.first().locator('button').getAttribute('data-cell');
    assert.equal(first, HOT_NOW, 'the crowd of now is first');
    const counts = await page.$$eval('[data-testid=topk-item] .devices', (els) =>
      els.map((e) => Number(e.textContent)),
    );
    assert.ok(
      counts.every((n) => n >= 5),
      `no count below k is listed: ${counts}`,
    );
    // The map draws what the API answers for this minute: same cells, same counts.
    const answer = (await (await fetch(`${api.url}/v1/popular?k=100`)).json()) as {
      bucketStartMs: number;
      locations: { cell: string; devices: number }[];
    };
    await waitFor('map = API', async () => {
      const drawn = new Map((await rendered(page)).map((c) => [c.cell, c.devices]));
      return answer.locations.slice(0, 20).every((l) => drawn.get(l.cell) === l.devices);
    });
    // The busiest cells carry their count as a label (HTML, readable without a glyph server).
    assert.equal(
      await page.locator(`.cell-label[data-cell="${HOT_NOW}"]`).textContent(),
      String(answer.locations[0]?.devices),
    );
    await shot('01-live');
  });

  it('degrades cleanly without network to the tile server', async () => {
    // One probe tile, then no more requests; a note instead of broken tiles; cells, labels, a scale.
    await page.waitForSelector('[data-testid=map][data-basemap="unavailable"]');
    assert.equal(tileRequests.length, 1, tileRequests.join(' '));
    assert.match((await page.locator('.map-note').textContent()) ?? '', /Base map unavailable/);
    assert.match((await page.locator('.maplibregl-ctrl-scale').textContent()) ?? '', /\d+\s*k?m/);
    assert.ok((await page.locator('.cell-label').count()) >= 5);
    assert.ok(tileErrors.length <= 1, tileErrors.join('\n'));
  });

  it('updates the map live from the SSE stream; counts below k never reach it, a cell falling below k is withdrawn', async () => {
    await earlyInMinute();
    const b = bucketStart(Date.now(), MIN);
    // One sink batch (one transaction): the stream's tick sees all of these rows or none.
    await send([
      occRecord({ cell: NEW_SUPPRESSED, bucketStartMs: b, devices: 3 }),
      occRecord({ cell: NEW_SUPPRESSED, bucketStartMs: b + MIN, devices: 3 }),
      occRecord({ cell: NEW_CELL, bucketStartMs: b, devices: 42 }),
      occRecord({ cell: NEW_CELL, bucketStartMs: b + MIN, devices: 42 }),
    ]);
    await showCells(page, [HOT_NOW, NEW_CELL, NEW_SUPPRESSED]);
    const drawn = async () => new Map((await rendered(page)).map((c) => [c.cell, c.devices]));
    await waitFor('live cell drawn', async () => (await drawn()).get(NEW_CELL) === 42, 20_000);
    // The stream publishes what REST answers: 3 devices look like nobody, so nothing is drawn.
    assert.ok(!(await drawn()).has(NEW_SUPPRESSED));
    assert.ok(!(await page.getByTestId('topk').textContent())?.includes(NEW_SUPPRESSED.replace(/f+$/, '')));
    // A shown cell that falls below k is withdrawn: hatched, without a number.
    await send([
      occRecord({ cell: NEW_CELL, bucketStartMs: b, devices: 3 }),
      occRecord({ cell: NEW_CELL, bucketStartMs: b + MIN, devices: 3 }),
    ]);
    await waitFor('withdrawn', async () => (await drawn()).get(NEW_CELL) === null, 20_000);
  });

  it('time travel redraws the map and the top-K for a past bucket', async () => {
    // The slider: one step left = one bucket back.
    await page.getByTestId('time-slider').focus();
    await page.keyboard.press('ArrowLeft');
    await page.waitForSelector('body[data-mode="history"]');
    // The picker: 45 minutes ago, when the crowd was at HOT_PAST.
    await page.getByTestId('time-input').fill(new Date(pastAt).toISOString().slice(0, 16));
    await page.getByTestId('time-input').dispatchEvent('change');
    await waitFor(
      'past top-K',
      async () => (await attr('[data-testid=topk-item] button', 'data-cell')) === HOT_PAST,
      15_000,
    );
    assert.match((await page.locator('#popular-title').textContent()) ?? '', /Popular at/);
    assert.match(
      (await page.getByTestId('bucket-label').textContent()) ?? '',
      new RegExp(new Date(pastAt).toISOString().slice(11, 16)),
    );
    const expected = devicesAt(HOT_PAST, pastAt, now);
    await showCells(page, [HOT_PAST, NEW_CELL]);
    await waitFor('past map', async () => {
      const drawn = new Map((await rendered(page)).map((c) => [c.cell, c.devices]));
      // Cells only present now (live update) are gone from the past map.
      return drawn.get(HOT_PAST) === expected && !drawn.has(NEW_CELL);
    });
    await shot('02-time-travel');
  });

  it('opens a place chart (uPlot) with suppressed steps drawn as such', async () => {
    await page.locator('[data-testid=topk-item] button').first().click();
    const panel = page.getByTestId('place-panel');
    await panel.waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('place-cell').textContent(), HOT_PAST);
    const chart = page.getByTestId('place-chart');
    await chart.locator('canvas').waitFor();
    // 1 h up to 45 min ago: the crowd's rise and peak as numbers; before the data starts, and where fewer
    // than k were there, grey stubs without a number.
    assert.ok(Number(await chart.getAttribute('data-bars')) >= 10);
    assert.ok(Number(await chart.getAttribute('data-suppressed')) >= 10);
    assert.match(
      (await page.getByTestId('place-now').textContent()) ?? '',
      new RegExp(`${devicesAt(HOT_PAST, pastAt, now)} devices`),
    );
    // 6 h window: before the data starts every step is suppressed (no number shown).
    await panel.getByRole('button', { name: '6 h' }).click();
    await waitFor(
      'suppressed steps',
      async () => Number(await page.getByTestId('place-chart').getAttribute('data-suppressed')) > 60,
    );
    const outlined = await page.evaluate(
      () =>
        (
          globalThis as unknown as {
            footfallMap: { map: { queryRenderedFeatures(o: object): { properties: { cell: string } }[] } };
          }
        ).footfallMap.map.queryRenderedFeatures({ layers: ['selected-outline'] })[0]?.properties.cell,
    );
    assert.equal(outlined, HOT_PAST);
    await shot('03-place');
  });

  it('shows a named place registered through the API: outline, name, search, and a panel with popular times', async () => {
    await page.getByTestId('live-button').click();
    await page.waitForSelector('body[data-mode="live"]');
    await showCells(page, DISK);
    // The outline (MapLibre's rendered features) and the name (an HTML button) are on the map.
    const name = page.locator(`.place-name[data-place="${placeId}"]`);
    await name.waitFor({ timeout: 15_000 });
    assert.equal(await name.textContent(), PLACE_NAME);
    await waitFor('place outline', () =>
      page.evaluate(
        (id) =>
          (
            globalThis as unknown as {
              footfallMap: { map: { queryRenderedFeatures(o: object): { properties: { id: string } }[] } };
            }
          ).footfallMap.map
            .queryRenderedFeatures({ layers: ['places-outline'] })
            .some((f) => f.properties.id === id),
        placeId,
      ),
    );
    // Search by name prefix, any case; pick the result.
    await page.getByTestId('place-search').fill('alexander');
    const result = page.locator(`[data-testid=place-result] button[data-place="${placeId}"]`);
    await result.waitFor({ timeout: 10_000 });
    await result.click();
    const panel = page.getByTestId('named-place-panel');
    await panel.waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('named-place-name').textContent(), PLACE_NAME);
    // Popular times: 24 hourly bars of the usual value, the current hour's live bar marked.
    const hours = page.locator('[data-testid=popular-times] .pt-hour');
    await waitFor('popular times', async () => (await hours.count()) === 24, 15_000);
    // The page asked for "now" a moment ago: its hour, or the next if an hour just began.
    const hoursNear = [new Date(Date.now() - 60_000).getUTCHours(), new Date().getUTCHours()].map(String);
    await page.locator('.pt-hour.live [data-testid=popular-times-live]').waitFor();
    assert.ok(hoursNear.includes((await page.locator('.pt-hour.live').getAttribute('data-hour')) ?? ''));
    const label = (await hours.nth(13).getAttribute('title')) ?? '';
    assert.match(label, new RegExp(`^13:00: usually ${placeUsual(13)}`));
    // Now: the latest count, and busier than usual (60 against at most 28).
    assert.equal(await page.getByTestId('named-place-live').getAttribute('data-status'), 'busier');
    assert.match((await page.getByTestId('named-place-live').textContent()) ?? '', /^Busier than usual/);
    // Now: the place's own provisional state (its nowcast, interval, arrived count, completeness).
    const placeNow = page.getByTestId('named-place-now');
    assert.equal(await placeNow.getAttribute('data-state'), 'provisional');
    assert.match(
      (await placeNow.textContent()) ?? '',
      /about 66 devices \(58–75; 60 confirmed\), provisional until \d\d:\d\d, 40 % of pings in/,
    );
    // The last hours (uPlot) and the dwell distribution (no visits of 5 devices today: suppressed).
    const series = page.getByTestId('place-series');
    await series.locator('canvas').waitFor();
    assert.ok(Number(await series.getAttribute('data-bars')) >= 30);
    assert.equal(await page.locator('[data-testid=dwell] .time-row').count(), 5);
    await shot('04-named-place');
  });

  it('shows "my time" for a signed-in user as ranked bars and on the map', async () => {
    await page.getByTestId('live-button').click();
    await page.waitForSelector('body[data-mode="live"]');
    const token = await issueUserToken(SECRET, USER, 3600);
    await page.getByTestId('token-input').fill(token);
    assert.equal(await page.getByTestId('user-id').inputValue(), USER);
    await page.getByTestId('mytime-submit').click();
    const rows = page.locator('[data-testid=mytime-chart] .time-row');
    await waitFor('my time rows', async () => (await rows.count()) === 3, 15_000);
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-cell'))), [
      HOME,
      WORK,
      CAFE,
    ]);
    assert.match(
      (await page.getByTestId('mytime-status').textContent()) ?? '',
      /^24 h 00 min at 3 places in the last 7 days/,
    );
    assert.equal(await page.locator('.mark-badge').count(), 3);
    // Time per named place: the café visit is inside the place, home and work are not.
    const placeRows = page.locator('[data-testid=mytime-places] .time-row');
    await waitFor('my places', async () => (await placeRows.count()) === 1);
    assert.equal(await placeRows.first().getAttribute('data-place'), placeId);
    assert.match((await placeRows.first().textContent()) ?? '', /1 h 00 min · 1×/);
    await shot('04-my-time');

    // A wrong token is refused with a readable message.
    await page.getByTestId('token-input').fill(`${token.slice(0, -4)}AAAA`);
    await page.getByTestId('mytime-submit').click();
    await waitFor('token refused', async () =>
      /invalid or expired/.test((await page.getByTestId('mytime-status').textContent()) ?? ''),
    );
    await page.getByTestId('token-input').fill(token);
    await page.getByTestId('mytime-submit').click();
    await waitFor('my time rows again', async () => (await rows.count()) === 3, 15_000);
  });

  it('has no serious or critical accessibility violations (axe-core)', async () => {
    assert.deepEqual(await axeViolations(page), []);
  });

  it('draws a base map from the configured tile URL, with its attribution as text', async () => {
    let closeTiled: (() => Promise<void>) | undefined;
    const tiledUrl = await servePage(
      api,
      await ensureDashboardBuilt(),
      (close) => {
        closeTiled = close;
      },
      { tileUrl: 'http://tiles.test/{z}/{x}/{y}.png', tileAttribution: '<b>© Test tiles</b>', force: true },
    );
    const tiled = await page.context().newPage();
    const errors: string[] = [];
    tiled.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const tiles: string[] = [];
    await tiled.route('http://tiles.test/**', (route) => {
      tiles.push(route.request().url());
      return route.fulfill({
        contentType: 'image/png',
        headers: { 'access-control-allow-origin': '*' },
        body: Buffer.from(PNG_1PX, 'base64'),
      });
    });
    try {
      await tiled.goto(`${tiledUrl}?center=52.52,13.405&zoom=14`);
      await tiled.waitForSelector('[data-testid=map][data-basemap="on"]');
      await waitFor(
        'tiles',
        async () => tiles.some((u) => /^http:\/\/tiles\.test\/1[45]\/\d+\/\d+\.png$/.test(u)),
        15_000,
      );
      // MapLibre renders attributions as HTML: the configured text must arrive escaped.
      assert.match(
        (await tiled.locator('.maplibregl-ctrl-attrib').textContent()) ?? '',
        /<b>© Test tiles<\/b>/,
      );
      assert.deepEqual(errors, []);
      await tiled.screenshot({ path: join(ARTIFACTS, '05-tiles.png') });
    } finally {
      await tiled.close();
      await closeTiled?.();
    }
  });

  it('renders the overview without page errors', async () => {
    // The live crowd with a fringe below k, a selected place and my places. The stream never shows a
    // count below k; a shown cell that falls below k is drawn suppressed until the bucket ends (the page
    // starts each bucket from /v1/popular), so a bucket that ended mid-way is the one reason to retry.
    const fringe = DISK.filter((c) => gridDistance(CENTRE, c) >= 5);
    await showCells(page, DISK);
    const drawnWith = async (devices: number | null) =>
      (await rendered(page)).filter((c) => fringe.includes(c.cell) && c.devices === devices).length;
    for (let attempt = 1; ; attempt++) {
      await earlyInMinute();
      const b = bucketStart(Date.now(), MIN);
      const fringeAt = (devices: number) =>
        send(
          fringe.flatMap((cell) => [0, MIN].map((d) => occRecord({ cell, bucketStartMs: b + d, devices }))),
        );
      await fringeAt(6);
      await waitFor('fringe shown', async () => (await drawnWith(6)) >= fringe.length / 2);
      await fringeAt(2);
      const withdrawn = await waitFor(
        'suppressed fringe',
        async () => (await drawnWith(null)) >= fringe.length / 2,
      ).then(
        () => true,
        (error: unknown) => {
          if (attempt >= 2 || bucketStart(Date.now(), MIN) === b) throw error;
          return false;
        },
      );
      if (withdrawn) break;
    }
    await page.locator('[data-testid=topk-item] button').first().click();
    await page.getByTestId('place-panel').getByRole('button', { name: '1 h' }).click();
    await page.getByTestId('place-chart').locator('canvas').waitFor();
    await page.setViewportSize({ width: 1440, height: 900 });
    await shot('06-overview');
    // The one expected failure: the wrong token's 401 (the browser logs every failed request).
    assert.deepEqual(
      pageErrors.filter((e) => !/status of 401/.test(e)),
      [],
    );
  });
});

/**
 * The page's URL: the API serves it itself at /dashboard/. With `force` (another base map
 * configuration), a small Fastify server with the same plugin serves it and proxies /v1 (SSE included).
 */
async function servePage(
  api: Api,
  distDir: string,
  onClose: (close: () => Promise<void>) => void,
  options: { tileUrl?: string; tileAttribution?: string; force?: boolean } = {},
): Promise<string> {
  const probe = await fetch(`${api.url}/dashboard/`).catch(() => undefined);
  if (!options.force && probe?.ok && (probe.headers.get('content-type') ?? '').includes('text/html'))
    return `${api.url}/dashboard/`;
  const app = Fastify({ forceCloseConnections: true });
  await registerDashboard(app, {
    distDir,
    tileUrl: options.tileUrl,
    tileAttribution: options.tileAttribution,
  });
  app.get('/v1/*', (request, reply) => {
    reply.hijack();
    const { host: _host, ...headers } = request.headers;
    const upstream = httpRequest(new URL(request.url, api.url), { headers }, (res) => {
      reply.raw.writeHead(res.statusCode ?? 502, res.headers);
      res.pipe(reply.raw);
    });
    upstream.on('error', () => reply.raw.destroy());
    reply.raw.on('close', () => upstream.destroy());
    upstream.end();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  onClose(() => app.close());
  return `http://127.0.0.1:${port}/dashboard/`;
}
