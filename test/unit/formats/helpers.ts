/** Test helpers: read the export fixtures (test/fixtures/exports), build header + cells from (header, value) pairs. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SAMPLES_DIR = fileURLToPath(new URL('../../fixtures/exports/', import.meta.url));

/** Split one CSV record (RFC 4180 quoting, no embedded newlines): enough for the sample files. */
export function splitCsvLine(line: string, delimiter = ','): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function readSample(name: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(`${SAMPLES_DIR}${name}`, 'utf8').replace(/\r\n/g, '\n').trimEnd().split('\n');
  return { header: splitCsvLine(lines[0] ?? ''), rows: lines.slice(1).map((l) => splitCsvLine(l)) };
}

/** `[header, value]` pairs → parallel header and cells (duplicate headers allowed). */
export function table(pairs: readonly (readonly [string, string])[]): { header: string[]; cells: string[] } {
  return { header: pairs.map(([h]) => h), cells: pairs.map(([, v]) => v) };
}

export const NOW = '2025-06-01T12:00:00.000Z';
