/**
 * Contact exports for the scale bench, generated in memory: Klaviyo profiles (email, Klaviyo id, names, phone in
 * mixed national and international formats for 70 %, city, region, country, zip, source, consent, dates, orders),
 * about 170 bytes a row, with a quoted multi-line source every 13th row. Deterministic.
 */
export const KLAVIYO_HEADER =
  'Email,Klaviyo ID,First Name,Last Name,Phone Number,City,State / Region,Country,Zip Code,Source,Email Marketing Consent,Profile Created On,Last Open,Last Click,Historic Number Of Orders,Historic Customer Lifetime Value';

const FIRST = ['Ann', 'Bob', 'Zoë', 'José', 'Mia', 'Liam', 'Noah', 'Emma', 'Olga', 'Yuki', 'Omar', 'Lena'];
const LAST = ['Müller', 'Smith', "O'Connor", 'García', 'Rossi', 'Nguyen', 'Kowalski', 'Dubois', 'Jensen', 'Silva'];
const PLACES: Array<[string, string, string, (i: number) => string, (i: number) => string]> = [
  [
    'United States',
    'Springfield',
    'IL',
    (i) => `${62701 + (i % 90)}`,
    (i) => `+1 (217) 555-${String(i % 10000).padStart(4, '0')}`,
  ],
  ['Germany', 'Berlin', '', (i) => `${10115 + (i % 800)}`, (i) => `0151 ${String(2000000 + (i % 7000000))}`],
  ['United Kingdom', 'London', '', () => 'SW1A 1AA', (i) => `07700 ${String(900000 + (i % 99999))}`],
  ['France', 'Paris', '', (i) => `${75001 + (i % 20)}`, (i) => `06 12 ${String(i % 100).padStart(2, '0')} 34 56`],
  ['Canada', 'Toronto', 'ON', () => 'M5V 2T6', (i) => `416-555-${String(i % 10000).padStart(4, '0')}`],
];

export function klaviyoRow(i: number): string {
  const [country, city, region, zip, phone] = PLACES[i % PLACES.length]!;
  const consent = i % 17 === 0 ? 'Unsubscribed' : i % 23 === 0 ? 'Never Subscribed' : 'Subscribed';
  const source = i % 13 === 0 ? '"Signup form\r\nfooter, ""spring"" campaign"' : 'Signup form';
  return [
    `person${i}.${LAST[i % LAST.length]!.toLowerCase().replace(/[^a-z]/g, '')}@example.com`,
    `01H${String(i).padStart(9, '0')}KLV`,
    FIRST[i % FIRST.length],
    LAST[(i >> 2) % LAST.length],
    i % 10 < 7 ? phone(i) : '',
    city,
    region,
    country,
    zip(i),
    source,
    consent,
    `2024-${String((i % 12) + 1).padStart(2, '0')}-${String((i % 28) + 1).padStart(2, '0')} 12:00:00`,
    i % 4 === 0 ? '2026-10-01 08:00:00' : '',
    i % 8 === 0 ? '2026-10-02 09:30:00' : '',
    String(i % 7),
    ((i % 997) * 3.17).toFixed(2),
  ].join(',');
}

export function klaviyoExport(rows: number): string {
  const parts: string[] = [KLAVIYO_HEADER];
  for (let i = 0; i < rows; i++) parts.push(klaviyoRow(i));
  return `${parts.join('\r\n')}\r\n`;
}
