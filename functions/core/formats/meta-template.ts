/**
 * Meta (Facebook) customer-list template:
 * `email,email,email,phone,phone,phone,madid,fn,ln,zip,ct,st,country,dob,doby,gen,age,uid,value`.
 * Duplicate names by design: every `email` and `phone` column counts, by position.
 */
import { GENERIC_FIELDS, genericConsent } from './generic';
import type { FormatSpec } from './types';

export const metaTemplate: FormatSpec = {
  id: 'meta_template',
  displayName: 'Meta customer-list template',
  fields: [
    { field: 'email', headers: ['email'], repeat: 'occurrences' },
    // Must carry a country code (`+44 844 412 4653`, `1-234-567-8910`); the normalizer checks.
    { field: 'phone', headers: ['phone'], repeat: 'occurrences' },
    { field: 'firstName', headers: ['fn'] },
    { field: 'lastName', headers: ['ln'] },
    { field: 'zip', headers: ['zip'] },
    { field: 'city', headers: ['ct'] },
    { field: 'state', headers: ['st'] },
    { field: 'country', headers: ['country'] },
    // dob is MM/DD/YY in the template; doby is YYYY.
    { field: 'birthday', headers: ['dob'], dayFirst: false },
    { field: 'birthYear', headers: ['doby'] },
    // M/F.
    { field: 'gender', headers: ['gen'] },
    { field: 'age', headers: ['age'] },
    // App-scoped user id: sent as EXTERN_ID.
    { field: 'externalId', headers: ['uid', 'extern_id'] },
    // Customer value for value-based lookalikes: kept as spend.
    { field: 'spend', headers: ['value'] },
    // Mobile advertiser id (IDFA / AAID).
    { field: 'madid', headers: ['madid'], repeat: 'occurrences' },
    // Columns a marketer may add to say who opted out (read by the generic consent rule).
    ...GENERIC_FIELDS.filter((r) =>
      ['status', 'unsubscribed', 'unsubscribedAt', 'marketingOptIn', 'doubleOptIn', 'adsPermission'].includes(r.field),
    ),
  ],
  fingerprint: {
    signals: [
      ['madid', 1.5],
      [/^fn$/i, 1],
      [/^ln$/i, 1],
      [/^ct$/i, 0.5],
      [/^st$/i, 0.5],
      [/^dob$/i, 0.5],
      [/^doby$/i, 1],
      [/^gen$/i, 1],
      [/^uid$/i, 0.5],
      [/^value$/i, 0.5],
    ],
    sniff(mapping) {
      const emails = mapping.fields.email?.length ?? 0;
      const phones = mapping.fields.phone?.length ?? 0;
      return emails > 1 || phones > 1 ? { score: 1, evidence: 'repeated email/phone columns' } : undefined;
    },
  },
  // No status column in the template: subscribed unless a status/unsubscribed column was added (generic rule).
  consent: genericConsent,
};
