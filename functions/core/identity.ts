/**
 * The platform-neutral identity of a person in one row: the stable pseudonymous id (cid) and every identity hash
 * erasure, suppression and opt-outs match on. Independent of which ad platforms are configured.
 */
import { normalizeEmail } from './normalize/email';
import { normalizeExternalId } from './normalize/external-id';
import { hashOnce, isSha256Hex, sha256Hex } from './normalize/hash';
import { normalizeMadid } from './normalize/madid';
import { type KeyProblem, parsedPhones, type RowContext } from './normalize/row';

export interface Identity {
  /**
   * SHA-256 of the first valid email, else of the first valid phone (E.164 digits), else of `extern:` + the external
   * id, else of `madid:` + the mobile advertiser id.
   */
  cid?: string;
  /** Every identity hash of the row, the cid first, without repeats: email hashes, then phones, ids, device ids. */
  ids: string[];
  /** How many of `ids` (from the start) are email hashes. */
  emailCount: number;
  /** Why an identifier that was present could not be used (for the rejection reason when there is no cid). */
  problems: KeyProblem[];
}

/** The external-id hash, prefixed so it never equals the hash of an email or phone spelled the same way. */
export const externalIdHash = (id: string) => sha256Hex(`extern:${id}`);

export function identityOf(row: RowContext): Identity {
  const ids: string[] = [];
  const problems: KeyProblem[] = [];
  let badEmail = false;
  for (const e of row.raw.emails) {
    const t = e.trim();
    if (t === '') continue;
    if (isSha256Hex(t)) addId(ids, t.toLowerCase());
    else {
      const n = normalizeEmail(t);
      if (n === undefined) badEmail = true;
      else addId(ids, hashOnce(n));
    }
  }
  const emailCount = ids.length;
  let phoneProblem: KeyProblem['reason'] | undefined;
  for (const { text, result } of parsedPhones(row)) {
    if (result === 'hashed') addId(ids, text.toLowerCase());
    else if (result.ok) addId(ids, sha256Hex(result.e164));
    else phoneProblem ??= result.reason;
  }
  const id = row.raw.externalId === undefined ? undefined : normalizeExternalId(row.raw.externalId);
  if (id !== undefined) addId(ids, externalIdHash(id));
  for (const m of row.raw.madids ?? []) {
    const v = normalizeMadid(m);
    if (v !== undefined) addId(ids, sha256Hex(`madid:${v}`));
  }
  if (badEmail && emailCount === 0) problems.push({ field: 'email', reason: 'invalid_email' });
  if (phoneProblem !== undefined && ids.length === emailCount) problems.push({ field: 'phone', reason: phoneProblem });
  return ids.length ? { cid: ids[0], ids, emailCount, problems } : { ids, emailCount, problems };
}

/** Appends an identity hash unless the row already gave it. */
function addId(ids: string[], h: string): void {
  if (!ids.includes(h)) ids.push(h);
}
