/**
 * The contact store on one DynamoDB table (pk/sk). Works on dynalite: no transactions, no TTL expiry —
 * ordering and idempotence come from conditional writes.
 *
 * | pk                   | sk                          | item                                                  |
 * |----------------------|-----------------------------|-------------------------------------------------------|
 * | LISTS                | L#<list>                    | list registry (so sync needs no Scan)                 |
 * | LIST#<list>          | SNAP                        | last committed snapshot; `applying` while a drop is written |
 * | L#<list>#<shard>     | C#<cid>                     | pseudonymous contact: identity hashes, keys, consent, attributes (one JSON text, `r`) |
 * | B#<shard>            | H#<hash>#<kind>#<source>    | block on an identity hash (erasure, suppression, opt-out) |
 * | AUDS                 | <destKey>                   | audience state: id, replace session, lookalike, retirement |
 * | AUD#<dest>#<segment> | C#<cid>                     | member last confirmed sent, with the keys that were sent (`k`, one JSON text) |
 * | RUN#<kind>           | <iso time>                  | run summaries (expire after 400 days)                 |
 * | LOCK                 | <name>                      | leased lock with heartbeat                            |
 * | RUNSTATE#<runId>     | RUN#<n> / <n>#<pass>#<group> | a stepped run's state and its shard groups' results (expire after 7 days) |
 *
 * Contacts and blocks are spread over 16 partitions per list by the first hex digit of the id, so a big first load
 * is not throttled on one partition key and sync can read people shard by shard, in cid order, list by list.
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
import { recordOfContent } from '../core/contact-content';
import { inParallel } from '../core/in-parallel';
import { type ContactRecord, objectKeyOfSource, SHARDS, shardOf } from '../core/model';
import type {
  AudienceState,
  BlockEntry,
  ContactStore,
  ContactWrite,
  ListSnapshot,
  ListState,
  LockHolder,
  LockOutcome,
  RunStateStore,
  StoredFingerprint,
  SyncedMember,
} from '../core/ports';

const RUN_RETENTION_S = 400 * 86_400;
const RUN_STATE_RETENTION_S = 7 * 86_400;
const WRITE_CONCURRENCY = 16;
const BATCH_CONCURRENCY = 4;

const isConditionFailure = (e: unknown) =>
  e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';

const contactPk = (list: string, cid: string) => `L#${list}#${shardOf(cid)}`;
const blockKey = (b: Pick<BlockEntry, 'hash' | 'kind' | 'source'>) => ({
  pk: `B#${shardOf(b.hash)}`,
  sk: `H#${b.hash}#${b.kind}#${b.source}`,
});

export class DynamoContactStore implements ContactStore, RunStateStore {
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

  /** Items of one pk whose sk starts with `prefix`, in sk order. */
  private partition(pk: string, prefix: string, projection?: string): AsyncIterable<Record<string, unknown>> {
    return this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': pk, ':p': prefix },
      ...(projection ? { ProjectionExpression: projection } : {}),
    });
  }

  private async batchWrite(requests: Record<string, unknown>[]): Promise<void> {
    const groups: Record<string, unknown>[][] = [];
    for (let i = 0; i < requests.length; i += 25) groups.push(requests.slice(i, i + 25));
    // BatchWriteItem in groups of 25, a few groups in flight: one signed request per 25 items, not per item.
    await inParallel(groups, BATCH_CONCURRENCY, async (group) => {
      let pending = group;
      for (let attempt = 0; pending.length; attempt++) {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }));
        pending = (out.UnprocessedItems?.[this.table] as Record<string, unknown>[] | undefined) ?? [];
        if (pending.length) {
          if (attempt > 8) throw new Error(`DynamoDB kept ${pending.length} writes unprocessed after retries`);
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        }
      }
    });
  }

  // ---- lists -------------------------------------------------------------------------------------------------

  async getSnapshot(list: string): Promise<ListSnapshot | undefined> {
    return (await this.listState(list)).snapshot;
  }

  async listState(list: string): Promise<ListState> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: `LIST#${list}`, sk: 'SNAP' } }));
    const item = out.Item;
    if (!item) return {};
    const state: ListState = {};
    if (item.snap) state.snapshot = item.snap as ListSnapshot;
    if (item.applying) state.applying = item.applying as ListState['applying'];
    return state;
  }

  async markApplying(list: string, marker: NonNullable<ListState['applying']>): Promise<void> {
    await this.registerList(list);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `LIST#${list}`, sk: 'SNAP' },
          UpdateExpression: 'SET applying = :m',
          // Another file's marker is a drop that stopped midway: replaced, a delta's commit would clear it and sync
          // would use the list it left half-written. The same file (a retry, or the object uploaded again as a new
          // version) takes it over.
          ConditionExpression: 'attribute_not_exists(applying) OR begins_with(applying.#s, :k)',
          ExpressionAttributeNames: { '#s': 'source' },
          ExpressionAttributeValues: { ':m': marker, ':k': `${objectKeyOfSource(marker.source)}#` },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }

  async clearApplying(list: string, source: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `LIST#${list}`, sk: 'SNAP' },
          UpdateExpression: 'REMOVE applying',
          ConditionExpression: 'applying.#s = :s',
          ExpressionAttributeNames: { '#s': 'source' },
          ExpressionAttributeValues: { ':s': source },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }

  async commitSnapshot(snap: ListSnapshot, keep?: ListState['applying']): Promise<'committed' | 'stale'> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `LIST#${snap.list}`,
            sk: 'SNAP',
            exportedAt: snap.exportedAt,
            source: snap.source,
            snap,
            ...(keep ? { applying: keep } : {}),
          },
          // An older export never replaces a newer one; at the same export time the later drop is the correction.
          // A stored time in the future (a broken clock) is replaced: ingest already refused to trust it.
          ConditionExpression:
            'attribute_not_exists(pk) OR attribute_not_exists(exportedAt) OR exportedAt <= :t OR exportedAt > :future',
          ExpressionAttributeValues: {
            ':t': snap.exportedAt,
            ':future': new Date(Date.parse(snap.committedAt) + 5 * 60_000).toISOString(),
          },
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

  async listIds(): Promise<string[]> {
    const out: string[] = [];
    for await (const item of this.partition('LISTS', 'L#')) out.push(item.list as string);
    return out;
  }

  // ---- contacts ----------------------------------------------------------------------------------------------

  async *fingerprints(list: string, only?: string): AsyncIterable<StoredFingerprint> {
    for (const shard of only === undefined ? SHARDS : [only]) {
      for await (const item of this.partition(`L#${list}#${shard}`, 'C#', 'cid, h, seenAt')) {
        yield { cid: item.cid as string, h: item.h as string, seenAt: item.seenAt as string };
      }
    }
  }

  async getContact(list: string, cid: string): Promise<ContactRecord | undefined> {
    const out = await this.doc.send(
      // Strongly consistent: an ingest merging a repeated person reads back what it wrote moments before.
      new GetCommand({
        TableName: this.table,
        Key: { pk: contactPk(list, cid), sk: `C#${cid}` },
        ConsistentRead: true,
      }),
    );
    return out.Item ? toRecord(out.Item) : undefined;
  }

  async putContacts(writes: ContactWrite[]): Promise<number> {
    for (const l of new Set(writes.map((w) => w.list))) await this.registerList(l);
    await this.batchWrite(writes.map((w) => ({ PutRequest: { Item: contactItem(w) } })));
    return writes.length;
  }

  async removeContacts(list: string, cids: string[], before: string, untrustedAfter?: string): Promise<number> {
    let removed = 0;
    await inParallel(cids, WRITE_CONCURRENCY, async (cid) => {
      try {
        await this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: { pk: contactPk(list, cid), sk: `C#${cid}` },
            // A contact written by a newer drop is never removed by an older snapshot (same time: this one wins);
            // one "seen" in the future was written under a broken clock and has no claim to be newer.
            ConditionExpression: untrustedAfter
              ? 'attribute_exists(pk) AND (seenAt <= :t OR seenAt > :future)'
              : 'attribute_exists(pk) AND seenAt <= :t',
            ExpressionAttributeValues: untrustedAfter ? { ':t': before, ':future': untrustedAfter } : { ':t': before },
          }),
        );
        removed++;
      } catch (e) {
        if (!isConditionFailure(e)) throw e;
      }
    });
    return removed;
  }

  async *contacts(list: string, prefix = ''): AsyncIterable<ContactRecord> {
    // Partitions hold one first hex digit each; a longer prefix narrows the range inside its partition.
    for (const s of prefix === '' ? SHARDS : [prefix.charAt(0)]) {
      for await (const item of this.partition(`L#${list}#${s}`, `C#${prefix}`)) yield toRecord(item);
    }
  }

  // ---- blocks ------------------------------------------------------------------------------------------------

  async putBlocks(entries: BlockEntry[]): Promise<void> {
    await this.batchWrite(dedupe(entries.map((b) => ({ PutRequest: { Item: { ...blockKey(b), ...b } } }))));
  }

  async deleteBlocks(entries: Array<Pick<BlockEntry, 'hash' | 'kind' | 'source'>>): Promise<void> {
    await this.batchWrite(dedupe(entries.map((b) => ({ DeleteRequest: { Key: blockKey(b) } }))));
  }

  async *blocks(): AsyncIterable<BlockEntry> {
    for (const shard of SHARDS) {
      for await (const item of this.partition(`B#${shard}`, 'H#')) {
        yield {
          hash: item.hash as string,
          kind: item.kind as BlockEntry['kind'],
          at: item.at as string,
          source: item.source as string,
        };
      }
    }
  }

  // ---- audiences ---------------------------------------------------------------------------------------------

  async audienceState(destKey: string): Promise<AudienceState | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: 'AUDS', sk: destKey } }));
    return out.Item ? (out.Item.state as AudienceState) : undefined;
  }

  async putAudienceState(state: AudienceState): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: 'AUDS', sk: state.destKey, state } }));
  }

  async *audienceStates(): AsyncIterable<AudienceState> {
    for await (const item of this.partition('AUDS', '')) yield item.state as AudienceState;
  }

  async *syncedMembers(destKey: string, prefix = ''): AsyncIterable<SyncedMember> {
    for await (const item of this.partition(`AUD#${destKey}`, `C#${prefix}`))
      yield {
        cid: item.cid as string,
        // The keys as one JSON text (`k`), as contacts keep their content; members recorded before as a map.
        keys: (typeof item.k === 'string' ? JSON.parse(item.k) : item.keys) as Record<string, string>,
        session: item.session as number | undefined,
        ...(item.pending === true ? { pending: true } : {}),
      };
  }

  async recordSynced(destKey: string, added: SyncedMember[], removedCids: string[]): Promise<void> {
    await this.batchWrite(
      dedupe([
        ...removedCids.map((cid) => ({ DeleteRequest: { Key: { pk: `AUD#${destKey}`, sk: `C#${cid}` } } })),
        ...added.map((m) => ({
          PutRequest: {
            Item: {
              pk: `AUD#${destKey}`,
              sk: `C#${m.cid}`,
              cid: m.cid,
              k: JSON.stringify(m.keys),
              session: m.session,
              pending: m.pending === true ? true : undefined,
            },
          },
        })),
      ]),
    );
  }

  async replaceSynced(destKey: string, members: SyncedMember[]): Promise<void> {
    const keep = new Set(members.map((m) => m.cid));
    const stale: string[] = [];
    for await (const m of this.syncedMembers(destKey)) if (!keep.has(m.cid)) stale.push(m.cid);
    await this.recordSynced(destKey, members, stale);
  }

  async pruneSynced(destKey: string, session: number): Promise<number> {
    const stale: string[] = [];
    for await (const m of this.syncedMembers(destKey)) if (m.session !== session) stale.push(m.cid);
    await this.recordSynced(destKey, [], stale);
    return stale.length;
  }

  async moveAudience(fromKey: string, to: AudienceState): Promise<void> {
    // Copy first, then delete: a crash in between leaves both, and the next sync moves again (idempotent).
    const members: SyncedMember[] = [];
    for await (const m of this.syncedMembers(fromKey)) members.push(m);
    await this.recordSynced(to.destKey, members, []);
    await this.putAudienceState(to);
    await this.recordSynced(
      fromKey,
      [],
      members.map((m) => m.cid),
    );
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: 'AUDS', sk: fromKey } }));
  }

  // ---- runs and locks ----------------------------------------------------------------------------------------

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

  async runs(kind: 'ingest' | 'sync' | 'erasure', limit: number): Promise<Array<{ at: string; summary: unknown }>> {
    // A page holds at most 1 MB: sync summaries (the whole report) of a few dozen audiences fill one before `limit`.
    const out: Array<{ at: string; summary: unknown }> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `RUN#${kind}` },
          ScanIndexForward: false,
          Limit: limit - out.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const i of page.Items ?? []) out.push({ at: i.sk as string, summary: JSON.parse(i.summary as string) });
      start = page.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  async putRunState(runId: string, key: string, value: unknown): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `RUNSTATE#${runId}`,
          sk: key,
          value: JSON.stringify(value),
          expiresAt: Math.floor(Date.now() / 1000) + RUN_STATE_RETENTION_S,
        },
      }),
    );
  }

  async getRunState<T>(runId: string, key: string): Promise<T | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: `RUNSTATE#${runId}`, sk: key }, ConsistentRead: true }),
    );
    return out.Item ? (JSON.parse(out.Item.value as string) as T) : undefined;
  }

  async *runStates<T>(runId: string, prefix: string): AsyncIterable<{ key: string; value: T }> {
    for await (const item of this.query({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
      ExpressionAttributeValues: { ':pk': `RUNSTATE#${runId}`, ':p': prefix },
      ConsistentRead: true,
    }))
      yield { key: item.sk as string, value: JSON.parse(item.value as string) as T };
  }

  async acquireLock(name: string, owner: string, now: Date, until: Date): Promise<LockOutcome> {
    try {
      const out = await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: 'LOCK', sk: name, owner, until: until.toISOString(), heartbeatAt: now.toISOString() },
          // Free, expired (a holder that stopped renewing: crashed), or already ours (a renewal or a continuation).
          ConditionExpression: 'attribute_not_exists(pk) OR #u < :now OR #o = :owner',
          ExpressionAttributeNames: { '#u': 'until', '#o': 'owner' },
          ExpressionAttributeValues: { ':now': now.toISOString(), ':owner': owner },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const old = out.Attributes as LockHolder | undefined;
      return old && old.owner !== owner ? { acquired: true, tookOverFrom: holderOf(old) } : { acquired: true };
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      const holder = await this.lockHolder(name);
      return holder ? { acquired: false, holder } : { acquired: false };
    }
  }

  async lockHolder(name: string): Promise<LockHolder | undefined> {
    const held = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: 'LOCK', sk: name } }));
    return held.Item ? holderOf(held.Item as LockHolder) : undefined;
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
}

function holderOf(item: LockHolder): LockHolder {
  return item.heartbeatAt
    ? { owner: item.owner, until: item.until, heartbeatAt: item.heartbeatAt }
    : { owner: item.owner, until: item.until };
}

/**
 * A contact's item: its key; what the store reads or conditions on by itself (cid, seenAt, the content hash `h`),
 * with list and source; and the rest of the record as one string, its content text `r` (what `h` hashes). One
 * string attribute, not a map of lists and maps: the SDK marshals and serializes a contact in a fraction of the
 * time (a write and a read of one cost about 8 and 11 µs against 20 and 25 as nested attributes), and the item is
 * no larger (attribute names count towards an item's size as the JSON's keys do).
 */
function contactItem(w: ContactWrite): Record<string, unknown> {
  return {
    pk: contactPk(w.list, w.cid),
    sk: `C#${w.cid}`,
    cid: w.cid,
    list: w.list,
    seenAt: w.seenAt,
    source: w.source,
    h: w.h,
    r: w.text,
  };
}

/** The record of a contact item; items written before the content text was kept hold the record's fields as such. */
function toRecord(item: Record<string, unknown>): ContactRecord {
  if (typeof item.r === 'string') return recordOfContent(item as unknown as ContactRecord, item.r);
  const { pk: _pk, sk: _sk, h: _h, ...rest } = item;
  return rest as unknown as ContactRecord;
}

/** BatchWriteItem refuses two requests for one key: the last one wins. */
function dedupe(requests: Record<string, unknown>[]): Record<string, unknown>[] {
  const byKey = new Map<string, Record<string, unknown>>();
  for (const r of requests) {
    const key =
      (r.PutRequest as { Item: { pk: string; sk: string } } | undefined)?.Item ??
      (r.DeleteRequest as { Key: { pk: string; sk: string } }).Key;
    byKey.set(`${key.pk}\u0000${key.sk}`, r);
  }
  return byKey.size === requests.length ? requests : [...byKey.values()];
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
