/**
 * Shopify customers export, three header generations: Gen 1 (`Accepts Marketing`), Gen 2 (`Accepts Email Marketing`,
 * `Accepts SMS Marketing`), Gen 3 (`Customer ID`, `Default Address *`, metafield columns `Label (customer.metafields.ns.key)`).
 * Cells that Excel could mangle carry a leading `'` (`'7210448301122`, `'+56 9 1234 5678`, `'02492`).
 */
import type { FormatSpec } from './types';

export const shopify: FormatSpec = {
  id: 'shopify',
  displayName: 'Shopify customers export',
  fields: [
    // The shop's own customer id: sent as EXTERN_ID.
    { field: 'externalId', headers: ['Customer ID'] },
    // Can be empty (phone-only customers).
    { field: 'email', headers: ['Email'] },
    { field: 'firstName', headers: ['First Name'] },
    { field: 'lastName', headers: ['Last Name'] },
    // yes/no only; no opt-in level or timestamp in the file.
    { field: 'marketingOptIn', headers: ['Accepts Email Marketing', 'Accepts Marketing'] },
    { field: 'phone', headers: ['Phone', 'Default Address Phone'], repeat: 'synonyms' },
    { field: 'city', headers: ['Default Address City', 'City'] },
    { field: 'state', headers: ['Province'] },
    { field: 'region', headers: ['Default Address Province Code', 'Province Code'] },
    { field: 'country', headers: ['Country'] },
    { field: 'countryCode', headers: ['Default Address Country Code', 'Country Code'] },
    { field: 'zip', headers: ['Default Address Zip', 'Zip'] },
    // Plain decimal (`265000.00`).
    { field: 'spend', headers: ['Total Spent'] },
    { field: 'orders', headers: ['Total Orders'] },
    // `"Level 1, newsletter"`: comma+space separated.
    { field: 'tags', headers: ['Tags'] },
    // Metafields such as `Fecha de nacimiento (customer.metafields.facts.birth_date)`.
    { field: 'birthday', pattern: /\(customer\.metafields\.[^)]*birth[^)]*\)$/i },
    { field: 'gender', pattern: /\(customer\.metafields\.[^)]*gender[^)]*\)$/i },
  ],
  fingerprint: {
    signals: [
      ['Accepts Email Marketing', 1.5],
      ['Accepts Marketing', 1.5],
      ['Accepts SMS Marketing', 1.5],
      ['Total Spent', 1],
      ['Total Orders', 1],
      ['Tax Exempt', 1],
      ['Province Code', 1],
      ['Default Address Address1', 1],
      ['Default Address Country Code', 1],
      ['Address1', 0.5],
      ['Customer ID', 0.5],
      [/\(customer\.metafields\./i, 1],
    ],
  },
  // Accepts (Email) Marketing yes → subscribed, an opt-in the shop recorded; no → never_subscribed (the file does not
  // tell an opt-out from never asked).
  consent(row) {
    return row.bool('marketingOptIn') === true
      ? { consent: 'subscribed', optIn: true }
      : { consent: 'never_subscribed' };
  },
};
