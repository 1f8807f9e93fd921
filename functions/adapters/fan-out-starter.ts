/**
 * Starts the ingest fan-out state machine for a big file. The execution is named after the object (a hash of its key
 * and version, never the key itself, which may name people) and the time, so a redelivered event starts a second
 * execution that finds the file already ingested, and a file dropped again is ingested again.
 */
import { createHash } from 'node:crypto';
import { type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { FanOutStarter } from '../app/ingest-object';

export function stepFunctionsStarter(
  client: SFNClient,
  stateMachineArn: string,
  minBytes: number,
  now: () => Date = () => new Date(),
): FanOutStarter {
  return {
    minBytes,
    async start({ key }) {
      const digest = createHash('sha256').update(key).digest('hex').slice(0, 16);
      const name = `ingest-${digest}-${now().getTime()}`;
      try {
        await client.send(
          new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify({ key, runId: name }) }),
        );
      } catch (e) {
        // The same event delivered twice in one millisecond: it is started already.
        if ((e as { name?: string }).name !== 'ExecutionAlreadyExists') throw e;
      }
      return name;
    },
  };
}
