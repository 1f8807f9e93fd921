import { Aws, Duration, Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { acknowledgeWildcardResource } from './checks';

/**
 * What the house's state machines (the sync, the big-export fan-out) share: one Lambda answering every step, retried
 * on Lambda's own errors; Distributed Map items retried alone, except after a lost lease; an encrypted log group
 * without execution data; and the nag acknowledgements their policies need.
 */

/** Lambda errors that say nothing about the step itself: the same task is sent again after a pause. */
const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

const serviceRetry: sfn.RetryProps = {
  errors: LAMBDA_SERVICE_ERRORS,
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 6,
  jitterStrategy: sfn.JitterType.FULL,
};

/** A task sent `{ step: <name>, run: <the whole state> }`, whose answer becomes the whole state. */
export function stepTask(
  scope: Construct,
  id: string,
  fn: lambda.IFunction,
  name: string,
  comment: string,
): tasks.LambdaInvoke {
  const t = new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    comment,
    payload: sfn.TaskInput.fromObject({ step: name, run: sfn.JsonPath.entirePayload }),
    payloadResponseOnly: true,
    retryOnServiceExceptions: false,
  });
  t.addRetry(serviceRetry);
  return t;
}

/**
 * The task of one Distributed Map item (its input is the map's item selector). A run that lost its lock must stop,
 * not try again; anything else (a throttled read, a crash) is retried, the item alone.
 */
export function mapItemTask(scope: Construct, id: string, fn: lambda.IFunction, comment: string): tasks.LambdaInvoke {
  const item = new tasks.LambdaInvoke(scope, id, {
    lambdaFunction: fn,
    comment,
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
  return item;
}

export interface StepMachineProps {
  definition: sfn.IChainable;
  comment: string;
  timeout: Duration;
  /** The function every task invokes (its qualifiers are acknowledged for nag). */
  fn: lambda.IFunction;
  /** What the function is, for the acknowledgement: e.g. "the sync function". */
  fnLabel: string;
  /** Labels of the state machine's Distributed Maps (their child executions are acknowledged). */
  maps: readonly string[];
  logRetention?: logs.RetentionDays;
  logEncryptionKey?: kms.IKey;
  logRemovalPolicy?: RemovalPolicy;
}

/** A standard, traced state machine logging to its own log group without execution data (states carry names). */
export function stepMachine(
  scope: Construct,
  props: StepMachineProps,
): { stateMachine: sfn.StateMachine; logGroup: logs.LogGroup } {
  const logGroup = new logs.LogGroup(scope, 'LogGroup', {
    retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    encryptionKey: props.logEncryptionKey,
    removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
  });
  const stateMachine = new sfn.StateMachine(scope, 'StateMachine', {
    comment: props.comment,
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    timeout: props.timeout,
    tracingEnabled: true,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
  });
  const policy = stateMachine.role.node.tryFindChild('DefaultPolicy');
  if (policy) {
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch Logs vended delivery (logs:*LogDelivery*, PutResourcePolicy, Describe*) support no resource-level permissions.',
    });
    acknowledgeWildcardResource(
      policy,
      `${props.fn.functionArn}:*`,
      `Step Functions grants invoke on ${props.fnLabel} and its version/alias qualifiers (<arn>:*) only.`,
    );
  }
  // The Distributed Maps start child executions of this state machine and describe / stop them: their ARNs are made
  // at run time, under this machine's name (and its map runs' labels). CDK grants them in a policy of their own.
  const mapPolicy = stateMachine.node.tryFindChild('DistributedMapPolicy');
  if (mapPolicy) {
    const name = Fn.select(6, Fn.split(':', stateMachine.stateMachineArn));
    const executions = `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${name}`;
    for (const suffix of [':*', ...props.maps.map((m) => `/${m}:*`)])
      acknowledgeWildcardResource(
        mapPolicy,
        `${executions}${suffix}`,
        'Distributed Map child executions of this state machine only (their ids are made at run time).',
      );
  }
  return { stateMachine, logGroup };
}
