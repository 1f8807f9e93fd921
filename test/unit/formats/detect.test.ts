import { describe, expect, it } from 'vitest';
import { DetectionError, detectFormat, FORMATS, type FormatId } from '../../../functions/core/formats';
import { readSample } from './helpers';

const csv = (line: string) => line.split(',').map((h) => h.trim());

// Headers as real exports write them (verbatim where a real export was seen).
const HEADERS: [label: string, header: string[], sample: string[][], expected: FormatId][] = [
  [
    'Mailchimp with quoted labels and EMAIL_TYPE',
    csv(
      'Email Address,First Name,Last Name,EMAIL_TYPE,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS',
    ),
    [],
    'mailchimp',
  ],
  [
    'Klaviyo (column vocabulary)',
    csv(
      'Email,Klaviyo ID,First Name,Last Name,Organization,Title,Phone Number,Address,Address 2,City,State / Region,Country,Zip Code,Latitude,Longitude,Source,Consent,SMS Consent Timestamp,First Active,Last Active,Profile Created On,Date Added,Last Open,Last Click,Initial Source,Historic Customer Lifetime Value,Predicted Customer Lifetime Value,Total Customer Lifetime Value,Historic Number Of Orders,Churn Risk Prediction,$consent_method,Accepts Marketing,Shopify Tags',
    ),
    [],
    'klaviyo',
  ],
  [
    'Klaviyo (new consent placeholder)',
    csv(
      'Email,Klaviyo ID,First Name,Last Name,City,State / Region,Country,Zip Code,Source,Email Marketing Consent,Profile Created On,Date Added',
    ),
    [],
    'klaviyo',
  ],
  [
    'HubSpot default view',
    csv(
      'Record ID,First Name,Last Name,Email,Phone Number,Contact owner,Primary Associated Company ID,Last Activity Date,Lead Status,Marketing contact status,Create Date,Associated Company',
    ),
    [],
    'hubspot',
  ],
  [
    'HubSpot contacts with company properties',
    csv(
      'Record ID - Contact,First Name,Last Name,Client Grade,Email,Phone Number,Contact owner,Last Activity Date,Create Date,Company Name,Contact type,Country/Region,Job Title,Mobile Phone Number,State/Region,Street Address,Website URL,Last Engagement Date,Postal Code,Record ID - Company,Company name,Create Date,Phone Number,Last Activity Date,City,Country/Region,Industry',
    ),
    [],
    'hubspot',
  ],
  [
    'Brevo (parser preset, ; file)',
    'EMAIL;LASTNAME;FIRSTNAME;SMS;EMAIL_BLACKLISTED;SMS_BLACKLISTED;ADDED_TIME;MODIFIED_TIME'.split(';'),
    [],
    'brevo',
  ],
  [
    'ActiveCampaign (importer vocabulary, numeric status)',
    csv('id,email,first name,last name,phone,status,tags'),
    [
      ['1', 'a@example.com', 'A', 'B', '', '1', ''],
      ['2', 'b@example.com', 'C', 'D', '', '2', ''],
      ['3', 'c@example.com', 'E', 'F', '', '3', ''],
    ],
    'activecampaign',
  ],
  [
    'Kit (synthetic)',
    csv('first_name,email_address,state,created_at,tags'),
    [['Eve', 'eve@example.com', 'active', '', '']],
    'kit',
  ],
  [
    'Substack email list',
    csv('email,active_subscription,expiry,plan,email_disabled,created_at,first_payment_at'),
    [],
    'substack',
  ],
  [
    'Substack dashboard',
    csv(
      'Email,Name,Subscription type,Activity,Subscription date,Revenue,Comments (all time),Comments (last 7 days),Comments (last 30 days),Shares (all time),Shares (last 7 days),Shares (last 30 days),Subscriber country,Email receives (last 6 months),Email drops (last 6 months),Emails opened (last 6 months),Email opens (last 6 months),Email opens (last 7 days),Email opens (last 30 days),Email last opened at,Link clicks,Last clicked at,Unique emails seen (last 6 months),Unique emails seen (last 7 days),Unique emails seen (last 30 days),Post views (last 6 months),Post views (last 7 days),Post views (last 30 days),Unique posts seen (all-time),Unique posts seen (last 7 days),Unique posts seen (last 30 days),Subscriptions gifted,Expires at,Subscription source (free),Subscription source (paid),Days active (last 30 days),First payment at,Paid upgrade date,Cancel date,Receiving emails for,Is Bestseller',
    ),
    [],
    'substack',
  ],
  ['MailerLite', csv('Subscriber,Name,Last name,Subscribed,Groups'), [], 'mailerlite'],
  ['MailerLite (three columns)', csv('Subscriber,Name,Last name'), [], 'mailerlite'],
  [
    'Campaign Monitor (API model)',
    csv('Email Address,Name,Date,State,ConsentToTrack'),
    [['ivan@example.com', 'Ivan', '2020-01-01', 'Active', 'Yes']],
    'campaign_monitor',
  ],
  [
    'Constant Contact',
    csv(
      'Email address,First name,Last name,Phone - home,Company,Job title,Email status,Email permission status,Tags,Email Lists,Country - Home,Birthday,Anniversary,Created At,Updated At',
    ),
    [],
    'constant_contact',
  ],
  [
    'Constant Contact (short)',
    csv('Email address,First name,Last name,Email status,Email permission status,Email Lists'),
    [],
    'constant_contact',
  ],
  [
    'Shopify Gen 1',
    csv(
      'First Name,Last Name,Email,Company,Address1,Address2,City,Province,Province Code,Country,Country Code,Zip,Phone,Accepts Marketing,Total Spent,Total Orders,Tags,Note,Tax Exempt',
    ),
    [],
    'shopify',
  ],
  [
    'Shopify Gen 2',
    csv(
      'First Name,Last Name,Email,Accepts Email Marketing,Company,Address1,Address2,City,Province,Province Code,Country,Country Code,Zip,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Tags,Note,Tax Exempt',
    ),
    [],
    'shopify',
  ],
  [
    'Shopify Gen 2 with Customer ID',
    csv(
      'Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Company,Address1,Address2,City,Province,Province Code,Country,Country Code,Zip,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Tags,Note,Tax Exempt',
    ),
    [],
    'shopify',
  ],
  [
    'Shopify Gen 3 with metafields',
    [
      ...csv(
        'Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags,Accepts WhatsApp Marketing',
      ),
      'Fecha de nacimiento (customer.metafields.facts.birth_date)',
      'GW Referral link (customer.metafields.growave.referral_link)',
    ],
    [],
    'shopify',
  ],
  [
    'Meta customer-list template',
    csv('email,email,email,phone,phone,phone,madid,fn,ln,zip,ct,st,country,dob,doby,gen,age,uid,value'),
    [],
    'meta_template',
  ],
  ['Meta template, upper-case keys', csv('EMAIL,PHONE,FN,LN,ZIP,CT,ST,COUNTRY,DOBY,GEN'), [], 'meta_template'],
  [
    'Curated (not a supported platform)',
    csv(
      'Email Address,Subscribed at,UTM Source,UTM Medium,UTM Term,UTM Content,UTM Campaign,UTM Last Path,UTM Referrer',
    ),
    [],
    'generic',
  ],
  ['German generic', csv('E-Mail-Adresse,Vorname,Nachname,Telefon,Land,PLZ'), [], 'generic'],
  ['French generic', csv('Courriel,Prénom,Nom,Téléphone,Pays,Code postal'), [], 'generic'],
];

const SAMPLE_FILES: [string, FormatId][] = [
  ['mailchimp-tryghost-migrate-subscribed.csv', 'mailchimp'],
  ['mailchimp-tryghost-migrate-unsubscribed.csv', 'mailchimp'],
  ['mailchimp-tryghost-migrate-cleaned.csv', 'mailchimp'],
  ['mailchimp-stanfordpride-cleaned-export-HEADER-ONLY.csv', 'mailchimp'],
  ['substack-tryghost-migrate-signup_emails.csv', 'substack'],
  ['substack-tryghost-migrate-subscriber_emails.csv', 'substack'],
  ['beehiiv-tryghost-migrate-members.csv', 'beehiiv'],
  ['curated-tryghost-migrate-subscribers.csv', 'generic'],
];

describe('detectFormat by header fingerprint', () => {
  it.each(HEADERS)('%s → %s', (_label, header, sample, expected) => {
    const d = detectFormat(header, sample);
    expect(d.format).toBe(expected);
    expect(d.confidence).toBeGreaterThan(0);
    expect(d.confidence).toBeLessThanOrEqual(1);
    expect(d.evidence.length).toBeGreaterThan(0);
  });

  it.each(SAMPLE_FILES)('sample %s → %s', (file, expected) => {
    const { header, rows } = readSample(file);
    const d = detectFormat(header, rows);
    expect(d.format).toBe(expected);
    if (expected !== 'generic') expect(d.confidence).toBeGreaterThan(0.8);
  });

  it('covers every format id', () => {
    const covered = new Set([...HEADERS.map((h) => h[3]), ...SAMPLE_FILES.map((s) => s[1])]);
    expect([...covered].sort()).toEqual(FORMATS.map((f) => f.id).sort());
  });

  it('explains the choice with header names only', () => {
    const d = detectFormat(csv('Email Address,MEMBER_RATING,OPTIN_TIME,LEID,EUID,TAGS'), [
      ['x@example.com', '5', '', '1', 'ab', ''],
    ]);
    expect(d.format).toBe('mailchimp');
    expect(d.evidence.join('\n')).toContain('"MEMBER_RATING"');
    expect(d.evidence.join('\n')).not.toContain('x@example.com');
    expect(d.scores[0]).toEqual({ format: 'mailchimp', score: expect.any(Number) });
  });

  it('falls back to generic on a low score', () => {
    const d = detectFormat(csv('Email,Tags'), []);
    expect(d.format).toBe('generic');
    expect(d.evidence[0]).toMatch(/generic/);
  });

  it('falls back to generic on a tie', () => {
    // Two Shopify signals and two Mailchimp signals of equal weight.
    const d = detectFormat(csv('Email,Total Spent,Total Orders,LEID,EUID'), []);
    expect(d.format).toBe('generic');
    expect(d.evidence[0]).toMatch(/tie between/);
  });

  it('ActiveCampaign without numeric codes is read by the generic mapping', () => {
    const d = detectFormat(csv('email,first name,status,tags'), [['a@example.com', 'A', 'active', '']]);
    expect(d.format).toBe('generic');
    expect(d.fields.status?.[0]?.header).toBe('status');
  });

  it('Campaign Monitor State with address values is not Campaign Monitor', () => {
    const d = detectFormat(csv('Email Address,Name,Date,State'), [['a@example.com', 'A', '', 'CA']]);
    expect(d.format).toBe('generic');
    expect(d.fields.state?.[0]?.header).toBe('State');
  });
});

describe('generic mapping', () => {
  it.each([
    [['E-Mail-Adresse', 'Vorname', 'Nachname'], 'email', 'E-Mail-Adresse'],
    [['courriel', 'prénom'], 'email', 'courriel'],
    [['Correo electrónico', 'Nombre'], 'email', 'Correo electrónico'],
    [['Subscriber'], 'email', 'Subscriber'],
    [['e-mail'], 'email', 'e-mail'],
    [['Email', 'Mobile'], 'phone', 'Mobile'],
    [['Email', 'FIRSTNAME'], 'firstName', 'FIRSTNAME'],
    [['Email', 'PRENOM'], 'firstName', 'PRENOM'],
    [['Email', 'Vorname'], 'firstName', 'Vorname'],
    [['Email', 'Postleitzahl'], 'zip', 'Postleitzahl'],
    [['Email', 'Date of Birth'], 'birthday', 'Date of Birth'],
    [['Email', 'Ville'], 'city', 'Ville'],
    [['Email', 'Country'], 'country', 'Country'],
    [['Email', 'status'], 'status', 'status'],
    [['Email', 'Tags'], 'tags', 'Tags'],
  ] as const)('%j: %s ← %s', (header, field, expected) => {
    const d = detectFormat(header, [], { format: 'generic' });
    expect(d.fields[field]?.[0]?.header).toBe(expected);
  });

  it('sniffs the email column from values when no header names one', () => {
    const d = detectFormat(
      ['Kontakt', 'Adresse'],
      [
        ['Ann Example', 'ann@example.com'],
        ['Bob Example', 'bob@example.com'],
        ['Cy Example', 'not an email'],
      ],
    );
    expect(d.fields.email?.[0]).toMatchObject({ index: 1, header: 'Adresse' });
    expect(d.evidence.join('\n')).toMatch(/2\/3 sample values look like email addresses/);
    expect(d.confidence).toBe(0.3);
  });

  it('sniffs the email column of a platform whose email label was renamed', () => {
    const d = detectFormat(
      ['Your email', 'MEMBER_RATING', 'OPTIN_TIME', 'LEID', 'EUID'],
      [['ann@example.com', '3', '', '', '']],
    );
    expect(d.format).toBe('mailchimp');
    expect(d.fields.email?.[0]?.index).toBe(0);
  });
});

describe('detection failure', () => {
  it('names the headers seen and what was expected', () => {
    // The DeepNews subscribed_members.csv: the author removed the email column.
    const header = csv(
      'LEID,EUID,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,NOTES,TAGS',
    );
    const run = () =>
      detectFormat(header, [
        ['44877845', 'c2cb0681af', '5', '', '', '', '', '', '', '', '', '', 'us', 'ny', '', '', ''],
      ]);
    expect(run).toThrow(DetectionError);
    try {
      run();
    } catch (e) {
      const err = e as DetectionError;
      expect(err.code).toBe('no_identifier_column');
      expect(err.message).toContain('Mailchimp audience export');
      expect(err.message).toContain('"LEID"');
      expect(err.message).toContain('"MEMBER_RATING"');
      expect(err.message).toContain('"TAGS"');
      expect(err.message).toMatch(/Expected an email column .*phone column.*external-id column/);
      // Only names some format knows are kept; a column no table knows could be a value (no header row).
      expect(err.headers).toContain('LEID');
      expect(err.headers).toContain('<unknown>');
    }
  });

  it('says so for a generic file, and never guesses a column', () => {
    expect(() => detectFormat(['Vorname', 'Nachname', 'Stadt'], [['Ann', 'Muster', 'Berlin']])).toThrow(
      /No email, phone or external-id column found in this file\. Columns \(3\): "Vorname", "Nachname", "Stadt"/,
    );
  });

  it('masks header cells that look like data (a file without a header row)', () => {
    try {
      detectFormat(['ann@example.com', 'Ann'], []);
      expect.unreachable();
    } catch (e) {
      const err = e as DetectionError;
      // The first data row was taken for the header: its email must not reach the error message or a log.
      expect(err.message).not.toContain('ann@example.com');
      expect(err.message).not.toContain('Ann');
      expect(err.message).toContain('column 0 (looks like email addresses)');
      expect(err.message).toContain('may have no header row');
    }
  });

  it('describes a header-less file by its shape, never by its values (names, streets, emails without a TLD)', () => {
    try {
      detectFormat(
        ['Ann Lee', '12 Rose Street', 'ann@intranet', '4'],
        [
          ['Bo Chen', '3 Elm Road', 'bo@intranet', '5'],
          ['Cy Diaz', '9 Oak Lane', 'cy@intranet', '2'],
        ],
      );
      expect.unreachable();
    } catch (e) {
      const err = e as DetectionError;
      for (const v of ['Ann', 'Rose', 'intranet', 'Bo ', 'Elm']) expect(err.message).not.toContain(v);
      expect(err.message).toContain('column 2 (looks like email addresses without a domain)');
      expect(err.message).toContain('column 0 (text)');
      expect(err.message).toContain('column 3 (numbers)');
      expect(err.headers.every((h) => h === '<unknown>')).toBe(true);
    }
  });
});

describe('operator override', () => {
  const header = ['Kontakt', 'Telefonie', 'Wert'];
  const sample = [['Ann', '+49 30 1234567', '3']];

  it('pins a column by header name', () => {
    const d = detectFormat(header, sample, { columns: { phone: 'Telefonie' } });
    expect(d.fields.phone).toEqual([{ index: 1, header: 'Telefonie', label: 'Telefonie' }]);
    expect(d.evidence).toContain('phone ← column 1 "Telefonie" (config override)');
  });

  it('pins a column by index, also one a name could not reach', () => {
    const d = detectFormat(['email', 'email'], [], { format: 'generic', columns: { email: 1 } });
    expect(d.fields.email).toEqual([{ index: 1, header: 'email', label: 'email' }]);
  });

  it('matches names loosely when not exact', () => {
    const d = detectFormat(header, sample, { columns: { phone: ' telefonie ' } });
    expect(d.fields.phone?.[0]?.index).toBe(1);
  });

  it('pins the format', () => {
    const d = detectFormat(csv('Email,First Name,Tags'), [], { format: 'shopify' });
    expect(d.format).toBe('shopify');
    expect(d.confidence).toBe(1);
    expect(d.evidence[0]).toBe('format pinned by config: shopify');
  });

  it('override wins over the table', () => {
    const d = detectFormat(csv('Email,Work Email'), [], { columns: { email: 'Work Email' } });
    expect(d.fields.email?.[0]?.header).toBe('Work Email');
  });

  it.each([
    [{ columns: { email: 'Nope' } }, 'unknown_column', /Column override email: "Nope" is not in the header/],
    [{ columns: { email: 7 } }, 'unknown_column', /not in the header/],
    [{ columns: { mail: 'Kontakt' } as never }, 'unknown_field', /unknown field "mail"/],
    [{ format: 'mailchimpp' as never }, 'unknown_format', /Unknown format override "mailchimpp"/],
  ])('rejects a bad override %j', (options, code, message) => {
    try {
      detectFormat(header, sample, options);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DetectionError);
      expect((e as DetectionError).code).toBe(code);
      expect((e as DetectionError).message).toMatch(message);
    }
  });
});

describe('duplicate headers by position', () => {
  it('HubSpot: the first Phone Number and Country/Region are the contact, the company section is ignored', () => {
    const header = csv(
      'Record ID - Contact,First Name,Last Name,Client Grade,Email,Phone Number,Contact owner,Last Activity Date,Create Date,Company Name,Contact type,Country/Region,Job Title,Mobile Phone Number,State/Region,Street Address,Website URL,Last Engagement Date,Postal Code,Record ID - Company,Company name,Create Date,Phone Number,Last Activity Date,City,Country/Region,Industry',
    );
    const d = detectFormat(header, []);
    expect(d.fields.phone?.map((r) => r.index)).toEqual([5, 13]);
    expect(d.fields.country?.map((r) => r.index)).toEqual([11]);
    expect(d.fields.signupAt?.map((r) => r.index)).toEqual([8]);
    expect(d.fields.city).toBeUndefined(); // only the company has a City
    expect(d.evidence.join('\n')).toContain('columns from "Record ID - Company" on belong to another object');
  });

  it('Meta template: every email and phone column, by position', () => {
    const d = detectFormat(
      csv('email,email,email,phone,phone,phone,madid,fn,ln,zip,ct,st,country,dob,doby,gen,age,uid,value'),
      [],
    );
    expect(d.fields.email?.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(d.fields.phone?.map((r) => r.index)).toEqual([3, 4, 5]);
    expect(d.fields.externalId?.map((r) => r.index)).toEqual([17]);
  });

  it('Mailchimp 2013 unsubscribed file with merge fields colliding with system names: first occurrence', () => {
    const d = detectFormat(
      csv(
        'Email Address,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_TIME,LEID,EUID',
      ),
      [],
    );
    expect(d.format).toBe('mailchimp');
    expect(d.fields.unsubscribedAt?.map((r) => r.index)).toEqual([3]);
  });
});
