/** When the nightly schedule fires next, as EventBridge Scheduler reads its expression in its time zone. */
import { describe, expect, it } from 'vitest';
import { nextRunOf } from '../../../bin/status/next-run';

const next = (expr: string, tz: string, now: string, last?: string) =>
  nextRunOf(expr, tz, new Date(now), last)?.toISOString();

describe('nextRunOf', () => {
  it('reads the default nightly cron in UTC: later today, else tomorrow', () => {
    expect(next('cron(0 3 * * ? *)', 'UTC', '2026-11-20T02:59:00Z')).toBe('2026-11-20T03:00:00.000Z');
    expect(next('cron(0 3 * * ? *)', 'UTC', '2026-11-20T03:00:00Z')).toBe('2026-11-21T03:00:00.000Z');
  });

  it('reads the cron in the schedule’s time zone, across a daylight-saving change', () => {
    // Berlin is UTC+1 in winter, UTC+2 in summer; DST ends on 25 Oct 2026.
    expect(next('cron(0 3 * * ? *)', 'Europe/Berlin', '2026-11-20T12:00:00Z')).toBe('2026-11-21T02:00:00.000Z');
    expect(next('cron(0 3 * * ? *)', 'Europe/Berlin', '2026-07-01T12:00:00Z')).toBe('2026-07-02T01:00:00.000Z');
    expect(next('cron(0 3 * * ? *)', 'Europe/Berlin', '2026-10-24T12:00:00Z')).toBe('2026-10-25T02:00:00.000Z');
    expect(next('cron(30 22 * * ? *)', 'America/New_York', '2026-11-20T12:00:00Z')).toBe('2026-11-21T03:30:00.000Z');
  });

  it('knows weekdays (1 = Sunday, or names), lists, ranges, steps and the last day of the month', () => {
    // 20 Nov 2026 is a Friday.
    expect(next('cron(0 6 ? * MON-FRI *)', 'UTC', '2026-11-20T07:00:00Z')).toBe('2026-11-23T06:00:00.000Z');
    expect(next('cron(0 6 ? * 1 *)', 'UTC', '2026-11-20T07:00:00Z')).toBe('2026-11-22T06:00:00.000Z');
    expect(next('cron(0/15 * * * ? *)', 'UTC', '2026-11-20T07:01:00Z')).toBe('2026-11-20T07:15:00.000Z');
    expect(next('cron(0 1,13 * * ? *)', 'UTC', '2026-11-20T02:00:00Z')).toBe('2026-11-20T13:00:00.000Z');
    expect(next('cron(0 4 L * ? *)', 'UTC', '2026-11-20T02:00:00Z')).toBe('2026-11-30T04:00:00.000Z');
    expect(next('cron(0 4 1 JAN ? 2027)', 'UTC', '2026-11-20T02:00:00Z')).toBe('2027-01-01T04:00:00.000Z');
  });

  it('counts rate() from the last run, and at() once', () => {
    expect(next('rate(12 hours)', 'UTC', '2026-11-20T10:00:00Z', '2026-11-20T03:00:00Z')).toBe(
      '2026-11-20T15:00:00.000Z',
    );
    expect(next('rate(1 day)', 'UTC', '2026-11-20T10:00:00Z')).toBeUndefined();
    expect(next('at(2026-12-24T18:00:00)', 'Europe/Berlin', '2026-11-20T10:00:00Z')).toBe('2026-12-24T17:00:00.000Z');
    expect(next('at(2026-01-01T00:00:00)', 'UTC', '2026-11-20T10:00:00Z')).toBeUndefined();
  });

  it('gives no answer rather than a wrong one', () => {
    expect(next('cron(0 3 ? * 6#3 *)', 'UTC', '2026-11-20T10:00:00Z')).toBeUndefined();
    expect(next('cron(0 3 15W * ? *)', 'UTC', '2026-11-20T10:00:00Z')).toBeUndefined();
    expect(next('cron(0 3 * *)', 'UTC', '2026-11-20T10:00:00Z')).toBeUndefined();
    expect(next('cron(0 3 * * ? *)', 'Mars/Olympus', '2026-11-20T10:00:00Z')).toBeUndefined();
    expect(next('cron(0 3 * * ? 2020)', 'UTC', '2026-11-20T10:00:00Z')).toBeUndefined();
  });
});
