/**
 * ActiveCampaign contacts export. No real header has been seen: importers key on email, first/last name, phone,
 * tags (comma-separated), status (per list) and id. Detected from numeric status codes; otherwise the generic mapping
 * reads the same columns and the same status words.
 */
import { consentFromWord, ownWord, statusWord } from './status-words';
import type { ColumnMapping, FormatSpec } from './types';

// active/1 → subscribed, unsubscribed/2 → unsubscribed, bounced/3 → cleaned, unconfirmed/0 → pending.
const CODES: Record<string, 'subscribed' | 'unsubscribed' | 'cleaned' | 'pending'> = {
  '1': 'subscribed',
  active: 'subscribed',
  '2': 'unsubscribed',
  unsubscribed: 'unsubscribed',
  '3': 'cleaned',
  bounced: 'cleaned',
  '0': 'pending',
  unconfirmed: 'pending',
};

function statusValues(mapping: ColumnMapping, sample: readonly (readonly string[])[]): string[] {
  const ref = mapping.fields.status?.[0];
  if (!ref) return [];
  return sample.map((r) => statusWord(r[ref.index] ?? '')).filter((v) => v !== '');
}

export const activecampaign: FormatSpec = {
  id: 'activecampaign',
  displayName: 'ActiveCampaign contacts export',
  genericIdentity: true,
  fields: [
    { field: 'email', headers: ['Email', 'Email Address'] },
    { field: 'firstName', headers: ['First Name'] },
    { field: 'lastName', headers: ['Last Name'] },
    { field: 'phone', headers: ['Phone', 'Phone Number'] },
    { field: 'status', headers: ['Status'] },
    { field: 'tags', headers: ['Tags'] },
  ],
  fingerprint: {
    required: [['Email', 'Email Address'], ['Status']],
    signals: [
      ['Tags', 0.5],
      [/^id$/i, 0.5],
      ['Organization', 0.5],
      ['orgname', 0.5],
    ],
    sniff(mapping, sample) {
      const values = statusValues(mapping, sample);
      if (values.length === 0 || !values.every((v) => v in CODES)) return undefined;
      if (values.some((v) => /^[0-3]$/.test(v)))
        return { score: 2, evidence: 'status column holds ActiveCampaign codes 0–3' };
      return undefined;
    },
  },
  consent(row) {
    const status = row.text('status');
    if (status === undefined) return { consent: 'subscribed' };
    const w = statusWord(status);
    const consent = ownWord(CODES, w) ?? consentFromWord(w) ?? 'never_subscribed';
    // Active (not unconfirmed): an opt-in ActiveCampaign recorded.
    return consent === 'subscribed' ? { consent, optIn: true } : { consent };
  },
};
