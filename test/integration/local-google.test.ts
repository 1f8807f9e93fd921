/**
 * `local` with a Google destination configured writes `dry-run/google/<audience>.jsonl`: one line per request,
 * `{op, endpoint, payload}`, the payload being the exact Data Manager body GoogleDestination would send. The config
 * is the shipped example (which already has a Google destination) with an account id and one more Google segment.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runLocal } from '../../bin/local/run-local';
import { SAMPLES_AS_OF } from '../helpers/harness';

it('writes the exact audienceMembers:ingest bodies for a Google destination, and nothing twice', async () => {
  const work = mkdtempSync(join(tmpdir(), 'as-local-google-'));
  cpSync(join(process.cwd(), 'samples'), join(work, 'samples'), { recursive: true });
  const config = parse(readFileSync(join(process.cwd(), 'config', 'audiences.example.yaml'), 'utf8'));
  config.destinations['google-ads'] = {
    platform: 'google',
    operatingAccountId: '123-456-7890',
    customerMatchTermsAccepted: true,
    consentGranted: true,
  };
  config.segments.push({
    id: 'google-customers',
    where: { any: [{ number: 'orders', gte: 1 }, { paid: true }] },
    destinations: [{ destination: 'google-ads', audienceName: 'AS · Customers (Google)', minSize: 50 }],
  });
  const file = join(work, 'audiences.yaml');
  writeFileSync(file, stringify(config));
  const run = () =>
    runLocal({
      input: join(work, 'samples'),
      out: join(work, 'out'),
      state: join(work, 'state'),
      config: file,
      asOf: SAMPLES_AS_OF,
      print: () => {},
      env: {},
    });
  const r = await run();
  const audience = r.sync.audiences.find(
    (a) => a.destination === 'google-ads' && a.audienceName === 'AS · Customers (Google)',
  );
  expect(audience).toMatchObject({ status: 'synced' });
  const lines = readFileSync(join(work, 'out', 'dry-run', 'google', 'as-customers-google.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines.length).toBeGreaterThan(0);
  const members = lines.flatMap((l) => l.payload.audienceMembers);
  expect(members).toHaveLength(audience!.added);
  for (const l of lines) {
    expect(l).toMatchObject({ op: 'add', endpoint: 'audienceMembers:ingest' });
    expect(l.payload).toMatchObject({
      destinations: [{ operatingAccount: { accountType: 'GOOGLE_ADS', accountId: '1234567890' } }],
      consent: { adUserData: 'CONSENT_GRANTED', adPersonalization: 'CONSENT_GRANTED' },
      encoding: 'HEX',
      termsOfService: { customerMatchTermsOfServiceStatus: 'ACCEPTED' },
    });
  }
  for (const m of members)
    for (const id of m.userData.userIdentifiers) {
      if ('emailAddress' in id) expect(id.emailAddress).toMatch(/^[0-9a-f]{64}$/);
      if ('address' in id) expect(id.address.regionCode).toMatch(/^[A-Z]{2}$/);
    }
  const again = await run();
  // The same segment on Meta and Google (the example's all-subscribers) is one audience on each.
  const both = r.sync.audiences.filter((a) => a.segment === 'all-subscribers').map((a) => [a.platform, a.status]);
  expect(both.sort()).toEqual([
    ['google', 'synced'],
    ['meta', 'synced'],
  ]);
  expect(again.sync.audiences.find((a) => a.audienceName === 'AS · Customers (Google)')).toMatchObject({
    added: 0,
    status: 'in_sync',
  });
}, 180_000);
