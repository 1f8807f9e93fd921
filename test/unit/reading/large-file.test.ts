import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExport } from '../../../functions/reading';
import { fileSource } from './helpers';

const ROWS = 200_000;
let dir: string;
let path: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reading-large-'));
  path = join(dir, 'subscribed_members_export_0123456789.csv');
  const out = createWriteStream(path);
  out.write('Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,CC,NOTES,TAGS\r\n');
  for (let i = 0; i < ROWS; i++) {
    const note = i % 1000 === 0 ? '"two\r\nlines"' : '';
    const line = `user${i}@example.com,Zoë${i},"Smith, ${i}",${i % 5},2023-04-21 11:16:57,fr,${note},"""Tag ${i % 7}"""\r\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readExport: a large file', () => {
  it(`streams ${ROWS.toLocaleString('en')} rows and sees every one`, async () => {
    const started = performance.now();
    let rows = 0;
    let errors = 0;
    let lastLine = 0;
    let outOfOrder = 0;
    let firstEmail = '';
    let lastEmail = '';
    for await (const entry of readExport(fileSource(path))) {
      expect(entry.header).toHaveLength(8);
      for await (const ev of entry.rows) {
        if (ev.kind === 'error') {
          errors++;
          continue;
        }
        rows++;
        if (ev.line <= lastLine) outOfOrder++;
        lastLine = ev.line;
        if (rows === 1) firstEmail = ev.cells[0] ?? '';
        lastEmail = ev.cells[0] ?? '';
      }
      expect(entry.stats.rows).toBe(ROWS);
    }
    const seconds = (performance.now() - started) / 1000;
    expect(errors).toBe(0);
    expect(rows).toBe(ROWS);
    expect(outOfOrder).toBe(0);
    expect(firstEmail).toBe('user0@example.com');
    expect(lastEmail).toBe(`user${ROWS - 1}@example.com`);
    // Every 1000th row spans two physical lines.
    expect(lastLine).toBe(1 + ROWS + ROWS / 1000);
    const mb = (await stat(path)).size / 1e6;
    console.log(
      `read ${rows} rows (${mb.toFixed(1)} MB) in ${seconds.toFixed(2)} s: ${Math.round(rows / seconds)} rows/s`,
    );
  });
});
