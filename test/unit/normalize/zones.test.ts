import { describe, expect, it } from 'vitest';
import { ZONES } from '../../../functions/core/model';
import { zoneOf } from '../../../functions/core/normalize';

describe('zoneOf', () => {
  it.each([
    ['DE', undefined, 'EEA'],
    ['FR', undefined, 'EEA'],
    ['IE', undefined, 'EEA'],
    ['IS', undefined, 'EEA'],
    ['LI', undefined, 'EEA'],
    ['NO', undefined, 'EEA'],
    ['RE', undefined, 'EEA'], // Réunion: EU outermost region
    ['GB', undefined, 'UK'],
    ['GG', undefined, 'UK'],
    ['JE', undefined, 'UK'],
    ['IM', undefined, 'UK'],
    ['CH', undefined, 'CH'],
    ['US', 'CA', 'US_PRIVACY'],
    ['US', 'VA', 'US_PRIVACY'],
    ['US', 'NE', 'US_PRIVACY'],
    ['US', 'ca', 'US_PRIVACY'],
    ['US', 'California', 'US_PRIVACY'],
    ['US', 'NY', 'US'],
    ['US', 'FL', 'US'],
    ['US', undefined, 'US'],
    ['US', 'Nowhere', 'US'],
    ['PR', undefined, 'US'],
    ['CA', 'ON', 'OTHER'],
    ['JP', undefined, 'OTHER'],
    ['TR', undefined, 'OTHER'],
    ['de', undefined, 'EEA'],
    [undefined, undefined, 'UNKNOWN'],
    ['', undefined, 'UNKNOWN'],
  ])('%s / %s → %s', (country, region, expected) => {
    expect(zoneOf(country, region)).toBe(expected);
  });

  it.each([
    'AT',
    'BE',
    'BG',
    'HR',
    'CY',
    'CZ',
    'DK',
    'EE',
    'FI',
    'FR',
    'DE',
    'GR',
    'HU',
    'IE',
    'IT',
    'LV',
    'LT',
    'LU',
    'MT',
    'NL',
    'PL',
    'PT',
    'RO',
    'SK',
    'SI',
    'ES',
    'SE',
    'IS',
    'LI',
    'NO',
  ])('%s is in the EEA', (country) => {
    expect(zoneOf(country)).toBe('EEA');
  });

  it.each([
    'CA',
    'VA',
    'CO',
    'CT',
    'UT',
    'TX',
    'OR',
    'MT',
    'IA',
    'DE',
    'NH',
    'NJ',
    'TN',
    'MN',
    'MD',
    'IN',
    'KY',
    'RI',
    'NE',
  ])('US-%s has a comprehensive privacy law', (state) => {
    expect(zoneOf('US', state)).toBe('US_PRIVACY');
  });

  it('only returns model zones', () => {
    for (const c of ['DE', 'GB', 'CH', 'US', 'BR', undefined]) expect(ZONES).toContain(zoneOf(c, 'CA'));
  });
});
