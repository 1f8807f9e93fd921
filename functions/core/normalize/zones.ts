import type { Zone } from '../model';
import { usStateCode } from './location';

/**
 * EU 27 + Iceland, Liechtenstein, Norway. Also the EU's outermost regions that have their own ISO code
 * (French Guiana, Guadeloupe, Martinique, Réunion, Mayotte, Saint-Martin) and Åland, which are EU territory.
 */
const EEA: ReadonlySet<string> = new Set([
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
  'GF',
  'GP',
  'MQ',
  'RE',
  'YT',
  'MF',
  'AX',
]);

/** UK GDPR: Great Britain and Northern Ireland, plus the Crown Dependencies with equivalent laws. */
const UK: ReadonlySet<string> = new Set(['GB', 'GG', 'JE', 'IM']);

/** US territories: federal law applies, no state consumer-privacy law, so they count as plain US. */
const US_TERRITORIES: ReadonlySet<string> = new Set(['PR', 'GU', 'VI', 'AS', 'MP', 'UM']);

/**
 * US states with a comprehensive consumer-privacy law in force or enacted by 2026.
 * A list to keep current: review when states pass new laws (check the IAPP state privacy legislation tracker).
 */
const US_PRIVACY_STATES: ReadonlySet<string> = new Set([
  'CA', // CCPA/CPRA
  'VA', // VCDPA
  'CO', // CPA
  'CT', // CTDPA
  'UT', // UCPA
  'TX', // TDPSA
  'OR', // OCPA
  'MT', // MCDPA
  'IA', // ICDPA
  'DE', // DPDPA
  'NH', // NHPA
  'NJ', // NJDPA
  'TN', // TIPA
  'MN', // MCDPA
  'MD', // MODPA
  'IN', // ICDPA (2026)
  'KY', // KCDPA (2026)
  'RI', // RIDTPPA (2026)
  'NE', // NDPA
]);

/**
 * The regulatory zone of a contact. `countryIso2Upper` is ISO 3166-1 alpha-2 (see countryIso2), `regionUpper` the
 * US state code; both are uppercased defensively, and a US state name is accepted too.
 */
export function zoneOf(countryIso2Upper?: string, regionUpper?: string): Zone {
  // Rows of a file mostly share a country (and often a state): the last answer is kept, and the answers of the few
  // countries (and US states) a file holds are remembered, the zone of a country other than the US being the same
  // whatever the region.
  if (countryIso2Upper === lastZone.country && regionUpper === lastZone.region) return lastZone.zone;
  let zone: Zone;
  if (countryIso2Upper === undefined || countryIso2Upper.length === 0) zone = 'UNKNOWN';
  else {
    let byCountry = zoneByCountry.get(countryIso2Upper);
    if (byCountry === undefined) {
      byCountry = countryIso2Upper.toUpperCase() === 'US' ? BY_US_STATE : zoneOnce(countryIso2Upper, undefined);
      remember(zoneByCountry, countryIso2Upper, byCountry);
    }
    if (byCountry !== BY_US_STATE) zone = byCountry;
    else if (regionUpper === undefined) zone = 'US';
    else {
      let byState = usZoneByRegion.get(regionUpper);
      if (byState === undefined) {
        byState = zoneOnce('US', regionUpper);
        remember(usZoneByRegion, regionUpper, byState);
      }
      zone = byState;
    }
  }
  lastZone.country = countryIso2Upper;
  lastZone.region = regionUpper;
  lastZone.zone = zone;
  return zone;
}

const lastZone: { country?: string; region?: string; zone: Zone } = { zone: 'UNKNOWN' };
/** Marks a country whose zone follows the US state. */
const BY_US_STATE = 'by US state' as const;
/** Bounded (a hostile file may write a different country in every row): cleared when full. */
const ZONE_MEMO_MAX = 1024;
const zoneByCountry = new Map<string, Zone | typeof BY_US_STATE>();
const usZoneByRegion = new Map<string, Zone>();

function remember<V>(memo: Map<string, V>, key: string, value: V): void {
  if (memo.size >= ZONE_MEMO_MAX) memo.clear();
  memo.set(key, value);
}

/** {@link zoneOf} without its memos: the reference the tests hold it to. */
export const zoneOfUncached = (countryIso2Upper?: string, regionUpper?: string): Zone =>
  zoneOnce(countryIso2Upper, regionUpper);

function zoneOnce(countryIso2Upper?: string, regionUpper?: string): Zone {
  if (countryIso2Upper === undefined || countryIso2Upper.length === 0) return 'UNKNOWN';
  const country = countryIso2Upper.toUpperCase();
  if (EEA.has(country)) return 'EEA';
  if (UK.has(country)) return 'UK';
  if (country === 'CH') return 'CH';
  if (country === 'US') {
    if (regionUpper === undefined) return 'US';
    const state = regionUpper.length === 2 ? regionUpper.toUpperCase() : usStateCode(regionUpper);
    return state !== undefined && US_PRIVACY_STATES.has(state) ? 'US_PRIVACY' : 'US';
  }
  if (US_TERRITORIES.has(country)) return 'US';
  return 'OTHER';
}
