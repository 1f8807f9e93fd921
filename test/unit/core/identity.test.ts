import { describe, expect, it } from 'vitest';
import { externalIdHash, identityOf } from '../../../functions/core/identity';
import type { RawIdentity } from '../../../functions/core/model';
import { rowContext, sha256Hex } from '../../../functions/core/normalize';

const raw = (over: Partial<RawIdentity>): RawIdentity => ({ emails: [], phones: [], ...over });
const id = (over: Partial<RawIdentity>, defaultCountry?: string) =>
  identityOf(rowContext(raw(over), { defaultCountry }));

describe('identityOf: the platform-neutral identity', () => {
  const email = sha256Hex('jane@example.com');
  const phone = sha256Hex('16169547888');

  it.each([
    ['email, phone and id', { emails: ['jane@example.com'], phones: ['+1 616 954 7888'], externalId: 'CRM-42' }, email],
    ['phone and id', { phones: ['+16169547888'], externalId: 'CRM-42' }, phone],
    ['id only', { externalId: 'CRM-42' }, externalIdHash('CRM-42')],
    [
      'a device id only',
      { madids: ['AECE52E7-03EE-455A-B3C4-E57283966239'] },
      sha256Hex('madid:aece52e7-03ee-455a-b3c4-e57283966239'),
    ],
    ['nothing usable', { firstName: 'Jane' }, undefined],
  ] as const)('cid of %s', (_name, over, expected) => {
    expect(id(over as Partial<RawIdentity>).cid).toBe(expected);
  });

  it('is stable across spellings of the same email, and lists every identity', () => {
    const a = id({ emails: ['Jane@Example.com'] });
    const b = id({ emails: ['  jane@example.COM\t', 'jane.work@example.com'], phones: ['+16169547888'] });
    expect(a.cid).toBe(b.cid);
    expect(b.ids).toEqual([email, sha256Hex('jane.work@example.com'), phone]);
    expect(b.emailCount).toBe(2);
  });

  it('keeps an external id from colliding with an email spelled like it', () => {
    expect(externalIdHash('jane@example.com')).not.toBe(email);
  });

  it('reads an "external id" that holds an email or a phone as that key, never as a clear id', () => {
    expect(id({ externalId: ' Jane@Example.com ' })).toMatchObject({ cid: email, emailCount: 1 });
    expect(id({ externalId: '+1 (616) 954-7888' }).cid).toBe(phone);
    // A customer number stays an id.
    expect(id({ externalId: '7210448301122' }).cid).toBe(externalIdHash('7210448301122'));
  });

  it('says why when an identifier was present but unusable', () => {
    expect(id({ emails: ['jane@'] }).problems).toEqual([{ field: 'email', reason: 'invalid_email' }]);
    expect(id({ phones: ['12'] }).problems).toEqual([{ field: 'phone', reason: 'invalid_phone' }]);
  });
});
