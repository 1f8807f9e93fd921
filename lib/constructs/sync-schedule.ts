import { Duration, type RemovalPolicy, TimeZone, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { propError, requireWholeNumber } from './checks';
import { mapItemTask, stepMachine, stepTask } from './step-machine';

export interface SyncScheduleProps {
  /**
   * The sync function. Each task sends it `{ step, run: <state> }` (plan, decide, finish, abort) or a shard group
   * (`{ step: 'remove' | 'add', runId, iteration, group }`), and its answer is the next state: `next`
   * (`shards`, `wait`, `done`), `groups`, `done`, `waitSeconds`.
   */
  readonly syncFunction: lambda.IFunction;
  /**
   * Shard groups the Distributed Maps run at once: the strictest concurrency per ad account of the destinations'
   * platforms (`PlatformSpec.limits.concurrency`), since every group may call every destination.
   * @default 1
   */
  readonly shardConcurrency?: number;
  /**
   * EventBridge Scheduler expression for the nightly run.
   * @default 'cron(0 3 * * ? *)'
   */
  readonly scheduleExpression?: string;
  /**
   * IANA time zone the expression is read in, e.g. `Europe/Berlin`.
   * @default 'UTC'
   */
  readonly timeZone?: string;
  /**
   * How long one sync may run in total, across all its Lambda runs and back-offs.
   * @default Duration.hours(12)
   */
  readonly timeout?: Duration;
  /**
   * How long the state machine's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * KMS key for the state machine's log group (its key policy must let CloudWatch Logs use it).
   * @default - CloudWatch Logs service-side encryption
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The nightly sync: EventBridge Scheduler starts a Step Functions execution that runs the sync in steps: Plan, a
 * Distributed Map of shard groups removing (RemoveShards), Decide, a Distributed Map of shard groups adding
 * (AddShards), Finish. A run Finish leaves not done (a rate limit, the time budget of a replace) waits `waitSeconds`
 * and plans again under the same run id: the checkpoints make it continue instead of restarting.
 */
export class SyncSchedule extends Construct {
  /** The sync loop (standard workflow). */
  public readonly stateMachine: sfn.StateMachine;
  /** The state machine's log group (no execution data: payloads stay out of logs). */
  public readonly logGroup: logs.LogGroup;
  /** The nightly schedule. */
  public readonly schedule: scheduler.Schedule;
  /** Start requests the scheduler could not deliver after its retries. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: SyncScheduleProps) {
    super(scope, id);
    const expression = props.scheduleExpression ?? 'cron(0 3 * * ? *)';
    const timeZone = props.timeZone ?? 'UTC';
    const timeout = props.timeout ?? Duration.hours(12);
    const shardConcurrency = props.shardConcurrency ?? 1;
    requireWholeNumber(
      this,
      'shardConcurrency',
      shardConcurrency,
      { min: 1, max: 40 },
      'Give how many shard groups may call the platforms at once, e.g. 2.',
    );
    validateExpression(this, expression);
    validateTimeZone(this, timeZone);
    requireWholeNumber(
      this,
      'timeout (minutes)',
      timeout.toMinutes({ integral: false }),
      { min: 1, max: 60 * 24 * 365 },
      'Give the longest a whole sync may take, e.g. Duration.hours(12).',
    );

    const fn = props.syncFunction;
    /** A task whose answer becomes the whole state (the run's id, iteration and groups travel in it). */
    const step = (id: string, name: string, comment: string) => stepTask(this, id, fn, name, comment);
    const plan = step('Plan', 'plan', 'Lock, lists settled, audiences found or created, shard groups.');
    const decide = step('Decide', 'decide', "Every group's counts summed: below-minimum and full-replace decisions.");
    const finish = step(
      'Finish',
      'finish',
      'Full replaces streamed in cid order, heal, lookalikes, health, report, lock released.',
    );
    const abort = step('Abort', 'abort', 'A shard group failed after its retries: the lock is released.');
    const failed = new sfn.Fail(this, 'SyncFailed', {
      error: 'SyncShardGroupFailed',
      cause: 'A shard group failed after its retries; the next run resumes from the last confirmed batch.',
    });
    abort.next(failed);

    /**
     * One pass over every shard group, `concurrency` at a time: each item is one group, invoked again while it
     * says it is not done (the Lambda deadline cut it short); a failing group is retried alone.
     */
    const shards = (id: string, pass: 'remove' | 'add', comment: string) => {
      const group = mapItemTask(this, `${id}Group`, fn, `One shard group of the ${pass} pass.`);
      const again = new sfn.Wait(this, `${id}GroupPause`, { time: sfn.WaitTime.duration(Duration.seconds(1)) });
      again.next(group);
      const groupDone = new sfn.Choice(this, `${id}GroupDone`)
        .when(sfn.Condition.booleanEquals('$.done', true), new sfn.Succeed(this, `${id}GroupOk`))
        .otherwise(again);
      const map = new sfn.DistributedMap(this, id, {
        comment,
        itemsPath: '$.groups',
        itemSelector: {
          step: pass,
          'runId.$': '$.runId',
          'iteration.$': '$.iteration',
          'group.$': '$$.Map.Item.Value',
        },
        maxConcurrency: shardConcurrency,
        // Results are in the table (one item per group); the state keeps the run's id, iteration and groups.
        resultPath: sfn.JsonPath.DISCARD,
        mapExecutionType: sfn.StateMachineType.STANDARD,
        label: id,
      });
      map.itemProcessor(group.next(groupDone));
      map.addCatch(abort, { errors: [sfn.Errors.ALL], resultPath: '$.error' });
      return map;
    };
    const removeShards = shards(
      'RemoveShards',
      'remove',
      'Pass 1: removals of every audience, shard group by shard group; each group counts its audiences.',
    );
    const addShards = shards('AddShards', 'add', 'Pass 2: additions of every audience that does not replace.');

    const succeed = new sfn.Succeed(this, 'SyncDone');
    const invalid = new sfn.Fail(this, 'InvalidState', {
      error: 'SyncInvalidState',
      cause: 'The sync function must return an object with a boolean "done" (finish) or "next" (plan).',
    });
    const backOff = new sfn.Wait(this, 'BackOff', {
      comment: "A platform's rate-limit back-off, a busy lock or a list being written: the wait the run asked for.",
      time: sfn.WaitTime.secondsPath('$.waitSeconds'),
    });
    const pause = new sfn.Wait(this, 'Pause', { time: sfn.WaitTime.duration(Duration.seconds(1)) });
    backOff.next(plan);
    pause.next(plan);
    // Choice rules are tried in order; the presence checks come first so a missing field never reaches a comparison.
    const waitBeforeContinuing = new sfn.Choice(this, 'BackOffRequested')
      .when(sfn.Condition.not(sfn.Condition.isPresent('$.waitSeconds')), pause)
      .when(sfn.Condition.isNumeric('$.waitSeconds'), backOff)
      .otherwise(pause);
    const planned = new sfn.Choice(this, 'Planned')
      .when(sfn.Condition.not(sfn.Condition.isPresent('$.next')), invalid)
      .when(sfn.Condition.stringEquals('$.next', 'shards'), removeShards)
      .when(sfn.Condition.stringEquals('$.next', 'wait'), waitBeforeContinuing)
      .when(sfn.Condition.stringEquals('$.next', 'done'), succeed)
      .otherwise(invalid);
    const isDone = new sfn.Choice(this, 'IsDone')
      .when(sfn.Condition.not(sfn.Condition.isPresent('$.done')), invalid)
      .when(sfn.Condition.booleanEquals('$.done', true), succeed)
      .when(sfn.Condition.booleanEquals('$.done', false), waitBeforeContinuing)
      .otherwise(invalid);
    removeShards.next(decide);
    decide.next(addShards);
    addShards.next(finish);
    finish.next(isDone);

    ({ stateMachine: this.stateMachine, logGroup: this.logGroup } = stepMachine(this, {
      definition: plan.next(planned),
      comment:
        'audience-sync: nightly sync in steps — plan, remove (Distributed Map over shard groups), decide, add (Distributed Map), finish — continued while done=false',
      timeout,
      fn,
      fnLabel: 'the sync function',
      maps: ['RemoveShards', 'AddShards'],
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      logRemovalPolicy: props.logRemovalPolicy,
    }));

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "This queue is itself a dead-letter queue (for the scheduler's failed start requests).",
    });

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'Nightly audience sync',
      schedule: scheduler.ScheduleExpression.expression(expression, TimeZone.of(timeZone)),
      timeWindow: scheduler.TimeWindow.off(),
      target: new targets.StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({ trigger: 'schedule' }),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}

function validateExpression(scope: Construct, expression: string): void {
  const cron = /^cron\((.+)\)$/.exec(expression);
  const ok = cron ? cron[1]?.trim().split(/\s+/).length === 6 : /^(rate|at)\(.+\)$/.test(expression);
  if (!ok) {
    throw propError(
      scope,
      `scheduleExpression must be an EventBridge Scheduler expression such as "cron(0 3 * * ? *)" (six fields: minutes hours day-of-month month day-of-week year) or "rate(1 day)"; received ${JSON.stringify(expression)}.`,
    );
  }
}

function validateTimeZone(scope: Construct, timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw propError(
      scope,
      `timeZone must be an IANA time zone such as "UTC" or "Europe/Berlin"; received ${JSON.stringify(timeZone)}.`,
    );
  }
}
