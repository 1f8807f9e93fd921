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
  const matches = (c: { cid: string; keys: { meta: { EMAIL?: string; PHONE?: string } } }, set: ReadonlySet<string>) =>
    set.has(c.cid) ||
    (c.keys.meta.EMAIL !== undefined && set.has(c.keys.meta.EMAIL)) ||
    (c.keys.meta.PHONE !== undefined && set.has(c.keys.meta.PHONE));
  // Pass 1: everything that identifies the person, across lists. Erased by phone, Ann is also the email-keyed
  // record that shares the phone, and then every other record with that email. Repeat until nothing new turns up.
  const lists = await store.listIds();
  const all = new Set(hashes);
  for (let grew = true; grew; ) {
    grew = false;
    for (const list of lists) {
      for await (const c of store.contacts(list)) {
        if (!matches(c, all)) continue;
        for (const h of [c.cid, c.keys.meta.EMAIL, c.keys.meta.PHONE]) {
          if (h && !all.has(h)) {
            all.add(h);
            grew = true;
          }
        }
      }
    }
  }
  // Suppressed before anything is deleted: a retry after a partial failure still knows every identity, no sync
  // uploads them from now on, and no ingest that starts stores them.
  await store.suppress([...all].map((cid) => ({ cid, at, reason: 'erasure' as const })));
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const owner = `erasure@${at}`;
  let contactsDeleted = 0;
  const hitLists: string[] = [];
  // Pass 2, list by list under the list's ingest lock (an ingest that began before the suppression could write the
  // person back): delete every record that matches the suppression set, which includes earlier erasures.
  const suppressed = new Set([...all, ...(await store.suppressed())]);
  for (const list of lists) {
    const until = Date.now() + (opts.lockWaitMs ?? 10 * 60_000);
    while (!(await store.acquireLock(`ingest#${list}`, owner, new Date(), new Date(Date.now() + 15 * 60_000)))) {
      if (Date.now() > until) throw new Error(`list ${list} stayed locked by an ingest; the erasure will be retried`);
      await sleep(1_000);
    }
    try {
      const hit: string[] = [];
      for await (const c of store.contacts(list)) if (matches(c, suppressed)) hit.push(c.cid);
      if (hit.length) {
        contactsDeleted += await store.removeContacts(list, hit, FOREVER);
        hitLists.push(list);
      }
    } finally {
      await store.releaseLock(`ingest#${list}`, owner);
    }
  }
  const sorted = [...all].sort();
  // The run record stays small whatever the request size: a count and a digest; the hashes go to the S3 report.
  await store.putRun('erasure', at, {
    suppressed: sorted.length,
    digest: sha256Hex(sorted.join('\n')),
    contactsDeleted,
  });
  const result = {
    requested: identities.length,
    hashed: identities.length - invalid,
    invalid,
    contactsDeleted,
    lists: hitLists,
    hashes: sorted,
  };
  opts.logger.info('erasure_recorded', { ...result, hashes: undefined, suppressed: sorted.length });
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
  await deps.bucket.delete(info);
  const reportKey = `reports/erasure/${now.toISOString().replace(/[:.]/g, '-')}.json`;
  await deps.bucket.putJson(reportKey, { ...result, at: now.toISOString(), object: key });
  return { kind: 'erasure' as const, erased: result.contactsDeleted, reportKey };
}
