/**
 * A contact's content: its values (all but its cid, list, time seen and source) in a fixed order, as one JSON text.
 * The text is what the content hash hashes (a changed hash means the stored contact must be rewritten), what
 * staging writes (with the cid in front), and how the store keeps the record. Pure: no I/O.
 */
import type { StagedRecord } from './ingest-rows';
import type { ContactRecord } from './model';
import { sha256Hex } from './normalize/hash';

/** Content fingerprint: a changed hash means the stored contact must be rewritten. */
export function contentHash(r: StagedRecord): string {
  return sha256Hex(contentText(r));
}

/**
 * The text {@link contentHash} hashes: the record's values in a fixed order, as one JSON array. It is also how a
 * store may keep them (see {@link recordOfContent}): the record as one value, which it neither builds nor reads
 * attribute by attribute.
 */
export function contentText(r: StagedRecord): string {
  return JSON.stringify([
    r.ids,
    r.emails ?? 0,
    r.keys,
    r.consent,
    r.optIn ?? null,
    r.explicitOptIn ?? null,
    r.adsPermission ?? null,
    r.optInAt ?? null,
    r.optOutAt ?? null,
    r.attrs,
  ]);
}

/**
 * A staged record as one JSON array: the cid (0 when it is the first id, as it is for every record a row makes), then
 * the ten values {@link contentHash} hashes, in its order. The hash's text is this array without its first element,
 * so one serialization gives both (most of a record's text is its ids, keys and attributes). Staging is local to one
 * ingest, so the form is this module's alone.
 */
export type StagedArray = [
  cid: string | 0,
  ids: string[],
  emails: number,
  keys: StagedRecord['keys'],
  consent: StagedRecord['consent'],
  optIn: boolean | null,
  explicitOptIn: boolean | null,
  adsPermission: boolean | null,
  optInAt: string | null,
  optOutAt: string | null,
  attrs: StagedRecord['attrs'],
];

/** Every field of a staged record is in {@link StagedArray}: a field added to the record and not here fails to compile. */
type Covered =
  | 'cid'
  | 'ids'
  | 'emails'
  | 'keys'
  | 'consent'
  | 'optIn'
  | 'explicitOptIn'
  | 'adsPermission'
  | 'optInAt'
  | 'optOutAt'
  | 'attrs';
const _everyFieldStaged: Record<Exclude<keyof StagedRecord, Covered>, never> = {};
void _everyFieldStaged;

/**
 * A record's staged form ({@link StagedArray}, as JSON) and its {@link contentHash}, from one serialization. The hash
 * is contentHash's, character for character; {@link recordOfStaged} reads the JSON back as the record.
 */
export function serializeRecord(r: StagedRecord): { json: string; hash: string } {
  const text = contentText(r);
  const cid = r.ids?.[0] === r.cid ? '0' : (JSON.stringify(r.cid) ?? 'null');
  return { json: `[${cid},${text.slice(1)}`, hash: sha256Hex(text) };
}

/** The record a {@link StagedArray} holds (fields without a value left out, as JSON.stringify leaves them). */
export function recordOfStaged(a: StagedArray): StagedRecord {
  const r: StagedRecord = { cid: cidOfStaged(a), ids: a[1], keys: a[3], consent: a[4], attrs: a[10] };
  if (a[2] !== 0) r.emails = a[2];
  if (a[5] !== null) r.optIn = a[5];
  if (a[6] !== null) r.explicitOptIn = a[6];
  if (a[7] !== null) r.adsPermission = a[7];
  if (a[8] !== null) r.optInAt = a[8];
  if (a[9] !== null) r.optOutAt = a[9];
  return r;
}

/** The contact a {@link contentText} holds, with the fields a store keeps beside it. */
export function recordOfContent(
  fields: Pick<ContactRecord, 'cid' | 'list' | 'seenAt' | 'source'>,
  text: string,
): ContactRecord {
  const values = JSON.parse(text) as StagedArray extends [unknown, ...infer Rest] ? Rest : never;
  const r = recordOfStaged([fields.cid, ...values]) as ContactRecord;
  r.list = fields.list;
  r.seenAt = fields.seenAt;
  r.source = fields.source;
  return r;
}

/** The cid of a staged record, without reading back the rest of it. */
export const cidOfStaged = (a: StagedArray): string => (a[0] === 0 ? (a[1][0] as string) : a[0]);
