/**
 * Reads a destination's secret from Secrets Manager through Powertools for AWS Lambda's Parameters (SecretsProvider),
 * cached per container for five minutes: a warm function does not call Secrets Manager on every run, and a token
 * renewed in the secret is used within five minutes. Never logged; every value read is remembered so the loggers
 * redact it (secret-redactor.ts).
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsClient } from './aws-clients';
import { rememberSecret } from './secret-redactor';

/** How long a secret read is reused (seconds). */
export const SECRET_MAX_AGE_S = 5 * 60;

let provider: SecretsProvider | undefined;
let providerClient: SecretsManagerClient | undefined;

/** One provider (one cache) per container; a test that hands in its own client gets a provider of its own. */
function providerFor(client?: SecretsManagerClient): SecretsProvider {
  if (client) {
    if (client !== providerClient) {
      provider = new SecretsProvider({ awsSdkV3Client: client });
      providerClient = client;
    }
    return provider!;
  }
  if (!provider) {
    providerClient = secretsClient();
    provider = new SecretsProvider({ awsSdkV3Client: providerClient });
  }
  return provider;
}

/** The secret's string as stored; a secret that holds nothing yet says how to set it, in one line. */
export async function readSecretString(secretId: string, client?: SecretsManagerClient): Promise<string> {
  let raw: string | Uint8Array | undefined;
  try {
    raw = await providerFor(client).get(secretId, { maxAge: SECRET_MAX_AGE_S });
  } catch (e) {
    // Powertools wraps the SDK's error (GetParameterError); its message is the SDK's, which names the secret only.
    throw new Error(`secret ${secretId} could not be read: ${(e as Error).message}`, { cause: e });
  }
  const value = (typeof raw === 'string' ? raw : raw ? Buffer.from(raw).toString('utf8') : '').trim();
  if (!value)
    throw new Error(
      `secret ${secretId} holds nothing yet; set it with: aws secretsmanager put-secret-value --secret-id ${secretId} --secret-string '<value>'`,
    );
  rememberSecret(value);
  return value;
}

/** Tests only: forget the cached provider (and its cache). */
export function resetSecretsCache(): void {
  provider = undefined;
  providerClient = undefined;
}
