/**
 * Campaign Monitor subscribers export. UNVERIFIED placeholder built from the API model: `EmailAddress`, one `Name`,
 * `Date`, `State` (Active/Unconfirmed/Unsubscribed/Bounced/Deleted), `ConsentToTrack`, one column per custom field.
 */

import type { ConsentState } from '../model';
import { statusVocabularyConsent, statusVocabularySniff } from './status-words';
import type { FormatSpec } from './types';

// Deleted: removed from the list by the sender; treated as unsubscribed so it never travels.
const STATES: Record<string, ConsentState> = {
  active: 'subscribed',
  unconfirmed: 'pending',
  unsubscribed: 'unsubscribed',
  bounced: 'cleaned',
  deleted: 'unsubscribed',
};

export const campaignMonitor: FormatSpec = {
  id: 'campaign_monitor',
  displayName: 'Campaign Monitor subscribers export',
  genericIdentity: true,
  fields: [
    { field: 'email', headers: ['Email Address', 'EmailAddress', 'Email'] },
    // One name column, not first/last.
    { field: 'fullName', headers: ['Name'] },
    // Subscriber state, not an address state.
    { field: 'status', headers: ['State', 'Status'] },
    { field: 'signupAt', headers: ['Date', 'Date Subscribed', 'Date Added', 'DateAdded'] },
    // ConsentToTrack (Yes/No/Unchanged) is about open/click tracking, not marketing consent: not read.
  ],
  fingerprint: {
    required: [['State', 'Status']],
    signals: [
      ['ConsentToTrack', 2],
      [/^EmailAddress$/, 1], // the API spelling; `Email Address` is everyone's
      [/^Name$/, 0.5],
      [/^Date$/, 0.5],
      [/^State$/, 0.5],
    ],
    sniff: statusVocabularySniff(STATES, 1.5, 'Campaign Monitor'),
  },
  consent: statusVocabularyConsent(STATES),
};
