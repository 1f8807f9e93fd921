/**
 * beehiiv subscribers export: snake_case core columns, custom fields by display name, one Yes/No column per premium
 * tier (`<Tier name> Tier`), dates `2023-03-24 10:23:10 UTC`.
 */

import type { ConsentState } from '../model';
import { consentFromWord, ownWord, statusWord } from './status-words';
import type { FormatSpec } from './types';

// API enum: active, validating, invalid, pending, inactive, needs_attention (flagged for review: not yet a subscriber).
const STATUSES: Record<string, ConsentState> = {
  active: 'subscribed',
  inactive: 'unsubscribed',
  pending: 'pending',
  validating: 'pending',
  'needs attention': 'pending',
  invalid: 'cleaned',
};

export const beehiiv: FormatSpec = {
  id: 'beehiiv',
  displayName: 'beehiiv subscribers export',
  genericIdentity: true,
  fields: [
    { field: 'email', headers: ['email'] },
    { field: 'firstName', headers: ['First Name', 'first_name'] },
    { field: 'lastName', headers: ['Last Name', 'last_name'] },
    { field: 'status', headers: ['status'] },
    // free / premium.
    { field: 'tier', headers: ['tier'] },
    { field: 'signupAt', headers: ['created_at'] },
    // A date here means unsubscribed, whatever `status` says.
    { field: 'unsubscribedAt', headers: ['unsubscribed_at'] },
    { field: 'lastOpenAt', headers: ['last_opened_at'] },
    { field: 'clicks', headers: ['total_clicked'] },
    // `Free Tier`, `Gold Tier`: Yes/No → tag `tier:<name>`.
    { field: 'tierFlag', pattern: /^(.+?)\s+Tier$/i },
  ],
  fingerprint: {
    signals: [
      ['stripe_customer_id', 1],
      ['unsubscribed_at', 1],
      [/^tier$/, 0.5],
      [/^status$/, 0.25],
      [/^.+\sTier$/, 1],
      ['open_rate', 1],
      ['last_opened_at', 1],
      ['total_clicked', 1],
      ['acquisition_source', 1],
      ['referral_code', 0.5],
      ['utm_channel', 1],
      ['subscription_premium_tier_names', 1],
      ['Subscription Date (Substack)', 0.5],
    ],
  },
  consent(row) {
    if (row.text('unsubscribedAt') !== undefined) return { consent: 'unsubscribed' };
    const status = row.text('status');
    if (status === undefined) return { consent: 'subscribed', optIn: true };
    const w = statusWord(status);
    const consent = ownWord(STATUSES, w) ?? consentFromWord(w) ?? 'never_subscribed';
    // An active reader signed up themselves: an opt-in beehiiv recorded.
    return consent === 'subscribed' ? { consent, optIn: true } : { consent };
  },
  // tier `premium` → paid.
  derive(row) {
    const tier = row.text('tier');
    return tier === undefined ? {} : { tier, paid: statusWord(tier) === 'premium' };
  },
};
