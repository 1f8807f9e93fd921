/** Shared test wiring: embedded S3/DynamoDB (in memory), a store, a test clock, configs and contacts. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type EmbeddedAws, startEmbeddedAws } from '../../bin/local/embedded';
import { parseAudienceConfig as parseConfig } from '../../functions/adapters/config-file';
import { DynamoContactStore } from '../../functions/adapters/dynamo-store';
import { memoryLogger } from '../../functions/adapters/logger';
import type { AudienceConfig } from '../../functions/core/config';
import type { ConsentState, ContactRecord } from '../../functions/core/model';
import { sha256Hex } from '../../functions/core/normalize';
import type { Clock } from '../../functions/core/ports';
import { writeOfRecord } from './contact-writes';

let tableSeq = 0;

/** The day the bundled samples were exported (scripts/make-samples.ts); `npm start` runs `--as-of` this time too. */
export const SAMPLES_AS_OF = '2026-11-20T12:00:00Z';

export interface StoreHarness {
  aws: EmbeddedAws;
  store: DynamoContactStore;
  client: DynamoDBClient;
  close(): Promise<void>;
}

export async function startStore(): Promise<StoreHarness> {
  const aws = await startEmbeddedAws(undefined, { table: `t${++tableSeq}-${process.pid}` });
  const client = new DynamoDBClient({});
  return {
    aws,
    client,
    store: new DynamoContactStore(client, aws.table),
    close: async () => {
      client.destroy();
      await aws.close();
    },
  };
}

/** A clock that only moves when told; sleeps are recorded and return at once. */
export function testClock(start = '2026-11-20T03:00:00Z'): Clock & { sleeps: number[]; advance(ms: number): void } {
  let t = Date.parse(start);
  const sleeps: number[] = [];
  return {
    now: () => new Date(t),
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
    advance: (ms) => {
      t += ms;
    },
    sleeps,
  };
}

export const emailOf = (i: number) => `person${i}@example.com`;
export const emailHash = (i: number) => sha256Hex(emailOf(i));

/** A stored contact keyed by a normalized email, with the attributes a test needs. */
export function contact(
  i: number,
  opts: {
    list?: string;
    consent?: ConsentState;
    attrs?: ContactRecord['attrs'];
    optIn?: boolean;
    seenAt?: string;
  } = {},
): ContactRecord & { keys: { meta: Record<string, string> } } {
  const email = emailHash(i);
  return {
    cid: email,
    list: opts.list ?? 'newsletter',
    ids: [email],
    emails: 1,
    keys: { meta: { EMAIL: email, COUNTRY: sha256Hex('us') } },
    consent: opts.consent ?? 'subscribed',
    explicitOptIn: opts.optIn,
    optIn: opts.optIn,
    attrs: { country: 'US', zone: 'US', ...opts.attrs },
    seenAt: opts.seenAt ?? '2026-11-19T00:00:00.000Z',
    source: 'test',
  };
}

export async function putAll(store: DynamoContactStore, records: ContactRecord[]) {
  for (let i = 0; i < records.length; i += 2000) {
    const part = records.slice(i, i + 2000);
    await store.putContacts(part.map((r) => writeOfRecord(r, sha256Hex(JSON.stringify(r)))));
  }
}

export function metaConfig(extra: Partial<Record<string, unknown>> = {}): AudienceConfig {
  return parseConfig({
    version: 1,
    destinations: { 'meta-main': { platform: 'meta', adAccountId: 'act_123', replaceEveryDays: 0 } },
    segments: [
      {
        id: 'all',
        where: { consent: 'subscribed' },
        destinations: [{ destination: 'meta-main', audienceName: 'All subscribers', minSize: 1 }],
      },
    ],
    ...extra,
  });
}

export { memoryLogger };
