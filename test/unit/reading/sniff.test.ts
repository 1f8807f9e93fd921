import { describe, expect, it } from 'vitest';
import { countFields, sniffDelimiter, splitFields } from '../../../functions/reading';
import { locateHeader, sampleLines } from '../../../functions/reading/sniff';

describe('sniffDelimiter', () => {
  it.each([
    [',', ['email,first,last', 'a@x.com,Ada,Lovelace', 'b@x.com,Alan,Turing']],
    [';', ['EMAIL;NOM;PRENOM', 'a@x.com;Müller;Hélène', 'b@x.com;Dupont, fils;Jean']],
    ['\t', ['Email\tName\tCity', 'a@x.com\tAda\tLondon, UK', 'b@x.com\tAlan\tWilmslow']],
    ['|', ['email|name|tags', 'a@x.com|Ada|a,b,c', 'b@x.com|Alan|d']],
  ] as const)('picks %j', (expected, lines) => {
    expect(sniffDelimiter(lines)).toBe(expected);
  });

  it('ignores delimiters inside quotes', () => {
    const lines = ['email;name;note', 'a@x.com;"Smith, Ada";"x, y, z"', 'b@x.com;"Turing, Alan";"p, q"'];
    expect(sniffDelimiter(lines)).toBe(';');
  });

  it('prefers the delimiter with the consistent field count (decimal commas in a ; file)', () => {
    const lines = ['LEID;LATITUDE;LONGITUDE', '1;44,8423;-0,5834', '2;48,85;2,35', '3;45;4,1'];
    expect(sniffDelimiter(lines)).toBe(';');
  });

  it('falls back to , for a single-column file', () => {
    expect(sniffDelimiter(['a@x.com', 'b@y.org', 'c@z.net'])).toBe(',');
    expect(sniffDelimiter([])).toBe(',');
  });

  it("follows Excel's sep= hint line", () => {
    expect(sniffDelimiter(['sep=;', 'a,b;c', 'd,e;f'])).toBe(';');
  });

  it('is not fooled by a preamble', () => {
    const lines = ['Notes:', '"When exporting, you may notice, things"', 'First Name,Last Name,Email', 'A,B,a@x.com'];
    expect(sniffDelimiter(lines)).toBe(',');
  });
});

describe('splitFields / countFields', () => {
  it('follows csv-parse relax_quotes rules', () => {
    expect(splitFields('a,"b,c",d', ',')).toEqual(['a', '"b,c"', 'd']);
    expect(splitFields('a,"b ""x"", c",d', ',')).toEqual(['a', '"b ""x"", c"', 'd']);
    // A quote in the middle of a field is literal and does not protect the delimiter.
    expect(splitFields('a,5" screen, big,d', ',')).toEqual(['a', '5" screen', ' big', 'd']);
    expect(countFields('', ',')).toBe(1);
    expect(countFields(',,,', ',')).toBe(4);
  });
});

describe('locateHeader', () => {
  const locate = (text: string) => locateHeader(sampleLines(text, true), 1 << 20);

  it('skips an Excel title row and a blank row made of delimiters', () => {
    const loc = locate('Contacts export 2024,,,\n,,,\nemail,first,last,zip\na@x.com,A,B,1\nb@x.com,C,,2\n');
    expect(loc).toMatchObject({ delimiter: ',', headerLine: 3, synthesized: false, fieldCount: 4 });
  });

  it('accepts a header shorter than rows that end with an empty trailing field', () => {
    const loc = locate('email,first,last\na@x.com,A,B,\nb@x.com,C,D,\n');
    expect(loc).toMatchObject({ headerLine: 1, fieldCount: 4 });
  });

  it('synthesizes a header for one e-mail per line', () => {
    expect(locate('a@x.com\nb@x.com\n')).toMatchObject({ headerLine: 0, synthesized: true });
    expect(locate('email\na@x.com\n')).toMatchObject({ headerLine: 1, synthesized: false });
  });

  it('joins a quoted newline while sniffing', () => {
    const lines = sampleLines('email,addr\na@x.com,"1 Main St\nApt 4"\nb@x.com,x\n', true);
    expect(lines.map((l) => l.line)).toEqual([1, 2, 4]);
  });
});
