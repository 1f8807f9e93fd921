import { createSign, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../functions/core/normalize';
import {
  DATAMANAGER_SCOPE,
  type FakeDataManager,
  GOOGLE_TOKEN_URL,
  startGoogleDataManagerServer,
} from './google-datamanager-server';

const ACCOUNT = '1234567890';
const MANAGER = '5550001111';
const TOKEN = 'test-access-token';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const EMAIL = 'sync@example-project.iam.gserviceaccount.com';

let clock = Date.parse('2026-11-20T12:00:00Z');
let fake: FakeDataManager;
let listId: string;

const email = (s: string) => ({ emailAddress: sha256Hex(s) });
const granted = { adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_GRANTED' };
const destination = (id = listId) => ({
  operatingAccount: { accountType: 'GOOGLE_ADS', accountId: ACCOUNT },
  productDestinationId: id,
});
const ingestBody = (members: unknown[], extra: Record<string, unknown> = {}) => ({
  destinations: [destination()],
  audienceMembers: members,
  consent: granted,
  encoding: 'HEX',
  termsOfService: { customerMatchTermsOfServiceStatus: 'ACCEPTED' },
  ...extra,
});
const member = (s: string) => ({ userData: { userIdentifiers: [email(s)] } });

async function call(path: string, body?: unknown, token: string | null = TOKEN, method = 'POST') {
  const res = await fetch(`${fake.baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Body };
}

interface Detail {
  '@type': string;
  reason?: string;
  metadata?: Record<string, string>;
  retryDelay?: string;
  fieldViolations?: { field: string; description: string; reason?: string }[];
}
interface Body {
  error?: { code: number; status: string; message: string; details: Detail[] };
  requestId?: string;
  userLists?: { id: string }[];
  [k: string]: unknown;
}
const detail = (json: Body, type: string) =>
  json.error?.details.find((d) => d['@type'] === `type.googleapis.com/google.rpc.${type}`);
const reasonOf = (json: Body) => detail(json, 'ErrorInfo')?.reason;
const violationsOf = (json: Body) => detail(json, 'BadRequest')?.fieldViolations ?? [];

function jwt(claims: Record<string, unknown>, key = privateKey): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${head}.${createSign('RSA-SHA256').update(head).sign(key).toString('base64url')}`;
}

beforeAll(async () => {
  fake = await startGoogleDataManagerServer({
    accounts: { [ACCOUNT]: { loginAccounts: [MANAGER] } },
    serviceAccounts: [
      { clientEmail: EMAIL, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    ],
    quotaPerMinute: 5,
    now: () => clock,
  });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.reset();
  clock = Date.parse('2026-11-20T12:00:00Z');
  listId = fake.seedUserList({ accountId: ACCOUNT, displayName: 'AS · Everyone' });
});

describe('auth', () => {
  it('refuses a missing or unknown token with UNAUTHENTICATED, and never logs the token', async () => {
    for (const token of [null, 'nope']) {
      const r = await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]), token);
      expect(r.status).toBe(401);
      expect(r.json.error?.status).toBe('UNAUTHENTICATED');
    }
    expect(JSON.stringify(fake.requests)).not.toContain('nope');
    expect(fake.requests[1]?.authorization).toBe('Bearer [REDACTED]');
  });

  it('exchanges a signed service-account JWT for a token with its scope', async () => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = jwt({ iss: EMAIL, scope: DATAMANAGER_SCOPE, aud: GOOGLE_TOKEN_URL, iat: now, exp: now + 3600 });
    const res = await fetch(fake.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
    });
    const tok = (await res.json()) as { access_token: string; expires_in: number };
    expect(res.status).toBe(200);
    expect(tok.expires_in).toBe(3600);
    expect((await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]), tok.access_token)).status).toBe(
      200,
    );
    expect(JSON.stringify(fake.requests)).not.toContain(assertion);
    expect(JSON.stringify(fake.requests)).not.toContain(tok.access_token);
  });

  it('refuses a JWT signed by another key, and a token without the datamanager scope', async () => {
    const now = Math.floor(Date.now() / 1000);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const bad = await fetch(fake.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: jwt({ iss: EMAIL, scope: DATAMANAGER_SCOPE, aud: GOOGLE_TOKEN_URL, iat: now, exp: now + 60 }, other),
      }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });

    const res = await fetch(fake.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: jwt({
          iss: EMAIL,
          scope: 'https://www.googleapis.com/auth/adwords',
          aud: GOOGLE_TOKEN_URL,
          iat: now,
          exp: now + 60,
        }),
      }),
    });
    const { access_token } = (await res.json()) as { access_token: string };
    const r = await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]), access_token);
    expect(r.status).toBe(403);
    expect(reasonOf(r.json)).toBe('ACCESS_TOKEN_SCOPE_INSUFFICIENT');
  });
});

describe('ingest and remove', () => {
  it('adds and removes members; a removal by any shared identifier removes the person', async () => {
    const both = { userData: { userIdentifiers: [email('b@x.com'), { phoneNumber: sha256Hex('+15550100') }] } };
    const r = await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com'), both]));
    expect(r.status).toBe(200);
    expect(r.json.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(fake.members(listId)).toEqual(new Set([`email:${sha256Hex('a@x.com')}`, `email:${sha256Hex('b@x.com')}`]));

    const byPhone = { userData: { userIdentifiers: [{ phoneNumber: sha256Hex('+15550100') }] } };
    const rm = await call('/v1/audienceMembers:remove', {
      destinations: [destination()],
      audienceMembers: [byPhone],
      encoding: 'HEX',
    });
    expect(rm.status).toBe(200);
    expect(fake.members(listId)).toEqual(new Set([`email:${sha256Hex('a@x.com')}`]));
    expect(fake.calls(listId).map((c) => c.op)).toEqual(['ingest', 'remove']);
  });

  it('validateOnly validates and changes nothing', async () => {
    const ok = await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')], { validateOnly: true }));
    expect(ok.status).toBe(200);
    expect(fake.members(listId).size).toBe(0);
    const bad = await call(
      '/v1/audienceMembers:ingest',
      ingestBody([{ userData: { userIdentifiers: [{ emailAddress: 'a@x.com' }] } }], { validateOnly: true }),
    );
    expect(bad.status).toBe(400);
  });

  it('accepts enums as numbers (proto3 JSON, as google-gax sends them)', async () => {
    const r = await call('/v1/audienceMembers:ingest', {
      destinations: [{ operatingAccount: { accountType: 1, accountId: ACCOUNT }, productDestinationId: listId }],
      audienceMembers: [member('a@x.com')],
      consent: { adUserData: 1, adPersonalization: 1 },
      encoding: 1,
      termsOfService: { customerMatchTermsOfServiceStatus: 1 },
    });
    expect(r.status).toBe(200);
  });

  it('one invalid member fails the whole request, with a field violation naming it', async () => {
    const r = await call(
      '/v1/audienceMembers:ingest',
      ingestBody([
        member('a@x.com'),
        {
          userData: {
            userIdentifiers: [
              {
                address: {
                  givenName: sha256Hex('a'),
                  familyName: sha256Hex('b'),
                  regionCode: 'usa',
                  postalCode: '10001',
                },
              },
            ],
          },
        },
      ]),
    );
    expect(r.status).toBe(400);
    expect(r.json.error?.status).toBe('INVALID_ARGUMENT');
    expect(reasonOf(r.json)).toBe('INVALID_REGION_CODE');
    expect(violationsOf(r.json)[0]?.field).toBe(
      'audience_members[1].user_data.user_identifiers[0].address.region_code',
    );
    expect(fake.members(listId).size).toBe(0);
  });

  it.each([
    ['a plain email', [{ emailAddress: 'a@x.com' }], 'INVALID_SHA256_FORMAT'],
    ['no identifiers', [], 'NO_IDENTIFIERS_PROVIDED'],
    [
      'an address without postal code',
      [{ address: { givenName: sha256Hex('a'), familyName: sha256Hex('b'), regionCode: 'US' } }],
      'REQUIRED_FIELD_MISSING',
    ],
    ['11 identifiers', Array.from({ length: 11 }, (_, i) => email(`${i}@x.com`)), 'TOO_MANY_USER_IDENTIFIERS'],
  ])('refuses %s', async (_what, userIdentifiers, reason) => {
    const r = await call('/v1/audienceMembers:ingest', ingestBody([{ userData: { userIdentifiers } }]));
    expect(r.status).toBe(400);
    expect(reasonOf(r.json)).toBe(reason);
  });

  it('enforces 10,000 members and 10 destinations a request', async () => {
    const many = Array.from({ length: 10_001 }, () => member('a@x.com'));
    const r = await call('/v1/audienceMembers:ingest', ingestBody(many));
    expect(reasonOf(r.json)).toBe('TOO_MANY_AUDIENCE_MEMBERS');
    const d = await call('/v1/audienceMembers:ingest', {
      ...ingestBody([member('a@x.com')]),
      destinations: Array.from({ length: 11 }, () => destination()),
    });
    expect(reasonOf(d.json)).toBe('TOO_MANY_DESTINATIONS');
  });

  it('requires granted consent (fake) and accepted terms of service', async () => {
    const denied = await call(
      '/v1/audienceMembers:ingest',
      ingestBody([{ ...member('a@x.com'), consent: { adUserData: 'CONSENT_DENIED' } }]),
    );
    expect(denied.status).toBe(400);
    expect(violationsOf(denied.json)[0]?.field).toBe('audience_members[0].consent');
    const noTos = await call(
      '/v1/audienceMembers:ingest',
      ingestBody([member('a@x.com')], { termsOfService: undefined }),
    );
    expect(reasonOf(noTos.json)).toBe('TERMS_AND_CONDITIONS_NOT_SIGNED');
  });

  it('refuses an unknown list, an account the caller cannot write, and unknown fields', async () => {
    const r = await call('/v1/audienceMembers:ingest', {
      ...ingestBody([member('a@x.com')]),
      destinations: [destination('42')],
    });
    expect(reasonOf(r.json)).toBe('INVALID_USER_LIST_ID');
    const p = await call('/v1/audienceMembers:ingest', {
      ...ingestBody([member('a@x.com')]),
      destinations: [{ ...destination(), loginAccount: { accountType: 'GOOGLE_ADS', accountId: '999' } }],
    });
    expect(p.status).toBe(403);
    expect(p.json.error?.status).toBe('PERMISSION_DENIED');
    const manager = await call('/v1/audienceMembers:ingest', {
      ...ingestBody([member('a@x.com')]),
      destinations: [{ ...destination(), loginAccount: { accountType: 'GOOGLE_ADS', accountId: MANAGER } }],
    });
    expect(manager.status).toBe(200);
    const u = await call('/v1/audienceMembers:ingest', { ...ingestBody([member('a@x.com')]), userList: listId });
    expect(u.status).toBe(400);
    expect(violationsOf(u.json)[0]?.description).toContain('Unknown name "userList"');
  });
});

describe('removeAll', () => {
  it('removes only members last added before removeAsOfTime, and refuses a future time', async () => {
    await call('/v1/audienceMembers:ingest', ingestBody([member('old@x.com'), member('kept@x.com')]));
    clock += 60_000;
    const start = new Date(clock).toISOString();
    clock += 1000;
    await call('/v1/audienceMembers:ingest', ingestBody([member('kept@x.com'), member('new@x.com')]));
    const r = await call('/v1/audienceMembers:removeAll', { destinations: [destination()], removeAsOfTime: start });
    expect(r.status).toBe(200);
    expect(fake.members(listId)).toEqual(
      new Set([`email:${sha256Hex('kept@x.com')}`, `email:${sha256Hex('new@x.com')}`]),
    );
    const future = await call('/v1/audienceMembers:removeAll', {
      destinations: [destination()],
      removeAsOfTime: new Date(clock + 60_000).toISOString(),
    });
    expect(future.status).toBe(400);
  });
});

describe('quota', () => {
  it('answers 429 RESOURCE_EXHAUSTED past the per-minute quota, then serves again in the next minute', async () => {
    for (let i = 0; i < 5; i++)
      expect((await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]))).status).toBe(200);
    clock += 20_000;
    const r = await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]));
    expect(r.status).toBe(429);
    expect(r.json.error?.status).toBe('RESOURCE_EXHAUSTED');
    expect(detail(r.json, 'ErrorInfo')?.metadata?.quota_limit).toBe('IngestionMutateRequestsPerMinutePerProject');
    expect(detail(r.json, 'RetryInfo')?.retryDelay).toBe('40s');
    clock += 40_000;
    expect((await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]))).status).toBe(200);
  });
});

describe('user lists', () => {
  const base = `/v1/accountTypes/GOOGLE_ADS/accounts/${ACCOUNT}/userLists`;
  it('creates a Customer Match list, finds it by name and reads it back with its size', async () => {
    const created = await call(base, {
      displayName: 'AS · Buyers',
      description: 'from audience-sync',
      membershipDuration: `${540 * 86_400}s`,
      ingestedUserListInfo: {
        uploadKeyTypes: ['CONTACT_ID'],
        contactIdInfo: { dataSourceType: 'DATA_SOURCE_TYPE_FIRST_PARTY' },
      },
    });
    expect(created.status).toBe(200);
    expect(created.json.name).toBe(`accountTypes/GOOGLE_ADS/accounts/${ACCOUNT}/userLists/${created.json.id}`);
    const found = await call(
      `${base}?filter=${encodeURIComponent('display_name = "AS · Buyers"')}`,
      undefined,
      TOKEN,
      'GET',
    );
    expect(found.json.userLists?.map((l) => l.id)).toEqual([created.json.id]);
    const none = await call(`${base}?filter=${encodeURIComponent('display_name = "nope"')}`, undefined, TOKEN, 'GET');
    expect(none.json).toEqual({});
    const dup = await call(base, {
      displayName: 'AS · Buyers',
      ingestedUserListInfo: { uploadKeyTypes: ['CONTACT_ID'] },
    });
    expect(reasonOf(dup.json)).toBe('DISPLAY_NAME_ALREADY_USED');
    const got = await call(`${base}/${listId}`, undefined, TOKEN, 'GET');
    expect(got.json.sizeInfo).toEqual({ displayNetworkMembersCount: '0', searchNetworkMembersCount: '0' });
    expect((await call(`${base}/77`, undefined, TOKEN, 'GET')).status).toBe(404);
  });
});

describe('faults', () => {
  it('injects statuses, resets, HTML pages and delays, once each by default', async () => {
    fake.inject({ kind: 'status', status: 'UNAVAILABLE', path: '/v1/audienceMembers:ingest' });
    fake.inject({ kind: 'html', path: '/v1/audienceMembers:ingest' });
    fake.inject({ kind: 'reset', path: '/v1/audienceMembers:ingest' });
    expect((await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]))).status).toBe(503);
    const html = await fetch(`${fake.baseUrl}/v1/audienceMembers:ingest`, { method: 'POST', body: '{}' });
    expect(html.headers.get('content-type')).toContain('text/html');
    await expect(call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]))).rejects.toThrow();
    fake.inject({ kind: 'delay', ms: 50 });
    const t0 = Date.now();
    expect((await call('/v1/audienceMembers:ingest', ingestBody([member('a@x.com')]))).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(fake.pendingFaults()).toBe(0);
    expect(fake.requests.map((r) => r.fault ?? null)).toEqual(['status', 'html', 'reset', 'delay']);
  });
});
