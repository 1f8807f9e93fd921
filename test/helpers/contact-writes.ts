/** Between the records tests reason about and the writes a store takes (its content text, as ingest hands it on). */
import { contentText, recordOfContent } from '../../functions/core/contact-content';
import type { ContactRecord } from '../../functions/core/model';
import { sha256Hex } from '../../functions/core/normalize';
import type { ContactWrite } from '../../functions/core/ports';

/** The record a write holds, as a store reads it back. */
export const recordOfWrite = (w: ContactWrite): ContactRecord => recordOfContent(w, w.text);

/** A record as a write, with the content hash given (by default its own). */
export function writeOfRecord(r: ContactRecord, h?: string): ContactWrite {
  const text = contentText(r);
  return { cid: r.cid, list: r.list, seenAt: r.seenAt, source: r.source, h: h ?? sha256Hex(text), text };
}
