/**
 * Right to erasure: hash the identities, add them to the global suppression set, delete the person's contacts
 * from every list. The next sync removes them from every audience (their synced keys are still known), and
 * a later export that contains them cannot bring them back. The audit record holds hashes and times only.
 */
import type { ObjectInfo, S3Bucket } from '../adapters/s3-bucket';
import type { AudienceConfig } from '../core/config';
import { contactId, metaKeys, sha256Hex } from '../core/normalize';
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
  /** Every suppressed hash (cids and email/phone hashes): the audit trail, kept in the erasure report. */
  hashes: string[];
}

const FOREVER = '9999-12-31T23:59:59.999Z';

export async function eraseIdentities(
  store: ContactStore,
  req: ErasureRequest,
  opts: {
    now: Date;
    logger: Logger;
    defaultCountry?: string;
    sleep?: (ms: number) => Promise<void>;
    lockWaitMs?: number;
  },
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
  const at = opts.now.toISOString();
  // Suppressed first: from here on no sync uploads them and no ingest that starts stores them.
  await store.suppress([...hashes].map((cid) => ({ cid, at, reason: 'erasure' as const })));
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const owner = `erasure@${at}`;
  let contactsDeleted = 0;
  const lists: string[] = [];
  const cids = new Set<string>();
  for (const list of await store.listIds()) {
    // An ingest of this list that began before the suppression could write them back: wait for it to finish.
    const until = Date.now() + (opts.lockWaitMs ?? 10 * 60_000);
    while (!(await store.acquireLock(`ingest#${list}`, owner, new Date(), new Date(Date.now() + 15 * 60_000)))) {
      if (Date.now() > until) throw new Error(`list ${list} stayed locked by an ingest; the erasure will be retried`);
      await sleep(1_000);
    }
    try {
      // A person erased by phone may be stored under their email's cid: find them by key hash too.
      const hit: string[] = [];
      for await (const c of store.contacts(list)) {
        if (
          hashes.has(c.cid) ||
          (c.keys.meta.EMAIL && hashes.has(c.keys.meta.EMAIL)) ||
          (c.keys.meta.PHONE && hashes.has(c.keys.meta.PHONE))
        )
          hit.push(c.cid);
      }
      if (hit.length) {
        contactsDeleted += await store.removeContacts(list, hit, FOREVER);
        lists.push(list);
        for (const c of hit) cids.add(c);
      }
    } finally {
      await store.releaseLock(`ingest#${list}`, owner);
    }
  }
  const extra = [...cids].filter((c) => !hashes.has(c));
  if (extra.length) await store.suppress(extra.map((cid) => ({ cid, at, reason: 'erasure' as const })));
  const all = [...hashes, ...extra].sort();
  // The run record stays small whatever the request size: a count and a digest; the hashes go to the S3 report.
  await store.putRun('erasure', at, { suppressed: all.length, digest: sha256Hex(all.join('\n')), contactsDeleted });
  const result = {
    requested: identities.length,
    hashed: identities.length - invalid,
    invalid,
    contactsDeleted,
    lists,
    hashes: all,
  };
  opts.logger.info('erasure_recorded', { ...result, hashes: undefined, suppressed: all.length });
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
  // The plaintext request goes first; the audit report (hashes and time only) follows.
  await deps.bucket.delete(key);
  const reportKey = `reports/erasure/${now.toISOString().replace(/[:.]/g, '-')}.json`;
  await deps.bucket.putJson(reportKey, { ...result, at: now.toISOString(), object: key });
  return { kind: 'erasure' as const, erased: result.contactsDeleted, reportKey };
}
