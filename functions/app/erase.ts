/**
 * Right to erasure: hash the identities, block them for good, delete the person's contacts from every list. The next
 * sync removes them from every audience, orphaned ones included (their synced keys are still known), and a later
 * export that contains them cannot bring them back. The audit record holds hashes and times only.
 */
import type { ObjectInfo, S3Bucket } from '../adapters/s3-bucket';
import type { AudienceConfig } from '../core/config';
import { identityOf } from '../core/identity';
import { acquireWaiting, describeHolder, Lease } from '../core/lease';
import { normalizePhone, rowContext, sha256Hex } from '../core/normalize';
import type { ContactStore, Logger } from '../core/ports';
import { readExport } from '../reading';

export interface ErasureRequest {
  emails: string[];
  phones: string[];
}

/** How a national phone number was read: under which lists' countries it is a valid number. */
export interface PhoneReading {
  /** Position of the phone in the request (never the number itself). */
  phone: number;
  countries: string[];
  lists: string[];
}

export interface ErasureResult {
  requested: number;
  /** Identities that could be normalized and hashed. */
  hashed: number;
  invalid: number;
  /** Contact records deleted, across lists. */
  contactsDeleted: number;
  lists: string[];
  /** National numbers read under the countries of the lists (an international `+…` form needs no reading). */
  phoneReadings: PhoneReading[];
  /** Every blocked hash (cids and identity hashes): the audit trail, kept in the erasure report. */
  hashes: string[];
}

/**
 * The hashes a phone stands for. An international number (`+49…`, `0049…`) is one number; a national one (`030 …`)
 * is read under the default country of every list and the config's, since erasure must find the person wherever
 * they are stored: each valid reading is a hash.
 */
function phoneHashes(
  phone: string,
  config: AudienceConfig,
): { hashes: string[]; reading?: Omit<PhoneReading, 'phone'> } {
  const international = /^\s*(\+|00)/.test(phone);
  const countries = new Map<string, string[]>();
  const lists = Object.entries(config.lists);
  const candidates: Array<[string | undefined, string | undefined]> = [
    [undefined, config.defaultCountry],
    ...lists.map(([id, l]) => [id, l.defaultCountry ?? config.defaultCountry] as [string, string | undefined]),
  ];
  const hashes = new Set<string>();
  for (const [list, country] of international ? [[undefined, undefined] as [undefined, undefined]] : candidates) {
    const r = normalizePhone(phone, undefined, country);
    if (!r.ok) continue;
    hashes.add(sha256Hex(r.e164));
    if (country) {
      const at = countries.get(country) ?? [];
      if (list) at.push(list);
      countries.set(country, at);
    }
  }
  if (international || hashes.size === 0) return { hashes: [...hashes] };
  return { hashes: [...hashes], reading: { countries: [...countries.keys()], lists: [...countries.values()].flat() } };
}

export async function eraseIdentities(
  store: ContactStore,
  req: ErasureRequest,
  opts: {
    now: Date;
    logger: Logger;
    config: AudienceConfig;
    sleep?: (ms: number) => Promise<void>;
    lockWaitMs?: number;
  },
): Promise<ErasureResult> {
  const hashes = new Set<string>();
  let invalid = 0;
  for (const e of req.emails) {
    const id = identityOf(rowContext({ emails: [e], phones: [] }, { defaultCountry: opts.config.defaultCountry }));
    if (id.cid) for (const h of id.ids) hashes.add(h);
    else invalid++;
  }
  const phoneReadings: PhoneReading[] = [];
  req.phones.forEach((p, i) => {
    const { hashes: hs, reading } = phoneHashes(p, opts.config);
    if (hs.length === 0) invalid++;
    for (const h of hs) hashes.add(h);
    if (reading) phoneReadings.push({ phone: i + 1, ...reading });
  });
  const at = opts.now.toISOString();
  // Pass 1: everything that identifies the person, across lists. Erased by phone, Ann is also the email-keyed
  // record that shares the phone, and then every other record with that email. Repeat until nothing new turns up.
  const lists = await store.listIds();
  const all = new Set(hashes);
  for (let grew = true; grew; ) {
    grew = false;
    for (const list of lists) {
      for await (const c of store.contacts(list)) {
        if (!c.ids.some((h) => all.has(h))) continue;
        for (const h of c.ids) {
          if (!all.has(h)) {
            all.add(h);
            grew = true;
          }
        }
      }
    }
  }
  // Blocked before anything is deleted: a retry after a partial failure still knows every identity, no sync uploads
  // them from now on, and no ingest that starts stores them.
  await store.putBlocks([...all].map((hash) => ({ hash, kind: 'erasure' as const, at, source: 'erasure' })));
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let contactsDeleted = 0;
  const hitLists: string[] = [];
  // Pass 2, list by list under the list's ingest lock (an ingest that began before the block could write the
  // person back): delete every record that matches an erasure block, which includes earlier erasures.
  const erased = new Set(all);
  for await (const b of store.blocks()) if (b.kind === 'erasure') erased.add(b.hash);
  for (const list of lists) {
    const now = () => new Date();
    const lease = new Lease(store, `ingest#${list}`, `erasure@${at}`, now);
    const got = await acquireWaiting(lease, { waitMs: opts.lockWaitMs ?? 10 * 60_000, pollMs: 1_000, now, sleep });
    if (!got.acquired)
      throw new Error(
        `list ${list} stayed locked by an ingest (${describeHolder(got.holder, now())}); the erasure will be retried`,
      );
    try {
      const hit: string[] = [];
      for await (const c of store.contacts(list)) if (c.ids.some((h) => erased.has(h))) hit.push(c.cid);
      if (hit.length) {
        contactsDeleted += await store.removeContacts(list, hit, FOREVER);
        hitLists.push(list);
      }
    } finally {
      await lease.release();
    }
  }
  const sorted = [...all].sort();
  // The run record stays small whatever the request size: a count and a digest; the hashes go to the S3 report.
  await store.putRun('erasure', at, { blocked: sorted.length, digest: sha256Hex(sorted.join('\n')), contactsDeleted });
  const requested = req.emails.length + req.phones.length;
  const result: ErasureResult = {
    requested,
    hashed: requested - invalid,
    invalid,
    contactsDeleted,
    lists: hitLists,
    phoneReadings,
    hashes: sorted,
  };
  opts.logger.info('erasure_recorded', { ...result, hashes: undefined, blocked: sorted.length });
  return result;
}

const FOREVER = '9999-12-31T23:59:59.999Z';

/** One line for the operator on what an erasure did, with the hint an unreadable phone needs. */
export function describeErasure(r: ErasureResult): string {
  const parts = [
    `erased: ${r.hashed} of ${r.requested} identities blocked, ${r.contactsDeleted} contact records deleted`,
  ];
  for (const p of r.phoneReadings)
    parts.push(
      `phone ${p.phone} is national: read under ${p.countries.join(', ')}${p.lists.length ? ` (lists ${p.lists.join(', ')})` : ''}`,
    );
  if (r.invalid)
    parts.push(
      `${r.invalid} not recognizable; give a phone in international form (+49 30 …) and an email as name@domain`,
    );
  return parts.join('; ');
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
  const result = await eraseIdentities(deps.store, req, { now, logger: deps.logger, config: deps.config });
  // The plaintext request goes first; the audit report (hashes and time only) follows.
  await deps.bucket.delete(info);
  const reportKey = `reports/erasure/${now.toISOString().replace(/[:.]/g, '-')}.json`;
  await deps.bucket.putJson(reportKey, { ...result, at: now.toISOString(), object: key });
  return { kind: 'erasure' as const, erased: result.contactsDeleted, reportKey };
}
