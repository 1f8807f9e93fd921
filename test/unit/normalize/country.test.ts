import { test } from '@fast-check/vitest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COUNTRY_TABLE, countryIso2, normalizeCountry } from '../../../functions/core/normalize';
import { foldKey } from '../../../functions/core/normalize/text';
import { anyString } from './arbitraries';

describe('normalizeCountry (Meta COUNTRY)', () => {
  it.each([
    ['us', 'us'],
    ['US', 'us'],
    ['USA', 'us'],
    ['U.S.A.', 'us'],
    ['United States', 'us'],
    ['United States of America', 'us'],
    ['uk', 'gb'], // Mailchimp's uk
    ['UK', 'gb'],
    ['GB', 'gb'],
    ['GBR', 'gb'],
    ['United Kingdom', 'gb'],
    ['England', 'gb'],
    ['Germany', 'de'],
    ['Deutschland', 'de'],
    ['DEU', 'de'],
    ['España', 'es'],
    ['Espana', 'es'],
    ['Österreich', 'at'],
    ['Oesterreich', 'at'],
    ['Schweiz', 'ch'],
    ['Suisse', 'ch'],
    ['Svizzera', 'ch'],
    ['Nederland', 'nl'],
    ['The Netherlands', 'nl'],
    ['Holland', 'nl'],
    ['Italia', 'it'],
    ['Sverige', 'se'],
    ['Norge', 'no'],
    ['Polska', 'pl'],
    ['Česko', 'cz'],
    ['Czech Republic', 'cz'],
    ["Côte d'Ivoire", 'ci'],
    ['Cote dIvoire', 'ci'],
    ['Korea, Republic of', 'kr'],
    ['South Korea', 'kr'],
    ['Bosnia & Herzegovina', 'ba'],
    ['Trinidad & Tobago', 'tt'],
    ['St. Lucia', 'lc'],
    ['Russia', 'ru'],
    ['Россия', 'ru'],
    ['日本', 'jp'],
    ['Türkiye', 'tr'],
    ['Turkey', 'tr'],
    ['Congo, The Democratic Republic of the', 'cd'],
    ['Kosovo', 'xk'],
    ['  france\t', 'fr'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeCountry(input)).toBe(expected);
  });

  // #10: these were read as the list's default (US) before; an EEA person must never land in a laxer zone.
  it.each([
    ['GER', 'de'],
    ['ger', 'de'],
    ['Federal Republic of Germany', 'de'],
    ['Bundesrepublik Deutschland', 'de'],
    ["République fédérale d'Allemagne", 'de'],
    ['República Federal de Alemania', 'de'],
    ['République française', 'fr'],
    ['Republique Francaise', 'fr'],
    ['French Republic', 'fr'],
    ['Französische Republik', 'fr'],
    ['República Francesa', 'fr'],
    ['Kingdom of Spain', 'es'],
    ['Reino de España', 'es'],
    ['Italian Republic', 'it'],
    ['Repubblica Italiana', 'it'],
    ['Republik Österreich', 'at'],
    ['Kingdom of the Netherlands', 'nl'],
    ['Koninkrijk der Nederlanden', 'nl'],
    ['NED', 'nl'],
    ['Royaume de Belgique', 'be'],
    ['Grand-Duché de Luxembourg', 'lu'],
    ['Großherzogtum Luxemburg', 'lu'],
    ['Hellenic Republic', 'gr'],
    ['GRE', 'gr'],
    ['Portuguese Republic', 'pt'],
    ['POR', 'pt'],
    ['Rzeczpospolita Polska', 'pl'],
    ['Republic of Poland', 'pl'],
    ['Kingdom of Denmark', 'dk'],
    ['DEN', 'dk'],
    ['Kingdom of Sweden', 'se'],
    ['Republic of Finland', 'fi'],
    ['Republic of Estonia', 'ee'],
    ['Republic of Latvia', 'lv'],
    ['LAT', 'lv'],
    ['Republic of Lithuania', 'lt'],
    ['Republic of Croatia', 'hr'],
    ['CRO', 'hr'],
    ['Republic of Slovenia', 'si'],
    ['SLO', 'si'],
    ['République slovaque', 'sk'],
    ['República Checa', 'cz'],
    ['Republic of Cyprus', 'cy'],
    ['Republic of Malta', 'mt'],
    ['Republic of Bulgaria', 'bg'],
    ['BUL', 'bg'],
    ['Republik Ungarn', 'hu'],
    ['Kingdom of Norway', 'no'],
    ['Principality of Liechtenstein', 'li'],
    ['Fürstentum Liechtenstein', 'li'],
    ['Swiss Confederation', 'ch'],
    ['Schweizerische Eidgenossenschaft', 'ch'],
    ['Confédération suisse', 'ch'],
    ['SUI', 'ch'],
    ["Royaume-Uni de Grande-Bretagne et d'Irlande du Nord", 'gb'],
  ])('%j → %j (EEA, CH and UK long names and sports codes)', (input, expected) => {
    expect(normalizeCountry(input)).toBe(expected);
  });

  it('no added sports code is the alpha-3 of another country', () => {
    const alpha3 = new Map(COUNTRY_TABLE.map(([a2, a3]) => [a3, a2]));
    for (const [a2, , ...names] of COUNTRY_TABLE)
      for (const n of names) if (/^[A-Z]{3}$/.test(n)) expect(alpha3.get(n) ?? a2, n).toBe(a2);
  });

  it.each([[''], ['  '], ['Atlantis'], ['XX'], ['N/A'], ['n.a.'], ['-'], ['Europe'], ['Germany!!x']])(
    '%j → undefined',
    (input) => {
      expect(normalizeCountry(input)).toBeUndefined();
    },
  );

  it('covers all 249 ISO 3166-1 codes (plus XK) with unique alpha-2 and alpha-3 codes', () => {
    const alpha2 = COUNTRY_TABLE.map((r) => r[0]);
    const alpha3 = COUNTRY_TABLE.map((r) => r[1]);
    expect(alpha2).toHaveLength(250);
    expect(new Set(alpha2).size).toBe(250);
    expect(new Set(alpha3).size).toBe(250);
    for (const [a2, a3] of COUNTRY_TABLE) {
      expect(a2).toMatch(/^[A-Z]{2}$/);
      expect(a3).toMatch(/^[A-Z]{3}$/);
      expect(normalizeCountry(a2)).toBe(a2.toLowerCase());
      expect(normalizeCountry(a3)).toBe(a2.toLowerCase());
    }
  });

  it('has no name that points to two countries', () => {
    const seen = new Map<string, string>();
    for (const [a2, , ...names] of COUNTRY_TABLE) {
      for (const name of names) {
        const key = foldKey(name);
        expect(key.length, name).toBeGreaterThan(0);
        const other = seen.get(key);
        if (other !== undefined) expect(`${name}: ${other}`).toBe(`${name}: ${a2}`);
        seen.set(key, a2);
        expect(normalizeCountry(name), name).toBe(a2.toLowerCase());
      }
    }
  });

  it('agrees with the ICU English name of every code', () => {
    const display = new Intl.DisplayNames(['en'], { type: 'region' });
    for (const [a2] of COUNTRY_TABLE) {
      const name = display.of(a2);
      if (name !== undefined && name !== a2) expect(normalizeCountry(name), `${a2} ${name}`).toBe(a2.toLowerCase());
    }
  });

  test.prop([fc.oneof(anyString, fc.constantFrom(...COUNTRY_TABLE.flat()))])(
    'never throws; two lowercase letters; idempotent',
    (s) => {
      const c = normalizeCountry(s);
      if (c === undefined) return;
      expect(c).toMatch(/^[a-z]{2}$/);
      expect(normalizeCountry(c)).toBe(c);
      expect(countryIso2(s)).toBe(c.toUpperCase());
    },
  );
});

describe('countryIso2', () => {
  it.each([
    ['uk', 'GB'],
    ['United States of America', 'US'],
    ['Deutschland', 'DE'],
    [undefined, undefined],
    ['Atlantis', undefined],
  ])('%j → %j', (input, expected) => {
    expect(countryIso2(input)).toBe(expected);
  });
});
