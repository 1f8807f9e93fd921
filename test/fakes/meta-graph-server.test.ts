import { createHash } from 'node:crypto';
import bizSdk from 'facebook-nodejs-business-sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type FakeMeta,
  type MetaGraphServerOptions,
  REPLACE_SUBCODES,
  startMetaGraphServer,
} from './meta-graph-server';

const { FacebookAdsApi, AdAccount, CustomAudience } = bizSdk;
type Api = InstanceType<typeof FacebookAdsApi>;

const TOKEN = 'EAAG-test-token-0123456789';
const sha = (value: string): string => createHash('sha256').update(value).digest('hex');
const hashedEmails = (n: number, prefix = 'user'): string[] =>
  Array.from({ length: n }, (_, i) => sha(`${prefix}${i}@example.com`));
const emailRows = (hashes: readonly string[]): string[][] => hashes.map((hash) => [hash]);

interface GraphErrorShape {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  error_user_msg?: string;
  fbtrace_id: string;
}

/** What the SDK rejects with (FacebookRequestError is not exported by the package). */
interface SdkError {
  name: string;
  message: string;
  status: number | null;
  response: GraphErrorShape | null;
  headers: Record<string, string> | null;
}

async function failure(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as SdkError;
  }
  throw new Error('expected the call to fail');
}

function dataOf(result: { exportAllData(): Record<string, unknown> }): Record<string, unknown> {
  return result.exportAllData();
}

function usageOf(headers: unknown, account: string): Record<string, number> {
  const raw = (headers as Record<string, string>)['x-business-use-case-usage'];
  const parsed = JSON.parse(raw ?? '{}') as Record<string, Array<Record<string, number>>>;
  const entry = parsed[account]?.[0];
  if (!entry) throw new Error(`no usage entry for ${account} in ${raw}`);
  return entry;
}

let fake: FakeMeta;
let api: Api;
let graphBase = '';
let originalGraph: PropertyDescriptor | undefined;

/** Run `body` with the SDK pointed at another fake server. */
async function withServer<T>(options: MetaGraphServerOptions, body: (other: FakeMeta) => Promise<T>): Promise<T> {
  const other = await startMetaGraphServer({ validTokens: [TOKEN], ...options });
  graphBase = other.baseUrl;
  try {
    return await body(other);
  } finally {
    graphBase = fake.baseUrl;
    await other.close();
  }
}

async function createListAudience(account = 'act_123', name = 'Newsletter'): Promise<string> {
  const audience = await new AdAccount(account).createCustomAudience([], {
    name,
    subtype: 'CUSTOM',
    description: 'Newsletter subscribers',
    customer_file_source: 'USER_PROVIDED_ONLY',
  });
  return audience.id;
}

async function graphFetch(path: string, init: RequestInit = {}, token: string | null = TOKEN): Promise<Response> {
  const url = new URL(`${graphBase}/v24.0${path}`);
  if (token !== null) url.searchParams.set('access_token', token);
  return fetch(url, init);
}

beforeAll(async () => {
  fake = await startMetaGraphServer({ validTokens: [TOKEN] });
  graphBase = fake.baseUrl;
  originalGraph = Object.getOwnPropertyDescriptor(FacebookAdsApi, 'GRAPH');
  Object.defineProperty(FacebookAdsApi, 'GRAPH', { get: () => graphBase, configurable: true });
  api = FacebookAdsApi.init(TOKEN, 'en_US', false);
  api.setShowHeader(true);
});

afterAll(async () => {
  if (originalGraph) Object.defineProperty(FacebookAdsApi, 'GRAPH', originalGraph);
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

describe('audiences', () => {
  it('creates a customer-list audience, adds users and reads the count back', async () => {
    const id = await createListAudience();
    const emails = hashedEmails(3);
    const added = await new CustomAudience(id).createUser([], {
      payload: { schema: ['EMAIL', 'FN'], data: emails.map((email) => [email, sha('ada')]) },
      session: { session_id: 42, batch_seq: 1, last_batch_flag: true, estimated_num_total: 3 },
    });
    expect(dataOf(added)).toMatchObject({
      audience_id: id,
      session_id: 42,
      num_received: 3,
      num_invalid_entries: 0,
      invalid_entry_samples: {},
    });

    const read = await new CustomAudience(id).get([
      'name',
      'subtype',
      'customer_file_source',
      'approximate_count_lower_bound',
      'approximate_count_upper_bound',
      'operation_status',
      'delivery_status',
    ]);
    expect(dataOf(read)).toMatchObject({
      id,
      name: 'Newsletter',
      subtype: 'CUSTOM',
      customer_file_source: 'USER_PROVIDED_ONLY',
      approximate_count_lower_bound: 3,
      approximate_count_upper_bound: 3,
      operation_status: { code: 200 },
      delivery_status: { code: 300 },
    });
    expect(fake.members(id)).toEqual(new Set(emails));
    expect(fake.addCalls(id)).toMatchObject([{ rows: 3, invalid: 0, sessionId: '42', batchSeq: 1, lastBatch: true }]);
    expect(fake.audiences()).toMatchObject([{ id, adAccountId: 'act_123', size: 3, deleted: false }]);
  });

  it('records the SDK requests: JSON body for POST, token in the query string', async () => {
    const id = await createListAudience();
    await new CustomAudience(id).createUser([], { payload: { schema: 'EMAIL', data: emailRows(hashedEmails(1)) } });
    const [create, add] = fake.requests;
    expect(create).toMatchObject({
      method: 'POST',
      path: '/act_123/customaudiences',
      version: 'v24.0',
      query: { access_token: '[REDACTED]' },
      body: { name: 'Newsletter', subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY', id: 'act_123' },
      status: 200,
    });
    expect(add).toMatchObject({ method: 'POST', path: `/${id}/users`, body: { id, payload: { schema: 'EMAIL' } } });
  });

  it('reports usage in the X-Business-Use-Case-Usage header of SDK results', async () => {
    const id = await createListAudience();
    const added = await new CustomAudience(id).createUser([], {
      payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) },
    });
    const usage = usageOf(dataOf(added).headers, '123');
    expect(usage).toMatchObject({ type: 'custom_audience', estimated_time_to_regain_access: 0 });
    expect(usage.call_count).toBeGreaterThan(0);
  });

  it('lists audiences page by page through the SDK cursor', async () => {
    for (const name of ['a', 'b', 'c']) await createListAudience('act_555', name);
    await createListAudience('act_999', 'other account');
    const cursor = await new AdAccount('act_555').getCustomAudiences(['id', 'name'], { limit: 2 });
    expect(cursor.map((a) => a._data.name)).toEqual(['a', 'b']);
    expect(cursor.hasNext()).toBe(true);
    await cursor.next();
    expect(cursor.map((a) => a._data.name)).toEqual(['c']);
    expect(cursor.hasNext()).toBe(false);
    const pages = fake.requests.filter((r) => r.method === 'GET');
    expect(pages[1]?.query).toMatchObject({ access_token: '[REDACTED]', limit: '2', after: expect.any(String) });
  });

  it('validates create parameters and names the parameter', async () => {
    const account = new AdAccount('act_123');
    const noSource = await failure(account.createCustomAudience([], { name: 'x', subtype: 'CUSTOM' }));
    expect(noSource.response).toMatchObject({ code: 100, type: 'OAuthException' });
    expect(noSource.response?.message).toContain('customer_file_source');
    const badSource = await failure(
      account.createCustomAudience([], { name: 'x', subtype: 'CUSTOM', customer_file_source: 'FROM_A_FRIEND' }),
    );
    expect(badSource.response?.message).toContain('customer_file_source');
    const noName = await failure(
      account.createCustomAudience([], { subtype: 'CUSTOM', customer_file_source: 'USER_PROVIDED_ONLY' }),
    );
    expect(noName.response?.message).toContain('name');
    expect(fake.audiences()).toEqual([]);
  });

  it('creates lookalikes and checks the spec', async () => {
    const origin = await createListAudience();
    const account = new AdAccount('act_123');
    const lookalike = await account.createCustomAudience([], {
      name: 'Lookalike DE 5%',
      subtype: 'LOOKALIKE',
      origin_audience_id: origin,
      lookalike_spec: JSON.stringify({ country: 'DE', ratio: 0.05, type: 'custom_ratio' }),
    });
    const read = await new CustomAudience(lookalike.id).get(['subtype', 'lookalike_spec']);
    expect(dataOf(read)).toMatchObject({ subtype: 'LOOKALIKE', lookalike_spec: { country: 'DE', ratio: 0.05 } });
    const tooWide = await failure(
      account.createCustomAudience([], {
        name: 'too wide',
        subtype: 'LOOKALIKE',
        origin_audience_id: origin,
        lookalike_spec: { country: 'DE', ratio: 0.3 },
      }),
    );
    expect(tooWide.response?.code).toBe(100);
    expect(tooWide.response?.message).toContain('lookalike_spec[ratio]');
    const noCountry = await failure(
      account.createCustomAudience([], {
        name: 'nowhere',
        subtype: 'LOOKALIKE',
        origin_audience_id: origin,
        lookalike_spec: { type: 'similarity' },
      }),
    );
    expect(noCountry.response?.message).toContain('lookalike_spec[country]');
  });

  it('reads rounded approximate counts and refuses unknown fields', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'big', members: hashedEmails(1234) });
    const read = await new CustomAudience(id).get([
      'approximate_count_lower_bound',
      'approximate_count_upper_bound',
      'delivery_status',
    ]);
    expect(dataOf(read)).toMatchObject({
      approximate_count_lower_bound: 1200,
      approximate_count_upper_bound: 1300,
      delivery_status: { code: 200 },
    });
    const unknown = await failure(new CustomAudience(id).get(['shoe_size']));
    expect(unknown.response?.code).toBe(100);
    expect(unknown.response?.message).toContain('shoe_size');
  });

  it('accepts any /vNN.N/ prefix and answers unknown nodes and edges Graph-style', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    const older = await fetch(`${fake.baseUrl}/v23.0/${id}?fields=id,name&access_token=${TOKEN}`);
    expect(await older.json()).toEqual({ id, name: 'n' });
    const unknownNode = await graphFetch('/999?fields=id');
    expect(unknownNode.status).toBe(400);
    expect(await unknownNode.json()).toMatchObject({ error: { code: 100, error_subcode: 33 } });
    const unknownEdge = await graphFetch(`/${id}/friends`);
    expect(await unknownEdge.json()).toMatchObject({ error: { code: 2500 } });
  });
});

describe('/users', () => {
  it('removes users with deleteUsers, whose params travel in the query string', async () => {
    const id = await createListAudience();
    const emails = hashedEmails(3);
    await new CustomAudience(id).createUser([], { payload: { schema: ['EMAIL'], data: emailRows(emails) } });
    const removed = await new CustomAudience(id).deleteUsers({
      payload: { schema: ['EMAIL'], data: emailRows(emails.slice(0, 1)) },
      session: { session_id: 7, batch_seq: 1, last_batch_flag: true },
    });
    expect(removed).toMatchObject({ audience_id: id, session_id: 7, num_received: 1, num_invalid_entries: 0 });
    expect(fake.members(id)).toEqual(new Set(emails.slice(1)));
    expect(fake.removeCalls(id)).toMatchObject([{ rows: 1, invalid: 0 }]);
    const request = fake.requests.at(-1);
    expect(request).toMatchObject({ method: 'DELETE', path: `/${id}/users`, body: {}, query: { id } });
    expect(JSON.parse(request?.query.payload ?? '')).toEqual({ schema: ['EMAIL'], data: [[emails[0]]] });
  });

  it('takes 10,000 rows per call (even in a DELETE URL) and refuses 10,001', async () => {
    const id = await createListAudience();
    const emails = hashedEmails(10_001);
    const audience = new CustomAudience(id);
    await audience.createUser([], { payload: { schema: ['EMAIL'], data: emailRows(emails.slice(0, 10_000)) } });
    expect(fake.members(id).size).toBe(10_000);

    const tooMany = await failure(audience.createUser([], { payload: { schema: ['EMAIL'], data: emailRows(emails) } }));
    expect(tooMany.status).toBe(400);
    expect(tooMany.response).toMatchObject({ code: 100, type: 'OAuthException' });
    expect(tooMany.response?.message).toMatch(/10000/);

    const removed = await audience.deleteUsers({
      payload: { schema: ['EMAIL'], data: emailRows(emails.slice(0, 10_000)) },
    });
    expect(removed.num_received).toBe(10_000);
    expect(fake.members(id).size).toBe(0);
    expect(fake.addCalls(id).map((c) => c.rows)).toEqual([10_000]);
    expect(fake.removeCalls(id).map((c) => c.rows)).toEqual([10_000]);
  });

  it('counts invalid rows without failing the batch', async () => {
    const id = await createListAudience();
    const [good, other] = hashedEmails(2);
    const result = await new CustomAudience(id).createUser([], {
      payload: {
        schema: ['EMAIL', 'EXTERN_ID'],
        data: [
          [good, 'crm-1'],
          ['', 'crm-2'], // extern id alone is fine
          [good?.toUpperCase(), 'crm-3'], // upper-case hex
          ['ada@example.com', 'crm-4'], // not hashed
          ['', ''], // empty
          [other], // wrong length
        ],
      },
    });
    expect(dataOf(result)).toMatchObject({ num_received: 6, num_invalid_entries: 4 });
    const samples = dataOf(result).invalid_entry_samples as Record<string, string>;
    expect(Object.keys(samples)).toEqual(expect.arrayContaining(['ada@example.com', 'row 4', 'row 5']));
    expect(fake.members(id)).toEqual(new Set([good, 'crm-2']));
  });

  it('refuses malformed payloads with code 100', async () => {
    const id = await createListAudience();
    const audience = new CustomAudience(id);
    const noPayload = await failure(audience.createUser([], {}));
    expect(noPayload.response?.message).toContain('payload');
    const badKey = await failure(audience.createUser([], { payload: { schema: ['SHOE'], data: [['x']] } }));
    expect(badKey.response?.message).toContain('SHOE');
  });

  it('accepts a plain DELETE with a JSON body and a form-encoded POST', async () => {
    const id = await createListAudience();
    const emails = hashedEmails(2);
    const form = new URLSearchParams({
      payload: JSON.stringify({ schema: 'EMAIL', data: emailRows(emails) }),
      access_token: TOKEN,
    });
    const add = await graphFetch(`/${id}/users`, { method: 'POST', body: form }, null);
    expect(add.status).toBe(200);
    expect(await add.json()).toMatchObject({ num_received: 2 });
    const remove = await graphFetch(
      `/${id}/users`,
      {
        method: 'DELETE',
        headers: { 'content-type': 'application/json', authorization: `OAuth ${TOKEN}` },
        body: JSON.stringify({ payload: { schema: ['EMAIL'], data: emailRows(emails.slice(1)) } }),
      },
      null,
    );
    expect(remove.status).toBe(200);
    expect(await remove.json()).toMatchObject({ num_received: 1 });
    expect(fake.members(id)).toEqual(new Set(emails.slice(0, 1)));
  });

  it('refuses removals below minRemovalSize with 200/1870047 "Audience Size too Low"', async () => {
    await withServer({ minRemovalSize: 3 }, async (other) => {
      const emails = hashedEmails(4);
      const id = other.seedAudience({ adAccountId: 'act_123', name: 'small', members: emails });
      const audience = new CustomAudience(id);
      await audience.deleteUsers({ payload: { schema: ['EMAIL'], data: emailRows(emails.slice(0, 1)) } });
      const refused = await failure(
        audience.deleteUsers({ payload: { schema: ['EMAIL'], data: emailRows(emails.slice(1, 2)) } }),
      );
      expect(refused.status).toBe(400);
      expect(refused.response).toMatchObject({
        code: 200,
        error_subcode: 1870047,
        type: 'OAuthException',
        error_user_title: 'Audience Size too Low',
        error_user_msg: 'You cannot remove users from this audience because it will result in a low audience size',
      });
      expect(other.members(id).size).toBe(3);
    });
  });
});

describe('access token', () => {
  it('rejects an expired token with 190 / 463 through the SDK', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    const expiredApi = new FacebookAdsApi('expired-token', 'en_US', false);
    const error = await failure(
      new CustomAudience(id, {}, null, expiredApi).createUser([], {
        payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) },
      }),
    );
    expect(error.name).toBe('FacebookRequestError');
    expect(error.status).toBe(400);
    expect(error.response).toMatchObject({ code: 190, error_subcode: 463, type: 'OAuthException' });
    expect(error.response?.fbtrace_id).toEqual(expect.any(String));
    expect(fake.members(id).size).toBe(0);
  });

  it('uses the configured subcode, and a token removed from `tokens` stops working', async () => {
    await withServer({ invalidTokenSubcode: 460 }, async (other) => {
      const id = other.seedAudience({ adAccountId: 'act_123', name: 'n' });
      expect((await graphFetch(`/${id}?fields=id`)).status).toBe(200);
      other.tokens.delete(TOKEN);
      const response = await graphFetch(`/${id}?fields=id`);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: 190, error_subcode: 460 } });
      const missing = await graphFetch(`/${id}?fields=id`, {}, null);
      expect(await missing.json()).toMatchObject({ error: { code: 190 } });
    });
  });

  it('never records the token (query, body or header)', async () => {
    const id = await createListAudience();
    await new CustomAudience(id).createUser([], { payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) } });
    await new CustomAudience(id).deleteUsers({ payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) } });
    const form = new URLSearchParams({ access_token: TOKEN, name: 'form', subtype: 'CUSTOM' });
    await graphFetch('/act_123/customaudiences', { method: 'POST', body: form }, null);
    await graphFetch(`/${id}?fields=id`, { headers: { authorization: `Bearer ${TOKEN}` } }, null);
    const broken = await graphFetch(
      `/${id}/users`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"access_token":"${TOKEN}", oops` },
      null,
    );
    expect(await broken.json()).toMatchObject({ error: { code: 100 } });
    expect(fake.requests.length).toBe(6);
    expect(JSON.stringify(fake.requests)).not.toContain(TOKEN);
    expect(fake.requests[3]?.body).toMatchObject({ access_token: '[REDACTED]' });
    expect(fake.requests[5]?.body).toContain('[REDACTED]');
  });
});

describe('terms of service', () => {
  it('refuses create and add with 2655 and the ToS link, but lets removals through', async () => {
    const emails = hashedEmails(2);
    const id = fake.seedAudience({ adAccountId: 'act_777', name: 'n', members: emails });
    fake.setTosAccepted('act_777', false);
    const create = await failure(
      new AdAccount('act_777').createCustomAudience([], {
        name: 'x',
        subtype: 'CUSTOM',
        customer_file_source: 'USER_PROVIDED_ONLY',
      }),
    );
    expect(create.response?.code).toBe(2655);
    expect(create.response?.message).toContain('customaudiences/app/tos/?act=777');
    const add = await failure(
      new CustomAudience(id).createUser([], { payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1, 'x')) } }),
    );
    expect(add.response?.code).toBe(2655);
    await new CustomAudience(id).deleteUsers({ payload: { schema: ['EMAIL'], data: emailRows(emails.slice(0, 1)) } });
    expect(fake.members(id).size).toBe(1);
  });

  it('takes the flag from the options', async () => {
    await withServer({ accounts: { act_321: { tosAccepted: false } } }, async () => {
      const error = await failure(createListAudience('act_321'));
      expect(error.response?.code).toBe(2655);
      await createListAudience('act_322');
    });
  });

  it.each([1870034, 1870090] as const)('can answer as code 200 with subcode %i, still with the link', async (as) => {
    await withServer({ defaultTosAccepted: false, tosError: as }, async () => {
      const error = await failure(createListAudience('act_321'));
      expect(error.response).toMatchObject({ code: 200, error_subcode: as, type: 'OAuthException' });
      expect(error.response?.message).toContain('customaudiences/app/tos/?act=321');
    });
  });
});

describe('rate limits', () => {
  it('climbs in the usage header and refuses with 80003 past the quota', async () => {
    await withServer({ quotaPerWindow: 4 }, async (other) => {
      const id = other.seedAudience({ adAccountId: 'act_123', name: 'n' });
      // A fresh object per read: see the setShowHeader quirk test below.
      const read = () => new CustomAudience(id).get(['id']);
      const counts: number[] = [];
      for (let i = 0; i < 4; i += 1) counts.push(usageOf(dataOf(await read()).headers, '123').call_count ?? -1);
      expect(counts).toEqual([25, 50, 75, 100]);
      const throttled = await failure(read());
      expect(throttled.status).toBe(400);
      expect(throttled.response?.code).toBe(80003);
      const usage = usageOf(throttled.headers, '123');
      expect(usage.call_count).toBeGreaterThan(100);
      expect(usage.estimated_time_to_regain_access).toBeGreaterThan(0);
      other.resetUsage();
      expect(other.usage('act_123').call_count).toBe(0);
      await read();
    });
  });

  it('rolls the usage window with the clock', async () => {
    let clock = 1_000_000;
    await withServer({ quotaPerWindow: 2, usageWindowMs: 60_000, now: () => clock }, async (other) => {
      const id = other.seedAudience({ adAccountId: 'act_123', name: 'n' });
      const read = () => new CustomAudience(id).get(['id']);
      await read();
      await read();
      expect((await failure(read())).response?.code).toBe(80003);
      clock += 60_000;
      await read();
      expect(other.usage('act_123').call_count).toBe(50);
    });
  });
});

describe('SDK quirks seen through the fake', () => {
  it('with setShowHeader(true), reading the same object twice throws "Cannot redefine property: headers"', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    const audience = new CustomAudience(id);
    await audience.get(['id']);
    await expect(audience.get(['id'])).rejects.toThrow(/Cannot redefine property: headers/);
  });
});

describe('fault injection', () => {
  it('answers injected Graph errors once, in order, then recovers', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    const audience = new CustomAudience(id);
    const payload = { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) };
    fake.inject({ kind: 'graphError', method: 'POST', path: /\/users$/, code: 613, subcode: 1487742 });
    fake.inject({ kind: 'graphError', path: /\/users$/, code: 17, subcode: 2446079, times: 2 });
    const first = await failure(audience.createUser([], { payload }));
    expect(first.response).toMatchObject({ code: 613, error_subcode: 1487742 });
    expect((await failure(audience.createUser([], { payload }))).response?.code).toBe(17);
    expect((await failure(audience.deleteUsers({ payload }))).response?.code).toBe(17);
    expect(fake.pendingFaults()).toBe(0);
    await audience.createUser([], { payload });
    expect(fake.members(id).size).toBe(1);
    expect(fake.requests.map((r) => r.fault)).toEqual(['graphError', 'graphError', 'graphError', undefined]);
  });

  it('serves an HTML 500, which the SDK cannot parse into a FacebookRequestError', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    fake.inject({ kind: 'html', status: 503 });
    const error = await failure(new CustomAudience(id).get(['id']));
    // The SDK JSON.parses the string body while building its error, so a SyntaxError escapes instead.
    expect(error.name).toBe('SyntaxError');
    fake.inject({ kind: 'html' });
    const raw = await graphFetch(`/${id}?fields=id`);
    expect(raw.status).toBe(500);
    expect(raw.headers.get('content-type')).toContain('text/html');
    expect(await raw.text()).toContain('<html>');
  });

  it('resets the connection', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    fake.inject({ kind: 'reset', path: `/${id}/users` });
    const error = await failure(
      new CustomAudience(id).createUser([], { payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) } }),
    );
    expect(error.name).toBe('FacebookRequestError');
    expect(error.status).toBeNull();
    expect(error.message).toBe('The request was made but no response was received');
    expect(fake.members(id).size).toBe(0);
    expect(fake.requests.at(-1)).toMatchObject({ status: 0, fault: 'reset' });
  });

  it('delays past the client timeout, yet still applies the change', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    fake.inject({ kind: 'delay', ms: 300 });
    const body = JSON.stringify({ payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) } });
    const call = graphFetch(`/${id}/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(50),
    });
    await expect(call).rejects.toThrow(/timeout|aborted/i);
    expect(fake.members(id).size).toBe(0);
    await vi.waitFor(() => expect(fake.members(id).size).toBe(1), { timeout: 2_000 });
  });
});

describe('deleted audiences', () => {
  it('answers 100 / 1487366 for every later call', async () => {
    const id = await createListAudience();
    expect(await new CustomAudience(id).delete([])).toMatchObject({ success: true });
    const read = await failure(new CustomAudience(id).get(['id']));
    expect(read.response).toMatchObject({ code: 100, error_subcode: 1487366 });
    expect(read.response?.message).toMatch(/deleted/i);
    const add = await failure(
      new CustomAudience(id).createUser([], { payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) } }),
    );
    expect(add.response?.error_subcode).toBe(1487366);
    const remove = await graphFetch(`/${id}/users`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: { schema: ['EMAIL'], data: emailRows(hashedEmails(1)) } }),
    });
    expect(await remove.json()).toMatchObject({ error: { code: 100, error_subcode: 1487366 } });
    const list = await new AdAccount('act_123').getCustomAudiences(['id']);
    expect(list.length).toBe(0);
    expect(fake.audiences()).toMatchObject([{ id, deleted: true }]);
  });
});

describe('replace sessions', () => {
  const replaceBatch = (sessionId: number, seq: number, last: boolean, hashes: readonly string[]) => ({
    payload: { schema: ['EMAIL'], data: emailRows(hashes) },
    session: { session_id: sessionId, batch_seq: seq, last_batch_flag: last, estimated_num_total: 3 },
  });

  it('swaps the membership on the last batch and blocks /users while open', async () => {
    const [a, b, c, d, e] = hashedEmails(5) as [string, string, string, string, string];
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n', members: [a, b, c] });
    const audience = new CustomAudience(id);
    const first = await audience.createUsersReplace([], replaceBatch(9, 1, false, [c, d]));
    expect(dataOf(first)).toMatchObject({ audience_id: id, session_id: 9, num_received: 2 });
    expect(fake.members(id)).toEqual(new Set([a, b, c]));

    const inProgress = { code: 2650, error_subcode: REPLACE_SUBCODES.inProgress };
    const add = await failure(audience.createUser([], { payload: { schema: ['EMAIL'], data: [[e]] } }));
    expect(add.response).toMatchObject(inProgress);
    expect(add.response?.message).toMatch(/replace/);
    const remove = await failure(audience.deleteUsers({ payload: { schema: ['EMAIL'], data: [[a]] } }));
    expect(remove.response).toMatchObject(inProgress);
    const otherSession = await failure(audience.createUsersReplace([], replaceBatch(10, 1, true, [e])));
    expect(otherSession.response).toMatchObject(inProgress);

    await audience.createUsersReplace([], replaceBatch(9, 2, true, [e]));
    expect(fake.members(id)).toEqual(new Set([c, d, e]));
    expect(fake.replaceCalls(id).map((r) => [r.batchSeq, r.lastBatch, r.rows])).toEqual([
      [1, false, 2],
      [2, true, 1],
    ]);
    await audience.createUser([], { payload: { schema: ['EMAIL'], data: [[a]] } });
    expect(fake.members(id).size).toBe(4);

    const reused = await failure(audience.createUsersReplace([], replaceBatch(9, 1, true, [a])));
    expect(reused.response).toMatchObject({ code: 2650, error_subcode: REPLACE_SUBCODES.alreadyFinished });
  });

  it('requires a session that starts at batch 1', async () => {
    const id = fake.seedAudience({ adAccountId: 'act_123', name: 'n' });
    const audience = new CustomAudience(id);
    const noSession = await failure(
      audience.createUsersReplace([], { payload: { schema: 'EMAIL', data: [[sha('x')]] } }),
    );
    expect(noSession.response?.code).toBe(100);
    expect(noSession.response?.message).toContain('session');
    const late = await failure(audience.createUsersReplace([], replaceBatch(3, 2, false, [sha('x')])));
    expect(late.response).toMatchObject({ code: 2650, error_subcode: REPLACE_SUBCODES.noFirstBatch });
    expect(late.response?.message).toContain('batch_seq');
  });

  it('refuses to replace an audience of replaceSizeLimit members or more with 2650/1870144', async () => {
    await withServer({ replaceSizeLimit: 3 }, async (other) => {
      const id = other.seedAudience({ adAccountId: 'act_123', name: 'huge', members: hashedEmails(3) });
      const refused = await failure(
        new CustomAudience(id).createUsersReplace([], replaceBatch(4, 1, true, ['a'.repeat(64)])),
      );
      expect(refused.response).toMatchObject({ code: 2650, error_subcode: REPLACE_SUBCODES.tooLarge });
      expect(other.members(id).size).toBe(3);
    });
  });

  it('closes a session still open after the timeout and applies what it received so far', async () => {
    let clock = 5_000_000;
    await withServer({ replaceSessionTimeoutMs: 1_000, now: () => clock }, async (other) => {
      const [a, b, c, d] = hashedEmails(4) as [string, string, string, string];
      const id = other.seedAudience({ adAccountId: 'act_123', name: 'n', members: [a, c] });
      const audience = new CustomAudience(id);
      await audience.createUsersReplace([], replaceBatch(5, 1, false, [b]));
      clock += 1_000;
      expect(other.audiences()[0]?.replaceSessionOpen).toBe(true);
      expect(other.members(id)).toEqual(new Set([a, c]));
      clock += 1;
      // Nobody finished the session: the platform applied it, so the audience shrank to its first batch.
      expect(other.members(id)).toEqual(new Set([b]));
      expect(other.audiences()[0]).toMatchObject({ replaceSessionOpen: false, size: 1 });
      const read = await new CustomAudience(id).get(['approximate_count_lower_bound']);
      expect(dataOf(read)).toMatchObject({ approximate_count_lower_bound: 1 });
      const late = await failure(audience.createUsersReplace([], replaceBatch(5, 2, true, [d])));
      expect(late.response).toMatchObject({ code: 2650, error_subcode: REPLACE_SUBCODES.timedOut });
      expect(late.response?.message).toMatch(/timed out/);
      expect(other.members(id)).toEqual(new Set([b]));
      // /users works again once the session is closed.
      await audience.createUser([], { payload: { schema: ['EMAIL'], data: [[a]] } });
      expect(other.members(id)).toEqual(new Set([a, b]));
    });
  });
});
