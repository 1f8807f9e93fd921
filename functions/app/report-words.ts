/**
 * Report vocabulary in words a marketer reads: rejection reasons, consent states, ingest warnings, match keys and
 * audience statuses. Unknown codes fall back to the code with its underscores as spaces, never to nothing.
 */

const plain = (code: string) => code.replace(/_/g, ' ');

const REJECTIONS: Record<string, string> = {
  missing_identifier: 'no email, phone or customer id',
  invalid_email: 'email address not valid',
  invalid_phone: 'phone number not valid',
  excel_damaged_phone: 'phone number damaged by Excel (shown as 7.02E+12; digits lost)',
  excel_damaged_id: 'customer id damaged by Excel (digits lost)',
  broken_quoting: 'broken quotes: the row could not be read',
  column_count_mismatch: 'more or fewer cells than the header',
  row_too_large: 'row too large to read',
  control_characters: 'control characters in the row',
  undecodable: 'bytes that are not text in the file’s encoding',
  deletion_placeholder: 'deleted reader (placeholder address)',
  duplicate_in_file: 'the same person twice in the file',
  ambiguous_date: 'a date that can be read two ways',
};

export const describeRejection = (reason: string) => REJECTIONS[reason] ?? plain(reason);

const CONSENT: Record<string, string> = {
  subscribed: 'subscribed',
  unsubscribed: 'unsubscribed',
  cleaned: 'bounced or cleaned address',
  pending: 'sign-up not confirmed yet',
  never_subscribed: 'never subscribed',
  deletion_requested: 'asked to be deleted',
};

export const describeConsent = (state: string) => CONSENT[state] ?? plain(state);

const WARNINGS: Record<string, string> = {
  unrecognized_country: 'country not recognised (kept; the EEA consent rule applies to them)',
  conflicting_country: 'two different countries (kept; the stricter of their consent rules applies)',
  date_after_export: 'date after the export time (date ignored)',
  ambiguous_date: 'date that can be read two ways (date ignored)',
  invalid_key: 'value not usable as a match key (key left out)',
};

export const describeWarning = (reason: string) => WARNINGS[reason] ?? plain(reason);

/** Match keys by their platform names (Meta's field names; Google's user identifiers and address parts). */
const KEYS: Record<string, string> = {
  EMAIL: 'email',
  PHONE: 'phone',
  FN: 'first name',
  LN: 'last name',
  FI: 'first initial',
  CT: 'city',
  ST: 'state / region',
  ZIP: 'postal code',
  COUNTRY: 'country',
  DOBY: 'birth year',
  DOBM: 'birth month',
  DOBD: 'birth day',
  GEN: 'gender',
  MADID: 'mobile ad id',
  EXTERN_ID: 'customer id',
  email: 'email',
  phone: 'phone',
  firstName: 'first name',
  lastName: 'last name',
  countryCode: 'country',
  postalCode: 'postal code',
};

export const describeKey = (key: string) => KEYS[key] ?? plain(key);

const STATUS: Record<string, string> = {
  in_sync: 'in sync (nothing to change)',
  synced: 'synced',
  partial: 'partly synced; continues later',
  planned: 'planned (dry run)',
  below_min_size: 'below the minimum size: not uploaded',
  not_configured: 'destination not configured',
  stopped: 'stopped (its destination failed earlier in the run)',
  held: 'held: a list is being written',
  retired: 'retired (left the config)',
  failed: 'failed',
};

export const describeStatus = (status: string) => STATUS[status] ?? plain(status);

/** What to do about an alert of this kind, when its message does not say more. */
const ALERT_ACTIONS: Record<string, string> = {
  auth: 'Renew the credentials (token or key) as the message says and store them in the destination’s secret; the next sync picks them up.',
  terms: 'Accept the platform’s custom-audience terms for the ad account (the message names where).',
  config: 'Check the ad account id, permissions and sharing of the audience in the config and on the platform.',
  deleted: 'The audience was deleted on the platform: set recreateDeleted, or remove the destination.',
};

export const alertAction = (kind: string) =>
  ALERT_ACTIONS[kind] ?? 'Read the message above; the next sync retries after it is fixed.';

/** "1,234" (en-US grouping, stable across machines). */
export const num = (n: number | undefined) => (n === undefined ? '—' : n.toLocaleString('en-US'));

export const pct = (share: number | undefined) =>
  share === undefined ? '—' : `${`${Math.round(share * 1000) / 10}`.replace(/\.0$/, '')} %`;
