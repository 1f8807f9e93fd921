/**
 * Compact, typed-array hash tables keyed by 63 bits of a hex SHA-256 id (the first 64 bits with one bit forced on,
 * which reserves (0, 0) for "empty"). A million ids cost ~16–24 MB instead of ~110 MB for a Set<string>; the chance
 * of any collision among 10 million ids is about 5·10⁻⁶, and a collision can only skip a write or a sweep (or flag a
 * duplicate row, which the report shows), never upload anyone.
 */

const EMPTY = 0;

function prefix(hex: string): [number, number] {
  // Two 32-bit halves; the pair (0, 0) is reserved for "empty", so we force the low bit of `hi` on.
  const hi = (Number.parseInt(hex.slice(0, 8), 16) | 1) >>> 0;
  const lo = Number.parseInt(hex.slice(8, 16), 16) >>> 0;
  return [hi, lo];
}

/** A growable open-addressing table of 64-bit keys with an optional 32-bit value. */
export class CompactIndex {
  private keys: Uint32Array;
  private values: Uint32Array;
  private used = 0;

  constructor(capacity = 1024) {
    let cap = 1024;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Uint32Array(cap * 2);
    this.values = new Uint32Array(cap);
  }

  get size(): number {
    return this.used;
  }

  private slot(hi: number, lo: number): number {
    const mask = this.values.length - 1;
    let i = (Math.imul(hi ^ lo, 0x9e3779b1) >>> 0) & mask;
    for (;;) {
      const k = this.keys[i * 2]!;
      if (k === EMPTY || (k === hi && this.keys[i * 2 + 1] === lo)) return i;
      i = (i + 1) & mask;
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Uint32Array(oldKeys.length * 2);
    this.values = new Uint32Array(oldValues.length * 2);
    for (let i = 0; i < oldValues.length; i++) {
      const hi = oldKeys[i * 2]!;
      if (hi === EMPTY) continue;
      const s = this.slot(hi, oldKeys[i * 2 + 1]!);
      this.keys[s * 2] = hi;
      this.keys[s * 2 + 1] = oldKeys[i * 2 + 1]!;
      this.values[s] = oldValues[i]!;
    }
  }

  /** Adds the id; returns false if it was already there. */
  add(hexId: string, value = 0): boolean {
    if ((this.used + 1) * 2 > this.values.length) this.grow();
    const [hi, lo] = prefix(hexId);
    const s = this.slot(hi, lo);
    const isNew = this.keys[s * 2] === EMPTY;
    this.keys[s * 2] = hi;
    this.keys[s * 2 + 1] = lo;
    this.values[s] = value >>> 0;
    if (isNew) this.used++;
    return isNew;
  }

  has(hexId: string): boolean {
    const [hi, lo] = prefix(hexId);
    return this.keys[this.slot(hi, lo) * 2] !== EMPTY;
  }

  /** The 32-bit value stored with the id, or undefined. */
  get(hexId: string): number | undefined {
    const [hi, lo] = prefix(hexId);
    const s = this.slot(hi, lo);
    return this.keys[s * 2] === EMPTY ? undefined : this.values[s];
  }
}

/** Serialized CompactIndex: `used`, capacity, then the key and value arrays (little-endian 32-bit words). */
export function compactIndexToBytes(idx: CompactIndex): Uint8Array {
  const { used, keys, values } = idx as unknown as { used: number; keys: Uint32Array; values: Uint32Array };
  const out = new Uint32Array(2 + keys.length + values.length);
  out[0] = used;
  out[1] = values.length;
  out.set(keys, 2);
  out.set(values, 2 + keys.length);
  return new Uint8Array(out.buffer);
}

export function compactIndexFromBytes(bytes: Uint8Array): CompactIndex {
  const words = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const cap = words[1]!;
  if (words.length !== 2 + 3 * cap) throw new Error('a serialized id index is damaged (its size does not match)');
  const idx = new CompactIndex(1);
  const raw = idx as unknown as { used: number; keys: Uint32Array; values: Uint32Array };
  raw.used = words[0]!;
  raw.keys = words.slice(2, 2 + 2 * cap);
  raw.values = words.slice(2 + 2 * cap);
  return idx;
}

/** First 32 bits of a hex digest as an unsigned number (for content fingerprints). */
export const hex32 = (hex: string): number => Number.parseInt(hex.slice(0, 8), 16) >>> 0;
