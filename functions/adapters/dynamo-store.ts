/**
 * The contact store on one DynamoDB table (pk/sk). Works on dynalite: no transactions, no TTL expiry —
 * ordering and idempotence come from conditional writes.
 *
 * | pk                   | sk              | item                                                    |
 * |----------------------|-----------------|---------------------------------------------------------|
 * | LISTS                | L#<list>        | list registry (so sync needs no Scan)                   |
 * | LIST#<list>          | C#<cid>         | pseudonymous contact: hashed keys, consent, attributes  |
 * | LIST#<list>          | SNAP            | last committed snapshot                                 |
 * | SUPPRESS             | C#<cid>         | erased / globally opted-out person                      |
 * | AUD#<dest>#<segment> | C#<cid>         | member last confirmed sent, with the keys that were sent|
 * | AUD#<dest>#<segment> | STATE           | audience id, replace session, lookalike                 |
 * | RUN#<kind>           | <iso time>      | run summaries (expire after 400 days)                   |
 * | LOCK                 | <name>          | leased lock (one sync at a time)                        |
 */
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ConsentState, ContactRecord } from '../core/model';
import type {
  AudienceState,
  ContactStore,
  ListSnapshot,
  StoredFingerprint,
  SuppressionEntry,
  SyncedMember,
} from '../core/ports';

const RUN_RETENTION_S = 400 * 86_400;
const WRITE_CONCURRENCY = 16;
const BATCH_CONCURRENCY = 4;

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const isConditionFailure = (e: unknown) =>
  e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

export class DynamoContactStore implements ContactStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }

  private async *query(input: Omit<QueryCommandInput, 'TableName'>): AsyncIterable<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(new QueryCommand({ TableName: this.table, ...input, ExclusiveStartKey: start }));
      for (const item of out.Items ?? []) yield item;
      start = out.LastEvaluatedKey;
    } while (start);
  }

  private async batchWrite(requests: Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending = requests.slice(i, i + 25);
      for (let attempt = 0; pending.length; attempt++) {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }));
        pending = (out.UnprocessedItems?.[this.table] as Record<string, unknown>[] | undefined) ?? [];
        if (pending.length) {
          if (attempt > 8) throw new Error(`DynamoDB kept ${pending.length} writes unprocessed after retries`);
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        }
      }
    }
  }

  async getSnapshot(list: string): Promise<ListSnapshot | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: `LIST#${list}`, sk: 'SNAP' } }));
    return out.Item ? (out.Item.snap as ListSnapshot) : undefined;
  }

  async commitSnapshot(snap: ListSnapshot): Promise<'committed' | 'stale'> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: `LIST#${snap.list}`, sk: 'SNAP', exportedAt: snap.exportedAt, source: snap.source, snap },
          // An older export never replaces a newer one; at the same export time the later drop is the correction.
          ConditionExpression: 'attribute_not_exists(pk) OR exportedAt <= :t',
          ExpressionAttributeValues: { ':t': snap.exportedAt },
        }),
      );
    } catch (e) {
      if (isConditionFailure(e)) return 'stale';
      throw e;
    }
    await this.registerList(snap.list);
    return 'committed';
  }

  private async registerList(list: string): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: 'LISTS', sk: `L#${list}`, list } }));
  }

  async *fingerprints(list: string): AsyncIterable<StoredFingerprint> {
    for await (const item of this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :c)',
      ExpressionAttributeValues: { ':pk': `LIST#${list}`, ':c': 'C#' },
      ProjectionExpression: 'cid, h, seenAt',
    })) {
      yield { cid: item.cid as string, h: item.h as string, seenAt: item.seenAt as string };
    }
  }

  async putContacts(records: ContactRecord[], hashes: string[]): Promise<number> {
    for (const l of new Set(records.map((r) => r.list))) await this.registerList(l);
    const requests = records.map((r, i) => ({
      PutRequest: { Item: { pk: `LIST#${r.list}`, sk: `C#${r.cid}`, ...r, h: hashes[i] } },
    }));
    // BatchWriteItem in groups of 25, a few groups in flight: one signed request per 25 contacts, not per contact.
    const groups: Record<string, unknown>[][] = [];
    for (let i = 0; i < requests.length; i += 25) groups.push(requests.slice(i, i + 25));
    await inParallel(groups, BATCH_CONCURRENCY, (g) => this.batchWrite(g));
    return records.length;
  }

  async removeContacts(list: string, cids: string[], before: string): Promise<number> {
    let removed = 0;
    await inParallel(cids, WRITE_CONCURRENCY, async (cid) => {
      try {
        await this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: { pk: `LIST#${list}`, sk: `C#${cid}` },
            // A contact written by a newer drop is never removed by an older snapshot (same time: this one wins).
            ConditionExpression: 'attribute_exists(pk) AND seenAt <= :t',
            ExpressionAttributeValues: { ':t': before },
          }),
        );
        removed++;
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
      }
    });
    return removed;
  }

  async setConsent(list: string, cids: string[], consent: ConsentState, at: string): Promise<number> {
    let changed = 0;
    await inParallel(cids, WRITE_CONCURRENCY, async (cid) => {
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: `LIST#${list}`, sk: `C#${cid}` },
            UpdateExpression: 'SET consent = :c, h = :h, seenAt = :t',
            ConditionExpression: 'attribute_exists(pk) AND seenAt <= :t',
            ExpressionAttributeValues: { ':c': consent, ':h': `suppressed:${at}`, ':t': at },
          }),
        );
        changed++;
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
      }
    });
    return changed;
  }

  async listIds(): Promise<string[]> {
    const out: string[] = [];
    for await (const item of this.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'LISTS' },
    }))
      out.push(item.list as string);
    return out;
  }

  async *contacts(list: string): AsyncIterable<ContactRecord> {
    for await (const item of this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :c)',
      ExpressionAttributeValues: { ':pk': `LIST#${list}`, ':c': 'C#' },
    })) {
      const { pk: _pk, sk: _sk, h: _h, ...rest } = item;
      yield rest as unknown as ContactRecord;
    }
  }

  async suppress(entries: SuppressionEntry[]): Promise<void> {
    await this.batchWrite(
      entries.map((e) => ({
        PutRequest: { Item: { pk: 'SUPPRESS', sk: `C#${e.cid}`, cid: e.cid, at: e.at, reason: e.reason } },
      })),
    );
  }

  async suppressed(): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const item of this.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'SUPPRESS' },
      ProjectionExpression: 'cid',
    }))
      out.add(item.cid as string);
    return out;
  }

  async audienceState(destKey: string): Promise<AudienceState | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: `AUD#${destKey}`, sk: 'STATE' } }),
    );
    return out.Item ? (out.Item.state as AudienceState) : undefined;
  }

  async putAudienceState(state: AudienceState): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { pk: `AUD#${state.destKey}`, sk: 'STATE', state } }),
    );
  }

  async *syncedMembers(destKey: string): AsyncIterable<SyncedMember> {
    for await (const item of this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :c)',
      ExpressionAttributeValues: { ':pk': `AUD#${destKey}`, ':c': 'C#' },
    }))
      yield {
        cid: item.cid as string,
        keys: item.keys as Record<string, string>,
        session: item.session as number | undefined,
      };
  }

  async recordSynced(destKey: string, added: SyncedMember[], removedCids: string[]): Promise<void> {
    await this.batchWrite([
      ...removedCids.map((cid) => ({ DeleteRequest: { Key: { pk: `AUD#${destKey}`, sk: `C#${cid}` } } })),
      ...added.map((m) => ({
        PutRequest: { Item: { pk: `AUD#${destKey}`, sk: `C#${m.cid}`, cid: m.cid, keys: m.keys, session: m.session } },
      })),
    ]);
  }

  async replaceSynced(destKey: string, members: SyncedMember[]): Promise<void> {
    const keep = new Set(members.map((m) => m.cid));
    const stale: string[] = [];
    for await (const m of this.syncedMembers(destKey)) if (!keep.has(m.cid)) stale.push(m.cid);
    await this.recordSynced(destKey, members, stale);
  }

  async acquireLock(name: string, owner: string, now: Date, until: Date): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: 'LOCK', sk: name, owner, until: until.toISOString() },
          // Free, expired (a crashed holder), or already ours (a continuation of the same run).
          ConditionExpression: 'attribute_not_exists(pk) OR #u < :now OR #o = :owner',
          ExpressionAttributeNames: { '#u': 'until', '#o': 'owner' },
          ExpressionAttributeValues: { ':now': now.toISOString(), ':owner': owner },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: 'LOCK', sk: name },
          ConditionExpression: '#o = :owner',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }

  async pruneSynced(destKey: string, session: number): Promise<number> {
    const stale: string[] = [];
    for await (const m of this.syncedMembers(destKey)) if (m.session !== session) stale.push(m.cid);
    await this.recordSynced(destKey, [], stale);
    return stale.length;
  }

  async putRun(kind: 'ingest' | 'sync' | 'erasure', at: string, summary: unknown): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `RUN#${kind}`,
          sk: at,
          summary: JSON.stringify(summary),
          expiresAt: Math.floor(Date.parse(at) / 1000) + RUN_RETENTION_S,
        },
      }),
    );
  }
}

/** Creates the table the stack defines (for local runs and tests against dynalite). */
export async function ensureTable(client: DynamoDBClient, table: string): Promise<void> {
  const { CreateTableCommand, DescribeTableCommand, waitUntilTableExists } = await import('@aws-sdk/client-dynamodb');
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
    return;
  } catch (e) {
    if ((e as { name?: string }).name !== 'ResourceNotFoundException') throw e;
  }
  await client.send(
    new CreateTableCommand({
      TableName: table,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 0.1, maxDelay: 1 }, { TableName: table });
}
