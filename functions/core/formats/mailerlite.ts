/**
 * MailerLite subscribers export: the address is headed `Subscriber`, the name is split into `Name` (first) and
 * `Last name`, `Subscribed` is `Y-m-d H:i:s` without a zone, `Groups` is `;`-separated. The full column set is unverified.
 */

import type { ConsentState } from '../model';
import { consentFromWord, ownWord, statusWord } from './status-words';
import type { FormatSpec } from './types';

// Subscriber statuses: active, unsubscribed, unconfirmed, bounced, junk (spam-trap / invalid).
const STATUSES: Record<string, ConsentState> = {
  active: 'subscribed',
  unsubscribed: 'unsubscribed',
  unconfirmed: 'pending',
  bounced: 'cleaned',
  junk: 'cleaned',
};

export const mailerlite: FormatSpec = {
  id: 'mailerlite',
  displayName: 'MailerLite subscribers export',
  genericIdentity: true,
  fields: [
    { field: 'email', headers: ['Subscriber', 'Email'] },
    // `Name` is the first name here, not a full name.
    { field: 'firstName', headers: ['Name'] },
    { field: 'lastName', headers: ['Last name'] },
    { field: 'signupAt', headers: ['Subscribed', 'Subscribed at', 'Date subscribed'] },
    { field: 'groups', headers: ['Groups'] },
    { field: 'status', headers: ['Status'] },
    // MailerLite's default zip field key really is `z_i_p`.
    { field: 'zip', headers: ['z_i_p', 'Zip'] },
    { field: 'opens', headers: ['Opens', 'Opens count'] },
    { field: 'clicks', headers: ['Clicks', 'Clicks count'] },
  ],
  fingerprint: {
    signals: [
      ['Subscriber', 2],
      [/^Groups$/, 0.5],
      [/^Last name$/, 0.5],
      [/^Subscribed$/, 0.5],
      ['z_i_p', 1],
    ],
  },
  // A status column when present; the export is of subscribers, so none means subscribed.
  consent(row) {
    const status = row.text('status');
    if (status === undefined) return { consent: 'subscribed' };
    const w = statusWord(status);
    const consent = ownWord(STATUSES, w) ?? consentFromWord(w) ?? 'never_subscribed';
    // Active (not unconfirmed): an opt-in MailerLite recorded.
    return consent === 'subscribed' ? { consent, optIn: true } : { consent };
  },
};
