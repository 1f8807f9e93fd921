/**
 * One mapped row → what is stored of it: identity hashes, each configured platform's keys, consent evidence and
 * attributes, or the reason it cannot be stored. Pure and per row, so it can run anywhere (a worker thread too).
 */
import { CONSENT_REQUIREMENTS, type ConsentRequirement, DEFAULT_CONSENT_POLICY } from './config';
import { identityOf } from './identity';
import { appended, type ContactRecord, type MappedRow, type Zone } from './model';
import { countryIso2, type KeyProblem, rowContext, zoneOf } from './normalize';
import type { PlatformSpec } from './platform';

/** What ingest needs to know to turn rows into records. */
export interface RowEnv {
  defaultCountry?: string;
  /** The platforms the config sends to: their keys are computed, no others. */
  platforms: readonly PlatformSpec[];
  /** The export's time (ISO). A row timestamp later than this (plus a day of clock and zone slack) is not believed. */
  exportedAt: string;
  /** Latest plausible birth year. */
  currentYear: number;
  /** What each zone requires (the config's): where a row names two countries, the stricter zone applies. */
  consentPolicy?: Readonly<Record<Zone, ConsentRequirement>>;
}

/** A record as staged: everything but the list, the export time and the source, which the drop gives. */
export type StagedRecord = Omit<ContactRecord, 'list' | 'seenAt' | 'source'>;

/** Something about an attribute that was dropped or read conservatively; the person is kept. */
export interface RowWarning {
  reason: 'unrecognized_country' | 'conflicting_country' | 'date_after_export' | 'ambiguous_date' | 'invalid_key';
  /** The field the warning concerns (mapped to a header by the caller). */
  field: string;
}

export type RowOutcome =
  | { ok: false; reason: string; field?: string }
  | {
      ok: true;
      record: StagedRecord;
      warnings?: RowWarning[];
      /**
       * Per platform in `record.keys` whose table said which of its keys the row has: the table's key names and the
       * mask of them (see KeysResult), for the tally to count the keys by one number.
       */
      keyShapes?: Array<[platform: string, shape: { names: readonly string[]; mask: number }]>;
    };

/** The strictest zone: a country that cannot be read may be anywhere, so it gets the strictest consent rule. */
export const STRICTEST_ZONE: Zone = 'EEA';

/** Of two zones, the one whose consent requirement is stricter under `policy` (the first on a tie). */
export function stricterZone(a: Zone, b: Zone, policy: Readonly<Record<Zone, ConsentRequirement>>): Zone {
  return CONSENT_REQUIREMENTS.indexOf(policy[b]) < CONSENT_REQUIREMENTS.indexOf(policy[a]) ? b : a;
}

const DAY_MS = 86_400_000;
const DATE_ATTRS = ['lastOpenAt', 'lastClickAt', 'signupAt'] as const;
const CONSENT_DATES = ['optInAt', 'optOutAt'] as const;

const identityReasons = new Set(['email', 'phone', 'externalId', 'madid']);

export function processMapped(mapped: MappedRow, env: RowEnv): RowOutcome {
  const ctx = rowContext(mapped.raw, { defaultCountry: env.defaultCountry, currentYear: env.currentYear });
  const identity = identityOf(ctx);
  if (!identity.cid) {
    // Only an unusable identifier explains a missing contact id; a bad name or zip does not.
    const p: KeyProblem | undefined = identity.problems.find((x) => identityReasons.has(x.field));
    return p ? { ok: false, reason: p.reason, field: p.field } : { ok: false, reason: 'missing_identifier' };
  }
  // The mapper's warnings are this row's own (made per row): added to in place; most rows have none, and no array.
  let warnings: RowWarning[] | undefined = mapped.warnings;
  const keys: ContactRecord['keys'] = {};
  // Every platform with keys has its shape, or none has (the tally then walks the keys).
  let keyShapes: Extract<RowOutcome, { ok: true }>['keyShapes'] = [];
  for (const spec of env.platforms) {
    const r = spec.matchKeys(ctx);
    if (!hasKeys(r.keys)) continue;
    keys[spec.id] = r.keys as Record<string, string>;
    if (keyShapes === undefined) continue;
    if (r.mask === undefined || r.names === undefined) keyShapes = undefined;
    else keyShapes.push([spec.id, { names: r.names, mask: r.mask }]);
  }

  // The mapper's attributes are this row's own (made per row): completed in place, not copied.
  const attrs = mapped.attrs;
  const writtenIso = countryIso2(mapped.raw.country);
  const iso = attrs.country ?? writtenIso;
  if (iso !== undefined) {
    attrs.country = iso;
    attrs.zone = zoneOf(iso, attrs.region);
    // Two country columns that disagree (Mailchimp's geo-IP `CC` against the address the person gave): the person may
    // live in either, so the stricter zone decides; a written country that cannot be read counts as the strictest.
    // (countryIso2 trims as it reads, so the written value's ISO code is the one above.)
    const written = mapped.raw.country?.trim();
    if (written) {
      const other = writtenIso;
      if (other === undefined) {
        attrs.zone = STRICTEST_ZONE;
        warnings = appended(warnings, { reason: 'unrecognized_country', field: 'country' });
      } else if (other !== iso) {
        attrs.zone = stricterZone(attrs.zone, zoneOf(other, attrs.region), env.consentPolicy ?? DEFAULT_CONSENT_POLICY);
        warnings = appended(warnings, { reason: 'conflicting_country', field: 'country' });
      }
    }
  } else if (mapped.raw.country !== undefined && mapped.raw.country.trim() !== '') {
    // A country was written but cannot be read (`GER`, a typo): never fall back to the list's default, which could
    // be a zone without an opt-in requirement. The strictest rule applies, and the report counts it.
    attrs.zone = STRICTEST_ZONE;
    warnings = appended(warnings, { reason: 'unrecognized_country', field: 'country' });
  } else {
    // No country in the row: the list's default country decides the zone (an EEA list needs opt-in), though it is
    // never sent to a platform as the person's country.
    attrs.zone = zoneOf(env.defaultCountry, attrs.region);
  }

  // A timestamp after the export cannot be true (a broken clock, a typo, a hostile file): dropped, never believed.
  const latest = latestBelievable(env.exportedAt);
  for (const f of DATE_ATTRS) {
    const v = attrs[f];
    if (v !== undefined && Date.parse(v) > latest) {
      delete attrs[f];
      warnings = appended(warnings, { reason: 'date_after_export', field: f });
    }
  }
  const record: StagedRecord = { cid: identity.cid, ids: identity.ids, keys, consent: mapped.consent, attrs };
  if (identity.emailCount > 0) record.emails = identity.emailCount;
  if (mapped.optIn !== undefined) record.optIn = mapped.optIn;
  if (mapped.explicitOptIn !== undefined) record.explicitOptIn = mapped.explicitOptIn;
  if (mapped.adsPermission !== undefined) record.adsPermission = mapped.adsPermission;
  for (const f of CONSENT_DATES) {
    const v = mapped[f];
    if (v === undefined) continue;
    if (Date.parse(v) > latest)
      warnings = appended(warnings, {
        reason: 'date_after_export',
        field: f === 'optInAt' ? 'signupAt' : 'unsubscribedAt',
      });
    else record[f] = v;
  }
  dropUndefined(record.attrs);
  const out: RowOutcome = warnings?.length ? { ok: true, record, warnings } : { ok: true, record };
  if (keyShapes !== undefined && keyShapes.length > 0) out.keyShapes = keyShapes;
  return out;
}

let latestFor: string | undefined;
let latestMs = 0;
/** The export time plus a day of clock and zone slack, in ms (the same export for every row of a file). */
function latestBelievable(exportedAt: string): number {
  if (exportedAt !== latestFor) {
    latestFor = exportedAt;
    latestMs = Date.parse(exportedAt) + DAY_MS;
  }
  return latestMs;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k in o) if (o[k] === undefined) delete o[k];
  return o;
}

/** True when the object has an own key (without building the array of its keys). */
function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}
