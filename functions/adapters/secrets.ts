/** Reads the Meta access token from Secrets Manager, cached per container for a few minutes. Never logged. */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsClient } from './aws-clients';

const TTL_MS = 5 * 60_000;
const cache = new Map<string, { value: string; at: number }>();

export async function readSecret(secretId: string, client: SecretsManagerClient = secretsClient()): Promise<string> {
  const hit = cache.get(secretId);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  let value = out.SecretString?.trim() ?? '';
  // Accept a plain token or JSON {"accessToken": "..."} / {"token": "..."}.
  if (value.startsWith('{')) {
    try {
      const j = JSON.parse(value) as Record<string, string>;
      value = j.accessToken ?? j.access_token ?? j.token ?? '';
    } catch {
      value = '';
    }
  }
  if (!value)
    throw new Error(
      `secret ${secretId} holds no Meta access token yet; set it with: aws secretsmanager put-secret-value --secret-id ${secretId} --secret-string '<token>'`,
    );
  cache.set(secretId, { value, at: Date.now() });
  return value;
}
