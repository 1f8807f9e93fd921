/**
 * Kit (ex-ConvertKit) subscribers export. Header unverified: API names `first_name, email_address, state, created_at`
 * and comma-separated tags; custom fields keep their own names.
 */

import type { ConsentState } from '../model';
import { statusVocabularyConsent, statusVocabularySniff } from './status-words';
import type { FormatSpec } from './types';

// Kit v4 states: active, inactive (unsubscribed), bounced, complained (spam report: an opt-out), cancelled.
const STATES: Record<string, ConsentState> = {
  active: 'subscribed',
  inactive: 'unsubscribed',
  bounced: 'cleaned',
  complained: 'unsubscribed',
  cancelled: 'unsubscribed',
  canceled: 'unsubscribed',
};

export const kit: FormatSpec = {
  id: 'kit',
  displayName: 'Kit (ConvertKit) subscribers export',
  genericIdentity: true,
  fields: [
    { field: 'email', headers: ['email_address', 'Email Address', 'Email'] },
    { field: 'firstName', headers: ['first_name', 'First Name'] },
    { field: 'status', headers: ['state', 'Subscriber State', 'status'] },
    { field: 'signupAt', headers: ['created_at', 'confirmed_at', 'subscribed_at'] },
    { field: 'tags', headers: ['tags'] },
  ],
  fingerprint: {
    signals: [
      [/^email_address$/, 1.5],
      [/^first_name$/, 0.5],
      [/^state$/, 0.5],
      [/^created_at$/, 0.25],
      [/^confirmed_at$/, 0.5],
      [/^tags$/, 0.5],
    ],
    sniff: statusVocabularySniff(STATES, 1, 'Kit'),
  },
  consent: statusVocabularyConsent(STATES),
};
