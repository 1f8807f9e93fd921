import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { requireWholeNumber } from './checks';
import { mapItemTask, stepMachine, stepTask } from './step-machine';

export interface IngestFanOutProps {
  /**
   * The ingest steps function (functions/ingest-steps.ts). Plan, whole, commit and abort get `{ step, run: <state> }`;
   * a chunk `{ step: 'stage', runId, chunk }`, a cid shard `{ step: 'apply', runId, shard }`.
   */
  readonly stepsFunction: lambda.IFunction;
  /**
   * Chunks read at once. Each worker holds one vCPU for a chunk; Lambda's account concurrency is the real bound.
   * @default 40
   */
  readonly chunkConcurrency?: number;
  /**
   * Cid shards written at once. Each writes its shard's contacts with a few BatchWriteItem calls in flight, so this
   * bounds the write rate the table must absorb (see the README's capacity arithmetic).
   * @default 5
   */
  readonly shardConcurrency?: number;
  /**
   * How long one fanned-out ingest may take in total.
   * @default Duration.hours(2)
   */
  readonly timeout?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default - CloudWatch Logs service-side encryption */
  readonly logEncryptionKey?: kms.IKey;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A big export read by parallel workers: Plan (split the file on record boundaries) → StageChunks (Distributed Map:
 * each chunk read, mapped and hashed, staged by cid shard) → ApplyShards (Distributed Map: each shard's records of every
 * chunk written, repeats merged, then its leavers) → Commit (snapshot, reports). A file that cannot be split goes to
 * IngestWhole. The queue's ingest function starts it for files above the fan-out size.
 */
export class IngestFanOut extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: IngestFanOutProps) {
    super(scope, id);
    const chunkConcurrency = props.chunkConcurrency ?? 40;
    const shardConcurrency = props.shardConcurrency ?? 5;
    requireWholeNumber(this, 'chunkConcurrency', chunkConcurrency, { min: 1, max: 1000 }, 'e.g. 40.');
    requireWholeNumber(
      this,
      'shardConcurrency',
      shardConcurrency,
      { min: 1, max: 16 },
      'e.g. 5 (16 cid shards; each about 8,000 write units a second).',
    );
    const timeout = props.timeout ?? Duration.hours(2);
    const fn = props.stepsFunction;
    const step = (sid: string, name: string, comment: string) => stepTask(this, sid, fn, name, comment);
    const plan = step(
      'Plan',
      'plan',
      "The list's lock, the drop's checks, the file's chunks cut on record boundaries.",
    );
    const whole = step('IngestWhole', 'whole', 'A file that cannot be split (zip, UTF-16, …): one worker reads it.');
    const commit = step('Commit', 'commit', 'Every chunk and shard done: the snapshot commits, reports, cleanup.');
    const abort = step('Abort', 'abort', 'A chunk or shard failed after its retries: the lock is released.');
    const failed = new sfn.Fail(this, 'IngestFailed', {
      error: 'IngestChunkFailed',
      cause: 'A chunk or shard failed after its retries; the list keeps its previous snapshot. Drop the file again.',
    });
    abort.next(failed);
    const done = new sfn.Succeed(this, 'IngestDone');

    const map = (mid: string, label: string, items: string, pass: 'stage' | 'apply', key: string, n: number) => {
      const item = mapItemTask(
        this,
        `${mid}Item`,
        fn,
        pass === 'stage' ? 'One chunk, staged by cid shard.' : 'One cid shard, written.',
      );
      const m = new sfn.DistributedMap(this, mid, {
        comment: label,
        itemsPath: items,
        itemSelector: { step: pass, 'runId.$': '$.runId', [`${key}.$`]: '$$.Map.Item.Value' },
        maxConcurrency: n,
        resultPath: sfn.JsonPath.DISCARD,
        mapExecutionType: sfn.StateMachineType.STANDARD,
        label: mid,
      });
      m.itemProcessor(item);
      m.addCatch(abort, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
      return m;
    };
    const stage = map(
      'StageChunks',
      'Every chunk read by its own worker.',
      '$.chunks',
      'stage',
      'chunk',
      chunkConcurrency,
    );
    const applyShards = map(
      'ApplyShards',
      'Every cid shard written once every chunk is staged; leavers after.',
      '$.shards',
      'apply',
      'shard',
      shardConcurrency,
    );
    const again = new sfn.Wait(this, 'ListBusy', {
      comment: 'Another ingest of this list holds its lock.',
      time: sfn.WaitTime.secondsPath('$.waitSeconds'),
    });
    again.next(plan);
    const planned = new sfn.Choice(this, 'Planned')
      .when(sfn.Condition.stringEquals('$.next', 'chunks'), stage)
      .when(sfn.Condition.stringEquals('$.next', 'whole'), whole)
      .when(sfn.Condition.stringEquals('$.next', 'wait'), again)
      .otherwise(done);
    stage.next(applyShards);
    applyShards.next(commit);
    commit.next(done);
    whole.next(done);

    ({ stateMachine: this.stateMachine, logGroup: this.logGroup } = stepMachine(this, {
      definition: plan.next(planned),
      comment: 'audience-sync: a big export read by parallel workers (plan, stage chunks, apply shards, commit)',
      timeout,
      fn,
      fnLabel: 'the ingest steps function',
      maps: ['StageChunks', 'ApplyShards'],
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      logRemovalPolicy: props.logRemovalPolicy,
    }));
  }
}
