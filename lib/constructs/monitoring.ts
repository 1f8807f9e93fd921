import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { propError } from './checks';

export interface MonitoringProps {
  /**
   * Email address subscribed to the alarm topic (the recipient confirms once).
   * @default - no subscription; subscribe to the topic yourself
   */
  readonly alarmEmail?: string;
  /**
   * Namespace of the metrics derived from log events.
   * @default 'AudienceSync'
   */
  readonly metricNamespace?: string;
}

/**
 * An encrypted SNS alarm topic and the alarms that publish to it. Alarms are added with the `alarmOn…` methods,
 * so each one is defined next to the resource it watches and has a stable construct id.
 */
export class Monitoring extends Construct {
  /** Every alarm publishes here. */
  public readonly topic: sns.Topic;
  /** The topic's key. A customer-managed key because CloudWatch alarms cannot publish with the `aws/sns` key. */
  public readonly topicKey: kms.Key;
  /** The alarms added so far. */
  public readonly alarms: cloudwatch.Alarm[] = [];

  private readonly namespace: string;

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    this.namespace = props.metricNamespace ?? 'AudienceSync';
    if (props.alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(props.alarmEmail)) {
      throw propError(this, `alarmEmail must be an email address; received ${JSON.stringify(props.alarmEmail)}.`);
    }
    if (!/^[A-Za-z0-9/_.#:-]{1,255}$/.test(this.namespace)) {
      throw propError(
        this,
        `metricNamespace must be a CloudWatch namespace like "AudienceSync"; received ${JSON.stringify(this.namespace)}.`,
      );
    }

    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the audience-sync alarm topic',
      enableKeyRotation: true,
    });
    this.topicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'audience-sync alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
  }

  /** Alarms when a queue (a dead-letter queue) holds at least one visible message. */
  public alarmOnQueueMessages(id: string, queue: sqs.IQueue, description: string): cloudwatch.Alarm {
    return this.addAlarm(id, description, queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' }));
  }

  /** Alarms when a function reports at least one error. */
  public alarmOnFunctionErrors(id: string, fn: lambda.IFunction, description: string): cloudwatch.Alarm {
    return this.addAlarm(id, description, fn.metricErrors({ statistic: 'Sum' }));
  }

  /** Alarms when at least one execution of a state machine fails or times out. */
  public alarmOnExecutionsFailed(id: string, stateMachine: sfn.IStateMachine, description: string): cloudwatch.Alarm {
    const failed = new cloudwatch.MathExpression({
      label: 'Executions failed or timed out',
      expression: 'FILL(failed, 0) + FILL(timedOut, 0)',
      usingMetrics: {
        failed: stateMachine.metricFailed({ statistic: 'Sum' }),
        timedOut: stateMachine.metricTimedOut({ statistic: 'Sum' }),
      },
      period: Duration.minutes(5),
    });
    return this.addAlarm(id, description, failed);
  }

  /**
   * Alarms when a JSON log line with `"event": <event>` appears in `logGroup` (the line must be the whole log
   * event, e.g. written by a structured logger, not prefixed by `console.log`).
   */
  public alarmOnLogEvent(id: string, logGroup: logs.ILogGroup, event: string, description: string): cloudwatch.Alarm {
    if (!/^[A-Za-z0-9_.-]+$/.test(event)) {
      throw propError(
        this,
        `${id}: event must be a plain event name like "destination_alert"; received ${JSON.stringify(event)}.`,
      );
    }
    const filter = new logs.MetricFilter(this, `${id}Filter`, {
      logGroup,
      filterPattern: logs.FilterPattern.stringValue('$.event', '=', event),
      metricNamespace: this.namespace,
      metricName: `${id}Events`,
      metricValue: '1',
    });
    return this.addAlarm(id, description, filter.metric({ statistic: 'Sum', period: Duration.minutes(5) }));
  }

  private addAlarm(id: string, description: string, metric: cloudwatch.IMetric): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmDescription: description,
      metric,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
