/** `audience-sync local` with Meta credentials sends to Meta (here a local Graph API server) instead of dry-running. */
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLocal } from '../../bin/local/run-local';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { SAMPLES_AS_OF } from '../helpers/harness';

let fake: FakeMeta;
beforeAll(async () => {
  fake = await startMetaGraphServer({ quotaPerWindow: 1_000_000, accounts: { act_42: { tosAccepted: true } } });
});
afterAll(async () => {
  await fake.close();
});

it('creates every configured Meta audience on the ad account and fills it; only the destination without credentials runs dry', async () => {
  const work = mkdtempSync(join(tmpdir(), 'as-local-meta-'));
  cpSync(join(process.cwd(), 'samples'), join(work, 'samples'), { recursive: true });
  const r = await runLocal({
    input: join(work, 'samples'),
    out: join(work, 'out'),
    state: join(work, 'state'),
    config: join(process.cwd(), 'config', 'audiences.example.yaml'),
    asOf: SAMPLES_AS_OF,
    print: () => {},
    env: { META_ACCESS_TOKEN: 'test-token', META_AD_ACCOUNT_ID: 'act_42', META_GRAPH_URL: fake.baseUrl },
  });
  // Meta has credentials and sends; Google (without any) runs dry beside it.
  expect(existsSync(join(work, 'out', 'dry-run', 'meta'))).toBe(false);
  expect(existsSync(join(work, 'out', 'dry-run', 'google'))).toBe(true);
  const created = fake.audiences().filter((a) => a.subtype === 'CUSTOM');
  expect(created.map((a) => a.adAccountId)).toEqual(created.map(() => 'act_42'));
  expect(created.map((a) => a.name).sort()).toEqual(
    r.sync.audiences
      .filter((a) => a.platform === 'meta')
      .map((a) => a.audienceName)
      .sort(),
  );
  for (const a of r.sync.audiences.filter((x) => x.platform === 'meta')) {
    expect(a.status).toBe('synced');
    expect(fake.members(a.audienceId!).size).toBe(a.desired);
  }
  // The customers segment asks for a lookalike: created from its audience, once.
  const lookalikes = fake.audiences().filter((a) => a.subtype === 'LOOKALIKE');
  expect(lookalikes).toHaveLength(1);
  expect(lookalikes[0]).toMatchObject({ lookalikeSpec: expect.objectContaining({ country: 'US', ratio: 0.01 }) });
  // Requests never carried the token anywhere the fake recorded it.
  expect(JSON.stringify(fake.requests)).not.toContain('test-token');
});
