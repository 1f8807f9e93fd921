/**
 * The status words platforms use, read into the one ConsentState model. Platform files handle their own codes first
 * (ActiveCampaign `1/2/3`, Kit `complained`, beehiiv `needs_attention`) and fall back to this vocabulary.
 */
import type { ConsentState } from '../model';
import { foldCase } from './cells';
import type { ColumnMapping, ConsentVerdict, RowView } from './types';

/** `Never_Subscribed`, `never-subscribed`, ` Never  Subscribed ` → `never subscribed`. */
export function statusWord(text: string): string {
  return foldCase(text)
    .replace(/[_\-–]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const WORDS: Record<string, ConsentState> = {
  subscribed: 'subscribed',
  subscriber: 'subscribed',
  active: 'subscribed',
  confirmed: 'subscribed',
  'opted in': 'subscribed',
  'opt in': 'subscribed',
  member: 'subscribed',
  abonniert: 'subscribed',
  abonne: 'subscribed',
  suscrito: 'subscribed',

  unsubscribed: 'unsubscribed',
  'opted out': 'unsubscribed',
  'opt out': 'unsubscribed',
  optout: 'unsubscribed',
  inactive: 'unsubscribed',
  blocklisted: 'unsubscribed',
  blacklisted: 'unsubscribed',
  blocked: 'unsubscribed',
  suppressed: 'unsubscribed',
  complained: 'unsubscribed',
  spam: 'unsubscribed',
  cancelled: 'unsubscribed',
  canceled: 'unsubscribed',
  deleted: 'unsubscribed',
  abgemeldet: 'unsubscribed',
  desabonne: 'unsubscribed',
  desinscrit: 'unsubscribed',
  'dado de baja': 'unsubscribed',

  cleaned: 'cleaned',
  bounced: 'cleaned',
  'hard bounce': 'cleaned',
  'hard bounced': 'cleaned',
  invalid: 'cleaned',
  undeliverable: 'cleaned',
  quarantined: 'cleaned',
  junk: 'cleaned',

  pending: 'pending',
  unconfirmed: 'pending',
  'pending confirmation': 'pending',
  'awaiting confirmation': 'pending',
  'not confirmed': 'pending',
  validating: 'pending',

  'never subscribed': 'never_subscribed',
  'non subscribed': 'never_subscribed',
  nonsubscribed: 'never_subscribed',
  'not subscribed': 'never_subscribed',
  transactional: 'never_subscribed',
  'non subscriber': 'never_subscribed',
  removed: 'never_subscribed',

  'deletion requested': 'deletion_requested',
  erased: 'deletion_requested',
  forgotten: 'deletion_requested',
};

/**
 * Subscribed words that state a subscription or opt-in itself. `active` and `member` also read as subscribed, but in
 * a file of unknown origin they are as likely an account's status in a CRM: no evidence that the person opted in.
 */
const AFFIRMATIVE: ReadonlySet<string> = new Set([
  'subscribed',
  'subscriber',
  'confirmed',
  'opted in',
  'opt in',
  'abonniert',
  'abonne',
  'suscrito',
]);

/** Does this status word itself record a subscription or an opt-in (not merely an active account)? */
export function isAffirmativeWord(text: string): boolean {
  return AFFIRMATIVE.has(statusWord(text));
}

/** The ConsentState a status word stands for, or undefined when the word is not a known status. */
export function consentFromWord(text: string): ConsentState | undefined {
  return ownWord(WORDS, statusWord(text));
}

/**
 * `table[word]` for the table's own words only. A cell saying `constructor`, `__proto__` or `toString` is no status:
 * read as a key of a plain object it found Object's own members, and a function became a person's consent.
 */
export function ownWord<T>(table: Readonly<Record<string, T>>, word: string): T | undefined {
  return Object.hasOwn(table, word) ? table[word] : undefined;
}

/**
 * Detection evidence from a platform's own status vocabulary: every non-empty value in the sample's status column is
 * one of `states`. Header-level evidence only (it names the platform, never a value).
 */
export function statusVocabularySniff(states: Readonly<Record<string, ConsentState>>, score: number, platform: string) {
  return (mapping: ColumnMapping, sample: readonly (readonly string[])[]) => {
    const ref = mapping.fields.status?.[0];
    if (!ref) return undefined;
    const values = sample.map((r) => statusWord(r[ref.index] ?? '')).filter((v) => v !== '');
    if (values.length > 0 && values.every((v) => Object.hasOwn(states, v)))
      return { score, evidence: `state column holds ${platform} states` };
    return undefined;
  };
}

/**
 * Consent from a status column in the platform's vocabulary; other known words next; unknown → never subscribed. An
 * active/subscribed state (as opposed to unconfirmed) is an opt-in the platform recorded; no status column says nothing.
 */
export function statusVocabularyConsent(states: Readonly<Record<string, ConsentState>>) {
  return (row: RowView): ConsentVerdict => {
    const state = row.text('status');
    if (state === undefined) return { consent: 'subscribed' };
    const w = statusWord(state);
    const consent = ownWord(states, w) ?? consentFromWord(w) ?? 'never_subscribed';
    return consent === 'subscribed' ? { consent, optIn: true } : { consent };
  };
}
