/**
 * A local HTTP server that speaks the calls `audience-sync status --cloud` makes about a deployed stack:
 * CloudFormation `DescribeStacks` and `ListStackResources` (AWS Query protocol: form-encoded POST, XML answer) and
 * EventBridge Scheduler `GetSchedule` (REST JSON: GET /schedules/<name>). Point the SDK at it with
 * AWS_ENDPOINT_URL_CLOUDFORMATION and AWS_ENDPOINT_URL_SCHEDULER.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeStack {
  name: string;
  outputs: Record<string, string>;
  /** Resource type → physical id, e.g. AWS::Scheduler::Schedule → the schedule's name. */
  resources: Record<string, string>;
}

export interface FakeSchedule {
  name: string;
  group?: string;
  expression: string;
  timeZone?: string;
  state?: 'ENABLED' | 'DISABLED';
}

export interface FakeStackServer {
  endpoint: string;
  /** Every call, as `CloudFormation.<Action>` or `Scheduler.GetSchedule <name>`. */
  requests: string[];
  close(): Promise<void>;
}

const xml = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
const NS = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';

export async function startStackServer(stacks: FakeStack[], schedules: FakeSchedule[]): Promise<FakeStackServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const schedule = /^\/schedules\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && schedule) {
        const name = decodeURIComponent(schedule[1]!);
        const group = url.searchParams.get('groupName') ?? 'default';
        requests.push(`Scheduler.GetSchedule ${name}`);
        const s = schedules.find((x) => x.name === name && (x.group ?? 'default') === group);
        if (!s) {
          res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' });
          res.end(JSON.stringify({ Message: `Schedule ${name} does not exist.` }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            Arn: `arn:aws:scheduler:us-east-1:123456789012:schedule/${group}/${name}`,
            Name: name,
            GroupName: group,
            ScheduleExpression: s.expression,
            ScheduleExpressionTimezone: s.timeZone,
            State: s.state ?? 'ENABLED',
            FlexibleTimeWindow: { Mode: 'OFF' },
            Target: {
              Arn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Sync',
              RoleArn: 'arn:aws:iam::1:role/r',
            },
          }),
        );
        return;
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const action = form.get('Action') ?? '';
      requests.push(`CloudFormation.${action}`);
      const reply = (status: number, body: string) => {
        res.writeHead(status, { 'content-type': 'text/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);
      };
      const stack = stacks.find((s) => s.name === form.get('StackName'));
      if ((action === 'DescribeStacks' || action === 'ListStackResources') && !stack) {
        reply(
          400,
          `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${xml(form.get('StackName') ?? '')} does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
        );
        return;
      }
      if (action === 'DescribeStacks') {
        const outputs = Object.entries(stack!.outputs)
          .map(([k, v]) => `<member><OutputKey>${xml(k)}</OutputKey><OutputValue>${xml(v)}</OutputValue></member>`)
          .join('');
        reply(
          200,
          `<DescribeStacksResponse xmlns="${NS}"><DescribeStacksResult><Stacks><member><StackName>${xml(stack!.name)}</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/${xml(stack!.name)}/1</StackId><CreationTime>2026-11-01T00:00:00Z</CreationTime><StackStatus>UPDATE_COMPLETE</StackStatus><Outputs>${outputs}</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeStacksResponse>`,
        );
        return;
      }
      if (action === 'ListStackResources') {
        const members = Object.entries(stack!.resources)
          .map(
            ([type, id], i) =>
              `<member><LogicalResourceId>R${i}</LogicalResourceId><PhysicalResourceId>${xml(id)}</PhysicalResourceId><ResourceType>${xml(type)}</ResourceType><LastUpdatedTimestamp>2026-11-01T00:00:00Z</LastUpdatedTimestamp><ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>`,
          )
          .join('');
        reply(
          200,
          `<ListStackResourcesResponse xmlns="${NS}"><ListStackResourcesResult><StackResourceSummaries>${members}</StackResourceSummaries></ListStackResourcesResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></ListStackResourcesResponse>`,
        );
        return;
      }
      reply(
        400,
        `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>this fake does not implement ${xml(action)}</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
