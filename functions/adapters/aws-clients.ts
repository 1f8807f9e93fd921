/**
 * The one place the functions build their AWS SDK clients (S3, DynamoDB, Secrets Manager, Step Functions). Endpoints, region and
 * credentials come from the environment as usual (`AWS_ENDPOINT_URL_S3` and friends point them at local servers).
 *
 * Tests can register a hook that sees every client built afterwards, e.g. to add a middleware that records each
 * command sent (the IAM coverage test does). No hook is registered in production: there a client is exactly what
 * its constructor returns.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';

export type AwsClient = S3Client | DynamoDBClient | SecretsManagerClient | SFNClient;
export type ClientHook = (client: AwsClient) => void;

const hooks = new Set<ClientHook>();

/** Tests only: calls `hook` with every client built from now on. Returns the function that unregisters it. */
export function onClientCreated(hook: ClientHook): () => void {
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

function built<T extends AwsClient>(client: T): T {
  // The SDK's logging middleware builds a redacted copy of every request and response (walking every item of a
  // batch or a query page) for its default logger, which discards it: a tenth of an ingest's compute into DynamoDB
  // and a sixth of a sync's (the bench's store case, 100k rows). The functions log through their own logger.
  client.middlewareStack.remove('loggerMiddleware');
  for (const hook of hooks) hook(client);
  return client;
}

/** S3 client; WHEN_REQUIRED checksums keep s3rver from storing aws-chunked framing as data (stack.md gotcha 6). */
export const s3Client = (): S3Client =>
  built(
    new S3Client({
      forcePathStyle: !!process.env.AWS_ENDPOINT_URL_S3,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
  );

export const dynamoClient = (): DynamoDBClient => built(new DynamoDBClient({}));

export const secretsClient = (): SecretsManagerClient => built(new SecretsManagerClient({}));

export const sfnClient = (): SFNClient => built(new SFNClient({}));
