import { describe, expect, it } from 'vitest';
import {
  dynamoClient,
  onClientCreated,
  s3Client,
  secretsClient,
  sfnClient,
} from '../../../functions/adapters/aws-clients';

const names = (client: { middlewareStack: { identify(): string[] } }) =>
  client.middlewareStack.identify().map((m) => m.split(' ')[0] as string);

describe('the AWS clients the functions build', () => {
  it('carry no SDK logging middleware (it copies every request and response for a logger that discards them)', () => {
    for (const client of [dynamoClient(), s3Client(), secretsClient(), sfnClient()]) {
      const stack = names(client);
      // The rest of the stack is the SDK's own: serializing, signing and retrying are all still there.
      expect(stack).toEqual(
        expect.arrayContaining(['serializerMiddleware', 'httpSigningMiddleware', 'retryMiddleware']),
      );
      expect(stack).not.toContain('loggerMiddleware');
    }
  });

  it('hand a test hook the client as the functions will use it', () => {
    const seen: string[][] = [];
    const off = onClientCreated((c) => seen.push(names(c)));
    try {
      dynamoClient();
    } finally {
      off();
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toContain('loggerMiddleware');
  });
});
