/**
 * Records every AWS SDK command the functions' own clients send, by function, through the test-only hook of
 * functions/adapters/aws-clients.ts. Code runs "as" a function inside `recorder.as('IngestFunction', …)`; commands
 * sent outside (the test putting a file into s3rver, say) are neither recorded nor changed.
 *
 * With `versionedBucket`, S3 behaves like the real drop bucket, which is versioned, where s3rver has no versioning:
 * HeadObject answers carry a VersionId (`sim-<etag>`), so the handlers take the code path they take in AWS (reads
 * and deletes pinned to that version), and CopyObject answers carry CopySourceVersionId. s3rver routes requests on
 * the sub-resources it knows and ignores `?versionId=` on GET and DELETE, so those reach it unchanged (the coverage
 * test checks that it does). A versionId inside CopySource, though, would become part of the source key there, so it
 * is stripped before the request leaves — after the recorder has seen the command as the handler sent it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { onClientCreated } from '../../functions/adapters/aws-clients';
import type { SentCommand } from './iam-table';

type Args = { input: Record<string, unknown> };
type Output = { output: Record<string, unknown> };
type Middleware = (
  next: (args: Args) => Promise<Output>,
  context: { clientName?: string; commandName?: string },
) => (args: Args) => Promise<Output>;
interface Stack {
  add(mw: Middleware, options: { step: 'initialize'; priority: 'high' | 'low'; name: string }): void;
}

export interface CommandRecorder {
  /** Runs `body` as function `fn`: the commands its clients send are recorded under that name. */
  as<T>(fn: string, body: () => Promise<T>): Promise<T>;
  readonly sent: SentCommand[];
  stop(): void;
}

/** Keeps what the IAM table reads; drops bodies and streams. */
function snapshot(o: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!o) return undefined;
  const { Body: _body, $metadata: _metadata, ...rest } = o;
  return rest;
}

const simulatedVersion = (etag: unknown) => `sim-${String(etag ?? 'none').replace(/"/g, '')}`;

export function recordAwsCommands(opts: { versionedBucket?: boolean } = {}): CommandRecorder {
  const running = new AsyncLocalStorage<string>();
  const sent: SentCommand[] = [];

  const recorder: Middleware = (next, context) => async (args) => {
    const fn = running.getStore();
    if (!fn) return next(args);
    const entry: SentCommand = {
      fn,
      service: (context.clientName ?? '').replace(/Client$/, ''),
      command: (context.commandName ?? '').replace(/Command$/, ''),
      input: snapshot(args.input) ?? {},
    };
    sent.push(entry);
    const out = await next(args);
    entry.output = snapshot(out.output);
    return out;
  };

  const versioning: Middleware = (next, context) => async (args) => {
    if (!running.getStore()) return next(args);
    if (context.commandName === 'HeadObjectCommand') {
      const out = await next(args);
      out.output.VersionId ??= simulatedVersion(out.output.ETag);
      return out;
    }
    if (context.commandName === 'CopyObjectCommand') {
      const [source = '', query = ''] = String(args.input.CopySource ?? '').split('?');
      const out = await next({ ...args, input: { ...args.input, CopySource: source } });
      const result = out.output.CopyObjectResult as { ETag?: string } | undefined;
      out.output.CopySourceVersionId ??= new URLSearchParams(query).get('versionId') ?? simulatedVersion(result?.ETag);
      return out;
    }
    return next(args);
  };

  const stop = onClientCreated((client) => {
    const stack = client.middlewareStack as unknown as Stack;
    stack.add(recorder, { step: 'initialize', priority: 'high', name: 'iamCoverageRecorder' });
    if (opts.versionedBucket && client.constructor.name === 'S3Client') {
      stack.add(versioning, { step: 'initialize', priority: 'low', name: 'simulatedBucketVersioning' });
    }
  });

  return { as: (fn, body) => running.run(fn, body), sent, stop };
}
