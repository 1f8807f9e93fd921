import { describe, expect, it } from 'vitest';
import { readExport, UnreadableFileError } from '../../../functions/reading';
import { bufferSource, fixture, readAll, readOne } from './helpers';

async function rejection(p: Promise<unknown>): Promise<UnreadableFileError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof UnreadableFileError)) throw new Error(`expected UnreadableFileError, got ${String(e)}`);
  return e;
}

describe('readExport: delimiters', () => {
  it.each([
    [',', 'email,first,last\na@x.com,Ada,Lovelace\nb@x.com,Alan,Turing\n'],
    [';', 'EMAIL;FIRSTNAME;LASTNAME\na@x.com;Ada;Lovelace\nb@x.com;Alan;Turing\n'],
    ['\t', 'Email\tFirst\tLast\na@x.com\tAda\tLovelace\nb@x.com\tAlan\tTuring\n'],
    ['|', 'email|first|last\na@x.com|Ada|Lovelace\nb@x.com|Alan|Turing\n'],
  ])('reads a %j file', async (delimiter, text) => {
    const e = await readOne(bufferSource('contacts.csv', text));
    expect(e.delimiter).toBe(delimiter);
    expect(e.header).toHaveLength(3);
    expect(e.rows).toEqual([
      ['a@x.com', 'Ada', 'Lovelace'],
      ['b@x.com', 'Alan', 'Turing'],
    ]);
    expect(e.events.map((ev) => ev.line)).toEqual([2, 3]);
  });
});

describe('readExport: encodings', () => {
  it('reads UTF-8 without BOM', async () => {
    const e = await readOne(bufferSource('s.csv', 'email,name\nömil@gmail.com,Zoë\n'));
    expect(e.encoding).toBe('utf-8');
    expect(e.rows).toEqual([['ömil@gmail.com', 'Zoë']]);
  });

  it('reads UTF-8 with BOM and keeps the BOM out of the first header cell (HubSpot, Excel re-save)', async () => {
    const e = await readOne(fixture('hubspot-duplicate-headers.csv'));
    expect(e.encoding).toBe('utf-8-bom');
    expect(e.header[0]).toBe('Record ID - Contact');
    expect(e.header[0]?.charCodeAt(0)).toBe(0x52);
  });

  it('reads UTF-16LE with BOM (Excel "Unicode Text", tab-separated)', async () => {
    const e = await readOne(fixture('excel-unicode-text-utf16le.txt'));
    expect(e).toMatchObject({ encoding: 'utf-16le', delimiter: '\t', header: ['Email', 'Name'] });
    expect(e.rows).toEqual([['zoe@example.com', 'Zoë Ünal']]);
  });

  it('reads Windows-1252 (Brevo: Müller written as byte 0xFC)', async () => {
    const e = await readOne(fixture('brevo-windows-1252.csv'));
    expect(e).toMatchObject({ encoding: 'windows-1252', delimiter: ';' });
    expect(e.header).toEqual(['EMAIL', 'NOM', 'PRENOM', 'SMS', 'DOUBLE_OPT-IN', 'ADDED_TIME']);
    expect(e.rows[0]?.slice(0, 3)).toEqual(['helene@example.fr', 'Müller', 'Hélène']);
    expect(e.rows[1]?.slice(1, 3)).toEqual(['Garçon', 'François']);
  });

  it('repairs a Windows-1252 byte far below a UTF-8 sample instead of dropping the row', async () => {
    const head = `email,name\n${'a@x.com,Ada\n'.repeat(10_000)}`;
    const tail = Buffer.concat([Buffer.from('m@x.com,M'), Buffer.from([0xfc]), Buffer.from('ller\n')]);
    const e = await readOne(bufferSource('late.csv', Buffer.concat([Buffer.from(head), tail])));
    expect(e.encoding).toBe('utf-8');
    expect(e.rows.at(-1)).toEqual(['m@x.com', 'Müller']);
    expect(e.stats.bytesDecodedAsWindows1252).toBe(1);
  });

  it('reports a row with undecodable bytes as undecodable, keeping the others', async () => {
    const bytes = Buffer.concat([
      Buffer.from('EMAIL;NOM\na@x.com;M\xfcller\nb@x.com;X', 'latin1'),
      Buffer.from([0x81]),
      Buffer.from('\nc@x.com;Y\n'),
    ]);
    const e = await readOne(bufferSource('w.csv', bytes));
    expect(e.encoding).toBe('windows-1252');
    expect(e.rows).toEqual([
      ['a@x.com', 'Müller'],
      ['c@x.com', 'Y'],
    ]);
    expect(e.errors).toEqual([
      { kind: 'error', line: 3, reason: 'undecodable', detail: 'contains bytes that are not valid windows-1252' },
    ]);
  });
});

describe('readExport: line structure', () => {
  it('reads CRLF line endings (and keeps line numbers)', async () => {
    const e = await readOne(bufferSource('crlf.csv', 'email,name\r\na@x.com,Ada\r\n\r\nb@x.com,Alan\r\n'));
    expect(e.rows).toEqual([
      ['a@x.com', 'Ada'],
      ['b@x.com', 'Alan'],
    ]);
    expect(e.events.map((ev) => ev.line)).toEqual([2, 4]);
  });

  it('reads old-Mac CR-only line endings', async () => {
    const e = await readOne(bufferSource('cr.csv', 'email,name\ra@x.com,Ada\rb@x.com,Alan'));
    expect(e.rows).toEqual([
      ['a@x.com', 'Ada'],
      ['b@x.com', 'Alan'],
    ]);
  });

  it('reads quoted newlines and doubled quotes; the next row keeps its physical line number', async () => {
    const text = 'email,address,note\r\na@x.com,"1 Main St\r\nApt 4","He said ""hi"""\r\nb@x.com,"2 Side St",plain\r\n';
    const e = await readOne(bufferSource('q.csv', text));
    expect(e.events).toEqual([
      { kind: 'row', line: 2, cells: ['a@x.com', '1 Main St\nApt 4', 'He said "hi"'] },
      { kind: 'row', line: 4, cells: ['b@x.com', '2 Side St', 'plain'] },
    ]);
  });

  it('tolerates stray quotes inside unquoted fields (relax_quotes) and Mailchimp TAGS', async () => {
    const text = 'email,name,TAGS\na@x.com,Bob "the builder" Smith,"""Lorem Editors"""\nb@x.com,5" screen,Editors\n';
    const e = await readOne(bufferSource('relax.csv', text));
    expect(e.rows).toEqual([
      ['a@x.com', 'Bob "the builder" Smith', '"Lorem Editors"'],
      ['b@x.com', '5" screen', 'Editors'],
    ]);
  });

  it('loses only the row with broken quoting in the middle, and says where it was', async () => {
    const text = [
      'email,first,last',
      'a@x.com,Ada,Lovelace',
      'b@x.com,"Alan,Turing', // opens a quote that never closes properly
      'c@x.com,Grace,Hopper',
      'd@x.com,"Katherine",Johnson',
      'e@x.com,Edsger,Dijkstra',
      '',
    ].join('\n');
    const e = await readOne(bufferSource('broken.csv', text));
    expect(e.errors).toEqual([expect.objectContaining({ kind: 'error', line: 3, reason: 'broken_quoting' })]);
    expect(e.rows.map((r) => r[0])).toEqual(['a@x.com', 'c@x.com', 'd@x.com', 'e@x.com']);
    expect(e.events.map((ev) => ev.line)).toEqual([2, 3, 4, 5, 6]);
  });

  it('recovers from an unterminated quote that runs to the end of the file', async () => {
    const text = 'email,first,last\na@x.com,"Ada,Lovelace\nb@x.com,Alan,Turing\nc@x.com,Grace,Hopper\n';
    const e = await readOne(bufferSource('eof.csv', text));
    expect(e.errors).toEqual([expect.objectContaining({ line: 2, reason: 'broken_quoting' })]);
    expect(e.rows.map((r) => r[0])).toEqual(['b@x.com', 'c@x.com']);
  });

  it('recovers when the broken quote stays open past maxRecordLines', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => `u${i}@x.com,A,B`);
    const text = ['email,first,last', 'bad@x.com,"oops,x', ...rows, 'z@x.com,"quoted",fine', ''].join('\n');
    const e = await readOne(bufferSource('lines.csv', text), { maxRecordLines: 5 });
    expect(e.errors).toEqual([expect.objectContaining({ line: 2, reason: 'broken_quoting' })]);
    expect(e.rows).toHaveLength(31);
  });

  it('skips a preamble (LinkedIn Connections.csv)', async () => {
    const e = await readOne(fixture('linkedin-connections.csv'));
    expect(e).toMatchObject({ headerLine: 4, preambleLines: 3, delimiter: ',' });
    expect(e.header).toEqual([
      'First Name',
      'Last Name',
      'URL',
      'Email Address',
      'Company',
      'Position',
      'Connected On',
    ]);
    expect(e.events.map((ev) => ev.line)).toEqual([5, 6]);
  });

  it('skips an Excel title row and sep= line', async () => {
    const e = await readOne(bufferSource('t.csv', 'sep=;\nMy contacts;;\nemail;first;last\na@x.com;A;B\n'));
    expect(e).toMatchObject({ delimiter: ';', headerLine: 3, preambleLines: 2, header: ['email', 'first', 'last'] });
    expect(e.rows).toEqual([['a@x.com', 'A', 'B']]);
  });

  it('keeps duplicate header names positionally (HubSpot contact + company)', async () => {
    const e = await readOne(fixture('hubspot-duplicate-headers.csv'));
    expect(e.header).toEqual([
      'Record ID - Contact',
      'First Name',
      'Email',
      'Create Date',
      'Phone Number',
      'Record ID - Company',
      'Create Date',
      'Phone Number',
    ]);
    expect(e.rows[0]).toEqual([
      '101',
      'Ada',
      'ada@example.com',
      '2/5/24 1:51',
      '+1 555 0100',
      '9001',
      '1/1/20 0:00',
      '+1 555 0199',
    ]);
  });

  it('trims header cells and removes zero-width characters', async () => {
    const e = await readOne(bufferSource('h.csv', '\u200b Email Address ,  First Name\na@x.com,A\n'));
    expect(e.header).toEqual(['Email Address', 'First Name']);
  });

  it('synthesizes a header for a header-less one-email-per-line txt (Medium)', async () => {
    const e = await readOne(fixture('medium-subscribers.txt'));
    expect(e).toMatchObject({ header: ['email'], headerLine: 0, preambleLines: 0, headerSynthesized: true });
    expect(e.events).toEqual([
      { kind: 'row', line: 1, cells: ['reader.one@example.com'] },
      { kind: 'row', line: 2, cells: ['reader.two@example.org'] },
      { kind: 'row', line: 4, cells: ['reader.three@example.net'] },
    ]);
  });

  it('reads a header-only export (Mailchimp cleaned file with no members) as an entry without rows', async () => {
    const e = await readOne(fixture('mailchimp-stanfordpride-cleaned-export-HEADER-ONLY.csv'));
    expect(e.header).toHaveLength(28);
    expect(e.header.slice(-3)).toEqual(['EUID', 'NOTES', 'TAGS']);
    expect(e.events).toEqual([]);
  });

  it('reads a one-column CSV with a header', async () => {
    const e = await readOne(bufferSource('one.csv', 'Email\na@x.com\nb@x.com'));
    expect(e).toMatchObject({ delimiter: ',', header: ['Email'], headerSynthesized: false });
    expect(e.rows).toEqual([['a@x.com'], ['b@x.com']]);
  });

  it('skips empty lines and Excel blank rows silently, counting them', async () => {
    const e = await readOne(bufferSource('b.csv', 'email,name\n\na@x.com,A\n,\n  \nb@x.com,B\n\n'));
    expect(e.rows).toHaveLength(2);
    expect(e.errors).toHaveLength(0);
    expect(e.stats.blankRecords).toBe(4);
  });

  it('reports field-count mismatches but tolerates trailing empty fields (Excel)', async () => {
    const text = 'email,first,last\na@x.com,A,B,,\nb@x.com;B;C\nc@x.com,A,B,extra\nd@x.com,A\ne@x.com,A,B\n';
    const e = await readOne(bufferSource('m.csv', text));
    expect(e.rows).toEqual([
      ['a@x.com', 'A', 'B'],
      ['e@x.com', 'A', 'B'],
    ]);
    expect(e.errors).toEqual([
      { kind: 'error', line: 3, reason: 'column_count_mismatch', detail: 'expected 3 fields, found 1' },
      { kind: 'error', line: 4, reason: 'column_count_mismatch', detail: 'expected 3 fields, found 4' },
      { kind: 'error', line: 5, reason: 'column_count_mismatch', detail: 'expected 3 fields, found 2' },
    ]);
  });

  it('never puts cell values in error details', async () => {
    const secret = 'secret.person@private.example';
    const text = `email,first,last\n${secret},"Broken\n${secret};x;y\n${secret},A,B,C\n${secret},\u0007,B\n`;
    const e = await readOne(bufferSource('pii.csv', text), {}, { controlCharacters: 'reject' });
    expect(e.errors.length).toBeGreaterThanOrEqual(3);
    for (const err of e.errors) expect(JSON.stringify(err)).not.toContain('secret');
  });
});

describe('readExport: limits and bad content', () => {
  it('reports a gigantic line over maxRecordBytes and reads on', async () => {
    const giant = `g@x.com,${'x'.repeat(300_000)},z`;
    const text = `email,name,zip\na@x.com,A,1\n${giant}\nb@x.com,B,2\n`;
    const e = await readOne(bufferSource('giant.csv', text, 4096), { maxRecordBytes: 1000 });
    expect(e.rows).toEqual([
      ['a@x.com', 'A', '1'],
      ['b@x.com', 'B', '2'],
    ]);
    expect(e.errors).toEqual([
      { kind: 'error', line: 3, reason: 'row_too_large', detail: 'record is longer than 1000 characters' },
    ]);
  });

  it('reports a file with no newline at all past maxRecordBytes as no_header, without buffering it', async () => {
    const err = await rejection(readAll(bufferSource('blob.csv', 'a,'.repeat(500_000)), { maxRecordBytes: 1000 }));
    expect(err.reason).toBe('no_header');
  });

  it('strips control characters by default and counts the rows', async () => {
    const e = await readOne(bufferSource('c.csv', 'email,name\na@x.com\u000b,Ada\nb@x.com,Alan\u001b\u007f\n'));
    expect(e.rows).toEqual([
      ['a@x.com', 'Ada'],
      ['b@x.com', 'Alan'],
    ]);
    expect(e.stats.rowsWithControlCharactersStripped).toBe(2);
  });

  it('treats a NUL near the start as binary, but strips a stray NUL further down', async () => {
    expect((await rejection(readAll(bufferSource('n.csv', 'email,name\na@x.com,Ad\u0000a\n')))).reason).toBe(
      'not_text',
    );
    const filler = 'f@x.com,Filler\n'.repeat(1000);
    const e = await readOne(bufferSource('n.csv', `email,name\n${filler}a@x.com,Ad\u0000a\n`));
    expect(e.rows.at(-1)).toEqual(['a@x.com', 'Ada']);
  });

  it("reports control characters with controlCharacters: 'reject'", async () => {
    const e = await readOne(
      bufferSource('c.csv', 'email,name\na@x.com\u000b,Ada\nb@x.com,Alan\n'),
      {},
      {
        controlCharacters: 'reject',
      },
    );
    expect(e.rows).toEqual([['b@x.com', 'Alan']]);
    expect(e.errors).toEqual([
      { kind: 'error', line: 2, reason: 'control_characters', detail: 'contains control character U+000B' },
    ]);
  });

  it('finds a control character or undecodable byte in a record begun in an earlier chunk, ended in a clean one', async () => {
    // Past the first 64 KiB (read as one text), each record is cut across chunks of a few bytes: its bad character
    // arrives in one chunk, its end in a later one that holds nothing suspect (a chunk tested whole must not vouch
    // for the part of a record read before it).
    const filler = 'f@x.com,Filler\n'.repeat(5000);
    for (const chunk of [3, 8, 13, 64 * 1024]) {
      const text = `email,name\n${filler}a@x.com\u000b,Ada Lovelace of Somewhere\n"b@x.com","Al\u001b\nan the second, multi-line"\nc@x.com,Cl\ufffdaude with a long tail\n`;
      const stripped = await readOne(bufferSource('c.csv', text, chunk));
      expect(stripped.rows.slice(5000)).toEqual([
        ['a@x.com', 'Ada Lovelace of Somewhere'],
        ['b@x.com', 'Al\nan the second, multi-line'],
      ]);
      expect(stripped.stats.rowsWithControlCharactersStripped).toBe(2);
      expect(stripped.errors.map((e) => [e.line, e.reason])).toEqual([[5005, 'undecodable']]);
      const rejected = await readOne(bufferSource('c.csv', text, chunk), {}, { controlCharacters: 'reject' });
      expect(rejected.rows).toHaveLength(5000);
      expect(rejected.errors.map((e) => [e.line, e.reason])).toEqual([
        [5002, 'control_characters'],
        [5003, 'control_characters'],
        [5005, 'undecodable'],
      ]);
    }
  });
  it('rejects an empty file and a whitespace-only file as empty', async () => {
    expect((await rejection(readAll(bufferSource('e.csv', '')))).reason).toBe('empty');
    const ws = await rejection(readAll(bufferSource('w.csv', ' \r\n\r\n\t\n')));
    expect(ws.reason).toBe('empty');
    expect(ws.message).toContain('"w.csv"');
  });

  it('rejects a binary file (a PNG named .csv) as not_text', async () => {
    const png = Buffer.concat([
      Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
      Buffer.alloc(200, 0),
      Buffer.from('IEND'),
    ]);
    const err = await rejection(readAll(bufferSource('contacts.csv', png)));
    expect(err.reason).toBe('not_text');
    expect(err.message).toMatch(/"contacts.csv".*PNG image/);
  });

  it('rejects a file over maxFileBytes as too_large', async () => {
    const big = `email\n${'a@x.com\n'.repeat(1000)}`;
    const declared = await rejection(readAll(bufferSource('big.csv', big), { maxFileBytes: 1000 }));
    expect(declared.reason).toBe('too_large');
    const unsized = { ...bufferSource('big.csv', big, 256), size: undefined };
    const counted = await rejection(readAll(unsized, { maxFileBytes: 1000 }));
    expect(counted.reason).toBe('too_large');
  });

  it('rejects invalid limits', async () => {
    await expect(readAll(bufferSource('x.csv', 'a\n'), { maxRecordBytes: 0 })).rejects.toThrow(RangeError);
  });
});

describe('readExport: streaming contract', () => {
  it('reads correctly whatever the chunk size', async () => {
    const text = '\ufeffemail;name;note\r\na@x.com;"Zoë ""Z""";"l1\r\nl2"\r\nb@x.com;Ünal;x\r\n';
    const expected = await readOne(bufferSource('c.csv', text));
    for (const size of [1, 2, 3, 5, 7]) {
      const got = await readOne(bufferSource('c.csv', text, size));
      expect(got.events).toEqual(expected.events);
      expect(got.header).toEqual(['email', 'name', 'note']);
    }
  });

  it('lets rows be iterated once, and stops cleanly on break', async () => {
    const src = bufferSource('x.csv', `email\n${'a@x.com\n'.repeat(50_000)}`, 1024);
    for await (const entry of readExport(src)) {
      let n = 0;
      for await (const _ev of entry.rows) if (++n === 10) break;
      expect(n).toBe(10);
      expect(() => entry.rows[Symbol.asyncIterator]()).toThrow(/once/);
    }
  });
});
