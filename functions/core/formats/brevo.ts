/**
 * Brevo (ex-Sendinblue) contacts export: UPPER_SNAKE attribute names, FIRSTNAME/LASTNAME named in the account's
 * language, `;` delimiter and Windows-1252 common in EU accounts, dates `DD-MM-YYYY HH:MM` in the account's zone.
 */
import type { FormatSpec } from './types';

export const brevo: FormatSpec = {
  id: 'brevo',
  displayName: 'Brevo contacts export',
  genericIdentity: true,
  fields: [
    { field: 'email', headers: ['EMAIL', 'E-mail'] },
    { field: 'phone', headers: ['SMS', 'WHATSAPP', 'LANDLINE_NUMBER'], repeat: 'synonyms' },
    // Localised attribute names (PRENOM/NOM is our inference for French accounts).
    { field: 'firstName', headers: ['FIRSTNAME', 'FIRST NAME', 'PRENOM', 'VORNAME', 'NOMBRE', 'NOME'] },
    { field: 'lastName', headers: ['LASTNAME', 'LAST NAME', 'NOM', 'NACHNAME', 'APELLIDOS', 'COGNOME'] },
    // yes/1/true → unsubscribed (blocklisted for email).
    { field: 'unsubscribed', headers: ['EMAIL_BLACKLISTED', 'BLACKLISTED', 'BLOCKLISTED'] },
    // 1/Yes → explicit (double) opt-in.
    { field: 'doubleOptIn', headers: ['DOUBLE_OPT-IN'] },
    { field: 'signupAt', headers: ['ADDED_TIME', 'Date added'] },
    { field: 'lists', headers: ['_listIds', 'LISTS'] },
  ],
  fingerprint: {
    signals: [
      ['EMAIL_BLACKLISTED', 2],
      ['SMS_BLACKLISTED', 1.5],
      ['DOUBLE_OPT-IN', 1.5],
      ['OPT_IN', 0.5],
      ['ADDED_TIME', 1],
      ['MODIFIED_TIME', 1],
      ['_listIds', 1],
      ['LANDLINE_NUMBER', 1],
      ['EXT_ID', 0.5],
      // Case matters here: `FIRSTNAME` is Brevo's spelling, `First Name` everyone else's.
      [/^EMAIL$/, 0.5],
      [/^SMS$/, 0.5],
      [/^FIRSTNAME$/, 0.5],
      [/^LASTNAME$/, 0.5],
      [/^(PRENOM|NOM)$/, 0.5],
    ],
  },
  /** Blacklisted → unsubscribed; otherwise a contact Brevo may email, an opt-in unless DOUBLE_OPT-IN says no. */
  consent(row) {
    const doi = row.bool('doubleOptIn');
    const extra = doi === undefined ? {} : { explicitOptIn: doi };
    if (row.bool('unsubscribed') === true) return { consent: 'unsubscribed', ...extra };
    return { consent: 'subscribed', optIn: doi !== false, ...extra };
  },
};
