/**
 * Privacy as a property the tests prove: the whole local pipeline runs on samples with known PII, then every stored
 * item, every report, every dry-run payload and every captured log line is scanned for any of those values.
 * Erasure removes a person everywhere and keeps old exports from bringing them back.
 */

import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedAws } from '../../bin/local/embedded';
import { runLocal } from '../../bin/local/run-local';
import { SAMPLES_AS_OF } from '../helpers/harness';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

const HEADER_WORDS = new Set(['name', 'lorem name', 'true', 'false']);

/** Every identifying value in the sample exports: emails, phones, names, birthdays, street addresses, cities. */
function knownPii(samplesDir: string): string[] {
  const values = new Set<string>();
  for (const file of walk(samplesDir)) {
    if (!/\.csv$/.test(file)) continue;
    const buf = readFileSync(file);
    const text = file.includes('brevo') ? iconv.decode(buf, 'win1252') : buf.toString('utf8');
    const [headerLine, ...lines] = text.split(/\r?\n/);
    const sep = headerLine!.includes(';') ? ';' : ',';
    const header = headerLine!.split(sep).map((h) => h.toLowerCase());
    const pii = header
      .map((h, i) => [h, i] as const)
      .filter(([h]) =>
        /^(email|email address|e-mail|phone|phone number|sms|first name|last name|name|vorname|nachname|default address address1|default address city|city|geburtstag|birthday)$/.test(
          h,
        ),
      )
      .map(([, i]) => i);
    for (const line of lines) {
      // These samples have no quoted separators in PII columns.
      const cells = line.split(sep);
      for (const i of pii) {
        const v = (cells[i] ?? '').trim().replace(/^'/, '').replace(/^"|"$/g, '');
        // Fixture filler such as beehiiv's " Name " is a header word, not a person's value.
        if (v.length >= 4 && !HEADER_WORDS.has(v.toLowerCase())) {
          values.add(v);
          values.add(v.toLowerCase());
        }
      }
    }
  }
  return [...values];
}

let work: string;
let out: string;
let state: string;
let samples: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'as-privacy-'));
  samples = join(work, 'samples');
  cpSync(join(process.cwd(), 'samples'), samples, { recursive: true });
  out = join(work, 'out');
  state = join(work, 'state');
  await runLocal({
    input: samples,
    out,
    state,
    config: join(process.cwd(), 'config', 'audiences.example.yaml'),
    asOf: SAMPLES_AS_OF,
    print: () => {},
  });
}, 120_000);

describe('no plaintext PII anywhere it should not be', () => {
  it('is not in any stored item, report, payload or log line', async () => {
    const pii = knownPii(samples);
    expect(pii.length).toBeGreaterThan(1000);
    expect(pii).toContain('shop2.wen.smith@example.net');

    // Everything the run left on disk: reports, dry-run payloads, logs, and the embedded S3 objects.
    const files = [...walk(out), ...walk(join(state, 's3'))].filter(
      (f) => !f.includes(`${join(state, 's3')}/`) || !f.endsWith('._S3rver_metadata.json'),
    );
    const blobs = files.map((f) => ({ f, text: readFileSync(f, 'utf8') }));
    expect(blobs.some((b) => b.f.endsWith('local.jsonl'))).toBe(true);
    expect(blobs.some((b) => b.f.includes('dry-run'))).toBe(true);

    // Every item in the table.
    const aws = await startEmbeddedAws(state);
    const client = new DynamoDBClient({});
    const items: string[] = [];
    let start: Record<string, never> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: aws.table, ExclusiveStartKey: start }));
      for (const it of page.Items ?? []) items.push(JSON.stringify(it));
      start = page.LastEvaluatedKey as never;
    } while (start);
    client.destroy();
    await aws.close();
    expect(items.length).toBeGreaterThan(1000);

    const haystacks = [
      ...blobs.map((b) => ({ where: b.f, text: b.text })),
      { where: 'dynamodb', text: items.join('\n') },
      // The scanner must be able to see a leak: a planted one is found.
      { where: 'planted', text: 'row 7 of shop2.WEN.smith@example.net' },
    ];
    const leaks: string[] = [];
    for (const { where, text } of haystacks) {
      const lower = text.toLowerCase();
      for (const v of pii) if (lower.includes(v.toLowerCase())) leaks.push(`${v} in ${where}`);
    }
    expect(leaks.filter((l) => l.endsWith(' in planted')).length).toBeGreaterThan(0);
    expect(leaks.filter((l) => !l.endsWith(' in planted')).slice(0, 10)).toEqual([]);
    // And the hashes are there instead.
    expect(items.join('\n')).toContain(sha('shop2.wen.smith@example.net'));
  });

  it('raw files are deleted after ingest', async () => {
    const objects = walk(join(state, 's3')).filter((f) => f.includes('/incoming/'));
    expect(objects).toEqual([]);
  });

  it('a second local run on the same files sends nothing', async () => {
    const lines: string[] = [];
    const r = await runLocal({
      input: samples,
      out,
      state,
      config: join(process.cwd(), 'config', 'audiences.example.yaml'),
      asOf: SAMPLES_AS_OF,
      print: (l) => lines.push(l),
    });
    expect(
      r.ingested.every((i) => i.outcome.kind === 'ingested' && i.outcome.report.status === 'already_ingested'),
    ).toBe(true);
    expect(r.sync.audiences.every((a) => a.added === 0 && a.removed === 0)).toBe(true);
    expect(() => walk(join(out, 'dry-run'))).not.toThrow();
    expect(walk(join(out, 'dry-run')).filter((f) => readFileSync(f, 'utf8').trim() !== '')).toEqual([]);
  });
});

describe('right to erasure', () => {
  it('removes a person from every list and audience, and an old export does not bring them back', async () => {
    const target = 'shop2.wen.smith@example.net';
    const aws = await startEmbeddedAws(state);
    const { buildRuntime } = await import('../../functions/app/runtime');
    const { memoryLogger } = await import('../../functions/adapters/logger');
    const { eraseIdentities } = await import('../../functions/app/erase');
    const rt = buildRuntime(
      { ...process.env, AUDIENCE_CONFIG_FILE: join(process.cwd(), 'config', 'audiences.example.yaml') },
      memoryLogger(),
    );
    const before = [];
    for await (const m of rt.store.syncedMembers('meta-main#all-subscribers')) before.push(m.cid);
    expect(before).toContain(sha(target));
    const result = await eraseIdentities(
      rt.store,
      { emails: ['  SHOP2.Wen.Smith@example.net'], phones: [] },
      { now: new Date(), logger: rt.logger, config: rt.config },
    );
    expect(result).toMatchObject({ hashed: 1, invalid: 0 });
    expect(result.contactsDeleted).toBeGreaterThanOrEqual(1);
    await aws.close();

    // Next sync removes them everywhere; the dry-run payload shows the removal with the keys that were added.
    const r = await runLocal({
      input: samples,
      out,
      state,
      config: join(process.cwd(), 'config', 'audiences.example.yaml'),
      asOf: SAMPLES_AS_OF,
      print: () => {},
    });
    const removals = r.sync.audiences.filter((a) => a.removed > 0);
    expect(removals.length).toBeGreaterThan(0);
    const payloads = walk(join(out, 'dry-run', 'meta')).flatMap((f) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { op: string; payload: { schema: string[]; data: string[][] } }),
    );
    expect(payloads.every((p) => p.op === 'remove')).toBe(true);
    const google = walk(join(out, 'dry-run', 'google')).flatMap((f) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { op: string; endpoint: string; payload: { audienceMembers: unknown[] } }),
    );
    expect(google.map((g) => [g.op, g.endpoint])).toEqual([['remove', 'audienceMembers:remove']]);
    expect(JSON.stringify(google)).toContain(sha(target));
    expect(payloads.flatMap((p) => p.payload.data.map((row) => row[p.payload.schema.indexOf('EMAIL')]))).toContain(
      sha(target),
    );

    // The shop's export is dropped again (a newer upload of the same file): the person stays out.
    const shopFile = join(samples, 'shop', 'customers_export.csv');
    writeFileSync(shopFile, `${readFileSync(shopFile, 'utf8')}\n`);
    const again = await runLocal({
      input: samples,
      out,
      state,
      config: join(process.cwd(), 'config', 'audiences.example.yaml'),
      asOf: SAMPLES_AS_OF,
      print: () => {},
    });
    const shop = again.ingested.find((i) => i.key.includes('/shop/'))!;
    expect(shop.outcome).toMatchObject({ kind: 'ingested', report: { status: 'ingested', rejections: { erased: 1 } } });
    expect(again.sync.audiences.every((a) => a.added === 0)).toBe(true);
  });
});

afterAll(() => {});
