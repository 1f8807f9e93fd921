/**
 * A local HTTP server that speaks the one Step Functions call audience-sync makes, `StartExecution`, over the
 * service's JSON 1.0 protocol (`X-Amz-Target: AWSStepFunctions.StartExecution`). Point the SDK at it with
 * `AWS_ENDPOINT_URL_SFN`. It runs nothing: a test runs the machine (test/helpers/ingest-machine.ts) with what it got.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StartedExecution {
  stateMachineArn: string;
  name: string;
  input: Record<string, unknown>;
}

export interface FakeStepFunctions {
  endpoint: string;
  started: StartedExecution[];
  close(): Promise<void>;
}

export async function startStepFunctionsServer(): Promise<FakeStepFunctions> {
  const started: StartedExecution[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(body));
      };
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target !== 'AWSStepFunctions.StartExecution') {
        reply(400, { __type: 'InvalidArn', message: `this fake does not implement ${target}` });
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        stateMachineArn: string;
        name: string;
        input: string;
      };
      if (started.some((s) => s.name === body.name)) {
        reply(400, { __type: 'ExecutionAlreadyExists', message: `Execution Already Exists: '${body.name}'` });
        return;
      }
      started.push({ stateMachineArn: body.stateMachineArn, name: body.name, input: JSON.parse(body.input) });
      const arn = body.stateMachineArn.replace(':stateMachine:', ':execution:');
      reply(200, { executionArn: `${arn}:${body.name}`, startDate: Date.now() / 1000 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    started,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
