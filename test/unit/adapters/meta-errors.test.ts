/** Meta's error codes (platforms.md) mapped to what sync does, and the usage header read as Meta sends it. */
import { describe, expect, it } from 'vitest';
import { mapGraphError, parseBucUsage } from '../../../functions/adapters/meta-errors';

const ctx = { adAccountId: 'act_123', operation: 'add users' };

describe('mapGraphError', () => {
  it.each([
    [400, 190, 463, 'auth'],
    [400, 190, 460, 'auth'],
    [400, 80003, undefined, 'throttled'],
    [400, 80004, undefined, 'throttled'],
    [400, 17, 2446079, 'throttled'],
    [400, 613, 1487742, 'throttled'],
    [400, 4, undefined, 'throttled'],
    [400, 2655, undefined, 'terms'],
    [400, 2663, undefined, 'terms'],
    [400, 100, 1487366, 'deleted'],
    [400, 100, 1713230, 'config'],
    [400, 1487301, undefined, 'config'],
    [403, 200, undefined, 'config'],
    [400, 294, undefined, 'config'],
    [400, 2650, undefined, 'transient'],
    [500, 1, undefined, 'transient'],
    [503, undefined, undefined, 'transient'],
    [undefined, undefined, undefined, 'transient'],
    [400, 100, undefined, 'permanent'],
  ] as const)('HTTP %s code %s/%s → %s', (status, code, subcode, kind) => {
    const e = mapGraphError(
      status,
      code === undefined ? undefined : { code, error_subcode: subcode, message: 'x' },
      ctx,
    );
    expect(e.kind).toBe(kind);
  });

  it('2650 "low audience size" is its own outcome; a replace in progress can be retried', () => {
    expect(mapGraphError(400, { code: 2650, message: 'Removal failed: low audience size' }, ctx).kind).toBe(
      'low_audience_size',
    );
    expect(mapGraphError(400, { code: 2650, message: 'A replace operation is in progress' }, ctx).kind).toBe(
      'replace_in_progress',
    );
  });

  it('terms of service errors carry the link Meta sent, or the account’s terms page', () => {
    const sent = mapGraphError(
      400,
      {
        code: 2655,
        message: 'Accept the terms at https://business.facebook.com/ads/manage/customaudiences/tos/?act=123.',
      },
      ctx,
    );
    expect(sent.details.link).toBe('https://business.facebook.com/ads/manage/customaudiences/tos/?act=123');
    const fallback = mapGraphError(400, { code: 2663, message: 'Terms not accepted' }, ctx);
    expect(fallback.details.link).toBe('https://www.facebook.com/customaudiences/app/tos/?act=123');
    expect(fallback.message).toContain('act_123');
  });

  it('throttling waits as long as the usage header says, at least a minute', () => {
    expect(
      mapGraphError(400, { code: 80003 }, { ...ctx, usage: { regainAccessMinutes: 12 } }).details.retryAfterSeconds,
    ).toBe(720);
    expect(mapGraphError(400, { code: 613 }, ctx).details.retryAfterSeconds).toBe(300);
  });

  it('never repeats an access token that a message might echo', () => {
    const e = mapGraphError(400, { code: 100, message: 'bad url ?access_token=EAAsecret123&x=1' }, ctx);
    expect(e.message).not.toContain('EAAsecret123');
    expect(e.message).toContain('access_token=***');
  });

  it('an expired token tells the operator what to do', () => {
    expect(mapGraphError(400, { code: 190, error_subcode: 463 }, ctx).message).toMatch(/new system-user token/);
  });
});

describe('parseBucUsage', () => {
  it('takes the highest of call count, CPU time and total time across entries', () => {
    const header = JSON.stringify({
      '123': [
        {
          type: 'custom_audience',
          call_count: 40,
          total_cputime: 81,
          total_time: 12,
          estimated_time_to_regain_access: 0,
        },
        { type: 'ads_management', call_count: 5, total_cputime: 1, total_time: 1, estimated_time_to_regain_access: 7 },
      ],
    });
    expect(parseBucUsage(header)).toEqual({ usagePercent: 81, regainAccessMinutes: 7 });
  });

  it.each([undefined, '', 'not json', '{}', 42])('reads nothing from %j', (h) => {
    expect(parseBucUsage(h).usagePercent).toBeUndefined();
  });
});
