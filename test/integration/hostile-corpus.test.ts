/**
 * A property over generated hostile exports: whatever the header (none, repeated, unknown, data-like), whatever the
 * cells (emails with and without a domain, names, streets, phones, ids, junk), no stored item, report, log line or
 * dry-run payload ever holds an input cell value in clear — only hashes.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { syncAndReport } from '../../functions/app/sync-run';
import { type Pipeline, startPipeline } from '../helpers/pipeline';

let p: Pipeline;
beforeAll(async () => {
  p = await startPipeline(
    'version: 1\ndestinations:\n  meta-main: { platform: meta }\n  google-ads: { platform: google, customerMatchTermsAccepted: true, consentGranted: true }\n' +
      'consent: { EEA: not_opted_out, UK: not_opted_out, US: not_opted_out, OTHER: not_opted_out, UNKNOWN: not_opted_out }\n' +
      'segments:\n  - id: all\n    destinations:\n      - { destination: meta-main, audienceName: All, minSize: 1 }\n      - { destination: google-ads, audienceName: All G, minSize: 1 }\n',
  );
});
afterAll(async () => {
  await p.close();
});

// A word of a–f letters only ("Daad") is a hex string, which the stored hashes contain by chance: not a leak.
const notHex = (w: string) => !/^[a-f0-9]+$/i.test(w);
const word = fc.stringMatching(/^[A-Z][a-z]{3,9}$/).filter(notHex);
// Every generated value is distinctive (a letter run or a long digit run), so finding it somewhere is a leak.
const cellOf = {
  email: fc.tuple(word, word).map(([a, b]) => `${a}.${b}@example.com`),
  intranet: word.map((a) => `${a}@intranet`),
  phone: fc
    .integer({ min: 2_000_000, max: 9_999_999 })
    .map((n) => `+1 415 ${String(n).slice(0, 3)} ${String(n).slice(3)}`),
  name: fc.tuple(word, word).map(([a, b]) => `${a} ${b}`),
  first: word,
  street: fc.tuple(fc.integer({ min: 1, max: 999 }), word).map(([n, w]) => `${n} ${w} Street`),
  city: word.map((w) => `${w}ville`),
  junk: fc.stringMatching(/^[A-Za-z]{6,12}[0-9]{0,3}$/).filter(notHex),
};
type Kind = keyof typeof cellOf;
const HEADERS: Record<Kind, string[]> = {
  email: ['Email', 'E-mail', 'Email Address', 'Subscriber'],
  intranet: ['Mail', 'Work Address'],
  phone: ['Phone', 'Mobile', 'Telefon'],
  name: ['Name', 'Full Name'],
  first: ['First Name', 'Vorname'],
  street: ['Street', 'Address'],
  city: ['City', 'Stadt'],
  junk: ['Notes', 'X-Field', 'Comment'],
};

const corpus = fc
  .record({
    kinds: fc.uniqueArray(fc.constantFrom(...(Object.keys(cellOf) as Kind[])), { minLength: 1, maxLength: 6 }),
    rows: fc.integer({ min: 1, max: 12 }),
    headerless: fc.boolean(),
    repeat: fc.boolean(),
  })
  .chain(({ kinds, rows, headerless, repeat }) => {
    const cols: Kind[] = repeat ? [...kinds, kinds[0]!] : kinds;
    return fc.record({
      header: fc.tuple(...cols.map((k) => fc.constantFrom(...HEADERS[k]))),
      body: fc.array(fc.tuple(...cols.map((k) => cellOf[k])), { minLength: rows, maxLength: rows }),
      headerless: fc.constant(headerless),
    });
  });

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const f = join(dir, name);
    if (statSync(f).isDirectory()) out.push(...walk(f));
    else out.push(f);
  }
  return out;
}

let seq = 0;
// Timestamped reports written by earlier runs predate this run's values, so each run reads only the ones it wrote
// (and every page that is rewritten in place, such as an index).
const readReports = new Set<string>();
it('no input cell value reaches a stored item, a report, a log line or a payload', async () => {
  await fc.assert(
    fc.asyncProperty(corpus, async ({ header, body, headerless }) => {
      const list = `h${++seq}`;
      const lines = [...(headerless ? [] : [header.join(',')]), ...body.map((r) => r.map((c) => `"${c}"`).join(','))];
      await p.drop(`incoming/${list}/export.csv`, `${lines.join('\n')}\n`, '2026-11-20T00:00:00Z');
      const dryRun = mkdtempSync(join(tmpdir(), 'as-hostile-'));
      try {
        await syncAndReport(p.rt, { DRY_RUN_DIR: dryRun }, {});
        const values = body.flat().flatMap((v) => [v, v.toLowerCase()]);
        const blobs: string[] = [];
        for (const key of await p.listKeys('reports/')) {
          if (readReports.has(key)) continue;
          if (/\d{4}-\d\d-\d\dT/.test(key)) readReports.add(key);
          blobs.push(await p.readText(key));
        }
        for (const f of walk(dryRun)) blobs.push(readFileSync(f, 'utf8'));
        blobs.push(...p.logger.lines);
        const items = await new DynamoDBClient({}).send(new ScanCommand({ TableName: p.aws.table }));
        blobs.push(JSON.stringify(items.Items));
        const text = blobs.join('\n');
        const leaked = values.filter((v) => text.includes(v));
        expect(leaked).toEqual([]);
      } finally {
        rmSync(dryRun, { recursive: true, force: true });
      }
    }),
    { numRuns: Number(process.env.HOSTILE_RUNS ?? 20) },
  );
}, 600_000);
