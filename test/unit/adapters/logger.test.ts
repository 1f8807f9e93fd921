/** Both loggers (Powertools in the functions, JSON lines in the CLI) share one redaction path: nothing secret or personal survives. */
import { describe, expect, it } from 'vitest';
import { createLambdaLogger } from '../../../functions/adapters/lambda-logger';
import { createLogger, memoryLogger } from '../../../functions/adapters/logger';
import { REDACTED_SECRET, rememberSecret } from '../../../functions/adapters/secret-redactor';

// Shapes a token takes that no pattern knows: a quote and a backslash (escaped in JSON), a PEM key with newlines.
const TOKEN = 'zq"9\\Secr3t-Tok_en-4711';
const PEM =
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n';
const SERVICE_ACCOUNT = JSON.stringify({
  type: 'service_account',
  private_key_id: '0123456789abcdef0123456789abcdef',
  private_key: PEM,
  client_email: 'sync@project.iam.gserviceaccount.com',
});
rememberSecret(TOKEN);
rememberSecret(SERVICE_ACCOUNT);

function leaks(text: string): string[] {
  return [
    'Secr3t',
    'MIIEvQ',
    '0123456789abcdef0123',
    'ann.smith@example.com',
    'sync@project',
    '+4915112345678',
    'EAAB1234567890abcdefghij',
  ].filter((s) => text.includes(s));
}

function powertoolsLines() {
  const lines: string[] = [];
  return { lines, logger: createLambdaLogger({ serviceName: 'audience-sync', write: (l) => lines.push(l) }) };
}

describe('the Powertools logger', () => {
  it('redacts a secret and an email in an error message, its stack, its cause and any field', () => {
    const { lines, logger } = powertoolsLines();
    const cause = new Error(`upstream said ${encodeURIComponent(TOKEN)} is bad`);
    const error = new Error(`token ${TOKEN} rejected for ann.smith@example.com (+4915112345678)`, { cause });
    logger.error('destination_alert', {
      destination: 'meta-main',
      message: `Graph: access_token=EAAB1234567890abcdefghij&x=1 for ann.smith@example.com`,
      error,
      detail: { key: PEM, nested: [`sync@project.iam.gserviceaccount.com ${TOKEN}`] },
    });
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(leaks(line)).toEqual([]);
    const parsed = JSON.parse(line);
    // Powertools' own keys, and ours beside them.
    expect(parsed).toMatchObject({
      level: 'ERROR',
      message: 'destination_alert',
      event: 'destination_alert',
      service: 'audience-sync',
      destination: 'meta-main',
    });
    expect(parsed.field_message).toBe('Graph: [redacted-token]&x=1 for [redacted-email]');
    expect(parsed.error.message).toBe(`token ${REDACTED_SECRET} rejected for [redacted-email] ([redacted-phone])`);
    expect(parsed.error.stack).not.toContain('Secr3t');
    expect(parsed.detail.key).toBe(REDACTED_SECRET);
    expect(line).toContain(REDACTED_SECRET);
  });

  it('writes one JSON line per call at info, warn and error, with the event for the metric filters', () => {
    const { lines, logger } = powertoolsLines();
    logger.info('object_processed', { outcome: 'ingested' });
    logger.warn('object_quarantined', { reason: 'bad_key' });
    logger.error('object_failed', { error: 'x' });
    expect(lines.map((l) => JSON.parse(l)).map((l) => [l.level, l.event])).toEqual([
      ['INFO', 'object_processed'],
      ['WARN', 'object_quarantined'],
      ['ERROR', 'object_failed'],
    ]);
  });
});

describe('the JSON-lines logger (CLI, local runs)', () => {
  it('redacts through the same path: exact secrets by value, then the patterns', () => {
    const logger = memoryLogger();
    logger.error('sync_audience_failed', {
      error: new Error(`token ${TOKEN} for ann.smith@example.com`),
      key: PEM,
      phone: '+4915112345678',
    });
    const [line] = logger.lines;
    expect(leaks(line!)).toEqual([]);
    const parsed = JSON.parse(line!);
    expect(parsed).toMatchObject({ level: 'error', event: 'sync_audience_failed', key: REDACTED_SECRET });
    expect(parsed.error.message).toBe(`token ${REDACTED_SECRET} for [redacted-email]`);
  });

  it('keeps its line shape: level, event, time, base fields, fields', () => {
    const lines: string[] = [];
    createLogger({ run: 'local' }, (l) => lines.push(l)).info('ingest_finished', { rows: 3 });
    expect(JSON.parse(lines[0]!)).toEqual({
      level: 'info',
      event: 'ingest_finished',
      time: expect.any(String),
      run: 'local',
      rows: 3,
    });
  });
});
