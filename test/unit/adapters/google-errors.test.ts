import { describe, expect, it } from 'vitest';
import { parseAudienceConfig as parseConfig } from '../../../functions/adapters/config-file';
import {
  mapRpcError,
  parseRpcStatus,
  scrub,
  secondsUntilPacificMidnight,
  violatingMembers,
} from '../../../functions/platforms/google/errors';
import { googleSettings } from '../../../functions/platforms/google/requests';
import type { GoogleDestinationConfig } from '../../../functions/platforms/google/spec';

const body = (status: string, code: number, reasons: string[] = [], extra: object[] = []) =>
  JSON.stringify({
    error: {
      code,
      status,
      message: 'm',
      details: [
        ...reasons.map((reason) => ({
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason,
          domain: 'datamanager.googleapis.com',
        })),
        ...extra,
      ],
    },
  });
const ctx = { operation: 'add members', operatingAccountId: '1234567890', userListId: '55' };

describe('mapRpcError', () => {
  it.each([
    [429, body('RESOURCE_EXHAUSTED', 429, ['RESOURCE_EXHAUSTED']), 'throttled'],
    [401, body('UNAUTHENTICATED', 401), 'auth'],
    [403, body('PERMISSION_DENIED', 403, ['ACCESS_TOKEN_SCOPE_INSUFFICIENT']), 'auth'],
    [403, body('PERMISSION_DENIED', 403, ['PERMISSION_DENIED']), 'config'],
    [400, body('INVALID_ARGUMENT', 400, ['TERMS_AND_CONDITIONS_NOT_SIGNED']), 'terms'],
    [400, body('INVALID_ARGUMENT', 400, ['INVALID_USER_LIST_ID']), 'deleted'],
    [400, body('INVALID_ARGUMENT', 400, ['INVALID_DESTINATION']), 'config'],
    [400, body('INVALID_ARGUMENT', 400, ['NOT_ALLOWLISTED']), 'config'],
    [400, body('INVALID_ARGUMENT', 400, ['INVALID_FORMAT']), 'permanent'],
    [500, body('INTERNAL', 500), 'transient'],
    [503, '<html>Service Unavailable</html>', 'transient'],
    [404, 'not json', 'permanent'],
  ] as const)('HTTP %i → %s', (status, text, kind) => {
    const e = mapRpcError(parseRpcStatus(status, text), ctx);
    expect(e.kind).toBe(kind);
    expect(e.message).not.toMatch(/\n/);
    expect(e.message).toMatch(/^Google add members failed/);
  });

  it('a wrong configured list id is a config error, a vanished stored one is deleted', () => {
    const s = parseRpcStatus(400, body('INVALID_ARGUMENT', 400, ['INVALID_USER_LIST_ID']));
    expect(mapRpcError(s, { ...ctx, listFromConfig: true }).kind).toBe('config');
    expect(mapRpcError(s, ctx).kind).toBe('deleted');
  });

  it('per-minute quota waits RetryInfo (or a minute); the daily quota waits for midnight Pacific', () => {
    const retry = { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12.5s' };
    expect(
      mapRpcError(parseRpcStatus(429, body('RESOURCE_EXHAUSTED', 429, [], [retry])), ctx).details.retryAfterSeconds,
    ).toBe(13);
    expect(mapRpcError(parseRpcStatus(429, body('RESOURCE_EXHAUSTED', 429)), ctx).details.retryAfterSeconds).toBe(60);
    const daily = JSON.stringify({
      error: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'RESOURCE_EXHAUSTED',
            metadata: { quota_limit: 'IngestionMutateRequestsPerDayPerProject' },
          },
        ],
      },
    });
    const now = new Date('2026-11-20T12:00:00Z'); // 04:00 in Los Angeles
    expect(mapRpcError(parseRpcStatus(429, daily), { ...ctx, now }).details.retryAfterSeconds).toBe(20 * 3600);
    expect(secondsUntilPacificMidnight(new Date('2026-07-01T06:59:00Z'))).toBe(60); // 23:59 PDT
  });
});

describe('field violations and scrubbing', () => {
  it('finds the members named by violations in either case style', () => {
    const s = parseRpcStatus(
      400,
      body(
        'INVALID_ARGUMENT',
        400,
        [],
        [
          {
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: [
              { field: 'audience_members[3].user_data.user_identifiers[0].email_address', reason: 'INVALID_FORMAT' },
              { field: 'audienceMembers[1].consent' },
              { field: 'destinations[0]' },
            ],
          },
        ],
      ),
    );
    expect(violatingMembers(s)).toEqual([1, 3]);
    expect(s.reasons).toEqual(['INVALID_FORMAT']);
  });

  it('removes secrets, tokens, addresses, hashes and phone numbers', () => {
    const out = scrub(
      `key MIIEvQIBADANBgkqhkiG9w0BAQEFAASC token ya29.abc-DEF_123 a.b@example.com ${'a'.repeat(64)} +49 151 1234 5678`,
      ['MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'],
    );
    expect(out).toBe('key [REDACTED] token [REDACTED] [email] [hash] [number]');
  });
});

describe('Google destination config', () => {
  it('parses with defaults that send nothing until terms and consent are confirmed', () => {
    const c = parseConfig(
      { version: 1, destinations: { g: { platform: 'google', operatingAccountId: '123-456-7890' } } },
      'test',
    );
    const dest = c.destinations.g as GoogleDestinationConfig;
    expect(googleSettings(dest)).toEqual({
      operatingAccountId: '123-456-7890',
      createLists: true,
      membershipDurationDays: 540,
      termsAccepted: false,
    });
  });

  it('refuses an account id that is not a Google Ads customer id', () => {
    expect(() =>
      parseConfig({ version: 1, destinations: { g: { platform: 'google', operatingAccountId: '12345' } } }, 'test'),
    ).toThrow(/123-456-7890/);
  });
});
