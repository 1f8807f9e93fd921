/**
 * Mailchimp audience export: a zip with one CSV per status. Merge-field labels first (user-editable, localisable),
 * then UPPER_SNAKE system columns. Status comes from the file a row is in.
 */
import type { ConsentState } from '../model';
import { foldCase } from './cells';
import type { ConsentVerdict, FormatSpec } from './types';

/**
 * Status from the zip entry name: `subscribed_members_export_<hex>.csv` → subscribed, `unsubscribed_…` → unsubscribed,
 * `cleaned_…` → cleaned, `nonsubscribed_…` / `non_subscribed_…` (and `transactional_…`, Mailchimp's newer name for
 * non-subscribed contacts; that file name was not observed) → never_subscribed. Undefined for any other name.
 */
export function mailchimpStatusFromEntryName(entryName: string | undefined): ConsentState | undefined {
  if (!entryName) return undefined;
  if (entryName === lastName) return lastStatus;
  lastName = entryName;
  lastStatus = statusFromName(entryName);
  return lastStatus;
}

// Rows of a file share one entry name: remember the last answer.
let lastName: string | undefined;
let lastStatus: ConsentState | undefined;

function statusFromName(entryName: string): ConsentState | undefined {
  const base = foldCase(entryName.split(/[\\/]/).pop() ?? '');
  const words = base.split(/[^a-z]+/).filter(Boolean);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === 'nonsubscribed' || w === 'transactional' || (w === 'non' && words[i + 1] === 'subscribed')) {
      return 'never_subscribed';
    }
    if (w === 'unsubscribed') return 'unsubscribed';
    if (w === 'cleaned') return 'cleaned';
    if (w === 'subscribed') return 'subscribed';
  }
  return undefined;
}

export const mailchimp: FormatSpec = {
  id: 'mailchimp',
  displayName: 'Mailchimp audience export',
  genericIdentity: true, // merge fields (Phone Number, Birthday, Country, Gender…) are labelled by the user
  fields: [
    // Default merge label; TryGhost also meets `Email`, `email` and the German `Deine E-Mail Adresse`.
    { field: 'email', headers: ['Email Address', 'Email', 'E-Mail', 'E-Mail-Adresse', 'Deine E-Mail Adresse'] },
    { field: 'firstName', headers: ['First Name', 'FNAME', 'Vorname', 'Prénom'] },
    { field: 'lastName', headers: ['Last Name', 'LNAME', 'Nachname', 'Nom'] },
    { field: 'phone', headers: ['Phone Number', 'Phone', 'PHONE'] },
    // The birthday merge field is written MM/DD.
    { field: 'birthday', headers: ['Birthday', 'BIRTHDAY'], dayFirst: false },
    { field: 'zip', headers: ['ZIP Code', 'Zip', 'Postal Code'] },
    // MEMBER_RATING: 1–5 stars, computed by Mailchimp from opens and clicks.
    { field: 'rating', headers: ['MEMBER_RATING'], scale: 5 },
    // OPTIN_TIME is empty for imported contacts; CONFIRM_TIME is when the opt-in link was clicked. No zone: read as UTC.
    { field: 'signupAt', headers: ['OPTIN_TIME'] },
    { field: 'confirmedAt', headers: ['CONFIRM_TIME'] },
    // GDPR audiences: one column per marketing permission, named by its (editable) label. Only the ads one is read.
    { field: 'adsPermission', pattern: /^(customi[sz]ed online advertising)$/i },
    // CC: geo-IP, lowercase alpha-2, `uk` for GB.
    { field: 'countryCode', headers: ['CC'] },
    // REGION: geo-IP, lowercase region code (`ny`, `idf`).
    { field: 'region', headers: ['REGION'] },
    // Non-empty UNSUB_TIME / CLEAN_TIME decide status when the file name does not.
    { field: 'unsubscribedAt', headers: ['UNSUB_TIME'] },
    { field: 'cleanedAt', headers: ['CLEAN_TIME'] },
    // TAGS: `"tag1","tag2"` once CSV-decoded, sometimes an unquoted `Editors`.
    { field: 'tags', headers: ['TAGS'] },
  ],
  fingerprint: {
    signals: [
      ['MEMBER_RATING', 1],
      ['OPTIN_TIME', 1],
      ['OPTIN_IP', 1],
      ['CONFIRM_TIME', 1],
      ['CONFIRM_IP', 1],
      ['GMTOFF', 1],
      ['DSTOFF', 1],
      ['LEID', 1],
      ['EUID', 1],
      ['LAST_CHANGED', 0.5],
      ['UNSUB_TIME', 1],
      ['UNSUB_CAMPAIGN_TITLE', 1],
      ['CLEAN_TIME', 1],
      ['CLEAN_CAMPAIGN_TITLE', 1],
      ['EMAIL_TYPE', 1],
    ],
  },
  /**
   * Status from the file (a lone CSV: non-empty UNSUB_TIME → unsubscribed, CLEAN_TIME → cleaned, else subscribed).
   * Subscribed is an opt-in Mailchimp recorded; OPTIN_TIME and CONFIRM_TIME that differ mean a confirmed double opt-in
   * (Mailchimp's GDPR FAQ). The "Customized Online Advertising" permission, when the audience has it, is the ads permission.
   */
  consent(row, ctx) {
    const fromFile = mailchimpStatusFromEntryName(ctx.entryName);
    const consent =
      fromFile ??
      (row.text('unsubscribedAt') !== undefined
        ? 'unsubscribed'
        : row.text('cleanedAt') !== undefined
          ? 'cleaned'
          : 'subscribed');
    const optInTime = row.text('signupAt');
    const confirmTime = row.text('confirmedAt');
    const verdict: ConsentVerdict = { consent };
    if (consent === 'subscribed') verdict.optIn = true;
    if (confirmTime !== undefined && confirmTime !== optInTime) verdict.explicitOptIn = true;
    const ads = row.bool('adsPermission');
    if (ads !== undefined) verdict.adsPermission = ads;
    const at = confirmTime ?? optInTime;
    if (at !== undefined) verdict.optInAtCell = at;
    return verdict;
  },
};
