/**
 * A local HTTP server that speaks the one Secrets Manager call audience-sync makes, `GetSecretValue`, over the
 * service's JSON 1.1 protocol (`X-Amz-Target: secretsmanager.GetSecretValue`). Point the SDK at it with
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`. A SecretId may be the secret's name or its full ARN, as in AWS.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeSecret {
  name: string;
  arn: string;
  value: string;
}

export interface FakeSecretsManager {
  endpoint: string;
  /** SecretId of every GetSecretValue received. */
  requests: string[];
  close(): Promise<void>;
}

export async function startSecretsManagerServer(secrets: FakeSecret[]): Promise<FakeSecretsManager> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(body));
      };
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target !== 'secretsmanager.GetSecretValue') {
        reply(400, { __type: 'InvalidRequestException', message: `this fake does not implement ${target}` });
        return;
      }
      const { SecretId } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { SecretId?: string };
      requests.push(String(SecretId));
      const secret = secrets.find((s) => s.name === SecretId || s.arn === SecretId);
      if (!secret) {
        reply(400, {
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        });
        return;
      }
      reply(200, {
        ARN: secret.arn,
        Name: secret.name,
        SecretString: secret.value,
        VersionId: '00000000-0000-0000-0000-000000000001',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: 1_763_600_000,
      });
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
