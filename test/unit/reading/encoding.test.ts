import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { detectEncoding, UnreadableFileError } from '../../../functions/reading';
import { createTextDecoder, utf8SafeEnd } from '../../../functions/reading/encoding';

const PNG_HEADER = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof UnreadableFileError) return e.reason;
    throw e;
  }
  return undefined;
}

describe('detectEncoding', () => {
  it('reads plain UTF-8 (no BOM)', () => {
    expect(detectEncoding(Buffer.from('email,name\nömil@gmail.com,Zoë\n'))).toEqual({
      encoding: 'utf-8',
      bomLength: 0,
    });
  });

  it('recognises a UTF-8 BOM', () => {
    expect(detectEncoding(Buffer.from('\ufeffemail\na@x.com\n'))).toEqual({ encoding: 'utf-8-bom', bomLength: 3 });
  });

  it('recognises UTF-16LE and UTF-16BE by BOM', () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('email\na@x.com\n', 'utf16le')]);
    expect(detectEncoding(le)).toEqual({ encoding: 'utf-16le', bomLength: 2 });
    const be = Buffer.from(le.subarray(2)).swap16();
    expect(detectEncoding(Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).toEqual({
      encoding: 'utf-16be',
      bomLength: 2,
    });
  });

  it('recognises UTF-16 without BOM by its NUL pattern', () => {
    const le = Buffer.from('email,name\na@x.com,Ada\n', 'utf16le');
    expect(detectEncoding(le).encoding).toBe('utf-16le');
    expect(detectEncoding(Buffer.from(le).swap16()).encoding).toBe('utf-16be');
  });

  it('falls back to Windows-1252 when the sample is not valid UTF-8', () => {
    const bytes = iconv.encode('EMAIL;NOM\na@x.com;Müller\n', 'windows-1252');
    expect(bytes.includes(0xfc)).toBe(true);
    expect(detectEncoding(bytes)).toEqual({ encoding: 'windows-1252', bomLength: 0 });
  });

  it('does not mistake a UTF-8 character cut by the end of the sample for Windows-1252', () => {
    const full = Buffer.from('email,name\na@x.com,Zoë\n');
    const cut = full.subarray(0, full.indexOf(Buffer.from('ë')) + 1); // first byte of ë only
    expect(detectEncoding(cut, false).encoding).toBe('utf-8');
    expect(utf8SafeEnd(cut)).toBe(cut.length - 1);
  });

  it('rejects binary content as not_text', () => {
    expect(reasonOf(() => detectEncoding(PNG_HEADER))).toBe('not_text');
    expect(reasonOf(() => detectEncoding(Buffer.from([0x41, 0x00, 0x00, 0x42, 0x43, 0x00, 0x44, 0x00, 0x00])))).toBe(
      'not_text',
    );
    expect(reasonOf(() => detectEncoding(Buffer.from('\x01\x02\x03\x04\x05abc\x06\x07\x08', 'latin1')))).toBe(
      'not_text',
    );
  });

  it('names what a binary file looks like', () => {
    expect(() => detectEncoding(PNG_HEADER, false, '"logo.csv"')).toThrow(/"logo.csv" .*PNG image/);
  });

  it('reports an empty sample and a lone BOM as empty', () => {
    expect(reasonOf(() => detectEncoding(Buffer.alloc(0)))).toBe('empty');
    expect(reasonOf(() => detectEncoding(Buffer.from([0xef, 0xbb, 0xbf])))).toBe('empty');
  });
});

describe('createTextDecoder', () => {
  it('decodes UTF-8 split across chunks at every byte', () => {
    const bytes = Buffer.from('Zoë 😀 Ünal, 北京');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = createTextDecoder('utf-8');
      expect(d.write(bytes.subarray(0, cut)) + d.write(bytes.subarray(cut)) + d.end()).toBe('Zoë 😀 Ünal, 北京');
      expect(d.repairedBytes).toBe(0);
    }
  });

  it('decodes stray Windows-1252 bytes in a UTF-8 entry instead of losing them', () => {
    const d = createTextDecoder('utf-8');
    const text =
      d.write(Buffer.from('Zoë;')) + d.write(Buffer.from([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72, 0xe9])) + d.end();
    expect(text).toBe('Zoë;Mülleré');
    expect(d.repairedBytes).toBe(2);
  });

  it('keeps a U+FEFF that a chunk from the middle of the file starts with (only the file BOM is skipped)', () => {
    const bytes = Buffer.from('a,b\nx\ufeffy,z\n');
    const at = bytes.indexOf(0xef);
    for (const repaired of [false, true]) {
      const d = createTextDecoder('utf-8');
      // The second chunk starts at the U+FEFF; with a stray 1252 byte after it, the repairing path decodes it.
      const tail = repaired ? Buffer.concat([bytes.subarray(at), Buffer.from([0xfc])]) : bytes.subarray(at);
      const text = d.write(bytes.subarray(0, at)) + d.write(tail) + d.end();
      expect(text).toBe(repaired ? 'a,b\nx\ufeffy,z\nü' : 'a,b\nx\ufeffy,z\n');
    }
  });
});
