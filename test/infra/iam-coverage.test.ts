/**
 * IAM coverage: every AWS command a function's code sends must be allowed by that function's role in the
 * synthesized template. s3rver and dynalite check no IAM, so without this a missing permission only shows deployed
 * (as s3:GetObjectVersion did: every drop AccessDenied three times, then the DLQ).
 *
 * 1. The stack is synthesized (no bundling) with and without a customer-managed key, for a config with two Meta ad
 *    accounts: one whose secret the stack creates, one that names an existing secret (imported by name).
 * 2. Each function's environment is taken from its template (TABLE_NAME, BUCKET_NAME, DESTINATION_SECRETS), bound to
 *    the names of a local run: s3rver + dynalite, the fake Meta Graph API, a fake Secrets Manager holding each
 *    destination's secret under the id DESTINATION_SECRETS gives it.
 * 3. The real handlers run the scenarios (CSV, zip, unreadable file, bad key, erasure, a redelivered event; a sync
 *    that reads each destination's secret and writes reports) while test/helpers/aws-recorder.ts records every command
 *    their clients send, with the drop bucket behaving as versioned (HeadObject returns a VersionId) like the real one.
 * 4. test/helpers/iam-table.ts turns each command into the actions and ARNs AWS requires, and
 *    test/helpers/iam-policy.ts checks that an Allow statement of the function's role grants each.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asSqsEvent, type S3EventRecord, startEmbeddedAws } from '../../bin/local/embedded';
import { s3Client } from '../../functions/adapters/aws-clients';
import { objectOnce } from '../../functions/adapters/idempotency';
import { memoryLogger } from '../../functions/adapters/logger';
import { memoryMetrics } from '../../functions/adapters/metrics';
import type { ObjectOutcome } from '../../functions/app/ingest-object';
import { buildRuntime } from '../../functions/app/runtime';
import { handleIngestEvent } from '../../functions/ingest';
import { handleSync } from '../../functions/sync';
import { type FakeMeta, startMetaGraphServer } from '../fakes/meta-graph-server';
import { startSecretsManagerServer } from '../fakes/secrets-manager-server';
import { startStepFunctionsServer } from '../fakes/step-functions-server';
import { recordAwsCommands } from '../helpers/aws-recorder';
import {
  allowingStatements,
  FAKE_ENV,
  SECRET_SUFFIX,
  type TemplateJson,
  TemplateResolver,
} from '../helpers/iam-policy';
import { factsFromTemplate, requirementsOf, type SentCommand } from '../helpers/iam-table';
import { runIngestMachine } from '../helpers/ingest-machine';
import { runSyncMachine } from '../helpers/sync-machine';
import { makeZip } from '../unit/reading/zip-writer';
import { synthTemplate } from './synth';

const CUSTOMER_KEY = 'arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const BUCKET = 'iam-coverage-drop';
const TABLE = 'iam-coverage-contacts';
const FUNCTIONS = ['IngestFunction', 'IngestStepsFunction', 'SyncFunction'] as const;

const CONFIG = `
version: 1
destinations:
  meta-main: { platform: meta, adAccountId: act_777, replaceEveryDays: 0 }
  meta-eu: { platform: meta, adAccountId: act_888, replaceEveryDays: 0, tokenSecretName: shared/meta-eu-token }
segments:
  - id: subscribers
    where: { consent: subscribed }
    destinations:
      - { destination: meta-main, audienceName: "Subscribers", minSize: 1 }
      - { destination: meta-eu, audienceName: "Subscribers EU", minSize: 1 }
`;
/** Each ad account's own token, stored in its destination's secret. */
const TOKENS: Record<string, string> = { 'meta-main': 'token-main', 'meta-eu': 'token-eu' };
const configFile = join(mkdtempSync(join(tmpdir(), 'as-iam-')), 'audiences.yaml');
writeFileSync(configFile, CONFIG);

const CSV = 'email,first_name,country\nada@example.com,Ada,US\nbob@example.com,Bob,US\n';
/** Above the fan-out size the coverage synth sets (fanOutBytes 2048): read by the fan-out's workers in chunks. */
const BIG_CSV = `email,first_name,country\n${Array.from({ length: 200 }, (_, i) => `p${i}@example.com,P${i},US`).join('\n')}\n`;

let meta: FakeMeta;
beforeAll(async () => {
  meta = await startMetaGraphServer({ quotaPerWindow: 1_000_000, validTokens: Object.values(TOKENS) });
});
afterAll(async () => {
  await meta.close();
});

interface FunctionInTemplate {
  roleId: string;
  env: Record<string, string>;
}

/** The Lambda function whose logical id starts with `prefix`: its role's logical id and its raw env vars. */
function lambdaOf(template: TemplateJson, prefix: string): { roleId: string; vars: Record<string, unknown> } {
  const found = Object.entries(template.Resources).find(
    ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(prefix),
  );
  if (!found) throw new Error(`the template has no Lambda function ${prefix}`);
  const props = (found[1].Properties ?? {}) as {
    Role: { 'Fn::GetAtt': [string, string] };
    Environment: { Variables: Record<string, unknown> };
  };
  return { roleId: props.Role['Fn::GetAtt'][0], vars: props.Environment.Variables };
}

function functionsOf(template: TemplateJson, resolver: TemplateResolver): Record<string, FunctionInTemplate> {
  return Object.fromEntries(
    FUNCTIONS.map((name) => {
      const { roleId, vars } = lambdaOf(template, name);
      const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolver.resolve(v)]));
      return [name, { roleId, env }];
    }),
  );
}

/** Logical ids the functions' env vars refer to, bound to the names the local run uses. */
function bindNames(template: TemplateJson): Record<string, string> {
  const { vars } = lambdaOf(template, 'IngestFunction');
  const ref = (name: string) => {
    const id = (vars[name] as { Ref?: string } | undefined)?.Ref;
    if (!id) throw new Error(`IngestFunction's ${name} is not a Ref to a resource of the stack`);
    return id;
  };
  return { [ref('BUCKET_NAME')]: BUCKET, [ref('TABLE_NAME')]: TABLE };
}

/** A secret DESTINATION_SECRETS names (full ARN or name), as Secrets Manager would hold it. */
function secretFor(secretId: string) {
  if (secretId.startsWith('arn:')) {
    const name = secretId.split(':secret:')[1]!.replace(/-[A-Za-z0-9]{6}$/, '');
    return { name, arn: secretId };
  }
  const { partition, region, account } = FAKE_ENV;
  return {
    name: secretId,
    arn: `arn:${partition}:secretsmanager:${region}:${account}:secret:${secretId}-${SECRET_SUFFIX}`,
  };
}

/** Runs the scenarios through the real handlers with the template's env, recording what each function sends. */
async function runScenarios(fns: Record<string, FunctionInTemplate>): Promise<SentCommand[]> {
  const recorder = recordAwsCommands({ versionedBucket: true });
  const aws = await startEmbeddedAws(undefined, { bucket: BUCKET, table: TABLE });
  const secretIds = JSON.parse(fns.SyncFunction!.env.DESTINATION_SECRETS!) as Record<string, string>;
  expect(Object.keys(secretIds).sort()).toEqual(Object.keys(TOKENS).sort());
  const secrets = await startSecretsManagerServer(
    Object.entries(secretIds).map(([destination, id]) => ({
      ...secretFor(id),
      value: JSON.stringify({ accessToken: TOKENS[destination] }),
    })),
  );
  const savedEndpoint = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.endpoint;
  const stepFunctions = await startStepFunctionsServer();
  const savedSfn = process.env.AWS_ENDPOINT_URL_SFN;
  process.env.AWS_ENDPOINT_URL_SFN = stepFunctions.endpoint;
  const s3 = s3Client();
  try {
    // Each function builds its runtime from its own environment, as one cold start in the cloud would.
    const runtimeOf = (fn: string) =>
      buildRuntime(
        { ...process.env, ...fns[fn]!.env, AUDIENCE_CONFIG_FILE: configFile },
        memoryLogger(),
        undefined,
        memoryMetrics(),
      );
    const ingest = runtimeOf('IngestFunction');
    const deliver = async (records: S3EventRecord[]) => {
      const outcomes: ObjectOutcome[] = [];
      const res = await recorder.as('IngestFunction', () =>
        handleIngestEvent(asSqsEvent(records), ingest, (_k, o) => outcomes.push(o)),
      );
      expect(res.batchItemFailures).toEqual([]);
      return outcomes;
    };
    const drop = async (key: string, body: string | Buffer) => {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
      const records = aws.drainEvents();
      return { records, outcomes: await deliver(records) };
    };

    const csv = await drop('incoming/newsletter/members.csv', CSV);
    expect(csv.outcomes.map((o) => o.kind)).toEqual(['ingested']);
    const zip = makeZip([{ name: 'export/members.csv', data: 'email\ncy@example.com\ndee@example.com\n' }]);
    expect((await drop('incoming/shop/export.zip', zip)).outcomes.map((o) => o.kind)).toEqual(['ingested']);
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
    expect((await drop('incoming/newsletter/logo.csv', png)).outcomes.map((o) => o.kind)).toEqual(['quarantined']);
    expect((await drop('incoming/Bad List/x.csv', CSV)).outcomes.map((o) => o.kind)).toEqual(['quarantined']);
    expect((await drop('erasure/request.csv', 'email\nada@example.com\n')).outcomes.map((o) => o.kind)).toEqual([
      'erasure',
    ]);
    // S3 delivers at least once: the CSV's event again, after its file is gone.
    expect((await deliver(csv.records)).map((o) => o.kind)).toEqual(['ignored']);
    // The function processes each object version once (Powertools Idempotency on the contact table): the same
    // notification twice is answered from the idempotency record the first one left.
    const once = objectOnce(fns.IngestFunction!.env.TABLE_NAME!);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'incoming/again/members.csv', Body: CSV }));
    const again = aws.drainEvents();
    expect(again.every((r) => (r.s3.object as { sequencer?: string }).sequencer)).toBe(true);
    const deliverOnce = async () => {
      const outcomes: ObjectOutcome[] = [];
      const res = await recorder.as('IngestFunction', () =>
        handleIngestEvent(asSqsEvent(again), ingest, (_k, o) => outcomes.push(o), { once }),
      );
      expect(res.batchItemFailures).toEqual([]);
      return outcomes.map((o) => o.kind);
    };
    expect(await deliverOnce()).toEqual(['ingested']);
    expect(await deliverOnce()).toEqual(['duplicate']);
    // A big export: the queue's ingest starts the fan-out state machine, whose steps run as IngestStepsFunction.
    expect((await drop('incoming/big/export.csv', BIG_CSV)).outcomes.map((o) => o.kind)).toEqual(['fanned_out']);
    const [execution] = stepFunctions.started;
    const steps = runtimeOf('IngestStepsFunction');
    const fannedOut = await recorder.as('IngestStepsFunction', () =>
      runIngestMachine(steps, execution!.input as { key: string; runId: string }, { maxConcurrency: 2 }),
    );
    expect(fannedOut.tasks.filter((t) => t.startsWith('StageChunk')).length).toBeGreaterThan(1);
    expect(fannedOut.final).toMatchObject({ outcome: { kind: 'ingested', rows: 200 } });

    const sync = runtimeOf('SyncFunction');
    const result = await recorder.as('SyncFunction', () =>
      handleSync({ trigger: 'test' }, sync, 10 * 60_000, { ...fns.SyncFunction!.env, META_GRAPH_URL: meta.baseUrl }),
    );
    expect(result.summary).toEqual([
      expect.objectContaining({ destination: 'meta-main', status: 'synced', added: 203 }),
      expect.objectContaining({ destination: 'meta-eu', status: 'synced', added: 203 }),
    ]);
    // Each destination read its own secret, by the id the template gives it, once.
    expect(secrets.requests.sort()).toEqual(Object.values(secretIds).sort());
    // The nightly state machine runs the sync in steps (plan, shard groups, decide, finish) with run state in the table.
    const stepped = await recorder.as('SyncFunction', () =>
      runSyncMachine(
        sync,
        { ...fns.SyncFunction!.env, META_GRAPH_URL: meta.baseUrl },
        { trigger: 'test', shardDigits: 1 },
        { maxConcurrency: 2 },
      ),
    );
    expect(stepped.final).toMatchObject({ done: true });
    return recorder.sent;
  } finally {
    recorder.stop();
    s3.destroy();
    if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
    else process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = savedEndpoint;
    if (savedSfn === undefined) delete process.env.AWS_ENDPOINT_URL_SFN;
    else process.env.AWS_ENDPOINT_URL_SFN = savedSfn;
    await stepFunctions.close();
    await secrets.close();
    await aws.close();
  }
}

/** Same environment, same commands: variants that differ only in keys share one run. */
const runs = new Map<string, Promise<SentCommand[]>>();
const recordingFor = (fns: Record<string, FunctionInTemplate>) => {
  const key = JSON.stringify(fns);
  if (!runs.has(key)) runs.set(key, runScenarios(fns));
  return runs.get(key)!;
};

/** One line per requirement no Allow statement of the function's role satisfies. */
function uncovered(template: TemplateJson, sent: SentCommand[], fn: string, customerKey?: string): string[] {
  const resolver = new TemplateResolver(template, { ...FAKE_ENV, names: bindNames(template) });
  // As the stack documents: a secret imported by name is assumed to use the customer key, when there is one.
  const facts = factsFromTemplate(resolver, { importedSecretKey: customerKey });
  const { roleId } = functionsOf(template, resolver)[fn]!;
  const statements = resolver.statementsOfRole(roleId);
  const missing = new Set<string>();
  for (const cmd of sent.filter((c) => c.fn === fn)) {
    for (const need of requirementsOf(cmd, facts)) {
      if (allowingStatements(statements, need).length === 0) {
        missing.add(`${fn} ${cmd.command}: ${need.why} needs ${need.action} on ${need.resource}; ${roleId} lacks it`);
      }
    }
  }
  return [...missing].sort();
}

describe.each([
  ['defaults', {}],
  ['customer-managed key', { kmsKeyArn: CUSTOMER_KEY }],
])('IAM coverage with %s', (_name, context) => {
  let template: TemplateJson;
  let sent: SentCommand[];

  beforeAll(async () => {
    template = synthTemplate({
      configFile,
      fanOutBytes: 2048,
      fanOutChunkBytes: 1024,
      ...context,
    }).toJSON() as TemplateJson;
    const resolver = new TemplateResolver(template, { ...FAKE_ENV, names: bindNames(template) });
    sent = await recordingFor(functionsOf(template, resolver));
  });

  it('ran the paths a versioned bucket takes (reads pinned to a version, copies, secrets, batches)', () => {
    const seen = (fn: string, command: string, has?: string) =>
      sent.some((c) => c.fn === fn && c.command === command && (!has || c.input[has] !== undefined));
    expect(seen('IngestFunction', 'HeadObject')).toBe(true);
    expect(seen('IngestFunction', 'GetObject', 'VersionId')).toBe(true);
    expect(seen('IngestFunction', 'CopyObject')).toBe(true);
    expect(seen('IngestFunction', 'DeleteObject', 'VersionId')).toBe(true);
    // A quarantined file is copied as the version that was read; a bad key (never read) as the current version.
    const copies = sent.filter((c) => c.fn === 'IngestFunction' && c.command === 'CopyObject');
    expect(copies.map((c) => c.input.CopySource).sort()).toEqual([
      `${BUCKET}/incoming/Bad%20List/x.csv`,
      expect.stringMatching(new RegExp(`^${BUCKET}/incoming/newsletter/logo\\.csv\\?versionId=sim-`)),
    ]);
    // Every raw file is deleted as the version that was read: none stays behind as a noncurrent version.
    const deletes = sent.filter((c) => c.fn === 'IngestFunction' && c.command === 'DeleteObject');
    expect(deletes.map((c) => [c.input.Key, c.input.VersionId]).sort()).toEqual([
      ['erasure/request.csv', expect.stringMatching(/^sim-/)],
      ['incoming/Bad List/x.csv', expect.stringMatching(/^sim-/)],
      ['incoming/again/members.csv', expect.stringMatching(/^sim-/)],
      ['incoming/newsletter/logo.csv', expect.stringMatching(/^sim-/)],
      ['incoming/newsletter/members.csv', expect.stringMatching(/^sim-/)],
      ['incoming/shop/export.zip', expect.stringMatching(/^sim-/)],
    ]);
    expect(seen('IngestFunction', 'BatchWriteItem')).toBe(true);
    // Idempotency records: a conditional put per processing, an update when it completed.
    expect(seen('IngestFunction', 'PutItem', 'ConditionExpression')).toBe(true);
    expect(seen('IngestFunction', 'UpdateItem')).toBe(true);
    expect(seen('SyncFunction', 'GetSecretValue')).toBe(true);
    expect(seen('SyncFunction', 'PutObject')).toBe(true);
    expect(seen('SyncFunction', 'Query')).toBe(true);
    expect(seen('IngestFunction', 'StartExecution')).toBe(true);
    expect(seen('IngestStepsFunction', 'GetObject', 'Range')).toBe(true);
    expect(seen('IngestStepsFunction', 'BatchWriteItem')).toBe(true);
    expect(seen('IngestStepsFunction', 'DeleteObjects')).toBe(true);
  });

  it.each(FUNCTIONS)('%s: its role allows every command its code sent', (fn) => {
    expect(uncovered(template, sent, fn, (context as { kmsKeyArn?: string }).kmsKeyArn)).toEqual([]);
  });
});

describe('s3rver and the versioned-bucket simulation', () => {
  it('s3rver ignores versionId on GetObject and DeleteObject, so pinned reads and deletes reach the object', async () => {
    const aws = await startEmbeddedAws(undefined, { bucket: BUCKET, table: TABLE });
    const s3 = s3Client();
    try {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'incoming/x/a.csv', Body: 'email\n' }));
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'incoming/x/a.csv', VersionId: 'v1' }));
      expect(await got.Body!.transformToString()).toBe('email\n');
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'incoming/x/a.csv', VersionId: 'v1' }));
      await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'incoming/x/a.csv' }))).rejects.toThrow();
    } finally {
      s3.destroy();
      await aws.close();
    }
  });
});
