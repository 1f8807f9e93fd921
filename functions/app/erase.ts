/**
 * Right to erasure: hash the identities, add them to the global suppression set, delete the person's contacts
 * from every list. The next sync removes them from every audience (their synced keys are still known), and
 * a later export that contains them cannot bring them back. The audit record holds hashes and times only.
 */
import type { ObjectInfo, S3Bucket } from '../adapters/s3-bucket';
import type { AudienceConfig } from '../core/config';
import { contactId, metaKeys } from '../core/normalize';
import type { ContactStore, Logger } from '../core/ports';
import { readExport } from '../reading';

export interface ErasureRequest {
  emails: string[];
  phones: string[];
}

export interface ErasureResult {
  requested: number;
  /** Identities that could be normalized and hashed. */
  hashed: number;
  invalid: number;
  /** Contact records deleted, across lists. */
  contactsDeleted: number;
  lists: string[];
}

export async function eraseIdentities(
  store: ContactStore,
  req: ErasureRequest,
  opts: { now: Date; logger: Logger; defaultCountry?: string },
): Promise<ErasureResult> {
  const hashes = new Set<string>();
  let invalid = 0;
  const identities = [
    ...req.emails.map((e) => ({ emails: [e], phones: [] as string[] })),
    ...req.phones.map((p) => ({ emails: [] as string[], phones: [p] })),
  ];
  for (const raw of identities) {
    const { keys } = metaKeys(raw, { defaultCountry: opts.defaultCountry });
    const cid = contactId(keys);
    if (!cid) {
      invalid++;
      continue;
    }
    hashes.add(cid);
    if (keys.EMAIL) hashes.add(keys.EMAIL);
    if (keys.PHONE) hashes.add(keys.PHONE);
  }
  // A person erased by phone may be stored under their email's cid: find them by key hash too.
  const cids = new Set<string>();
  for (const list of await store.listIds()) {
    for await (const c of store.contacts(list)) {
      if (
        hashes.has(c.cid) ||
        (c.keys.meta.EMAIL && hashes.has(c.keys.meta.EMAIL)) ||
        (c.keys.meta.PHONE && hashes.has(c.keys.meta.PHONE))
      )
        cids.add(c.cid);
    }
  }
  const at = opts.now.toISOString();
  const all = new Set([...hashes, ...cids]);
  await store.suppress([...all].map((cid) => ({ cid, at, reason: 'erasure' as const })));
  let contactsDeleted = 0;
  const lists = new Set<string>();
  for (const cid of cids) {
    const hit = await store.deleteContactEverywhere(cid);
    contactsDeleted += hit.length;
    for (const l of hit) lists.add(l);
  }
  await store.putRun('erasure', at, { hashes: [...all], contactsDeleted });
  const result = {
    requested: identities.length,
    hashed: identities.length - invalid,
    invalid,
    contactsDeleted,
    lists: [...lists],
  };
  opts.logger.info('erasure_recorded', { ...result });
  return result;
}

/** Reads an erasure file (any CSV/TXT with emails and/or phones, one person per row) dropped under erasure/. */
export async function eraseFromFile(
  deps: { bucket: S3Bucket; store: ContactStore; config: AudienceConfig; logger: Logger; now: () => Date },
  info: ObjectInfo,
) {
  const key = info.key;
  const req: ErasureRequest = { emails: [], phones: [] };
  const take = (cell: string) => {
    const v = cell.trim().replace(/^'/, '');
    if (!v) return;
    if (v.includes('@')) req.emails.push(v);
    else if (/^[+\d][\d\s().-]{5,}$/.test(v)) req.phones.push(v);
  };
  for await (const entry of readExport(deps.bucket.source(info))) {
    // A header-less file's first line is data; a real header has no @ or digits-only cells, so it is skipped by take().
    for (const h of entry.header) take(h);
    for await (const ev of entry.rows) if (ev.kind === 'row') for (const c of ev.cells) take(c);
  }
  const now = deps.now();
  const result = await eraseIdentities(deps.store, req, {
    now,
    logger: deps.logger,
    defaultCountry: deps.config.defaultCountry,
  });
  const reportKey = `reports/erasure/${now.toISOString().replace(/[:.]/g, '-')}.json`;
  await deps.bucket.putJson(reportKey, { ...result, at: now.toISOString(), object: key });
  await deps.bucket.delete(key);
  return { kind: 'erasure' as const, erased: result.contactsDeleted, reportKey };
}
