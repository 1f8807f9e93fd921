import { describe, expect, it } from 'vitest';
import {
  CompactIndex,
  compactIndexFromBytes,
  compactIndexToBytes,
  fingerprintInto,
} from '../../../functions/core/compact-index';
import { sha256Hex } from '../../../functions/core/normalize';

describe('CompactIndex: fingerprints of the whole id', () => {
  it('tells apart structured pre-hashed ids that share their first 64 bits (a prefix index would merge them)', () => {
    const index = new CompactIndex();
    const ids = Array.from({ length: 50_000 }, (_, i) => `${'0'.repeat(48)}${i.toString(16).padStart(16, '0')}`);
    for (const id of ids) expect(index.add(id)).toBe(true);
    expect(index.size).toBe(ids.length);
    expect(index.has(`${'0'.repeat(48)}${(60_000).toString(16).padStart(16, '0')}`)).toBe(false);
    // Upper- and lower-case spellings of a hash are the same id.
    expect(index.add(ids[7]!.replace(/0/g, '0').toUpperCase())).toBe(false);
  });

  it('takes ids that are not 64-hex too (hashed first)', () => {
    const index = new CompactIndex();
    expect(index.add('list-member-1')).toBe(true);
    expect(index.add('list-member-2', 9)).toBe(true);
    expect(index.add('list-member-1')).toBe(false);
    expect(index.get('list-member-2')).toBe(9);
    expect(index.has('list-member-3')).toBe(false);
  });

  it('keeps a value set after other ids were added without one', () => {
    const index = new CompactIndex();
    for (let i = 0; i < 1000; i++) index.add(sha256Hex(`p${i}`));
    index.add(sha256Hex('p3'), 42);
    expect(index.get(sha256Hex('p3'))).toBe(42);
    expect(index.get(sha256Hex('p4'))).toBe(0);
  });

  it('loading the slots of fingerprints ahead (touchPrints) changes nothing, for present and absent ids alike', () => {
    const index = new CompactIndex();
    for (let i = 0; i < 5000; i++) index.add(sha256Hex(`p${i}`), i % 7);
    const before = compactIndexToBytes(index);
    const probe = Array.from({ length: 300 }, (_, j) => sha256Hex(`p${j * 37}`));
    const prints = new Uint32Array(3 * probe.length);
    for (let j = 0; j < probe.length; j++) fingerprintInto(probe[j] as string, prints, 3 * j);
    index.touchPrints(prints, probe.length);
    new CompactIndex().touchPrints(prints, probe.length);
    expect(compactIndexToBytes(index)).toEqual(before);
    for (let j = 0; j < probe.length; j++)
      expect(index.addPrintIfAbsent(prints, 3 * j, 1)).toBe(j * 37 < 5000 ? (j * 37) % 7 : undefined);
  });

  it('answers by a fingerprint (hasPrint, getPrint) exactly as by the id, empty or not, hex or not', () => {
    const ids = [
      ...Array.from({ length: 3000 }, (_, i) => sha256Hex(`q${i}`)),
      ...Array.from({ length: 300 }, (_, i) => `member-${i}`),
    ];
    const print = new Uint32Array(3);
    const ask = (index: CompactIndex) => {
      for (const id of ids) {
        fingerprintInto(id, print, 0);
        expect(index.hasPrint(print, 0)).toBe(index.has(id));
        expect(index.getPrint(print, 0)).toBe(index.get(id));
      }
    };
    const index = new CompactIndex();
    ask(index);
    ids.forEach((id, i) => {
      if (i % 3 === 0) index.add(id, i % 5);
    });
    ask(index);
  });

  it('costs at most 16 bytes an id without values (8-byte slots, 53–80 % full; a Set<string> costs ~110)', () => {
    const index = new CompactIndex();
    for (let i = 0; i < 200_000; i++) index.add(sha256Hex(`person-${i}`));
    expect(index.bytes / index.size).toBeLessThanOrEqual(16);
  });
});

describe('CompactIndex handed to another worker (serialized)', () => {
  it('comes back with every id and value, and still grows', () => {
    const index = new CompactIndex();
    const ids = Array.from({ length: 30_000 }, (_, i) => sha256Hex(`person-${i}`));
    for (const [i, id] of ids.entries()) index.add(id, i % 3 === 0 ? i + 1 : 0);
    const back = compactIndexFromBytes(compactIndexToBytes(index));
    expect(back.size).toBe(index.size);
    for (const [i, id] of ids.entries()) expect(back.get(id)).toBe(i % 3 === 0 ? i + 1 : 0);
    expect(back.has(sha256Hex('someone else'))).toBe(false);
    for (let i = 30_000; i < 40_000; i++) back.add(sha256Hex(`person-${i}`));
    expect(back.size).toBe(40_000);
    expect(back.has(ids[0]!)).toBe(true);
  });

  it('refuses damaged bytes instead of answering wrongly', () => {
    const bytes = compactIndexToBytes(new CompactIndex());
    expect(() => compactIndexFromBytes(bytes.subarray(0, bytes.byteLength - 4))).toThrow(/damaged/);
    expect(() => compactIndexFromBytes(new Uint8Array(8))).toThrow(/damaged/);
  });

  it('says so when the bytes come from the earlier format (4,096 shards), not that they are damaged', () => {
    const earlier = new Uint32Array([2, 4096, 0]);
    expect(() => compactIndexFromBytes(new Uint8Array(earlier.buffer))).toThrow(
      /written by an earlier version of audience-sync; drop the file again/,
    );
  });
});
