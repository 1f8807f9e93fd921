import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ReadLimits, UnreadableFileError } from '../../../functions/reading';
import { isUnsafeName } from '../../../functions/reading/zip';
import { bufferSource, FIXTURES, readAll } from './helpers';
import { makeZip, type ZipWriterEntry } from './zip-writer';

let spoolDir: string;
beforeEach(async () => {
  spoolDir = await mkdtemp(join(tmpdir(), 'reading-zip-test-'));
});
afterEach(async () => {
  // Nothing of the spooled copy may survive, whatever the outcome.
  expect(await readdir(spoolDir)).toEqual([]);
  await rm(spoolDir, { recursive: true, force: true });
});

function readZip(entries: ZipWriterEntry[], limits?: Partial<ReadLimits>, name = 'export.zip') {
  return readAll(bufferSource(name, makeZip(entries), 1000), limits, { tmpDir: spoolDir });
}

async function rejection(p: Promise<unknown>): Promise<UnreadableFileError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof UnreadableFileError)) throw new Error(`expected UnreadableFileError, got ${String(e)}`);
  return e;
}

async function mailchimpEntries(): Promise<ZipWriterEntry[]> {
  const file = (n: string) => readFile(join(FIXTURES, `mailchimp-tryghost-migrate-${n}.csv`));
  return [
    { name: 'subscribed_members_export_ba473dc14f.csv', data: await file('subscribed') },
    { name: 'unsubscribed_members_export_ba473dc14f.csv', data: await file('unsubscribed'), method: 'store' },
    { name: 'cleaned_members_export_ba473dc14f.csv', data: await file('cleaned') },
  ];
}

describe('readExport: zips', () => {
  it('reads the three CSVs of a Mailchimp audience export, in order', async () => {
    const entries = await readZip(await mailchimpEntries(), undefined, 'audience.zip');
    expect(entries.map((e) => e.name)).toEqual([
      'subscribed_members_export_ba473dc14f.csv',
      'unsubscribed_members_export_ba473dc14f.csv',
      'cleaned_members_export_ba473dc14f.csv',
    ]);
    expect(entries.map((e) => e.header.length)).toEqual([23, 27, 25]);
    expect(entries.map((e) => e.rows.length)).toEqual([5, 5, 5]);
    expect(entries.every((e) => e.errors.length === 0 && e.archiveName === 'audience.zip')).toBe(true);
    const [subscribed, unsubscribed] = entries;
    expect(subscribed?.header.slice(0, 3)).toEqual(['Email Address', 'First Name', 'Last Name']);
    expect(subscribed?.rows[1]?.at(-1)).toBe('"Lorem Editors"');
    expect(unsubscribed?.header).toContain('UNSUB_TIME');
    expect(subscribed?.rows[4]?.slice(0, 3)).toEqual(['s5@example.com', ' Dolor ', ' Simet ']);
  });

  it('ignores __MACOSX, AppleDouble files and directories, and lists other skipped entries', async () => {
    const entries = await readZip([
      { name: 'export/', data: '' },
      { name: 'export/contacts.CSV', data: 'email\na@x.com\n' },
      { name: '__MACOSX/export/._contacts.CSV', data: Buffer.from([0, 5, 22, 7, 0, 2, 0, 0]) },
      { name: 'export/.DS_Store', data: Buffer.from([0, 0, 0, 1, 66, 117, 100, 49]) },
      { name: 'export/README.pdf', data: '%PDF-1.4' },
      { name: 'export/posts/1.html', data: '<p>hi</p>' },
    ]);
    expect(entries.map((e) => e.name)).toEqual(['export/contacts.CSV']);
    expect(entries[0]?.skippedEntries).toEqual([
      { name: 'export/README.pdf', reason: 'not_csv' },
      { name: 'export/posts/1.html', reason: 'not_csv' },
    ]);
  });

  it('detects a zip by its magic bytes, not its name', async () => {
    const zipped = await readAll(
      bufferSource('contacts.csv', makeZip([{ name: 'a.csv', data: 'email\na@x.com\n' }])),
      {},
      {
        tmpDir: spoolDir,
      },
    );
    expect(zipped.map((e) => e.name)).toEqual(['a.csv']);
    const plain = await readAll(bufferSource('export.zip', 'email\na@x.com\n'));
    expect(plain.map((e) => e.name)).toEqual(['export.zip']);
  });

  it('rejects a zip without CSV as no_csv_in_zip, and names an Excel workbook', async () => {
    const none = await rejection(readZip([{ name: 'report.pdf', data: '%PDF-1.4' }]));
    expect(none.reason).toBe('no_csv_in_zip');
    expect(none.message).toContain('report.pdf');
    const xlsx = await rejection(
      readZip(
        [
          { name: '[Content_Types].xml', data: '<Types/>' },
          { name: 'xl/workbook.xml', data: '<workbook/>' },
        ],
        undefined,
        'contacts.xlsx',
      ),
    );
    expect(xlsx.reason).toBe('no_csv_in_zip');
    expect(xlsx.message).toMatch(/Excel workbook/);
  });

  it('rejects a highly compressible entry over the ratio limit as zip_bomb', async () => {
    const bomb = `email\n${'a'.repeat(2_000_000)}\n`;
    const err = await rejection(readZip([{ name: 'bomb.csv', data: bomb }]));
    expect(err.reason).toBe('zip_bomb');
    expect(err.entryName).toBe('bomb.csv');
    expect(err.message).toMatch(/compresses \d+:1, above the 200:1 limit/);
  });

  it('counts inflated bytes itself: an entry that lies about its size is a zip_bomb', async () => {
    const bomb = `email\n${'a@x.com\n'.repeat(200_000)}`;
    const err = await rejection(readZip([{ name: 'liar.csv', data: bomb, declaredSize: 1000 }]));
    expect(err.reason).toBe('zip_bomb');
  });

  it('rejects entries that inflate past maxInflatedBytes as zip_bomb', async () => {
    const csv = `email\n${'someone@example.com\n'.repeat(4000)}`; // ~80 KB each
    const err = await rejection(
      readZip(
        [
          { name: 'a.csv', data: csv, method: 'store' },
          { name: 'b.csv', data: csv, method: 'store' },
        ],
        { maxInflatedBytes: 100_000 },
      ),
    );
    expect(err.reason).toBe('zip_bomb');
    expect(err.message).toContain('98 KiB');
  });

  it('rejects a zip with too many entries', async () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ name: `part-${i}.csv`, data: 'email\na@x.com\n' }));
    const err = await rejection(readZip(many, { maxZipEntries: 5 }));
    expect(err.reason).toBe('too_many_entries');
    expect(err.message).toContain('6 entries');
  });

  it.each(['../evil.csv', 'export/../../evil.csv', '..\\evil.csv', '/etc/evil.csv', 'C:\\evil.csv'])(
    'rejects the whole zip for an unsafe entry name %j',
    async (name) => {
      const err = await rejection(
        readZip([
          { name: 'contacts.csv', data: 'email\na@x.com\n' },
          { name, data: 'email\nb@x.com\n' },
        ]),
      );
      expect(err.reason).toBe('unsafe_entry_name');
      expect(err.entryName).toBe(name);
    },
  );

  it('accepts harmless names that merely look odd', () => {
    expect(isUnsafeName('export/..hidden.csv')).toBe(false);
    expect(isUnsafeName('folder\\contacts.csv')).toBe(false);
    expect(isUnsafeName('a..b.csv')).toBe(false);
  });

  it('reports a corrupt archive', async () => {
    const zip = makeZip([{ name: 'a.csv', data: 'email\na@x.com\n' }]);
    const err = await rejection(
      readAll(bufferSource('broken.zip', zip.subarray(0, zip.length - 30)), {}, { tmpDir: spoolDir }),
    );
    expect(err.reason).toBe('corrupt_archive');
  });

  it('names the entry when a table inside the zip cannot be read', async () => {
    const err = await rejection(
      readZip([
        { name: 'ok.csv', data: 'email\na@x.com\n' },
        { name: 'photo.csv', data: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex') },
      ]),
    );
    expect(err).toMatchObject({ reason: 'not_text', fileName: 'export.zip', entryName: 'photo.csv' });
    expect(err.message).toContain('"photo.csv" in "export.zip"');
  });

  it('cleans up the spooled copy when the consumer stops early', async () => {
    const { readExport } = await import('../../../functions/reading');
    const src = bufferSource(
      'audience.zip',
      makeZip([
        { name: 'a.csv', data: `email\n${Array.from({ length: 10_000 }, (_, i) => `u${i}@x.com`).join('\n')}` },
        { name: 'b.csv', data: 'email\nb@x.com\n' },
      ]),
    );
    for await (const entry of readExport(src, {}, { tmpDir: spoolDir })) {
      expect(await readdir(spoolDir)).toHaveLength(1);
      for await (const _ev of entry.rows) break;
      break;
    }
  });
});
