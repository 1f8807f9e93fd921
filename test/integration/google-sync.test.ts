/**
 * GoogleDestination against the local Data Manager API server: the real HTTP calls, google-auth-library's real
 * service-account JWT signing and token exchange (pointed at the fake through the key's token_uri), Google's error
 * shapes. The fake's recorded requests and list state are the evidence.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { googleKeys, sha256Hex } from '../../functions/core/normalize';
import { DestinationError } from '../../functions/core/ports';
import { GoogleDestination, type GoogleDestinationOptions } from '../../functions/platforms/google/adapter';
import {
  parseServiceAccountKey,
  type ServiceAccountKey,
  serviceAccountTokens,
  staticToken,
  type TokenSource,
} from '../../functions/platforms/google/auth';
import {
  type GoogleBatchMember,
  googleRequestBodies,
  REPLACE_SKEW_MARGIN_MS,
} from '../../functions/platforms/google/requests';
import { type FakeDataManager, startGoogleDataManagerServer } from '../fakes/google-datamanager-server';

const ACCOUNT = '1234567890';
const MANAGER = '5550001111';
const CLIENT_EMAIL = 'audience-sync@example-project.iam.gserviceaccount.com';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const GRANTED = { adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_GRANTED' } as const;

let clock = Date.parse('2026-11-20T12:00:00Z');
let fake: FakeDataManager;
let key: ServiceAccountKey;
/** Every message any DestinationError carried in this file: checked for secrets at the end. */
const messages: string[] = [];
const tokensSeen = new Set<string>();

beforeAll(async () => {
  fake = await startGoogleDataManagerServer({
    accounts: { [ACCOUNT]: { loginAccounts: [MANAGER] } },
    serviceAccounts: [
      { clientEmail: CLIENT_EMAIL, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    ],
    quotaPerMinute: 4,
    now: () => clock,
  });
  key = parseServiceAccountKey(
    JSON.stringify({
      type: 'service_account',
      project_id: 'example-project',
      private_key_id: 'k1d0000000000000000000000000000000000000',
      private_key: PRIVATE_PEM,
      client_email: CLIENT_EMAIL,
      token_uri: fake.tokenUrl,
    }),
  );
});
afterAll(async () => {
  await fake.close();
  const secrets = [
    PRIVATE_PEM,
    ...PRIVATE_PEM.split('\n').filter((l) => l.length >= 16 && !l.startsWith('---')),
    ...tokensSeen,
  ];
  for (const m of messages) for (const s of secrets) expect(m).not.toContain(s);
});
beforeEach(() => {
  fake.reset();
  clock = Date.parse('2026-11-20T12:00:00Z');
});

function recordingTokens(source: TokenSource): TokenSource {
  return {
    clientEmail: source.clientEmail,
    secrets: () => source.secrets(),
    token: async () => {
      const t = await source.token();
      tokensSeen.add(t);
      return t;
    },
  };
}

function google(over: Partial<GoogleDestinationOptions> = {}) {
  return new GoogleDestination({
    operatingAccountId: '123-456-7890',
    termsAccepted: true,
    consent: GRANTED,
    tokens: recordingTokens(serviceAccountTokens(key)),
    baseUrl: fake.baseUrl,
    timeoutMs: 5_000,
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => new Date(clock),
    ...over,
  });
}

async function failure(p: Promise<unknown>): Promise<DestinationError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DestinationError);
    messages.push((e as DestinationError).message);
    expect((e as DestinationError).message).not.toMatch(/\n/);
    return e as DestinationError;
  }
  throw new Error('expected a DestinationError');
}

const person = (i: number, extra: Partial<GoogleBatchMember> = {}): GoogleBatchMember => ({
  cid: `c${i}`,
  keys: googleKeys({
    emails: [`person${i}@example.com`],
    phones: [],
    firstName: 'Ana',
    lastName: `Quinn-${i}`,
    country: 'DE',
    zip: '10115',
  }).keys as Record<string, string>,
  ...extra,
});
const name = (i: number) => `email:${sha256Hex(`person${i}@example.com`)}`;
const ingests = () => fake.requests.filter((r) => r.path === '/v1/audienceMembers:ingest' && r.status === 200);

describe('lists', () => {
  it('creates a Customer Match list through the API, then finds it by name', async () => {
    const g = google();
    const first = await g.ensureAudience({ name: 'AS · Buyers', description: 'Bought at least once' });
    expect(first.created).toBe(true);
    expect(fake.userLists()).toEqual([
      expect.objectContaining({
        id: first.ref.id,
        displayName: 'AS · Buyers',
        membershipDurationSeconds: 540 * 86_400,
      }),
    ]);
    const again = await g.ensureAudience({ name: 'AS · Buyers', description: 'x' });
    expect(again).toEqual({ ref: first.ref, created: false });
    const byId = await g.ensureAudience({ name: 'whatever', description: '', knownId: first.ref.id });
    expect(byId.ref).toEqual({ id: first.ref.id, name: 'AS · Buyers' });
  });

  it('uses a configured list id, and says so when it is wrong; a vanished stored list reads as deleted', async () => {
    const id = fake.seedUserList({ accountId: ACCOUNT, displayName: 'Made in Google Ads' });
    const g = google({ userListIds: { 'AS · Everyone': id, 'AS · Typo': '42' } });
    expect((await g.ensureAudience({ name: 'AS · Everyone', description: '' })).ref.id).toBe(id);
    const wrong = await failure(g.ensureAudience({ name: 'AS · Typo', description: '' }));
    expect(wrong.kind).toBe('config');
    expect(wrong.message).toContain('userListIds');
    const gone = await failure(g.ensureAudience({ name: 'AS · Old', description: '', knownId: '77' }));
    expect(gone.kind).toBe('deleted');
  });

  it('without list creation, explains how to create the list in Google Ads', async () => {
    const e = await failure(google({ createLists: false }).ensureAudience({ name: 'AS · New', description: '' }));
    expect(e.kind).toBe('config');
    expect(e.message).toContain('Customer list');
    expect(fake.userLists()).toEqual([]);
  });
});

describe('members', () => {
  it('adds and removes members with the exact bodies the dry-run function writes', async () => {
    const g = google({ loginAccountId: MANAGER });
    const { ref } = await g.ensureAudience({ name: 'AS · All', description: '' });
    const batch = [person(1), person(2), person(3)];
    const out = await g.add(ref, batch);
    expect(out).toEqual({ received: 3, invalid: 0 });
    expect(fake.members(ref.id)).toEqual(new Set([name(1), name(2), name(3)]));
    const sent = ingests()[0]?.body;
    expect(sent).toEqual(
      googleRequestBodies(
        { operatingAccountId: ACCOUNT, loginAccountId: MANAGER, termsAccepted: true, consent: GRANTED },
        ref.id,
        'add',
        batch,
      )[0]?.body,
    );
    expect(sent).toMatchObject({
      destinations: [
        {
          operatingAccount: { accountType: 'GOOGLE_ADS', accountId: ACCOUNT },
          loginAccount: { accountType: 'GOOGLE_ADS', accountId: MANAGER },
          productDestinationId: ref.id,
        },
      ],
      consent: GRANTED,
      encoding: 'HEX',
      termsOfService: { customerMatchTermsOfServiceStatus: 'ACCEPTED' },
    });

    expect(await g.remove(ref, [person(2)])).toEqual({ received: 1, invalid: 0 });
    expect(fake.members(ref.id)).toEqual(new Set([name(1), name(3)]));
    const removal = fake.requests.find((r) => r.path === '/v1/audienceMembers:remove')?.body as Record<string, unknown>;
    expect(Object.keys(removal).sort()).toEqual(['audienceMembers', 'destinations', 'encoding']);
  });

  it('validateOnly sends every request for checking and changes nothing, not even a missing list', async () => {
    const g = google({ validateOnly: true });
    const { ref, created } = await g.ensureAudience({ name: 'AS · Dry', description: '' });
    expect(created).toBe(false);
    expect(fake.userLists()).toEqual([]);
    expect(await g.add(ref, [person(1)])).toEqual({ received: 1, invalid: 0 });

    const real = fake.seedUserList({ accountId: ACCOUNT, displayName: 'AS · Real' });
    const r = await g.ensureAudience({ name: 'AS · Real', description: '' });
    expect(r.ref.id).toBe(real);
    expect(await g.add(r.ref, [person(1), person(2)])).toEqual({ received: 2, invalid: 0 });
    expect(await g.remove(r.ref, [person(1)])).toEqual({ received: 1, invalid: 0 });
    expect(fake.members(real).size).toBe(0);
    const mutations = fake.requests.filter((q) => q.path.startsWith('/v1/audienceMembers:'));
    expect(mutations.map((q) => (q.body as { validateOnly?: boolean }).validateOnly)).toEqual([true, true]);
  });

  it('never sends a member that would fail the request; counts and names what was dropped', async () => {
    const g = google();
    const { ref } = await g.ensureAudience({ name: 'AS · Mixed', description: '' });
    const good = person(1);
    const bad: GoogleBatchMember[] = [
      { cid: 'plain', keys: { email: 'person9@example.com' } },
      { cid: 'partial', keys: { firstName: sha256Hex('ana'), countryCode: 'DE' } },
      { cid: 'region', keys: { ...good.keys, email: sha256Hex('x@example.com'), countryCode: 'de' } },
      { cid: 'empty', keys: {} },
    ];
    const out = await g.add(ref, [good, ...bad]);
    expect(out.received).toBe(2); // the member with a bad address still goes, with its email only
    expect(out.invalid).toBe(3);
    expect(out.invalidFields).toEqual(expect.arrayContaining(['email', 'address', 'no_identifier']));
    const body = ingests()[0]?.body as { audienceMembers: { userData: { userIdentifiers: object[] } }[] };
    expect(body.audienceMembers).toHaveLength(2);
    expect(body.audienceMembers[1]?.userData.userIdentifiers).toEqual([{ emailAddress: sha256Hex('x@example.com') }]);

    const before = fake.requests.length;
    expect(await g.add(ref, bad.slice(0, 2))).toEqual({ received: 0, invalid: 2, invalidFields: ['email', 'address'] });
    expect(fake.requests.slice(before).filter((r) => r.path.startsWith('/v1/audienceMembers:'))).toEqual([]);
  });

  it('if Google still names members in field violations, drops those and sends the rest again', async () => {
    const g = google();
    const { ref } = await g.ensureAudience({ name: 'AS · Retry', description: '' });
    fake.inject({
      kind: 'status',
      status: 'INVALID_ARGUMENT',
      reason: 'INVALID_FORMAT',
      path: '/v1/audienceMembers:ingest',
      violations: [
        { field: 'audience_members[1].user_data.user_identifiers[0].email_address', reason: 'INVALID_FORMAT' },
      ],
    });
    const out = await g.add(ref, [person(1), person(2), person(3)]);
    expect(out).toEqual({ received: 2, invalid: 1, invalidFields: ['INVALID_FORMAT'] });
    expect(fake.members(ref.id)).toEqual(new Set([name(1), name(3)]));
  });
});

describe('consent and terms', () => {
  it('members in opt-in zones go only with their own consent; without any consent nobody is sent', async () => {
    const g = google();
    const { ref } = await g.ensureAudience({ name: 'AS · EEA', description: '' });
    const out = await g.add(ref, [
      person(1, { zone: 'EEA' }),
      person(2, { zone: 'EEA', consent: GRANTED }),
      person(3, { zone: 'US' }),
      person(4, { consent: { adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_DENIED' } }),
    ]);
    expect(out).toEqual({ received: 2, invalid: 2, invalidFields: ['consent'] });
    expect(fake.members(ref.id)).toEqual(new Set([name(2), name(3)]));
    const body = ingests()[0]?.body as { audienceMembers: { consent?: unknown }[] };
    expect(body.audienceMembers.map((m) => m.consent)).toEqual([GRANTED, undefined]);

    const none = google({ consent: undefined });
    expect(await none.add(ref, [person(5)])).toEqual({ received: 0, invalid: 1, invalidFields: ['consent'] });
  });

  it('refuses to add before the terms are confirmed, without a request; Google refusing them maps to terms', async () => {
    const g = google({ termsAccepted: false });
    const { ref } = await g.ensureAudience({ name: 'AS · Terms', description: '' });
    const before = fake.requests.length;
    const e = await failure(g.add(ref, [person(1)]));
    expect(e.kind).toBe('terms');
    expect(e.message).toContain('customerMatchTermsAccepted');
    expect(fake.requests.slice(before)).toEqual([]);

    fake.inject({
      kind: 'status',
      status: 'INVALID_ARGUMENT',
      reason: 'TERMS_AND_CONDITIONS_NOT_SIGNED',
      path: '/v1/audienceMembers:ingest',
    });
    const t = await failure(google().add(ref, [person(1)]));
    expect(t.kind).toBe('terms');
  });
});

describe('quota', () => {
  it('on a per-minute 429 waits RetryInfo out and resumes; nothing is lost', async () => {
    const g = google();
    const { ref } = await g.ensureAudience({ name: 'AS · Busy', description: '' });
    for (let i = 1; i <= 6; i++) await g.add(ref, [person(i)]);
    expect(fake.members(ref.id).size).toBe(6);
    const throttled = fake.requests.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.every((r) => r.errorStatus === 'RESOURCE_EXHAUSTED')).toBe(true);
  });

  it('stops the destination as throttled when the daily quota is gone, until it resets', async () => {
    const g = google();
    const { ref } = await g.ensureAudience({ name: 'AS · Daily', description: '' });
    fake.inject({
      kind: 'status',
      status: 'RESOURCE_EXHAUSTED',
      reason: 'RESOURCE_EXHAUSTED',
      quotaLimit: 'IngestionMutateRequestsPerDayPerProject',
      path: '/v1/audienceMembers:ingest',
    });
    const e = await failure(g.add(ref, [person(1)]));
    expect(e.kind).toBe('throttled');
    expect(e.details.retryAfterSeconds).toBeGreaterThan(3600); // 12:00 UTC is 04:00 in Los Angeles
    expect(e.message).toContain('daily');
    expect(g.usage()).toMatchObject({ usagePercent: 100 });
    clock += (e.details.retryAfterSeconds ?? 0) * 1000;
    expect(g.usage()).toEqual({});
    expect(await g.add(ref, [person(1)])).toEqual({ received: 1, invalid: 0 });
  });
});

describe('errors', () => {
  it('an access token Google no longer accepts is an auth error', async () => {
    const g = google({ tokens: staticToken('test-access-token') });
    const { ref } = await g.ensureAudience({ name: 'AS · Auth', description: '' });
    fake.tokens.delete('test-access-token');
    const e = await failure(g.add(ref, [person(1)]));
    expect(e.kind).toBe('auth');
    expect(e.details.status).toBe(401);
  });

  it('a key Google does not know is an auth error naming the service account, not the key', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const stranger = parseServiceAccountKey(JSON.stringify({ ...key, private_key: other }));
    const e = await failure(
      google({ tokens: serviceAccountTokens(stranger) }).ensureAudience({ name: 'x', description: '' }),
    );
    expect(e.kind).toBe('auth');
    expect(e.message).toContain(CLIENT_EMAIL);
    for (const line of other.split('\n').filter((l) => l.length >= 16 && !l.startsWith('---')))
      expect(e.message).not.toContain(line);
  });

  it('a malformed key is refused with what is missing, never its content', () => {
    expect(() => parseServiceAccountKey('{"client_email":"a@b","private_key":"nope"}')).toThrow(/private_key/);
    expect(() => parseServiceAccountKey('not json')).toThrow(/JSON service-account key/);
  });

  it('a manager account without access is a config error that says how to grant it', async () => {
    const e = await failure(google({ loginAccountId: '999-999-9999' }).ensureAudience({ name: 'x', description: '' }));
    expect(e.kind).toBe('config');
    expect(e.message).toContain('Access and security');
  });

  it('server errors and resets are transient', async () => {
    const g = google();
    const { ref } = await g.ensureAudience({ name: 'AS · Flaky', description: '' });
    fake.inject({ kind: 'status', status: 'UNAVAILABLE', path: '/v1/audienceMembers:ingest' });
    expect((await failure(g.add(ref, [person(1)]))).kind).toBe('transient');
    fake.inject({ kind: 'reset', path: '/v1/audienceMembers:ingest' });
    expect((await failure(g.add(ref, [person(1)]))).kind).toBe('transient');
    fake.inject({ kind: 'html', status: 502, path: '/v1/audienceMembers:ingest' });
    expect((await failure(g.add(ref, [person(1)]))).kind).toBe('transient');
  });

  it('removes the exact token and key it holds from every message it passes on', async () => {
    const tokens = recordingTokens(serviceAccountTokens(key));
    const g = google({ tokens });
    const { ref } = await g.ensureAudience({ name: 'AS · Leak', description: '' });
    const token = [...tokensSeen].at(-1) ?? '';
    const keyLine = PRIVATE_PEM.split('\n')[3] ?? '';
    expect(token).toMatch(/^ya29\./);
    fake.inject({
      kind: 'status',
      status: 'INVALID_ARGUMENT',
      path: '/v1/audienceMembers:ingest',
      message: `echo ${token} and ${keyLine} and person1@example.com and +4915112345678`,
    });
    const e = await failure(g.add(ref, [person(1)]));
    expect(e.message).not.toContain(token);
    expect(e.message).not.toContain(keyLine);
    expect(e.message).not.toContain('person1@example.com');
    expect(e.message).not.toContain('4915112345678');
    expect(JSON.stringify(fake.requests)).not.toContain(token);
  });
});

describe('replace', () => {
  it('re-sends everyone, then removes only who was not re-sent (removeAll as of the start)', async () => {
    const g = google();
    const { ref } = await g.ensureAudience({ name: 'AS · Replace', description: '' });
    await g.add(ref, [person(1), person(2), person(3)]);
    clock += 2 * REPLACE_SKEW_MARGIN_MS;
    fake.resetQuota();
    const session = { sessionId: 7, estimatedTotal: 2 };
    await g.replace(ref, [person(2)], { ...session, batchSeq: 1, last: false });
    clock += 1000;
    await g.replace(ref, [person(3)], { ...session, batchSeq: 2, last: true });
    expect(fake.members(ref.id)).toEqual(new Set([name(2), name(3)]));
    const removeAll = fake.requests.find((r) => r.path === '/v1/audienceMembers:removeAll');
    expect(removeAll?.body).toEqual({
      destinations: [
        { operatingAccount: { accountType: 'GOOGLE_ADS', accountId: ACCOUNT }, productDestinationId: ref.id },
      ],
      removeAsOfTime: new Date(clock - 1000 - REPLACE_SKEW_MARGIN_MS).toISOString(),
    });
  });
});
