/**
 * Deterministic, realistic Shopify-style customers export, streamed to disk (never held in memory).
 * Same seed + same size = byte-identical file, so results are comparable across runs.
 */

import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

export const SHOPIFY_HEADER = [
  'Customer ID',
  'First Name',
  'Last Name',
  'Email',
  'Accepts Email Marketing',
  'Default Address Company',
  'Default Address Address1',
  'Default Address Address2',
  'Default Address City',
  'Default Address Province Code',
  'Default Address Country Code',
  'Default Address Zip',
  'Default Address Phone',
  'Phone',
  'Accepts SMS Marketing',
  'Total Spent',
  'Total Orders',
  'Note',
  'Tax Exempt',
  'Tags',
];

/** mulberry32: small, fast, deterministic 32-bit PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Country = 'US' | 'DE' | 'FR' | 'GB';

const FIRST: Record<Country, string[]> = {
  US: [
    'James',
    'Mary',
    'Robert',
    'Patricia',
    'John',
    'Jennifer',
    'Michael',
    'Linda',
    'David',
    'Elizabeth',
    'Chris',
    'Ashley',
    'Daniel',
    'Emily',
    'José',
    'Maria',
  ],
  DE: [
    'Lukas',
    'Anna',
    'Jonas',
    'Lea',
    'Felix',
    'Sophie',
    'Maximilian',
    'Marie',
    'Jürgen',
    'Käthe',
    'Paul',
    'Hannah',
    'Björn',
    'Lena',
  ],
  FR: [
    'Lucas',
    'Léa',
    'Hugo',
    'Chloé',
    'Louis',
    'Emma',
    'Gabriel',
    'Inès',
    'Jules',
    'Zoé',
    'Raphaël',
    'Manon',
    'Anaïs',
    'Théo',
  ],
  GB: [
    'Oliver',
    'Olivia',
    'George',
    'Amelia',
    'Harry',
    'Isla',
    'Jack',
    'Ava',
    'Noah',
    'Emily',
    'Charlie',
    'Sophie',
    'Siobhan',
    'Rhys',
  ],
};
const LAST: Record<Country, string[]> = {
  US: [
    'Smith',
    'Johnson',
    'Williams',
    'Brown',
    'Jones',
    'Garcia',
    'Miller',
    'Davis',
    'Rodriguez',
    'Martinez',
    'Wilson',
    "O'Connor",
    'Nguyen',
    'Lee',
  ],
  DE: [
    'Müller',
    'Schmidt',
    'Schneider',
    'Fischer',
    'Weber',
    'Meyer',
    'Wagner',
    'Becker',
    'Schulz',
    'Hoffmann',
    'Köhler',
    'Groß',
  ],
  FR: [
    'Martin',
    'Bernard',
    'Dubois',
    'Thomas',
    'Robert',
    'Richard',
    'Petit',
    'Durand',
    'Leroy',
    'Moreau',
    'Lefèvre',
    'Girard',
  ],
  GB: [
    'Smith',
    'Jones',
    'Taylor',
    'Brown',
    'Williams',
    'Wilson',
    'Johnson',
    'Davies',
    'Evans',
    'Thomas',
    "O'Brien",
    'Hughes',
  ],
};
const CITIES: Record<Country, Array<[city: string, province: string]>> = {
  US: [
    ['Austin', 'TX'],
    ['Sacramento', 'CA'],
    ['New York', 'NY'],
    ['Seattle', 'WA'],
    ['Chicago', 'IL'],
    ['St. Louis', 'MO'],
    ['Boston', 'MA'],
    ['Miami', 'FL'],
  ],
  DE: [
    ['München', 'BY'],
    ['Berlin', 'BE'],
    ['Hamburg', 'HH'],
    ['Köln', 'NW'],
    ['Frankfurt am Main', 'HE'],
    ['Stuttgart', 'BW'],
  ],
  FR: [
    ['Paris', ''],
    ['Lyon', ''],
    ['Marseille', ''],
    ['Toulouse', ''],
    ['Bordeaux', ''],
    ['Nantes', ''],
  ],
  GB: [
    ['London', ''],
    ['Manchester', ''],
    ['Birmingham', ''],
    ['Edinburgh', ''],
    ['Bristol', ''],
    ['Leeds', ''],
  ],
};
const STREETS: Record<Country, string[]> = {
  US: ['Main St', 'Oak Ave', 'Maple Dr', 'Cedar Ln', 'Congress Ave', 'Sunset Blvd'],
  DE: ['Hauptstraße', 'Bahnhofstraße', 'Schillerstraße', 'Gartenweg', 'Lindenallee'],
  FR: ['rue de la Paix', 'avenue Victor Hugo', 'boulevard Voltaire', 'rue du Moulin', 'place de la République'],
  GB: ['High Street', 'Station Road', 'Church Lane', 'Victoria Road', 'Park Avenue'],
};
const US_AREA = ['512', '916', '212', '206', '312', '314', '617', '305', '415', '737'];
const TAGS = ['newsletter', 'vip', 'wholesale', 'Level 1', 'Level 2', 'returning', 'black-friday', 'instagram'];
const NOTES = [
  '',
  '',
  '',
  '',
  '',
  '',
  'Prefers email',
  'Called about order #1042, wants "gift wrap"',
  'Allergic to nuts\nsee ticket 55',
  'B2B',
];

const COUNTRIES: Country[] = ['US', 'US', 'US', 'US', 'DE', 'DE', 'FR', 'GB', 'GB', 'US'];

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function makeRowWriter(seed = 20240601) {
  const r = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const digits = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(r() * 10);
    return s;
  };
  const nz = () => String(2 + Math.floor(r() * 8)); // 2-9

  function phone(c: Country): string {
    const style = r();
    switch (c) {
      case 'US': {
        const area = pick(US_AREA);
        const ex = nz() + digits(2);
        const sub = digits(4);
        if (style < 0.3) return `+1 ${area}-${ex}-${sub}`;
        if (style < 0.55) return `(${area}) ${ex}-${sub}`;
        if (style < 0.7) return `${area}.${ex}.${sub}`;
        if (style < 0.85) return `+1${area}${ex}${sub}`;
        if (style < 0.95) return `'+1 ${area} ${ex} ${sub}`;
        return `${area}${ex}${sub}`;
      }
      case 'DE': {
        if (style < 0.35) return `'+49 89 ${nz()}${digits(6)}`;
        if (style < 0.6) return `+49 15${pick(['1', '2', '7', '9'])} ${digits(8)}`;
        if (style < 0.8) return `0151 ${digits(8)}`;
        if (style < 0.9) return `+4917${digits(9)}`;
        return `030 ${nz()}${digits(7)}`;
      }
      case 'FR': {
        const m = pick(['6', '7']);
        const p = `${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`;
        if (style < 0.4) return `+33 ${m} ${p}`;
        if (style < 0.8) return `0${m} ${p}`;
        return `+33${m}${p.replace(/ /g, '')}`;
      }
      case 'GB': {
        const mob = `7${pick(['4', '5', '7', '8', '9'])}${digits(2)}`;
        if (style < 0.35) return `+44 ${mob} ${digits(6)}`;
        if (style < 0.65) return `0${mob} ${digits(6)}`;
        if (style < 0.85) return `+44 20 7${digits(3)} ${digits(4)}`;
        return `+44${mob}${digits(6)}`;
      }
    }
  }

  function zip(c: Country): string {
    switch (c) {
      case 'US': {
        const z = digits(5);
        return z.startsWith('0') ? `'${z}` : r() < 0.1 ? `${z}-${digits(4)}` : z;
      }
      case 'DE':
        return `'${nz()}${digits(4)}`;
      case 'FR':
        return `${nz()}${digits(4)}`;
      case 'GB':
        return `${pick(['SW1A', 'M1', 'B33', 'EH1', 'BS8', 'LS1'])} ${Math.floor(r() * 10)}${pick(['AA', 'BD', 'HQ', 'XY'])}`;
    }
  }

  let lastEmail = '';
  /** One CSV line (with trailing \n) for row number i (0-based). */
  return function row(i: number): string {
    const c = pick(COUNTRIES);
    const first = pick(FIRST[c]);
    const last = pick(LAST[c]);
    const [city, province] = pick(CITIES[c]);
    const id = String(6_000_000_000_000 + i * 7919 + Math.floor(r() * 7000));
    const roll = r();
    // ~0.5% duplicates of the previous row's email, ~3% phone-only, ~0.3% nothing usable at all.
    let email: string;
    if (roll < 0.005 && lastEmail) email = lastEmail;
    else if (roll < 0.035) email = '';
    else {
      const local = `${first}.${last}`
        .normalize('NFKD')
        .replace(/[^A-Za-z.]/g, '')
        .toLowerCase();
      email = `${local}${i}@example.com`;
      if (r() < 0.08) email = email.toUpperCase();
      else if (r() < 0.03) email = ` ${email} `;
    }
    if (email) lastEmail = email;
    const hasPhone = email === '' ? roll >= 0.008 : r() < 0.6;
    let defPhone = '';
    let custPhone = '';
    if (hasPhone) {
      const p = phone(c);
      const where = r();
      if (where < 0.5) custPhone = p;
      else if (where < 0.8) defPhone = p;
      else {
        custPhone = p;
        defPhone = p;
      }
    }
    const orders = Math.floor(r() * r() * 40);
    const spent = (orders * (5 + r() * 120)).toFixed(2);
    const tags: string[] = [];
    const nTags = Math.floor(r() * 3);
    for (let t = 0; t < nTags; t++) tags.push(pick(TAGS));
    const cells = [
      r() < 0.5 ? `'${id}` : id,
      first,
      last,
      email,
      r() < 0.55 ? 'yes' : 'no',
      r() < 0.1 ? `${last} ${pick(['GmbH', 'LLC', 'Ltd', 'SARL'])}` : '',
      `${1 + Math.floor(r() * 999)} ${pick(STREETS[c])}`,
      r() < 0.2 ? `Apt ${1 + Math.floor(r() * 40)}` : '',
      city,
      province,
      c,
      zip(c),
      defPhone,
      custPhone,
      hasPhone && r() < 0.4 ? 'yes' : 'no',
      spent,
      String(orders),
      pick(NOTES),
      r() < 0.03 ? 'yes' : 'no',
      tags.join(', '),
    ];
    let line = '';
    for (let k = 0; k < cells.length; k++) line += (k ? ',' : '') + csvCell(cells[k]!);
    return `${line}\n`;
  };
}

/**
 * Writes `rows` data rows to `path` unless it already exists (cached by size). Streams with back-pressure;
 * writes to a temp name first so an interrupted run never leaves a truncated file behind.
 */
export async function ensureShopifyExport(path: string, rows: number, progress?: (msg: string) => void): Promise<void> {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.partial`;
  const out = createWriteStream(tmp, { highWaterMark: 1 << 20 });
  const row = makeRowWriter();
  const t0 = performance.now();
  let chunk = `${SHOPIFY_HEADER.join(',')}\n`;
  for (let i = 0; i < rows; i++) {
    chunk += row(i);
    if (chunk.length >= 256 * 1024) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
    if (progress && i > 0 && i % 250_000 === 0) progress(`  generated ${i.toLocaleString('en-US')} rows`);
  }
  out.end(chunk);
  await once(out, 'finish');
  // Flush to disk now, so background write-back does not slow down the first measured case.
  const fh = await open(tmp, 'r+');
  await fh.sync();
  await fh.close();
  renameSync(tmp, path);
  progress?.(
    `  wrote ${path} (${(statSync(path).size / 1e6).toFixed(1)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

/**
 * Header of the "every Meta key" export: Meta's customer-list template columns (detected as `meta_template`), with a
 * second phone column so both the repeated-column and the national-number paths are exercised.
 */
export const META_HEADER = [
  'email',
  'phone',
  'phone',
  'fn',
  'ln',
  'zip',
  'ct',
  'st',
  'country',
  'dob',
  'doby',
  'gen',
  'uid',
  'value',
];

type MetaCountry = 'US' | 'GB' | 'DE' | 'FR' | 'ES' | 'IT' | 'BR' | 'IN';
const META_COUNTRIES: MetaCountry[] = ['US', 'US', 'US', 'GB', 'GB', 'DE', 'DE', 'FR', 'ES', 'IT', 'BR', 'IN'];
const META_FIRST = [
  'José',
  'Zoë',
  'François',
  'Ærin',
  'Łukasz',
  'Anaïs',
  'Jürgen',
  'Siobhán',
  'Ana-María',
  'Priyā',
  'João',
  'Mary Ann',
  "D'Arcy",
  'Chloé',
  'Björn',
  'Noël',
];
const META_LAST = [
  'García',
  'Müller',
  "O'Connor",
  'Nguyễn',
  'Lefèvre',
  'Da Silva',
  'van der Berg',
  'Smith-Jones',
  'Kowalski',
  'Şahin',
  'Ørsted',
  'Patel',
  'Rossi',
  'Ferreira',
];
const META_CITY: Record<MetaCountry, Array<[city: string, state: string]>> = {
  US: [
    ['New York', 'NY'],
    ['St. Louis', 'Missouri'],
    ['San José', 'CA'],
    ['Winston-Salem', 'north carolina'],
    ['Austin', 'TX'],
    ['Coeur d’Alene', 'ID'],
  ],
  GB: [
    ['London', ''],
    ['Newcastle upon Tyne', 'Tyne and Wear'],
    ['Edinburgh', 'Scotland'],
    ['Bristol', ''],
  ],
  DE: [
    ['München', 'Bayern'],
    ['Köln', 'NRW'],
    ['Frankfurt am Main', 'Hessen'],
    ['Düsseldorf', ''],
  ],
  FR: [
    ['Paris', 'Île-de-France'],
    ['Saint-Étienne', ''],
    ['Aix-en-Provence', 'PACA'],
  ],
  ES: [
    ['Madrid', 'Madrid'],
    ['A Coruña', 'Galicia'],
    ['Cádiz', ''],
  ],
  IT: [
    ['Roma', 'RM'],
    ['Forlì', ''],
    ['Milano', 'Lombardia'],
  ],
  BR: [
    ['São Paulo', 'SP'],
    ['Florianópolis', 'SC'],
    ['Rio de Janeiro', 'RJ'],
  ],
  IN: [
    ['Mumbai', 'Maharashtra'],
    ['Bengaluru', 'KA'],
    ['New Delhi', 'Delhi'],
  ],
};
const META_COUNTRY_CELL: Record<MetaCountry, string[]> = {
  US: ['US', 'us', 'USA', 'United States', ''],
  GB: ['GB', 'UK', 'United Kingdom', 'gb'],
  DE: ['DE', 'Germany', 'Deutschland'],
  FR: ['FR', 'France'],
  ES: ['ES', 'Spain', 'España'],
  IT: ['IT', 'Italy'],
  BR: ['BR', 'Brazil', 'Brasil'],
  IN: ['IN', 'India'],
};

/**
 * Rows of a realistic export carrying every Meta key: accented and compound names, cities, states (codes and names),
 * ZIP and ZIP+4, genders in several spellings, birthdays (MM/DD/YYYY, ISO, two-digit years, some implausible),
 * phones from eight countries in mixed forms (E.164, spaced, national, `00`, formula-guarded, Excel-damaged, junk).
 * About 1 % duplicates and 1 % rows without any identifier. Deterministic for a seed.
 */
export function makeMetaRowWriter(seed = 20250601) {
  const r = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const digits = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(r() * 10);
    return s;
  };
  const nz = () => String(2 + Math.floor(r() * 8));
  /** A subscriber number in national form (without trunk prefix) and the country calling code. */
  function subscriber(c: MetaCountry): [cc: string, national: string, trunk: string] {
    switch (c) {
      case 'US':
        return ['1', `${pick(['212', '415', '512', '617', '305', '206'])}${nz()}${digits(6)}`, '1'];
      case 'GB':
        return [
          '44',
          r() < 0.7 ? `7${pick(['4', '5', '7', '8', '9'])}${digits(8)}` : `20${pick(['7', '3', '8'])}${digits(7)}`,
          '0',
        ];
      case 'DE':
        return [
          '49',
          r() < 0.6
            ? `15${pick(['1', '2', '7', '9'])}${digits(8)}`
            : `${pick(['30', '89', '40', '221'])}${nz()}${digits(6)}`,
          '0',
        ];
      case 'FR':
        return ['33', `${pick(['6', '7', '1', '4'])}${digits(8)}`, '0'];
      case 'ES':
        return ['34', `${pick(['6', '7', '9'])}${digits(8)}`, ''];
      case 'IT':
        return ['39', r() < 0.6 ? `3${pick(['2', '3', '4', '8', '9'])}${digits(8)}` : `06${digits(8)}`, ''];
      case 'BR':
        return ['55', `${pick(['11', '21', '48', '61'])}9${nz()}${digits(7)}`, '0'];
      case 'IN':
        return ['91', `${pick(['9', '8', '7'])}${digits(9)}`, '0'];
    }
  }
  function phone(c: MetaCountry): string {
    const [cc, nat, trunk] = subscriber(c);
    const style = r();
    if (style < 0.3) return `+${cc}${nat}`;
    if (style < 0.45) return `+${cc} ${nat.slice(0, 3)} ${nat.slice(3, 6)} ${nat.slice(6)}`;
    if (style < 0.6) return `${trunk}${nat}`;
    if (style < 0.68)
      return c === 'US'
        ? `(${nat.slice(0, 3)}) ${nat.slice(3, 6)}-${nat.slice(6)}`
        : `${trunk}${nat.slice(0, 3)} ${nat.slice(3)}`;
    if (style < 0.75) return `00${cc}${nat}`;
    if (style < 0.82) return `${cc}${nat}`;
    if (style < 0.88) return `'+${cc} ${nat}`;
    if (style < 0.91) return `+${cc}-${nat.slice(0, 4)}-${nat.slice(4)}`;
    if (style < 0.93) return `${nat.slice(0, 1)}.${nat.slice(1, 6)}E+${nat.length - 1}`;
    if (style < 0.96) return `+${cc}${digits(3)}`;
    if (style < 0.98) return `tel:+${cc}${nat}`;
    return `${nat} ext. ${digits(2)}`;
  }
  function zip(c: MetaCountry): string {
    switch (c) {
      case 'US':
        return r() < 0.3 ? `${digits(5)}-${digits(4)}` : r() < 0.1 ? `0${digits(4)}` : digits(5);
      case 'GB':
        return `${pick(['SW1A', 'M1', 'EH1', 'BS8', 'NE1'])} ${Math.floor(r() * 10)}${pick(['AA', 'BD', 'HQ'])}`;
      case 'BR':
        return `${digits(5)}-${digits(3)}`;
      case 'IN':
        return `${nz()}${digits(5)}`;
      default:
        return `${nz()}${digits(4)}`;
    }
  }
  function birthday(): [dob: string, doby: string] {
    const y = 1940 + Math.floor(r() * 66);
    const m = 1 + Math.floor(r() * 12);
    const d = 1 + Math.floor(r() * 28);
    const p = (n: number) => String(n).padStart(2, '0');
    const style = r();
    if (style < 0.35) return [`${p(m)}/${p(d)}/${y}`, ''];
    if (style < 0.55) return [`${y}-${p(m)}-${p(d)}`, ''];
    if (style < 0.7) return [`${p(m)}/${p(d)}/${String(y).slice(2)}`, String(y)];
    if (style < 0.8) return ['', String(y)];
    if (style < 0.83) return [`${p(m)}/${p(d)}/1850`, ''];
    return ['', ''];
  }
  let lastEmail = '';
  return function row(i: number): string {
    const c = pick(META_COUNTRIES);
    const first = pick(META_FIRST);
    const last = pick(META_LAST);
    const [city, state] = pick(META_CITY[c]);
    const roll = r();
    let email: string;
    if (roll < 0.01 && lastEmail) email = lastEmail;
    else if (roll < 0.05) email = '';
    else {
      const local = `${first}.${last}`
        .normalize('NFKD')
        .replace(/[^A-Za-z.]/g, '')
        .toLowerCase();
      email = `${local}.${i}@${pick(['example.com', 'gmail.com', 'googlemail.com', 'example.de', 'EXAMPLE.org'])}`;
      if (r() < 0.05) email = ` ${email.toUpperCase()} `;
      else if (r() < 0.02) email = `${local}${i}@@example.com`;
    }
    if (email) lastEmail = email;
    const p1 = roll >= 0.01 && roll < 0.05 ? (roll < 0.02 ? '' : phone(c)) : r() < 0.7 ? phone(c) : '';
    const p2 = r() < 0.15 ? phone(c) : '';
    const [dob, doby] = birthday();
    const cells = [
      email,
      p1,
      p2,
      r() < 0.03 ? `${first} ${last}` : first,
      r() < 0.02 ? '' : last,
      r() < 0.05 ? '' : zip(c),
      r() < 0.04 ? '' : city,
      state,
      pick(META_COUNTRY_CELL[c]),
      dob,
      doby,
      pick(['M', 'F', 'm', 'f', 'male', 'Female', 'W', 'x', '', '', 'non-binary']),
      r() < 0.3 ? `u${100000 + i}` : '',
      r() < 0.5 ? (r() * 500).toFixed(2) : '',
    ];
    let line = '';
    for (let k = 0; k < cells.length; k++) line += (k ? ',' : '') + csvCell(cells[k]!);
    return `${line}\n`;
  };
}

/** The hostile records mixed into {@link metaExportText}: every reading recovery path, once each. */
export const HOSTILE_RECORDS = [
  // quoted newline and doubled quotes in a value
  'quoted.nl@example.com,+15125550100,,"Mary\nAnn","O""Brien",78701,Austin,TX,US,01/02/1990,,F,,\n',
  // broken quoting (closes dirtily on a later line): only its first line is lost
  'broken@example.com,+15125550101,,"Bro\nken"x,Smith,78701,Austin,TX,US,,,M,,\n',
  // CRLF line ending
  'crlf@example.com,+15125550102,,Carl,Rolf,78701,Austin,TX,US,,,M,,\r\n',
  // blank line and Excel blank record
  '\n',
  ',,,,,,,,,,,,,\n',
  // control character (stripped by default)
  'ctrl\u0007@example.com,+15125550103,,Cora,Trl,78701,Austin,TX,US,,,F,,\n',
  // too few fields
  'short@example.com,+15125550104\n',
  // extra empty trailing fields (tolerated)
  'trailing@example.com,+15125550105,,Tim,Ling,78701,Austin,TX,US,,,M,,,,\n',
  // extra non-empty field (column_count_mismatch)
  'extra@example.com,+15125550106,,Ex,Tra,78701,Austin,TX,US,,,M,,,oops\n',
  // U+FFFD: undecodable
  'bad\ufffd@example.com,+15125550107,,Bad,Byte,78701,Austin,TX,US,,,M,,\n',
  // stray quote inside an unquoted field (relax_quotes)
  'stray@example.com,+15125550108,,Str"ay,Quote,78701,Austin,TX,US,,,M,,\n',
];

/**
 * A whole "every Meta key" export as text: header, `rows` generated rows, and one of each {@link HOSTILE_RECORDS}
 * every `hostileEvery` rows (0: none). Deterministic.
 */
export function metaExportText(rows: number, hostileEvery = 997, seed = 20250601): string {
  const row = makeMetaRowWriter(seed);
  const parts = [`${META_HEADER.join(',')}\n`];
  let h = 0;
  for (let i = 0; i < rows; i++) {
    parts.push(row(i));
    if (hostileEvery > 0 && i % hostileEvery === hostileEvery - 1)
      parts.push(HOSTILE_RECORDS[h++ % HOSTILE_RECORDS.length]!);
  }
  return parts.join('');
}

/** Streams a "every Meta key" export of `rows` rows to `path` unless it already exists (see {@link ensureShopifyExport}). */
export async function ensureMetaExport(path: string, rows: number, progress?: (msg: string) => void): Promise<void> {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.partial`;
  const out = createWriteStream(tmp, { highWaterMark: 1 << 20 });
  const row = makeMetaRowWriter();
  const t0 = performance.now();
  let chunk = `${META_HEADER.join(',')}\n`;
  let h = 0;
  for (let i = 0; i < rows; i++) {
    chunk += row(i);
    if (i % 997 === 996) chunk += HOSTILE_RECORDS[h++ % HOSTILE_RECORDS.length];
    if (chunk.length >= 256 * 1024) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
    if (progress && i > 0 && i % 1_000_000 === 0) progress(`  generated ${i.toLocaleString('en-US')} rows`);
  }
  out.end(chunk);
  await once(out, 'finish');
  const fh = await open(tmp, 'r+');
  await fh.sync();
  await fh.close();
  renameSync(tmp, path);
  progress?.(
    `  wrote ${path} (${(statSync(path).size / 1e6).toFixed(1)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}
