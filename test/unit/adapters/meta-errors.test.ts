/** Meta's error codes mapped by code and subcode to what sync does, and the usage header read as Meta sends it. */
import { describe, expect, it } from 'vitest';
import {
  findGraphErrorRule,
  GRAPH_ERROR_RULES,
  mapGraphError,
  parseBucUsage,
} from '../../../functions/platforms/meta/errors';

const ctx = { adAccountId: 'act_123', operation: 'add users' };

/**
 * One row per line of the error table the team verified (code, subcode, kind, what the operator reads).
 * Every rule in GRAPH_ERROR_RULES must be reached by at least one row (checked below).
 */
const TABLE: Array<
  [status: number | undefined, code: number | undefined, subcode: number | undefined, kind: string, says: RegExp]
> = [
  [400, 190, 463, 'auth', /invalid or expired.*new system-user token/],
  [400, 190, 460, 'auth', /invalid or expired/],
  [400, 80003, undefined, 'throttled', /rate limit/],
  [400, 80004, undefined, 'throttled', /rate limit/],
  [400, 17, 2446079, 'throttled', /rate limit/],
  [400, 613, 1487742, 'throttled', /rate limit/],
  [400, 4, undefined, 'throttled', /rate limit/],
  [400, 32, undefined, 'throttled', /rate limit/],
  [400, 2655, undefined, 'terms', /terms of service are not accepted for ad account act_123.*accept them at https:/],
  [400, 2663, undefined, 'terms', /terms of service are not accepted/],
  [400, 200, 1870034, 'terms', /terms of service are not accepted.*customaudiences\/app\/tos\/\?act=123/],
  [400, 200, 1870090, 'terms', /terms of service are not accepted.*tos/],
  [400, 200, 1870047, 'low_audience_size', /minimum size.*stay pending removal.*retried next run/],
  [403, 200, undefined, 'config', /permission denied.*ads_management on ad account act_123/],
  [400, 200, 999, 'config', /permission denied/],
  [400, 294, undefined, 'config', /permission denied/],
  [400, 10, undefined, 'config', /permission denied/],
  [400, 100, 1487366, 'deleted', /deleted in Meta/],
  [400, 100, 1713230, 'config', /restricts this audience/],
  [400, 1487301, undefined, 'config', /not shared with ad account act_123/],
  [400, 100, 1487301, 'config', /not shared/],
  [400, 2650, undefined, 'transient', /could not update the audience.*bounded/],
  [400, 2650, 1870145, 'replace_in_progress', /in progress.*retries later/],
  [400, 2650, 1870158, 'replace_timed_out', /timed out.*90 minutes.*re-adds the rest by diff/],
  [400, 2650, 1870147, 'replace_restart', /no first batch.*new session/],
  [400, 2650, 1870159, 'replace_restart', /already finished.*new session/],
  [400, 2650, 1870148, 'transient', /something went wrong.*bounded/],
  [400, 2650, 1870144, 'config', /100 million.*replaceEveryDays: 0/],
  [500, 1, undefined, 'transient', /x/],
  [503, undefined, undefined, 'transient', /HTTP 503/],
  [undefined, undefined, undefined, 'transient', /no response/],
  [400, 100, undefined, 'permanent', /x/],
];

describe('mapGraphError', () => {
  it.each(TABLE)('HTTP %s code %s/%s → %s', (status, code, subcode, kind, says) => {
    const e = mapGraphError(
      status,
      code === undefined ? undefined : { code, error_subcode: subcode, message: 'x' },
      ctx,
    );
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(says);
    expect(e.details).toMatchObject({ code, subcode });
    // One line for the operator.
    expect(e.message).not.toContain('\n');
  });

  it('every rule of the table is reached by a row above', () => {
    const reached = new Set(TABLE.map(([, code, subcode]) => findGraphErrorRule(code, subcode)));
    expect(GRAPH_ERROR_RULES.filter((r) => !reached.has(r))).toEqual([]);
  });

  it('a timed-out or already finished replace session says the platform applied it', () => {
    expect(mapGraphError(400, { code: 2650, error_subcode: 1870158 }, ctx).details.sessionApplied).toBe(true);
    expect(mapGraphError(400, { code: 2650, error_subcode: 1870159 }, ctx).details.sessionApplied).toBe(true);
    expect(mapGraphError(400, { code: 2650, error_subcode: 1870147 }, ctx).details.sessionApplied).toBeUndefined();
  });

  it('low audience size (200/1870047) is never a permission or auth alert', () => {
    const e = mapGraphError(
      400,
      {
        code: 200,
        error_subcode: 1870047,
        type: 'OAuthException',
        error_user_title: 'Audience Size too Low',
        error_user_msg: 'You cannot remove users from this audience because it will result in a low audience size',
      },
      { ...ctx, operation: 'remove users' },
    );
    expect(e.kind).toBe('low_audience_size');
    expect(e.message).not.toMatch(/permission denied|needs ads_management|token is invalid/i);
  });

  it('maps by code and subcode, never by message text', () => {
    expect(mapGraphError(400, { code: 2650, message: 'Removal failed: low audience size' }, ctx).kind).toBe(
      'transient',
    );
    expect(mapGraphError(400, { code: 2650, message: 'A replace operation is in progress' }, ctx).kind).toBe(
      'transient',
    );
    expect(mapGraphError(400, { code: 200, message: 'Audience Size too Low' }, ctx).kind).toBe('config');
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
    const subcoded = mapGraphError(400, { code: 200, error_subcode: 1870090, message: 'Terms not accepted' }, ctx);
    expect(subcoded.details.link).toBe('https://www.facebook.com/customaudiences/app/tos/?act=123');
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
