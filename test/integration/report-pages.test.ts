/**
 * The report pages as a person sees them: rendered from stored run records (sync) and from a real ingest of a messy
 * file, opened in headless Chromium, screenshotted, and checked for drawn charts, alerts on top, reasons in words,
 * and nothing loaded from elsewhere. Without Chromium (apt-get install -y chromium) the browser tests skip and say so.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAudienceConfig } from '../../functions/adapters/config-file';
import { memoryLogger } from '../../functions/adapters/logger';
import { HISTORY_RUNS, syncPageContext } from '../../functions/app/report-data';
import { renderSyncHtml } from '../../functions/app/report-html';
import { renderIngestHtml } from '../../functions/app/report-ingest-html';
import { type IngestReport, ingestExport } from '../../functions/core/ingest';
import type { SyncReport } from '../../functions/core/sync';
import { PLATFORMS } from '../../functions/platforms/registry';
import { readExport } from '../../functions/reading';
import { colourCount, countColour, dumpDom, findChromium, readPng, screenshot } from '../helpers/chromium';
import { type StoreHarness, startStore } from '../helpers/harness';
import { nightlyRuns } from '../helpers/report-fixtures';

const chromium = findChromium();
const SKIP = 'Chromium not found (install Debian’s chromium: apt-get install -y chromium, or set CHROMIUM=<path>)';
if (!chromium) console.warn(`report-pages: browser checks SKIPPED — ${SKIP}`);

/** Screenshots stay here after the run, for a person to look at. */
const SHOTS = join(process.cwd(), 'out', 'screenshots');

const config = parseAudienceConfig({
  version: 1,
  destinations: {
    'meta-main': { platform: 'meta', adAccountId: 'act_123' },
    'google-ads': {
      platform: 'google',
      operatingAccountId: '123-456-7890',
      customerMatchTermsAccepted: true,
      consentGranted: true,
    },
  },
  segments: [
    {
      id: 'uk-newsletter',
      lists: ['uk-news'],
      where: { consent: 'subscribed' },
      destinations: [{ destination: 'meta-main', audienceName: 'AS · UK newsletter' }],
    },
    {
      id: 'customers',
      lists: ['shop'],
      where: { consent: 'subscribed' },
      destinations: [{ destination: 'google-ads', audienceName: 'AS · Customers' }],
    },
  ],
});

/** A messy export: bad and missing addresses, a duplicate, an Excel-mangled phone, mixed consent and countries. */
const PEOPLE = [
  ['ann.walker@example.org', 'Ann', 'Walker', '+44 7700 900123', 'GB', 'subscribed'],
  ['bob.stone@example.org', 'Bob', 'Stone', '', 'GB', 'unsubscribed'],
  ['not-an-address', 'Cid', 'Moss', '', 'DE', 'subscribed'],
  ['', 'Dee', 'Park', '', 'FR', 'subscribed'],
  ['eve.lane@example.org', 'Eve', 'Lane', '7.70090E+12', 'GB', 'subscribed'],
  ['ann.walker@example.org', 'Ann', 'Walker', '', 'GB', 'subscribed'],
  ['finn.holt@example.org', 'Finn', 'Holt', '+49 30 901820', 'DE', 'pending'],
  ['gus.reed@example.org', 'Gus', 'Reed', '', 'US', 'cleaned'],
  ['hal.ward@example', 'Hal', 'Ward', '', 'US', 'subscribed'],
];
const CSV = [
  'Email Address,First Name,Last Name,Phone Number,Country,Status',
  ...PEOPLE.map((p) => p.join(',')),
  ...Array.from({ length: 40 }, (_, i) => `reader${i}@example.net,R${i},Reader,,${i % 3 ? 'GB' : 'US'},subscribed`),
].join('\n');
const PII = [...PEOPLE.flatMap((p) => p.slice(0, 4).filter((v) => v.length > 2)), 'reader1@example.net'];

let h: StoreHarness;
let stored: SyncReport[];
let syncHtml: string;
let ingestHtml: string;
let ingest: IngestReport;

beforeAll(async () => {
  h = await startStore();
  stored = nightlyRuns(34);
  for (const r of stored) await h.store.putRun('sync', r.startedAt, r);
  // Coverage comes from each list's latest snapshot among the ingest runs (an older one must not count).
  const snap = (list: string, at: string, accepted: number, meta: Record<string, number>) =>
    h.store.putRun('ingest', at, { list, kind: 'snapshot', status: 'ingested', accepted, keyCoverage: { meta } });
  await snap('uk-news', '2026-11-01T01:00:00.000Z', 100, { EMAIL: 0.1 });
  await snap('uk-news', '2026-11-19T01:00:00.000Z', 2300, { EMAIL: 1, PHONE: 0.42, FN: 0.97, COUNTRY: 0.99 });
  await h.store.putRun('ingest', '2026-11-19T02:00:00.000Z', {
    list: 'shop',
    kind: 'snapshot',
    status: 'ingested',
    accepted: 950,
    keyCoverage: { google: { email: 0.93, phone: 0.61, countryCode: 1 } },
  });
  const latest = stored.at(-1)!;
  syncHtml = renderSyncHtml(latest, await syncPageContext(h.store, config, latest, memoryLogger()));

  ingest = await ingestExport(
    {
      list: 'uk-news',
      kind: 'snapshot',
      source: 'incoming/uk-news/newsletter-export.csv#v1',
      exportedAt: '2026-11-20T08:00:00.000Z',
      exportedAtFrom: 'metadata',
      entries: readExport({ name: 'newsletter-export.csv', open: async () => Readable.from([Buffer.from(CSV)]) }),
    },
    config,
    { logger: memoryLogger(), now: () => new Date('2026-11-20T09:00:00Z'), platforms: PLATFORMS },
  );
  ingestHtml = renderIngestHtml(ingest, { at: '2026-11-20T09:00:00.000Z', csvName: 'x.rejected.csv' });
  mkdirSync(SHOTS, { recursive: true });
  writeFileSync(join(SHOTS, 'sync-report.html'), syncHtml);
  writeFileSync(join(SHOTS, 'ingest-report.html'), ingestHtml);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

/** Nothing is loaded from anywhere: no scripts, styles, fonts or images by reference. */
function selfContained(page: string) {
  // Attribute values are escaped text (an aria-label may quote a name); look at the markup around them.
  const html = page.replace(/="[^"]*"/g, '=""');
  expect(page).not.toMatch(/<[a-z][^>]*\s(src|href)="(?!https:)[a-z]+:/i);
  expect(html).not.toMatch(/<script|<link|<img|<iframe|<object|@import|@font-face|url\(/i);
  expect(html).not.toMatch(/<[a-z][^>]*\ssrc=/i);
}

describe('sync report page', () => {
  it('is drawn from the last 30 stored runs, with alerts on top and exclusions in words', () => {
    selfContained(syncHtml);
    expect(syncHtml.indexOf('Needs attention')).toBeGreaterThan(0);
    expect(syncHtml.indexOf('Needs attention')).toBeLessThan(syncHtml.indexOf('<h2>Audiences'));
    expect(syncHtml).toContain('Google rejected the access token');
    expect(syncHtml).toMatch(/What to do: Renew the credentials/);
    expect(syncHtml).toContain('no opt-in recorded (UK): 47');
    expect(syncHtml).toContain('no confirmed (double) opt-in (EEA): 12');
    // The platform's size range, and coverage from the newest snapshot only.
    expect(syncHtml).toMatch(/\d,\d{3}–\d,\d{3}/);
    expect(syncHtml).toContain('email 100 %, phone 42 %');
    expect(syncHtml).not.toContain('10 %');
    expect(syncHtml).toContain(`last ${HISTORY_RUNS} runs`);
  });

  it('escapes every value', () => {
    const evil = structuredClone(stored.at(-1)!);
    evil.audiences[0]!.audienceName = '<img src=x onerror=alert(1)>';
    evil.alerts[0]!.message = '"><script>alert(1)</script>';
    evil.alerts[0]!.link = 'javascript:alert(1)';
    evil.segments[0]!.excluded = { '<b>x</b>': 1 };
    const html = renderSyncHtml(evil, { history: [evil] });
    selfContained(html);
    expect(html).not.toContain('<b>x</b>');
    expect(html).not.toContain('javascript:');
    expect(html).toContain('&lt;img src=x');
  });

  it('renders in Chromium with both charts drawn for every audience', async (ctx) => {
    if (!chromium) ctx.skip(SKIP);
    const file = join(SHOTS, 'sync-report.html');
    const dom = await dumpDom(chromium!, file);
    const charts = [...dom.matchAll(/<svg class="chart"[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    expect(charts).toHaveLength(4);
    const [ukSize, ukChanges] = charts;
    // 30 points on the size line (29 segments after the first), 30 runs × (add + remove) bars.
    const sizePath = /class="series size" d="([^"]+)"/.exec(ukSize!)![1]!;
    expect(sizePath.match(/L/g)).toHaveLength(HISTORY_RUNS - 1);
    expect(ukChanges!.match(/<rect class="bar added"/g)).toHaveLength(HISTORY_RUNS);
    expect(ukChanges!.match(/<rect class="bar removed"/g)).toHaveLength(HISTORY_RUNS);
    for (const c of charts) expect(c).toMatch(/class="axis"/);
    // Every added bar of the UK audience has a height: it added people every night.
    for (const m of ukChanges!.matchAll(/class="bar added"[^>]*height="([\d.]+)"/g))
      expect(Number(m[1])).toBeGreaterThan(0);

    const png = join(SHOTS, 'sync-report.png');
    await screenshot(chromium!, file, png);
    const pic = readPng(png);
    expect(pic.width).toBe(1280);
    expect(colourCount(pic)).toBeGreaterThan(20);
    // The charts are in the picture: green add bars, red remove bars, the blue size line; and the red alert box.
    expect(countColour(pic, '#2e7d32', 20)).toBeGreaterThan(300);
    expect(countColour(pic, '#c62828', 20)).toBeGreaterThan(300);
    expect(countColour(pic, '#1f5fbf', 30)).toBeGreaterThan(300);
  });
});

describe('ingest report page', () => {
  it('accounts for every row, with reasons in words, row numbers, coverage and consent, and no PII', () => {
    selfContained(ingestHtml);
    expect(ingest.rows).toBe(ingest.accepted + ingest.rejected);
    expect(ingest.rejected).toBeGreaterThan(0);
    expect(ingestHtml).toContain(`rows ${ingest.rows} = accepted ${ingest.accepted} + rejected ${ingest.rejected}`);
    expect(ingestHtml).toContain('email address not valid');
    for (const row of ingest.rejectedRows) expect(ingestHtml).toMatch(new RegExp(`\\b${row.line}\\b`));
    expect(ingestHtml).toContain('unsubscribed');
    expect(ingestHtml).toMatch(/email <span class="muted">\(EMAIL\)<\/span><\/td><td class="n">\d/);
    const literal = (v: string) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const v of PII) expect(ingestHtml).not.toMatch(new RegExp(`\\b${literal(v)}\\b`));
  });

  it('renders in Chromium', async (ctx) => {
    if (!chromium) ctx.skip(SKIP);
    const file = join(SHOTS, 'ingest-report.html');
    const dom = await dumpDom(chromium!, file);
    expect(dom).toContain('Rejected rows by reason');
    expect(dom.match(/<svg class="share"/g)?.length ?? 0).toBeGreaterThan(3);
    const png = join(SHOTS, 'ingest-report.png');
    await screenshot(chromium!, file, png, '1280,1600');
    const pic = readPng(png);
    expect(colourCount(pic)).toBeGreaterThan(10);
    expect(countColour(pic, '#1f5fbf', 30)).toBeGreaterThan(200);
  });
});
