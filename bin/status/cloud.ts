/**
 * Where a deployed stack keeps things, read with the operator's credentials: the table and bucket from the stack's
 * outputs (CloudFormation DescribeStacks), the nightly schedule from its resources (ListStackResources) and the
 * schedule itself from EventBridge Scheduler (GetSchedule). Endpoints follow AWS_ENDPOINT_URL_* as usual.
 */
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type Stack,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import type { NextRun } from '../../functions/app/status';
import { CliError } from '../cli-errors';
import { nextRunOf } from './next-run';

export interface StackPlaces {
  stack?: string;
  table: string;
  bucket?: string;
  schedule?: { name: string; group?: string };
}

const errorName = (e: unknown) => (e as { name?: string }).name ?? '';

export async function resolveStack(opts: {
  stack: string;
  table?: string;
  bucket?: string;
  schedule?: string;
  scheduleGroup?: string;
}): Promise<StackPlaces> {
  const given: StackPlaces['schedule'] = opts.schedule ? { name: opts.schedule, group: opts.scheduleGroup } : undefined;
  if (opts.table) return { table: opts.table, bucket: opts.bucket, schedule: given };
  const cfn = new CloudFormationClient({});
  try {
    let stack: Stack[] | undefined;
    try {
      stack = (await cfn.send(new DescribeStacksCommand({ StackName: opts.stack }))).Stacks;
    } catch (e) {
      if (errorName(e) === 'ValidationError' || /does not exist/.test((e as Error).message))
        throw new CliError(
          `stack ${opts.stack} was not found in region ${await cfn.config.region()}; pass --stack <name> (and set AWS_REGION), or --table <name> --bucket <name> from the stack outputs`,
        );
      throw e;
    }
    const outputs = Object.fromEntries((stack?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    const table = outputs.TableName;
    if (!table)
      throw new CliError(
        `stack ${opts.stack} has no TableName output; is it an audience-sync stack? Pass --table <name> instead`,
      );
    let schedule = given;
    if (!schedule) {
      const resources: StackResourceSummary[] = [];
      let token: string | undefined;
      do {
        const page = await cfn.send(new ListStackResourcesCommand({ StackName: opts.stack, NextToken: token }));
        resources.push(...(page.StackResourceSummaries ?? []));
        token = page.NextToken;
      } while (token);
      const found = resources.find((r) => r.ResourceType === 'AWS::Scheduler::Schedule' && r.PhysicalResourceId);
      if (found) schedule = { name: found.PhysicalResourceId! };
    }
    return { stack: opts.stack, table, bucket: opts.bucket ?? outputs.BucketName, schedule };
  } finally {
    cfn.destroy();
  }
}

/** The schedule's next run; a schedule that cannot be read is a note, not a failure of `status`. */
export async function scheduledRun(
  schedule: StackPlaces['schedule'],
  now: Date,
  lastSyncAt: string | undefined,
): Promise<NextRun> {
  if (!schedule) return { note: 'no schedule found in the stack (pass --schedule <name>)' };
  const client = new SchedulerClient({});
  try {
    const s = await client.send(new GetScheduleCommand({ Name: schedule.name, GroupName: schedule.group }));
    const expression = s.ScheduleExpression ?? '';
    const timeZone = s.ScheduleExpressionTimezone ?? 'UTC';
    const base = { expression, timeZone, state: s.State };
    if (s.State === 'DISABLED') return { ...base, note: 'the schedule is disabled: no nightly sync runs' };
    const next = nextRunOf(expression, timeZone, now, lastSyncAt);
    if (!next) return { ...base, note: 'the next run cannot be told from this expression' };
    if (s.EndDate && next > s.EndDate) return { ...base, note: `the schedule ended at ${s.EndDate.toISOString()}` };
    return { ...base, at: next.toISOString() };
  } catch (e) {
    return { note: `the schedule ${schedule.name} could not be read (${errorName(e) || (e as Error).message})` };
  } finally {
    client.destroy();
  }
}
