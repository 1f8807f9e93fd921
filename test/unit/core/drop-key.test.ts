import { describe, expect, it } from 'vitest';
import { parseDropKey, rejectedRowsCsv } from '../../../functions/core/ingest';

describe('parseDropKey: where a dropped object belongs', () => {
  it.each([
    ['incoming/newsletter/export.zip', { list: 'newsletter', kind: 'snapshot', file: 'export.zip' }],
    ['incoming/shop/2026/11/customers.csv', { list: 'shop', kind: 'snapshot', file: '2026/11/customers.csv' }],
    ['incoming/shop/delta/new.csv', { list: 'shop', kind: 'delta', file: 'new.csv' }],
    ['incoming/shop/suppress/optouts.csv', { list: 'shop', kind: 'suppress', file: 'optouts.csv' }],
    ['incoming/shop/delta', { list: 'shop', kind: 'snapshot', file: 'delta' }],
  ])('%s', (key, expected) => {
    expect(parseDropKey(key)).toEqual(expected);
  });

  it.each([
    ['incoming/contacts.csv', /incoming\/<list-id>\//],
    ['reports/x.csv', /incoming\/<list-id>\//],
    ['incoming/News Letter/x.csv', /lowercase letters/],
    ['incoming/../reports/x.csv', /lowercase letters|\.\./],
    ['incoming/newsletter/../../reports/x.csv', /\.\. path segment/],
    ['incoming/newsletter/./x.csv', /\.\. path segment|\. or \.\./],
    ['incoming/newsletter//x.csv', /empty/],
  ])('refuses %s with a message that says what to do', (key, message) => {
    const r = parseDropKey(key);
    expect('error' in r).toBe(true);
    expect((r as { error: string }).error).toMatch(message);
  });
});

describe('rejected-rows CSV', () => {
  it('names rows, reasons and columns, and neutralizes formula-looking names', () => {
    const csv = rejectedRowsCsv([
      { entry: 'members.csv', line: 7, reason: 'invalid_email', column: 'Email Address' },
      { entry: '=cmd|calc.csv', line: 9, reason: 'invalid_phone', column: '+Phone, mobile' },
    ]);
    expect(csv).toBe(
      'entry,line,reason,column\nmembers.csv,7,invalid_email,Email Address\n\'=cmd|calc.csv,9,invalid_phone,"\'+Phone, mobile"\n',
    );
  });
});
