import { Aws, Duration, Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource, requireWholeNumber } from './checks';

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
   * @default 8
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

/** Lambda errors that say nothing about the ingest itself: the same task is sent again after a pause. */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

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
    const shardConcurrency = props.shardConcurrency ?? 8;
    requireWholeNumber(this, 'chunkConcurrency', chunkConcurrency, { min: 1, max: 1000 }, 'e.g. 40.');
    requireWholeNumber(this, 'shardConcurrency', shardConcurrency, { min: 1, max: 16 }, 'e.g. 8 (16 cid shards).');
    const timeout = props.timeout ?? Duration.hours(2);
    const fn = props.stepsFunction;
    const serviceRetry = {
      errors: LAMBDA_SERVICE_ERRORS,
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 6,
      jitterStrategy: sfn.JitterType.FULL,
    };
    const step = (sid: string, name: string, comment: string) => {
      const t = new tasks.LambdaInvoke(this, sid, {
        lambdaFunction: fn,
        comment,
        payload: sfn.TaskInput.fromObject({ step: name, run: sfn.JsonPath.entirePayload }),
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
      });
      t.addRetry(serviceRetry);
      return t;
    };
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
      const item = new tasks.LambdaInvoke(this, `${mid}Item`, {
        lambdaFunction: fn,
        comment: pass === 'stage' ? 'One chunk, staged by cid shard.' : 'One cid shard, written.',
        payloadResponseOnly: true,
        retryOnServiceExceptions: false,
      });
      item.addRetry({ errors: ['LeaseLost'], maxAttempts: 0 });
      item.addRetry(serviceRetry);
      item.addRetry({
        errors: [sfn.Errors.ALL],
        interval: Duration.seconds(10),
        backoffRate: 2,
        maxAttempts: 2,
        jitterStrategy: sfn.JitterType.FULL,
      });
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

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'audience-sync: a big export read by parallel workers (plan, stage chunks, apply shards, commit)',
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(planned)),
      timeout,
      tracingEnabled: true,
      // includeExecutionData false: states carry object keys (file names), never logged.
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const policy = this.stateMachine.role.node.tryFindChild('DefaultPolicy');
    if (policy) {
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch Logs vended delivery (logs:*LogDelivery*, PutResourcePolicy, Describe*) support no resource-level permissions.',
      });
      acknowledgeWildcardResource(
        policy,
        `${fn.functionArn}:*`,
        'Step Functions grants invoke on the ingest steps function and its version/alias qualifiers (<arn>:*) only.',
      );
    }
    const mapPolicy = this.stateMachine.node.tryFindChild('DistributedMapPolicy');
    if (mapPolicy) {
      const name = Fn.select(6, Fn.split(':', this.stateMachine.stateMachineArn));
      const executions = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${name}`;
      for (const suffix of [':*', '/StageChunks:*', '/ApplyShards:*'])
        acknowledgeWildcardResource(
          mapPolicy,
          `${executions}${suffix}`,
          'Distributed Map child executions of this state machine only (their ids are made at run time).',
        );
    }
  }
}
