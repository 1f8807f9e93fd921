/**
 * Writes the synthetic sample exports under samples/ (deterministic: same seed, same bytes).
 * Fake people only: every address is @example.com/.org/.net, every phone a reserved or fictional range.
 * Run: npx tsx scripts/make-samples.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';

let seed = 20261122;
/** mulberry32: a tiny deterministic PRNG. */
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const chance = (p: number) => rand() < p;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

const FIRST = [
  'Anna',
  'Ben',
  'Chloé',
  'David',
  'Elif',
  'Fatima',
  'Georg',
  'Hanna',
  'Ibrahim',
  'Jörg',
  'Karin',
  'Lukas',
  'María',
  'Noah',
  'Olga',
  'Pierre',
  'Quinn',
  'Rosa',
  'Søren',
  'Tomás',
  'Uma',
  'Viktor',
  'Wen',
  'Yara',
  'Zoë',
];
const LAST = [
  'Müller',
  'Schmidt',
  "O'Connor",
  'García',
  'Dubois',
  'Rossi',
  'Jansen',
  'Nowak',
  'Smith',
  'Johnson',
  'Brown',
  'Lefèvre',
  'Novák',
  'Andersson',
  'Kowalski',
  'Silva',
  'Öztürk',
  'Papadopoulos',
];
const DOMAINS = ['example.com', 'example.org', 'example.net'];
const now = Date.parse('2026-11-20T12:00:00Z');
const daysAgo = (d: number) => new Date(now - d * 86_400_000);
const isoSpace = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 19);

const US = [
  { city: 'Austin', st: 'TX', zip: '78701', phone: () => `+1 512-555-${pad(Math.floor(rand() * 10000), 4)}` },
  { city: 'Sacramento', st: 'CA', zip: '95814-2201', phone: () => `(916) 555-${pad(Math.floor(rand() * 10000), 4)}` },
  { city: 'Boston', st: 'MA', zip: '02108', phone: () => `617.555.${pad(Math.floor(rand() * 10000), 4)}` },
  { city: 'St. Louis', st: 'MO', zip: '63101', phone: () => `314-555-${pad(Math.floor(rand() * 10000), 4)}` },
];
const EU = [
  { cc: 'DE', city: 'Berlin', zip: '10115', phone: () => `030 ${pad(Math.floor(rand() * 1e7), 7)}` },
  { cc: 'DE', city: 'München', zip: '80331', phone: () => `+49 89 ${pad(Math.floor(rand() * 1e7), 7)}` },
  { cc: 'FR', city: 'Paris', zip: '75001', phone: () => `+33 6 ${pad(Math.floor(rand() * 1e8), 8)}` },
  { cc: 'ES', city: 'Sevilla', zip: '41001', phone: () => `+34 6${pad(Math.floor(rand() * 1e8), 8)}` },
  { cc: 'NL', city: 'Utrecht', zip: '3511 AB', phone: () => `+31 6 ${pad(Math.floor(rand() * 1e8), 8)}` },
  { cc: 'GB', city: 'London', zip: 'SW1A 1AA', phone: () => `+44 7700 ${pad(Math.floor(rand() * 1e6), 6)}` },
];

const csvCell = (v: string) => (/[",;\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
const row = (cells: string[], sep = ',') => cells.map(csvCell).join(sep);

function person(i: number, prefix: string) {
  const fn = pick(FIRST);
  const ln = pick(LAST);
  const local = `${fn}.${ln}`
    .normalize('NFKD')
    .replace(/[^\w.]/g, '')
    .toLowerCase();
  // Some addresses come in upper case or padded, as real exports do.
  let email = `${prefix}${i}.${local}@${pick(DOMAINS)}`;
  if (chance(0.08)) email = email.toUpperCase();
  if (chance(0.05)) email = `  ${email} `;
  return { fn, ln, email };
}

/** Shopify customers export, third header generation. */
function shopify(n: number): string {
  const header =
    'Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,Total Spent,Total Orders,Note,Tax Exempt,Tags';
  const lines = [header];
  for (let i = 1; i <= n; i++) {
    const p = person(i, 'shop');
    const us = chance(0.7);
    const a = us ? pick(US) : pick(EU);
    const orders = chance(0.75) ? 1 + Math.floor(rand() * 6) : 0;
    const spent = orders ? (orders * (20 + rand() * 180)).toFixed(2) : '0.00';
    const tags = [orders >= 3 ? 'vip' : '', chance(0.3) ? 'newsletter' : '', chance(0.1) ? 'wholesale' : '']
      .filter(Boolean)
      .join(', ');
    const phone = chance(0.6) ? a.phone() : '';
    lines.push(
      row([
        `'${7210448300000 + i}`,
        p.fn,
        p.ln,
        p.email,
        chance(0.72) ? 'yes' : 'no',
        '',
        `${1 + Math.floor(rand() * 200)} Main St`,
        '',
        a.city,
        us ? (a as (typeof US)[number]).st : '',
        us ? 'US' : (a as (typeof EU)[number]).cc,
        us && (a as (typeof US)[number]).zip.startsWith('0') ? `'${(a as (typeof US)[number]).zip}` : a.zip,
        '',
        phone && chance(0.3) ? `'${phone}` : phone,
        chance(0.2) ? 'yes' : 'no',
        spent,
        String(orders),
        '',
        'no',
        tags,
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Klaviyo profiles export with the newer per-channel consent column. */
function klaviyo(n: number): string {
  const header =
    'Email,Klaviyo ID,First Name,Last Name,Phone Number,City,State / Region,Country,Zip Code,Source,Email Marketing Consent,Profile Created On,Last Open,Last Click,Historic Number Of Orders,Historic Customer Lifetime Value';
  const lines = [header];
  for (let i = 1; i <= n; i++) {
    const p = person(i, 'kl');
    const us = chance(0.65);
    const a = us ? pick(US) : pick(EU);
    const consent = chance(0.8) ? 'Subscribed' : chance(0.5) ? 'Unsubscribed' : 'Never Subscribed';
    const opened = chance(0.7) ? daysAgo(Math.floor(rand() * 150)) : undefined;
    const clicked = opened && chance(0.45) ? new Date(opened.getTime() - rand() * 5 * 86_400_000) : undefined;
    const orders = chance(0.35) ? 1 + Math.floor(rand() * 4) : 0;
    lines.push(
      row([
        p.email,
        `01H${pad(i, 6)}KLAVIYO`,
        p.fn,
        p.ln,
        chance(0.5) ? a.phone() : '',
        a.city,
        us ? (a as (typeof US)[number]).st : '',
        us
          ? 'United States'
          : (a as (typeof EU)[number]).cc === 'GB'
            ? 'United Kingdom'
            : (a as (typeof EU)[number]).cc,
        a.zip,
        pick(['Signup form', 'Shopify', 'Popup']),
        consent,
        isoSpace(daysAgo(200 + Math.floor(rand() * 800))),
        opened ? isoSpace(opened) : '',
        clicked ? isoSpace(clicked) : '',
        String(orders),
        orders ? (orders * 55.5).toFixed(2) : '0',
      ]),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Brevo contacts export from an EU account: `;`-separated, Windows-1252, DD-MM-YYYY dates, double opt-in flag. */
function brevo(n: number): Buffer {
  const header = 'EMAIL;NACHNAME;VORNAME;SMS;EMAIL_BLACKLISTED;DOUBLE_OPT-IN;LAND;GEBURTSTAG;ADDED_TIME';
  const lines = [header];
  for (let i = 1; i <= n; i++) {
    const p = person(i, 'eu');
    const a = pick(EU.filter((e) => e.cc !== 'GB'));
    const birthday = chance(0.5)
      ? `${pad(1 + Math.floor(rand() * 28))}-${pad(1 + Math.floor(rand() * 12))}-${1950 + Math.floor(rand() * 55)}`
      : '';
    const added = daysAgo(30 + Math.floor(rand() * 900));
    lines.push(
      row(
        [
          p.email,
          p.ln,
          p.fn,
          chance(0.4) ? a.phone().replace(/\s/g, '') : '',
          chance(0.08) ? 'Yes' : 'No',
          chance(0.6) ? 'Yes' : 'No',
          a.cc,
          birthday,
          `${pad(added.getUTCDate())}-${pad(added.getUTCMonth() + 1)}-${added.getUTCFullYear()} ${pad(added.getUTCHours())}:${pad(added.getUTCMinutes())}`,
        ],
        ';',
      ),
    );
  }
  return iconv.encode(`${lines.join('\r\n')}\r\n`, 'win1252');
}

const root = join(import.meta.dirname, '..', 'samples');
const write = (rel: string, body: string | Buffer) => {
  const p = join(root, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, body);
};
write('shop/customers_export.csv', shopify(600));
write('crm/klaviyo-profiles.csv', klaviyo(500));
write('eu-newsletter/brevo-contacts.csv', brevo(400));
process.stdout.write('samples written\n');
