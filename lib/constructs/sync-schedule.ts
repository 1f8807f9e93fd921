import { Duration, RemovalPolicy, TimeZone, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource, propError, requireWholeNumber } from './checks';

export interface SyncScheduleProps {
  /**
   * The sync function. It receives the state machine's state and returns the next state:
   * `{ done: boolean, waitSeconds?: number, ...checkpoint }`.
   */
  readonly syncFunction: lambda.IFunction;
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

/** Lambda errors that say nothing about the sync itself; the same state is sent again after a pause. */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/**
 * The nightly sync: EventBridge Scheduler starts a Step Functions loop that invokes the sync function until it
 * returns `done: true`. Each run returns its checkpoint, which the next run receives, so a sync longer than one
 * Lambda run (or paused by a platform's rate limit, `waitSeconds`) continues instead of restarting.
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
    validateExpression(this, expression);
    validateTimeZone(this, timeZone);
    requireWholeNumber(
      this,
      'timeout (minutes)',
      timeout.toMinutes({ integral: false }),
      { min: 1, max: 60 * 24 * 365 },
      'Give the longest a whole sync may take, e.g. Duration.hours(12).',
    );

    const runSync = new tasks.LambdaInvoke(this, 'RunSync', {
      lambdaFunction: props.syncFunction,
      comment: 'One bounded slice of the sync. Input: the state; output: the next state with done and a checkpoint.',
      // The function's return value becomes the whole state, so the next run gets the checkpoint.
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
    });
    runSync.addRetry({
      errors: LAMBDA_SERVICE_ERRORS,
      interval: Duration.seconds(2),
      backoffRate: 2,
      maxAttempts: 6,
      jitterStrategy: sfn.JitterType.FULL,
    });

    const succeed = new sfn.Succeed(this, 'SyncDone');
    const invalid = new sfn.Fail(this, 'InvalidState', {
      error: 'SyncInvalidState',
      cause: 'The sync function must return an object with a boolean "done".',
    });
    const backOff = new sfn.Wait(this, 'BackOff', {
      comment: "The platform's rate-limit back-off returned by the function.",
      time: sfn.WaitTime.secondsPath('$.waitSeconds'),
    });
    const pause = new sfn.Wait(this, 'Pause', { time: sfn.WaitTime.duration(Duration.seconds(1)) });
    backOff.next(runSync);
    pause.next(runSync);
    // Choice rules are tried in order; the presence checks come first so a missing field never reaches a comparison.
    const waitBeforeContinuing = new sfn.Choice(this, 'BackOffRequested')
      .when(sfn.Condition.not(sfn.Condition.isPresent('$.waitSeconds')), pause)
      .when(sfn.Condition.isNumeric('$.waitSeconds'), backOff)
      .otherwise(pause);
    const isDone = new sfn.Choice(this, 'IsDone')
      .when(sfn.Condition.not(sfn.Condition.isPresent('$.done')), invalid)
      .when(sfn.Condition.booleanEquals('$.done', true), succeed)
      .when(sfn.Condition.booleanEquals('$.done', false), waitBeforeContinuing)
      .otherwise(invalid);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'audience-sync: nightly sync loop with checkpoint continuation',
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(runSync.next(isDone)),
      timeout,
      tracingEnabled: true,
      // includeExecutionData false: states carry segment names and checkpoints, never logged.
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
        `${props.syncFunction.functionArn}:*`,
        'Step Functions grants invoke on the sync function and its version/alias qualifiers (<arn>:*) only.',
      );
    }

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
