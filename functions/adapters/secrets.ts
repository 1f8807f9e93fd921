/** Reads a destination's secret from Secrets Manager, cached per container for a few minutes. Never logged. */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsClient } from './aws-clients';

const TTL_MS = 5 * 60_000;
const cache = new Map<string, { value: string; at: number }>();

/** The secret's string as stored; a secret that holds nothing yet says how to set it, in one line. */
export async function readSecretString(
  secretId: string,
  client: SecretsManagerClient = secretsClient(),
): Promise<string> {
  const hit = cache.get(secretId);
  if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  const value = out.SecretString?.trim() ?? '';
  if (!value)
    throw new Error(
      `secret ${secretId} holds nothing yet; set it with: aws secretsmanager put-secret-value --secret-id ${secretId} --secret-string '<value>'`,
    );
  cache.set(secretId, { value, at: Date.now() });
  return value;
}
