/**
 * Generic mapping: any CSV whose header names its columns in a common way, in English, German, French, Spanish,
 * Italian, Portuguese, Dutch, Swedish or Japanese. Also the fallback for identity fields that platforms let users
 * label themselves (Mailchimp merge fields, Klaviyo and Kit custom properties).
 */
import type { ConsentState } from '../model';
import { parseBoolean } from './cells';
import { consentFromWord, isAffirmativeWord } from './status-words';
import type { ConsentVerdict, FieldName, FieldRule, FormatSpec, RowView } from './types';

export const GENERIC_FIELDS: readonly FieldRule[] = [
  {
    field: 'email',
    headers: [
      'Email',
      'E-mail',
      'Email Address',
      'E-mail Address',
      'Mail',
      'E-Mail-Adresse',
      'Emailadresse',
      'Deine E-Mail Adresse',
      'Adresse e-mail',
      'Adresse électronique',
      'Courriel',
      'Adresse courriel',
      'Correo',
      'Correo electrónico',
      'Dirección de correo electrónico',
      'Indirizzo email',
      'Posta elettronica',
      'Endereço de e-mail',
      'E-mailadres',
      'E-postadress',
      'E-post',
      'メールアドレス',
      'Email 1',
      'Primary Email',
      'Subscriber',
      'Subscriber Email',
      'Contact Email',
      'Personal Email',
    ],
  },
  {
    field: 'phone',
    repeat: 'synonyms',
    headers: [
      'Phone',
      'Phone Number',
      'Telephone',
      'Telephone Number',
      'Tel',
      'Mobile',
      'Mobile Phone',
      'Mobile Number',
      'Mobile Phone Number',
      'Cell',
      'Cell Phone',
      'SMS',
      'WhatsApp',
      'Téléphone',
      'Portable',
      'Numéro de téléphone',
      'Telefon',
      'Telefonnummer',
      'Handy',
      'Mobilnummer',
      'Teléfono',
      'Móvil',
      'Celular',
      'Cellulare',
      'Telefoon',
      '電話番号',
      'Phone 1',
      'Phone 2',
    ],
  },
  {
    field: 'firstName',
    headers: [
      'First Name',
      'First',
      'Given Name',
      'Fname',
      'Forename',
      'Prénom',
      'Vorname',
      'Nombre',
      'Nome',
      'Voornaam',
      'Förnamn',
      'Fornavn',
      '名',
    ],
  },
  {
    field: 'lastName',
    headers: [
      'Last Name',
      'Last',
      'Surname',
      'Family Name',
      'Lname',
      'Nom',
      'Nom de famille',
      'Nachname',
      'Familienname',
      'Apellido',
      'Apellidos',
      'Cognome',
      'Sobrenome',
      'Achternaam',
      'Efternamn',
      'Etternavn',
      '姓',
    ],
  },
  {
    field: 'fullName',
    headers: [
      'Name',
      'Full Name',
      'Display Name',
      'Contact Name',
      'Nom complet',
      'Vollständiger Name',
      'Nombre completo',
      '氏名',
    ],
  },
  {
    field: 'gender',
    headers: ['Gender', 'Sex', 'Geschlecht', 'Genre', 'Sexe', 'Género', 'Sexo', 'Sesso', 'Geslacht', '性別'],
  },
  {
    field: 'birthday',
    headers: [
      'Birthday',
      'Birth Date',
      'Birthdate',
      'Date of Birth',
      'DOB',
      'Geburtsdatum',
      'Geburtstag',
      'Date de naissance',
      'Anniversaire',
      'Fecha de nacimiento',
      'Cumpleaños',
      'Data di nascita',
      'Data de nascimento',
      'Geboortedatum',
      '誕生日',
      '生年月日',
    ],
  },
  {
    field: 'birthYear',
    headers: ['Birth Year', 'Year of Birth', 'Geburtsjahr', 'Année de naissance', 'Año de nacimiento'],
  },
  { field: 'age', headers: ['Age', 'Alter', 'Âge', 'Edad', 'Età', 'Idade'] },
  {
    field: 'city',
    headers: [
      'City',
      'Town',
      'Ville',
      'Stadt',
      'Ort',
      'Ciudad',
      'Città',
      'Cidade',
      'Plaats',
      'Stad',
      'Locality',
      '市区町村',
    ],
  },
  {
    field: 'state',
    headers: [
      'State',
      'Province',
      'Region',
      'State/Region',
      'State/Province',
      'County',
      'Bundesland',
      'Département',
      'Provincia',
      'Estado',
      'Regione',
      '都道府県',
    ],
  },
  {
    field: 'zip',
    headers: [
      'Zip',
      'Zip Code',
      'Postal Code',
      'Postcode',
      'Zip/Postal Code',
      'Postleitzahl',
      'PLZ',
      'Code postal',
      'CP',
      'Código postal',
      'CAP',
      'Postnummer',
      '郵便番号',
    ],
  },
  {
    field: 'country',
    headers: ['Country', 'Country/Region', 'Country Name', 'Land', 'Pays', 'País', 'Paese', 'Nation', '国'],
  },
  { field: 'countryCode', headers: ['Country Code', 'ISO Country', 'Country ISO', 'CC'] },
  { field: 'externalId', headers: ['External ID', 'Extern ID', 'Customer ID', 'User ID', 'UID'] },
  {
    field: 'madid',
    repeat: 'synonyms',
    headers: [
      'MADID',
      'MAID',
      'Mobile Advertiser ID',
      'Mobile Ad ID',
      'Advertising ID',
      'Device Advertising ID',
      'IDFA',
      'GAID',
      'AAID',
      'Google Advertising ID',
    ],
  },
  {
    field: 'status',
    headers: [
      'Status',
      'Subscription Status',
      'Subscriber Status',
      'Email Status',
      'Email Subscriber Status', // Wix
      'Email Marketing Status',
      'Statut',
      'Abonnementstatus',
    ],
  },
  {
    field: 'unsubscribed',
    headers: [
      'Unsubscribed',
      'Opted Out',
      'Opt Out',
      'Email Opt Out',
      'Do Not Email',
      'Blacklisted',
      'Blocklisted',
      'Abgemeldet',
      'Désabonné',
    ],
  },
  {
    field: 'unsubscribedAt',
    headers: ['Unsubscribed At', 'Unsubscribed On', 'Unsubscribe Date', 'Unsubscribed Date', 'Opt Out Date'],
  },
  {
    field: 'marketingOptIn',
    headers: [
      'Opt In',
      'Opted In',
      'Consent',
      'Email Consent',
      'Marketing Consent',
      'Email Opt In',
      'Accepts Marketing',
      'Accepts Email Marketing',
      'Newsletter',
      'Einwilligung',
    ],
  },
  { field: 'doubleOptIn', headers: ['Double Opt-In', 'DOI'] },
  {
    field: 'adsPermission',
    headers: [
      'Ads Consent',
      'Ad Consent',
      'Ads Permission',
      'Advertising Consent',
      'Ad Personalization',
      'Ad Personalisation',
      'Ad Personalization Consent',
      'Customized Online Advertising',
    ],
  },
  { field: 'tags', headers: ['Tags', 'Tag', 'Labels', 'Label', 'Étiquettes', 'Etiquetas'] },
  { field: 'groups', headers: ['Groups', 'Group', 'Segments', 'Gruppen', 'Groupes', 'Grupos'] },
  { field: 'lists', headers: ['Lists', 'List', 'Email Lists', 'Mailing Lists', 'Listen', 'Listes', 'Listas'] },
  { field: 'rating', headers: ['Rating', 'Member Rating', 'Engagement Rating', 'Stars'], scale: 5 },
  { field: 'opens', headers: ['Opens', 'Total Opens', 'Email Opens', 'Open Count'] },
  { field: 'clicks', headers: ['Clicks', 'Total Clicks', 'Email Clicks', 'Link Clicks', 'Click Count'] },
  { field: 'lastOpenAt', headers: ['Last Open', 'Last Opened', 'Last Opened At', 'Last Open Date'] },
  { field: 'lastClickAt', headers: ['Last Click', 'Last Clicked', 'Last Clicked At', 'Last Click Date'] },
  {
    field: 'signupAt',
    headers: [
      'Subscribed At',
      'Subscribed On',
      'Subscription Date',
      'Signup Date',
      'Sign Up Date',
      'Signed Up',
      'Opt-in Date',
      'Date Subscribed',
      'Date Added',
      'Created At',
      'Created At (UTC+0)', // Wix puts the zone in the header
      'Created',
      'Creation Date',
      'Join Date',
      'Joined',
    ],
  },
  { field: 'plan', headers: ['Plan', 'Subscription Plan', 'Subscription Type'] },
  { field: 'tier', headers: ['Tier', 'Membership Tier'] },
  { field: 'paid', headers: ['Paid', 'Is Paid', 'Paying', 'Paid Subscriber'] },
  {
    field: 'spend',
    headers: [
      'Total Spent',
      'Total Spend',
      'Spend',
      'Revenue',
      'Lifetime Value',
      'Customer Lifetime Value',
      'LTV',
      'CLV',
      'Value',
    ],
  },
  { field: 'orders', headers: ['Orders', 'Total Orders', 'Order Count', 'Orders Count', 'Number of Orders'] },
];

/** Identity fields a platform table may leave to the generic synonyms (never email or external id: those are the platform's call). */
export const GENERIC_IDENTITY_FIELDS: ReadonlySet<FieldName> = new Set<FieldName>([
  'phone',
  'madid',
  'firstName',
  'lastName',
  'fullName',
  'gender',
  'birthday',
  'city',
  'state',
  'zip',
  'country',
]);

/**
 * Consent of a file that is not a platform export (also Meta's template): listed means subscribed, unless a column says
 * otherwise. In order: an `Unsubscribed`-style column that is true (or holds any non-boolean value such as a date) or an
 * `Unsubscribed At` date → unsubscribed; a `Status` word we know (subscribed, unsubscribed, cleaned/bounced,
 * pending/unconfirmed, never subscribed…) → that state, an unknown word is ignored because a generic `Status` column is
 * often a CRM status; an opt-in column that is false → never_subscribed. `Double Opt-In` true → explicitOptIn. Only a
 * word that states a subscription (`subscribed`, `opted in`, `confirmed`…) is evidence of an opt-in; `active` or
 * `member` is subscribed without it.
 */
export function genericConsent(row: RowView): ConsentVerdict {
  const doi = row.bool('doubleOptIn');
  const optInCell = row.bool('marketingOptIn');
  const ads = row.bool('adsPermission');
  const with_ = (consent: ConsentState, optIn?: boolean): ConsentVerdict => {
    const v: ConsentVerdict = { consent };
    if (doi !== undefined) v.explicitOptIn = doi;
    // Evidence of an affirmative opt-in: a double opt-in, a true opt-in column, or a subscribed status word.
    const affirmative = doi === true || optInCell === true || optIn === true;
    if (consent === 'subscribed' && affirmative) v.optIn = true;
    else if (doi === false || optInCell === false) v.optIn = false;
    if (ads !== undefined) v.adsPermission = ads;
    return v;
  };
  const unsub = row.text('unsubscribed');
  if (unsub !== undefined && parseBoolean(unsub) !== false) return with_('unsubscribed');
  if (row.text('unsubscribedAt') !== undefined) return with_('unsubscribed');
  const status = row.text('status');
  const fromWord = status === undefined ? undefined : consentFromWord(status);
  if (fromWord) return with_(fromWord, fromWord === 'subscribed' && isAffirmativeWord(status!));
  if (optInCell === false) return with_('never_subscribed');
  return with_('subscribed');
}

export const generic: FormatSpec = {
  id: 'generic',
  displayName: 'Generic contact CSV',
  fields: GENERIC_FIELDS,
  fingerprint: { signals: [] },
  consent: genericConsent,
};
