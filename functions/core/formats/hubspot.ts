/**
 * HubSpot contacts export: property labels in the portal user's language; consent spread over several columns.
 * Exports with associated-company properties repeat names (`Phone Number`, `Country/Region`, `Create Date`): the first
 * occurrence is the contact's, and everything from `Record ID - Company` on belongs to the company.
 */
import { parseBoolean } from './cells';
import { statusWord } from './status-words';
import type { ConsentVerdict, FormatSpec } from './types';

/**
 * HubSpot's consent evidence. The legal basis is the ads permission (only consent freely given by the contact counts;
 * legitimate interest and contract are not a permission to personalise ads; "not applicable" says nothing). A
 * confirmed marketing-email confirmation status is a double opt-in. Without either, HubSpot records no opt-in.
 */
export function hubspotEvidence(
  legalBasis: string | undefined,
  confirmation: string | undefined,
): Pick<ConsentVerdict, 'optIn' | 'explicitOptIn' | 'adsPermission'> {
  const out: Pick<ConsentVerdict, 'optIn' | 'explicitOptIn' | 'adsPermission'> = {};
  const basis = legalBasis === undefined ? '' : statusWord(legalBasis);
  if (/\bconsent\b/.test(basis)) out.adsPermission = true;
  else if (/legitimate interest|contract/.test(basis)) out.adsPermission = false;
  if (confirmation !== undefined && statusWord(confirmation) === 'confirmed') {
    out.optIn = true;
    out.explicitOptIn = true;
  }
  return out;
}

export const hubspot: FormatSpec = {
  id: 'hubspot',
  displayName: 'HubSpot contacts export',
  // HubSpot writes dates in the portal's US format (M/D/YY) unless a re-save changed them.
  dayFirst: false,
  sectionEnd(header) {
    const i = header.findIndex((h) => {
      const m = /^\s*record id\s*-\s*(\w+)/i.exec(h);
      return m !== null && m[1]?.toLowerCase() !== 'contact';
    });
    return i < 0 ? header.length : i;
  },
  fields: [
    { field: 'email', headers: ['Email', 'E-mail', 'E-post', 'Work email'], repeat: 'synonyms' },
    // Contact phones only; the company's `Phone Number` sits after `Record ID - Company`.
    { field: 'phone', headers: ['Phone Number', 'Mobile Phone Number', 'WhatsApp Phone Number'], repeat: 'synonyms' },
    { field: 'firstName', headers: ['First Name', 'Förnamn', 'Vorname', 'Prénom'] },
    { field: 'lastName', headers: ['Last Name', 'Efternamn', 'Nachname', 'Nom'] },
    { field: 'city', headers: ['City'] },
    { field: 'state', headers: ['State/Region'] },
    { field: 'zip', headers: ['Postal Code'] },
    { field: 'country', headers: ['Country/Region', 'Country', 'Land/region'] },
    // Geo-IP code, a fallback for attrs.country only when Country/Region is empty.
    { field: 'countryCode', headers: ['IP Country Code'] },
    { field: 'unsubscribed', headers: ['Unsubscribed from all email'] },
    { field: 'quarantined', headers: ['Email Address Quarantined'] },
    {
      field: 'bounceReason',
      headers: [
        'Email hard bounce reason',
        'Email address quarantine reason',
        'Email address automated quarantine reason',
      ],
      repeat: 'synonyms',
    },
    { field: 'invalidEmail', headers: ['Invalid email address'] },
    // `Marketing contact` / `Non-marketing contact`.
    { field: 'marketingStatus', headers: ['Marketing contact status'] },
    // One column per subscription type.
    { field: 'optOutTopic', pattern: /^Opted out of email:\s*(.+)$/i },
    // GDPR: "Freely given consent from contact", "Legitimate interest – …", "Performance of a contract", "Not applicable".
    { field: 'legalBasis', headers: ["Legal basis for processing contact's data"] },
    // Confirmed / Unconfirmed / Not sent: HubSpot's double opt-in.
    { field: 'confirmationStatus', headers: ['Marketing email confirmation status'] },
    { field: 'opens', headers: ['Marketing emails opened'] },
    { field: 'clicks', headers: ['Marketing emails clicked'] },
    { field: 'lastOpenAt', headers: ['Last marketing email open date'] },
    { field: 'lastClickAt', headers: ['Last marketing email click date'] },
    { field: 'signupAt', headers: ['Became a Subscriber Date', 'Create Date'] },
  ],
  fingerprint: {
    signals: [
      ['Record ID', 1],
      ['Record ID - Contact', 2],
      ['Record ID - Company', 1],
      ['Contact ID', 1],
      ['Contact owner', 1],
      ['Primary Associated Company ID', 1],
      ['Associated Company', 1],
      ['Last Activity Date', 1],
      ['Last Engagement Date', 1],
      ['Lead Status', 1],
      ['Lifecycle Stage', 1],
      ['Marketing contact status', 1.5],
      ['Create Date', 0.5],
      ['Country/Region', 0.5],
      ['Unsubscribed from all email', 1.5],
      ['Email Address Quarantined', 1],
      ['HubSpot Score', 1],
      ['Became a Subscriber Date', 1],
      [/^Opted out of email:/i, 1.5],
      ['Marketing emails opened', 1],
    ],
  },
  /**
   * In order: `Unsubscribed from all email` true, or opted out of every `Opted out of email: <topic>` column →
   * unsubscribed; quarantined, a hard-bounce/quarantine reason, or `Invalid email address` true → cleaned;
   * `Marketing contact status` non-marketing → never_subscribed; else subscribed. Opted-out topics become `optout:<topic>` tags.
   */
  consent(row) {
    const topics = row.all('optOutTopic');
    const optedOut = topics.filter((t) => parseBoolean(t.text) === true).map((t) => `optout:${t.label}`);
    const tags = optedOut.length > 0 ? { tags: optedOut } : {};
    const evidence = hubspotEvidence(row.text('legalBasis'), row.text('confirmationStatus'));
    const verdict = (consent: ConsentVerdict['consent']): ConsentVerdict => ({ consent, ...evidence, ...tags });
    if (row.bool('unsubscribed') === true) return verdict('unsubscribed');
    if (topics.length > 0 && optedOut.length === topics.length) return verdict('unsubscribed');
    if (
      row.bool('quarantined') === true ||
      row.text('bounceReason') !== undefined ||
      row.bool('invalidEmail') === true
    ) {
      return verdict('cleaned');
    }
    const marketing = row.text('marketingStatus');
    if (marketing !== undefined && (/non[\s_-]*marketing/i.test(marketing) || parseBoolean(marketing) === false)) {
      return verdict('never_subscribed');
    }
    return verdict('subscribed');
  },
};
