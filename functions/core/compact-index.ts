/**
 * Compact, typed-array sets (and maps to 32-bit values) of contact ids, for the per-file duplicate check and the
 * per-list fingerprints an ingest compares against.
 *
 * Each id (a 64-hex SHA-256, or any other string, which is hashed first) is reduced to a 71-bit fingerprint: all
 * 256 bits are mixed (so structured pre-hashed values such as `000…001`, `000…002` spread like random ones), 8 bits
 * pick one of 256 shards and 63 bits are stored, in two 32-bit words per slot of an open-addressing table. A
 * million ids cost about 13 MB (8 bytes a slot, 53–80 % full), five million about 62 MB; a shard grows by half when
 * it is 80 % full, so growing never holds more than 1/256 of the index twice (the old single table, 12 bytes a slot
 * at ≤ 50 % load with a whole-table copy on growth, took ~40 MB per million). 256 shards rather than 4,096: the
 * duplicate check asks the index about every row, and 256 shard objects stay in the CPU's caches (validate was
 * ~10 % faster per row).
 *
 * False positives: two different ids are taken for the same one only when their fingerprints collide. For n ids the
 * chance that this happens to any pair is at most n² / 2⁷²: 2.1·10⁻¹⁰ for a million, 5.3·10⁻⁹ for five million,
 * per file. What a collision would do depends on the index: `seen` would count the later row as `merged` while both
 * people are still written, each as their own record (apply keys on the cid itself); `newer` would skip one write;
 * `existing` would also need the 32-bit content hash to match before a write is skipped. It can never upload, merge
 * or overwrite anyone.
 */
import { sha256Hex } from './normalize/hash';

const SHARDS = 256;
const SHARD_SHIFT = 24;
const INITIAL_SLOTS = 8;
const MAX_LOAD = 0.8;

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

/** The byte two hex digits spell, by their two 7-bit char codes (`(c1 << 7) | c2`), or -1. */
const HEX_PAIR = new Int16Array(128 * 128).fill(-1);
for (let a = 0; a < 128; a++) {
  const ha = HEX[a] as number;
  if (ha < 0) continue;
  for (let b = 0; b < 128; b++) {
    const hb = HEX[b] as number;
    if (hb >= 0) HEX_PAIR[(a << 7) | b] = (ha << 4) | hb;
  }
}

/** The eight 32-bit words of a 64-hex id into `out`; false when it is not one. Two digits a lookup. */
function words(id: string, out: Uint32Array): boolean {
  if (id.length !== 64) return false;
  for (let w = 0; w < 8; w++) {
    let v = 0;
    for (let i = w * 8; i < w * 8 + 8; i += 2) {
      const c1 = id.charCodeAt(i);
      const c2 = id.charCodeAt(i + 1);
      const h = (c1 | c2) < 128 ? (HEX_PAIR[(c1 << 7) | c2] as number) : -1;
      if (h < 0) return false;
      v = (v << 8) | h;
    }
    out[w] = v;
  }
  return true;
}

/** murmur3's 32-bit finalizer: a bijection that spreads every input bit over the output. */
function fmix(x: number): number {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const W = new Uint32Array(8);
/** Fingerprint of the last id given to {@link fingerprint}: f0's top 8 bits pick the shard, f1 and f2 are stored. */
let f0 = 0;
let f1 = 0;
let f2 = 0;

/** The id f0–f2 were computed for: a row asks several indexes about the same cid or identity hash in a row. */
let lastId: string | undefined;

function fingerprint(id: string): void {
  if (id === lastId) return;
  lastId = id;
  if (!words(id, W)) words(sha256Hex(`compact-index:${id}`), W);
  // Every output word depends on every input word: four lanes of two words each, chained through bijections.
  const a = fmix((W[0] as number) ^ fmix((W[4] as number) ^ 0x243f6a88));
  const b = fmix((W[1] as number) ^ fmix((W[5] as number) ^ 0x85a308d3) ^ a);
  const c = fmix((W[2] as number) ^ fmix((W[6] as number) ^ 0x13198a2e) ^ b);
  const d = fmix((W[3] as number) ^ fmix((W[7] as number) ^ 0x03707344) ^ c);
  f0 = fmix(d ^ a);
  f1 = fmix(d ^ b ^ 0x299f31d0);
  f2 = fmix(d ^ c ^ 0x082efa98);
  // (0, 0) marks an empty slot.
  f1 = (f1 | 1) >>> 0;
}

/**
 * The fingerprint of `id` into `out[at..at + 2]`, as the index computes it: a worker thread computes the prints of
 * its rows' ids, and the thread holding the index asks it with {@link CompactIndex.addPrintIfAbsent}.
 */
export function fingerprintInto(id: string, out: Uint32Array, at: number): void {
  fingerprint(id);
  out[at] = f0;
  out[at + 1] = f1;
  out[at + 2] = f2;
}

/** Makes the fingerprint computed elsewhere ({@link fingerprintInto}) the current one. */
function usePrint(prints: Uint32Array, at: number): void {
  lastId = undefined;
  f0 = prints[at] as number;
  f1 = prints[at + 1] as number;
  f2 = prints[at + 2] as number;
}

/** One shard: linear probing over `slots` slots of two words, an optional parallel value array. */
class Shard {
  slots = INITIAL_SLOTS;
  used = 0;
  keys = new Uint32Array(INITIAL_SLOTS * 2);
  values: Uint32Array | undefined;

  /** Slot holding the current fingerprint, or the empty slot where it belongs. */
  find(): number {
    const slots = this.slots;
    const keys = this.keys;
    // The home slot comes from a stored word, so growing can re-place every entry.
    let i = Math.min(slots - 1, Math.floor((f2 / 4294967296) * slots));
    for (;;) {
      const k = keys[i * 2] as number;
      if (k === 0) return i;
      if (k === f1 && keys[i * 2 + 1] === f2) return i;
      if (++i === slots) i = 0;
    }
  }

  grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    const oldSlots = this.slots;
    const s1 = f1;
    const s2 = f2;
    this.slots = Math.ceil(oldSlots * 1.5);
    this.keys = new Uint32Array(this.slots * 2);
    this.values = oldValues === undefined ? undefined : new Uint32Array(this.slots);
    for (let j = 0; j < oldSlots; j++) {
      const k = oldKeys[j * 2] as number;
      if (k === 0) continue;
      f1 = k;
      f2 = oldKeys[j * 2 + 1] as number;
      const s = this.find();
      this.keys[s * 2] = f1;
      this.keys[s * 2 + 1] = f2;
      if (this.values && oldValues) this.values[s] = oldValues[j] as number;
    }
    f1 = s1;
    f2 = s2;
  }
}

/** A growable set of ids with an optional 32-bit value per id; see the module comment for its false positives. */
export class CompactIndex {
  private readonly shards: Shard[] = Array.from({ length: SHARDS }, () => new Shard());
  private count = 0;

  /** `capacity` is accepted for compatibility (callers pass one); shards size themselves. */
  // biome-ignore lint/complexity/noUselessConstructor: keeps `new CompactIndex(n)` call sites compiling.
  constructor(_capacity?: number) {}

  get size(): number {
    return this.count;
  }

  /**
   * Adds the id with `value` if it is not there yet and returns undefined; if it is, returns its value and changes
   * nothing. One probe where `get` then `add` would take two (the per-file duplicate check asks this of every row).
   */
  addIfAbsent(id: string, value: number): number | undefined {
    fingerprint(id);
    return this.place(value, false);
  }

  /** {@link addIfAbsent} for an id whose fingerprint another thread computed ({@link fingerprintInto}). */
  addPrintIfAbsent(prints: Uint32Array, at: number, value: number): number | undefined {
    usePrint(prints, at);
    return this.place(value, false);
  }

  /**
   * Reads the slot where the probe of each of the first `n` fingerprints in `prints` starts, changing nothing. One
   * pass of independent loads lets the processor overlap their cache misses; the probes that follow, one per row
   * between the rest of the row's work, then find their lines loaded (a million ids fill ~13 MB, beyond the caches).
   */
  touchPrints(prints: Uint32Array, n: number): number {
    let sink = 0;
    for (let j = 0; j < n; j++) {
      const shard = this.shards[(prints[3 * j] as number) >>> SHARD_SHIFT] as Shard;
      const slots = shard.slots;
      const i = Math.min(slots - 1, Math.floor(((prints[3 * j + 2] as number) / 4294967296) * slots));
      sink ^= shard.keys[i * 2] as number;
    }
    return sink;
  }

  /** {@link add} for an id whose fingerprint another thread computed. */
  setPrint(prints: Uint32Array, at: number, value: number): void {
    usePrint(prints, at);
    this.place(value, true);
  }

  /** Adds the id (with `value`, default 0); returns false if it was already there (its value is then replaced). */
  add(id: string, value = 0): boolean {
    fingerprint(id);
    return this.place(value, true) === undefined;
  }

  /**
   * The current fingerprint (f0–f2) into its shard with `value`: a new id is added; a present one keeps its value
   * unless `replace`. Returns the value it had, or undefined when it is new.
   */
  private place(value: number, replace: boolean): number | undefined {
    const shard = this.shards[f0 >>> SHARD_SHIFT] as Shard;
    let s = shard.find();
    let had: number | undefined;
    if (shard.keys[s * 2] !== 0) {
      had = shard.values ? (shard.values[s] as number) : 0;
      if (!replace) return had;
    } else {
      if ((shard.used + 1) / shard.slots > MAX_LOAD) {
        shard.grow();
        s = shard.find();
      }
      shard.keys[s * 2] = f1;
      shard.keys[s * 2 + 1] = f2;
      shard.used++;
      this.count++;
    }
    const v = value >>> 0;
    if (v !== 0 && shard.values === undefined) shard.values = new Uint32Array(shard.slots);
    if (shard.values) shard.values[s] = v;
    return had;
  }

  has(id: string): boolean {
    // Most lists have no erasures or suppressions, and a first ingest no fingerprints: no hashing for those.
    if (this.count === 0) return false;
    fingerprint(id);
    const shard = this.shards[f0 >>> SHARD_SHIFT] as Shard;
    return shard.keys[shard.find() * 2] !== 0;
  }

  /** {@link has} for an id whose fingerprint is known ({@link fingerprintInto}). */
  hasPrint(prints: Uint32Array, at: number): boolean {
    if (this.count === 0) return false;
    usePrint(prints, at);
    const shard = this.shards[f0 >>> SHARD_SHIFT] as Shard;
    return shard.keys[shard.find() * 2] !== 0;
  }

  /** The 32-bit value stored with the id, or undefined. */
  get(id: string): number | undefined {
    if (this.count === 0) return undefined;
    fingerprint(id);
    return this.current();
  }

  /** {@link get} for an id whose fingerprint is known ({@link fingerprintInto}). */
  getPrint(prints: Uint32Array, at: number): number | undefined {
    if (this.count === 0) return undefined;
    usePrint(prints, at);
    return this.current();
  }

  /** The value of the current fingerprint, or undefined when it is not in the index. */
  private current(): number | undefined {
    const shard = this.shards[f0 >>> SHARD_SHIFT] as Shard;
    const s = shard.find();
    if (shard.keys[s * 2] === 0) return undefined;
    return shard.values ? shard.values[s] : 0;
  }

  /** Bytes held by the typed arrays (for reports and the bench). */
  get bytes(): number {
    let b = 0;
    for (const s of this.shards) b += s.keys.byteLength + (s.values?.byteLength ?? 0);
    return b;
  }
}

/**
 * Serialized CompactIndex (to hand an index to other workers): a header (format 3, shard count, id count), then per
 * shard its slot count, used count and whether it has values, its key words and its values (32-bit words, host order).
 */
export function compactIndexToBytes(idx: CompactIndex): Uint8Array {
  const shards = (idx as unknown as { shards: Shard[] }).shards;
  let n = 3;
  for (const sh of shards) n += 3 + sh.keys.length + (sh.values?.length ?? 0);
  const out = new Uint32Array(n);
  out[0] = 3;
  out[1] = shards.length;
  out[2] = idx.size;
  let o = 3;
  for (const sh of shards) {
    out[o++] = sh.slots;
    out[o++] = sh.used;
    out[o++] = sh.values ? 1 : 0;
    out.set(sh.keys, o);
    o += sh.keys.length;
    if (sh.values) {
      out.set(sh.values, o);
      o += sh.values.length;
    }
  }
  return new Uint8Array(out.buffer);
}

export function compactIndexFromBytes(bytes: Uint8Array): CompactIndex {
  const damaged = () => new Error('a serialized id index is damaged (its size does not match)');
  if (bytes.byteLength % 4 !== 0) throw damaged();
  const words = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (words.length < 3) throw damaged();
  if (words[0] === 2)
    // Format 2 had 4,096 shards: a fan-out run started before an upgrade and continued after it.
    throw new Error(
      'a serialized id index was written by an earlier version of audience-sync; drop the file again to ingest it with this version',
    );
  if (words[0] !== 3 || words[1] !== SHARDS) throw damaged();
  const idx = new CompactIndex();
  const raw = idx as unknown as { shards: Shard[]; count: number };
  raw.count = words[2] as number;
  let o = 3;
  for (const sh of raw.shards) {
    if (o + 3 > words.length) throw damaged();
    sh.slots = words[o++] as number;
    sh.used = words[o++] as number;
    const hasValues = words[o++] === 1;
    sh.keys = words.slice(o, o + sh.slots * 2);
    o += sh.slots * 2;
    if (hasValues) {
      sh.values = words.slice(o, o + sh.slots);
      o += sh.slots;
    }
    if (sh.keys.length !== sh.slots * 2 || (hasValues && sh.values?.length !== sh.slots)) throw damaged();
  }
  if (o !== words.length) throw damaged();
  return idx;
}

/** First 32 bits of a hex digest as an unsigned number (for content fingerprints). */
export const hex32 = (hex: string): number => Number.parseInt(hex.slice(0, 8), 16) >>> 0;
