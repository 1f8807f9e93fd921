/**
 * Real file and folder names through `audience-sync local`: local S3 events carry keys encoded exactly as S3 encodes
 * them in notifications (URL-encoded, spaces as +), so the ingest handler's decodeKey is right for local and cloud
 * alike; and two input folders or files that would become one list are refused, naming both.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../bin/cli-errors';
import { asSqsEvent, encodeS3EventKey, startEmbeddedAws } from '../../bin/local/embedded';
import { discoverInputs, runLocal } from '../../bin/local/run-local';
import { memoryLogger } from '../../functions/adapters/logger';
import { memoryMetrics } from '../../functions/adapters/metrics';
import { buildRuntime, s3Client } from '../../functions/app/runtime';
import { decodeKey, handleIngestEvent } from '../../functions/ingest';
import { SAMPLES_AS_OF } from '../helpers/harness';

const CONFIG = join(process.cwd(), 'config', 'audiences.example.yaml');
const csv = (n: number, tag: string) =>
  `email,first name\n${Array.from({ length: n }, (_, i) => `p${i}.${tag}@example.com,P${i}`).join('\n')}\n`;

/** Writes files (path → content) under a fresh input folder. */
function inputFolder(files: Record<string, string | Buffer>): { work: string; input: string } {
  const work = mkdtempSync(join(tmpdir(), 'as-names-'));
  const input = join(work, 'in');
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(dirname(join(input, path)), { recursive: true });
    writeFileSync(join(input, path), body);
  }
  return { work, input };
}

describe('S3 event keys', () => {
  it('are encoded as S3 encodes them in notifications', () => {
    expect(encodeS3EventKey('incoming/promo/spring+promo.csv')).toBe('incoming/promo/spring%2Bpromo.csv');
    expect(encodeS3EventKey('incoming/promo/50% off.csv')).toBe('incoming/promo/50%25+off.csv');
    expect(encodeS3EventKey('incoming/café/Ü (1).csv')).toBe('incoming/caf%C3%A9/%C3%9C+%281%29.csv');
  });

  test.prop([fc.array(fc.string({ unit: 'binary', minLength: 1 }), { minLength: 1, maxLength: 4 })])(
    'decode back to the key for any UTF-8 name (decodeKey ∘ encodeS3EventKey = identity)',
    (parts) => {
      const key = parts.join('/');
      expect(decodeKey(encodeS3EventKey(key))).toBe(key);
    },
  );

  it('s3rver events come out of the embedded stack encoded, with the raw key stored', async () => {
    const aws = await startEmbeddedAws();
    const s3 = s3Client();
    try {
      const key = 'incoming/x/a b+c%d ü.csv';
      await s3.send(new PutObjectCommand({ Bucket: aws.bucket, Key: key, Body: 'email\n' }));
      expect(aws.drainEvents().map((e) => e.s3.object.key)).toEqual(['incoming/x/a+b%2Bc%25d+%C3%BC.csv']);
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: aws.bucket, Prefix: 'incoming/' }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual([key]);
    } finally {
      s3.destroy();
      await aws.close();
    }
  });

  it('a key that is not valid encoding fails only its own message, with a readable reason', async () => {
    const aws = await startEmbeddedAws();
    const logger = memoryLogger();
    const s3 = s3Client();
    try {
      const rt = buildRuntime({ ...process.env, AUDIENCE_CONFIG_FILE: CONFIG }, logger, undefined, memoryMetrics());
      await s3.send(new PutObjectCommand({ Bucket: aws.bucket, Key: 'incoming/ok/fine.csv', Body: csv(3, 'ok') }));
      const good = aws.drainEvents();
      const bad = structuredClone(good);
      bad[0]!.s3.object.key = 'incoming/ok/50%.csv';
      const event = asSqsEvent([...bad, ...good]);
      const seen: string[] = [];
      const res = await handleIngestEvent(event, rt, (key) => seen.push(key));
      expect(res.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]!.messageId }]);
      expect(seen).toEqual(['incoming/ok/fine.csv']);
      expect(logger.lines.join('\n')).toMatch(/not URL-encoded as S3 encodes event keys/);
    } finally {
      s3.destroy();
      await aws.close();
    }
  });
});

describe('local with real file names', () => {
  it('ingests %, +, spaces, unicode and punctuation in file and folder names, and quarantines by name too', async () => {
    const names = [
      'promo/50% off.csv',
      'promo/spring+promo.csv',
      'promo/Summer Sale 2026.csv',
      "promo/a&b=c;d,e@f$g'h(i)!~*[j]{k}#l.csv",
      'promo/sub folder/nested ü.csv',
      'Café Kunden/Ünïcode naïve.csv',
      '100% + Top.csv',
    ];
    const files = Object.fromEntries(names.map((n, i) => [n, csv(2 + i, `f${i}`)]));
    const { work, input } = inputFolder({
      ...files,
      'promo/not text (1) + 2%.csv': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]),
    });
    const lines: string[] = [];
    const r = await runLocal({
      input,
      out: join(work, 'out'),
      state: join(work, 'state'),
      config: CONFIG,
      asOf: SAMPLES_AS_OF,
      print: (l) => lines.push(l),
    });
    const byKey = new Map(r.ingested.map((i) => [i.key, i.outcome]));
    const expected: Record<string, number> = {
      'incoming/promo/50% off.csv': 2,
      'incoming/promo/spring+promo.csv': 3,
      'incoming/promo/Summer Sale 2026.csv': 4,
      "incoming/promo/a&b=c;d,e@f$g'h(i)!~*[j]{k}#l.csv": 5,
      'incoming/promo/sub folder/nested ü.csv': 6,
      'incoming/cafe-kunden/Ünïcode naïve.csv': 7,
      'incoming/100-top/100% + Top.csv': 8,
    };
    for (const [key, rows] of Object.entries(expected)) {
      const outcome = byKey.get(key);
      expect({ key, kind: outcome?.kind }).toEqual({ key, kind: 'ingested' });
      expect(outcome?.kind === 'ingested' && outcome.report.rows).toBe(rows);
    }
    expect(byKey.get('incoming/promo/not text (1) + 2%.csv')).toMatchObject({ kind: 'quarantined' });
    expect(r.ingested).toHaveLength(names.length + 1);
    expect(existsSync(join(work, 'state', 's3', 'audience-sync-local', 'quarantine', 'promo'))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/failed to ingest|no longer exists/);
  });

  it('two folders that map to one list id are an error naming both, before the state is touched', async () => {
    const { work, input } = inputFolder({ 'News Letter/a.csv': csv(2, 'a'), 'news-letter/b.csv': csv(2, 'b') });
    const run = runLocal({
      input,
      out: join(work, 'out'),
      state: join(work, 'state'),
      config: CONFIG,
      print: () => {},
    });
    await expect(run).rejects.toThrow(CliError);
    await expect(run).rejects.toThrow(
      /^input folder "News Letter" and folder "news-letter" both map to list "news-letter"; rename one/,
    );
    expect(((await run.catch((e: unknown) => e)) as CliError).exitCode).toBe(EXIT.usage);
    expect(existsSync(join(work, 'state'))).toBe(false);
  });

  it('a top-level file and a folder (or two files) that map to one list id are an error too', () => {
    expect(() => discoverInputs(inputFolder({ 'shop.csv': csv(1, 'a'), 'shop/x.csv': csv(1, 'b') }).input)).toThrow(
      'input folder "shop" and file "shop.csv" both map to list "shop"',
    );
    expect(() => discoverInputs(inputFolder({ 'Leads.csv': csv(1, 'a'), 'leads.txt': csv(1, 'b') }).input)).toThrow(
      'input file "Leads.csv" and file "leads.txt" both map to list "leads"',
    );
  });

  it('a missing input folder, or a file given as one, is one line saying so', () => {
    expect(() => discoverInputs('/nonexistent/exports')).toThrow(
      /^input folder \/nonexistent\/exports does not exist; pass --input <dir>/,
    );
    const { input } = inputFolder({ 'a.csv': csv(1, 'a') });
    expect(() => discoverInputs(join(input, 'a.csv'))).toThrow(/is a file, not a folder/);
  });
});
