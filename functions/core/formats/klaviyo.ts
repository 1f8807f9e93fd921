/**
 * Klaviyo list / segment export: fixed default columns plus ticked properties under their raw keys (`$consent_method`).
 * Consent moved from a `Consent` channel list to per-channel `Email Marketing Consent`.
 */
import { statusWord } from './status-words';
import type { FormatSpec } from './types';

export const klaviyo: FormatSpec = {
  id: 'klaviyo',
  displayName: 'Klaviyo profile export',
  genericIdentity: true, // custom properties (Birthday, Gender…) keep their own names
  fields: [
    { field: 'email', headers: ['Email', 'Email Address'] },
    { field: 'phone', headers: ['Phone Number', 'Phone'] },
    { field: 'firstName', headers: ['First Name'] },
    { field: 'lastName', headers: ['Last Name'] },
    { field: 'city', headers: ['City'] },
    { field: 'state', headers: ['State / Region', 'Region'] },
    { field: 'country', headers: ['Country'] },
    { field: 'zip', headers: ['Zip Code', 'Postal Code'] },
    // Newer exports: Subscribed / Unsubscribed / Never Subscribed (casing not seen, read case-insensitively).
    { field: 'status', headers: ['Email Marketing Consent'] },
    // Older exports: the `$consent` channel list, `['email','web']`.
    { field: 'consentChannels', headers: ['Consent'] },
    { field: 'signupAt', headers: ['Date Added', 'Profile Created On'] },
    { field: 'lastOpenAt', headers: ['Last Open'] },
    { field: 'lastClickAt', headers: ['Last Click'] },
    // Historic, not Total (Total adds Klaviyo's prediction).
    { field: 'spend', headers: ['Historic Customer Lifetime Value'] },
    { field: 'orders', headers: ['Historic Number Of Orders'] },
    { field: 'tags', headers: ['Shopify Tags'] },
  ],
  fingerprint: {
    signals: [
      ['Klaviyo ID', 2],
      ['Profile ID', 1],
      ['Email Marketing Consent', 1.5],
      ['Profile Created On', 1],
      ['First Active', 1],
      ['Last Active', 0.5],
      ['SMS Consent Timestamp', 1],
      ['Initial Source', 1],
      ['Last Source', 1],
      ['Historic Customer Lifetime Value', 1],
      ['Predicted Customer Lifetime Value', 1],
      ['Total Customer Lifetime Value', 1],
      ['Historic Number Of Orders', 1],
      ['Churn Risk Prediction', 1],
      ['Expected Date Of Next Order', 1],
      [/^\$consent/, 1],
    ],
  },
  consent(row) {
    const emc = row.text('status');
    if (emc !== undefined) {
      // Subscribed → subscribed; Unsubscribed or Suppressed → unsubscribed; Never Subscribed and anything else → never_subscribed.
      const w = statusWord(emc);
      if (w === 'subscribed') return { consent: 'subscribed', optIn: true };
      if (w === 'unsubscribed' || w === 'suppressed') return { consent: 'unsubscribed' };
      return { consent: 'never_subscribed' };
    }
    if (row.has('consentChannels')) {
      // Legacy `$consent`: the list holds 'email' → subscribed, otherwise never_subscribed.
      const channels = row.list('consentChannels').map((c) => c.toLowerCase());
      return channels.includes('email') ? { consent: 'subscribed', optIn: true } : { consent: 'never_subscribed' };
    }
    // No consent column: the export is of a list, and list membership is what we have (no recorded opt-in).
    return { consent: 'subscribed' };
  },
};
