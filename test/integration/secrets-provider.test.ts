/**
 * Destination secrets through Powertools' SecretsProvider, against the local Secrets Manager fake (the real SDK
 * client, the service's JSON protocol): read once, reused for five minutes, renewed after that, and redacted.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../functions/adapters/logger';
import { REDACTED_SECRET } from '../../functions/adapters/secret-redactor';
import { readSecretString, resetSecretsCache, SECRET_MAX_AGE_S } from '../../functions/adapters/secrets';
import { type FakeSecret, type FakeSecretsManager, startSecretsManagerServer } from '../fakes/secrets-manager-server';

const ARN = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:audience-sync/meta-main-AbCdEf';
const secrets: FakeSecret[] = [
  { name: 'audience-sync/meta-main', arn: ARN, value: JSON.stringify({ accessToken: 'EAAtoken-first-0001' }) },
  { name: 'audience-sync/empty', arn: `${ARN}-empty`, value: '  ' },
];
let fake: FakeSecretsManager;
let client: SecretsManagerClient;

beforeAll(async () => {
  fake = await startSecretsManagerServer(secrets);
  client = new SecretsManagerClient({
    endpoint: fake.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});
afterAll(async () => {
  client.destroy();
  await fake.close();
});
afterEach(() => {
  vi.restoreAllMocks();
  resetSecretsCache();
  fake.requests.length = 0;
});

describe('readSecretString (Powertools SecretsProvider)', () => {
  it('reads the secret once and serves it from the cache for five minutes, then picks up a renewed token', async () => {
    const t0 = Date.now();
    const now = vi.spyOn(Date, 'now').mockReturnValue(t0);
    expect(await readSecretString(ARN, client)).toBe('{"accessToken":"EAAtoken-first-0001"}');
    now.mockReturnValue(t0 + (SECRET_MAX_AGE_S - 1) * 1000);
    secrets[0]!.value = JSON.stringify({ accessToken: 'EAAtoken-renewed-0002' });
    expect(await readSecretString(ARN, client)).toContain('EAAtoken-first-0001');
    expect(fake.requests).toEqual([ARN]);
    now.mockReturnValue(t0 + (SECRET_MAX_AGE_S + 1) * 1000);
    expect(await readSecretString(ARN, client)).toContain('EAAtoken-renewed-0002');
    expect(fake.requests).toEqual([ARN, ARN]);
  });

  it('a secret that holds nothing says how to set it; a missing one says what Secrets Manager said', async () => {
    await expect(readSecretString('audience-sync/empty', client)).rejects.toThrow(
      /holds nothing yet; set it with: aws secretsmanager put-secret-value --secret-id audience-sync\/empty/,
    );
    await expect(readSecretString('audience-sync/nope', client)).rejects.toThrow(
      /secret audience-sync\/nope could not be read: Secrets Manager can't find the specified secret/,
    );
  });

  it('every secret read is redacted from log lines by value, also the token inside a JSON secret', async () => {
    const value = await readSecretString(ARN, client);
    const token = (JSON.parse(value) as { accessToken: string }).accessToken;
    const logger = memoryLogger();
    logger.error('destination_alert', { error: `Graph refused ${token} (${encodeURIComponent(value)})` });
    expect(logger.lines[0]).not.toContain(token);
    expect(logger.lines[0]).not.toContain('EAAtoken');
    expect(logger.lines[0]).toContain(REDACTED_SECRET);
  });
});
