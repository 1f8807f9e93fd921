/**
 * Constant Contact contacts export: sentence-case labels, `<field> - <type>` suffixes (`Phone - home`,
 * `Country - Home`), comma-separated `Tags` and `Email Lists`, dates `2020-09-25 16:45:13 -0400`.
 */

import type { ConsentState } from '../model';
import { consentFromWord, ownWord, statusWord } from './status-words';
import type { ConsentVerdict, FormatSpec } from './types';

// Email status: active, unsubscribed, removed (taken off every list, not opted out: no current consent), bounced.
const STATUS: Record<string, ConsentState> = {
  active: 'subscribed',
  unsubscribed: 'unsubscribed',
  removed: 'never_subscribed',
  'non subscriber': 'never_subscribed',
  bounced: 'cleaned',
};

export const constantContact: FormatSpec = {
  id: 'constant_contact',
  displayName: 'Constant Contact contacts export',
  genericIdentity: true,
  fields: [
    { field: 'email', headers: ['Email address', 'Email'] },
    { field: 'firstName', headers: ['First name'] },
    { field: 'lastName', headers: ['Last name'] },
    { field: 'phone', headers: ['Phone', 'Mobile phone'], repeat: 'synonyms' },
    // `Phone - home`, `Phone - mobile`, `Phone - work`…
    { field: 'phone', pattern: /^Phone\s+-\s+(.+)$/i },
    { field: 'city', headers: ['City - Home', 'City', 'City - Work', 'City - Other'] },
    { field: 'state', headers: ['State/Province - Home', 'State - Home', 'State/Province', 'State/Province - Work'] },
    {
      field: 'zip',
      headers: ['Zip/Postal Code - Home', 'Postal Code - Home', 'Zip/Postal Code', 'Zip/Postal Code - Work'],
    },
    { field: 'country', headers: ['Country - Home', 'Country', 'Country - Work'] },
    // CC stores birthday month and day: read as MM/DD.
    { field: 'birthday', headers: ['Birthday'], dayFirst: false },
    { field: 'status', headers: ['Email status'] },
    // implicit/explicit (UI: Implied/Express), pending confirmation, unsubscribed, not set.
    { field: 'permission', headers: ['Email permission status'] },
    { field: 'tags', headers: ['Tags'] },
    { field: 'lists', headers: ['Email Lists', 'Lists'] },
    { field: 'signupAt', headers: ['Email opt-in date', 'Created At'] },
  ],
  fingerprint: {
    signals: [
      ['Email permission status', 2],
      ['Email status', 1],
      ['Email Lists', 1],
      [/^\w[\w/ ]*\s+-\s+(home|work|mobile|other)$/i, 1],
      ['Job title', 0.5],
      ['Created At', 0.25],
      ['Updated At', 0.5],
      ['Anniversary', 0.5],
    ],
  },
  /**
   * Status unsubscribed → unsubscribed, bounced → cleaned; then permission unsubscribed → unsubscribed, pending →
   * pending, not set → never_subscribed; then the status (active → subscribed, removed → never_subscribed).
   * Permission explicit/express → explicitOptIn true, implicit/implied → false.
   */
  consent(row) {
    const status = row.text('status');
    const s =
      status === undefined
        ? undefined
        : (ownWord(STATUS, statusWord(status)) ?? consentFromWord(status) ?? 'never_subscribed');
    const permission = row.text('permission');
    const p = permission === undefined ? undefined : statusWord(permission);
    const explicit =
      p === undefined
        ? undefined
        : /^(explicit|express)/.test(p)
          ? true
          : /^(implicit|implied)/.test(p)
            ? false
            : undefined;
    // Express permission is an affirmative opt-in; implied permission is not (optIn false).
    const v = (consent: ConsentState): ConsentVerdict =>
      explicit === undefined ? { consent } : { consent, explicitOptIn: explicit, optIn: explicit };
    if (s === 'unsubscribed' || s === 'cleaned') return v(s);
    if (p !== undefined) {
      if (p.startsWith('unsubscribed')) return v('unsubscribed');
      if (p.startsWith('pending')) return v('pending');
      if (p === 'not set') return v('never_subscribed');
    }
    return v(s ?? 'subscribed');
  },
};
