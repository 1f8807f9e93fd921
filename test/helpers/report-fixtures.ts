/** Stored run records as a month of nightly syncs would leave them: counts and reasons only, no PII. */
import type { AudienceReport, SyncReport } from '../../functions/core/sync';

const DAY = 86_400_000;

function audience(over: Partial<AudienceReport> & Pick<AudienceReport, 'segment' | 'destination'>): AudienceReport {
  return {
    platform: 'meta',
    audienceName: over.segment,
    desired: 0,
    minSize: 100,
    planned: { add: 0, remove: 0, unchanged: 0 },
    added: 0,
    removed: 0,
    batches: 0,
    invalidEntries: 0,
    invalidFields: [],
    status: 'in_sync',
    ...over,
  };
}

/**
 * `n` nightly runs ending at `end` (oldest first). Meta reports its size (with a lag); Google reports none, and in
 * the last run its token has expired (an alert). The UK segment excludes 47 people for lack of an opt-in.
 */
export function nightlyRuns(n = 30, end = '2026-11-20T03:00:00.000Z'): SyncReport[] {
  const out: SyncReport[] = [];
  let uk = 2000;
  let customers = 900;
  for (let i = 0; i < n; i++) {
    const at = new Date(Date.parse(end) - (n - 1 - i) * DAY).toISOString();
    const last = i === n - 1;
    const ukAdd = 20 + ((i * 37) % 60);
    const ukRemove = 5 + ((i * 13) % 25);
    const reportedUk = uk; // the platform reports yesterday's size
    uk += ukAdd - ukRemove;
    const cAdd = (i * 7) % 30;
    const cRemove = i % 5 === 0 ? 40 : 3;
    customers += cAdd - cRemove;
    const googleFailed = last;
    out.push({
      startedAt: at,
      finishedAt: new Date(Date.parse(at) + 95_000).toISOString(),
      dryRun: false,
      done: true,
      segments: [
        {
          id: 'uk-newsletter',
          matched: uk + 180,
          eligible: uk,
          excluded: { no_opt_in_uk: 47, unsubscribed: 120, cleaned: 13 },
        },
        {
          id: 'customers',
          matched: customers + 60,
          eligible: customers,
          excluded: { no_explicit_opt_in_eea: 12, never_subscribed: 48 },
        },
      ],
      audiences: [
        audience({
          segment: 'uk-newsletter',
          destination: 'meta-main',
          audienceName: 'AS · UK newsletter',
          desired: uk,
          planned: { add: ukAdd, remove: ukRemove, unchanged: uk - ukAdd },
          added: ukAdd,
          removed: ukRemove,
          batches: 2,
          invalidEntries: last ? 3 : 0,
          invalidFields: last ? ['PHONE'] : [],
          status: 'synced',
          health: { approximateCountLowerBound: reportedUk - 100, approximateCountUpperBound: reportedUk + 100 },
        }),
        audience({
          segment: 'customers',
          destination: 'google-ads',
          platform: 'google',
          audienceName: 'AS · Customers',
          desired: customers,
          planned: { add: cAdd, remove: cRemove, unchanged: customers - cAdd },
          added: googleFailed ? 0 : cAdd,
          removed: googleFailed ? 0 : cRemove,
          batches: googleFailed ? 0 : 1,
          status: googleFailed ? 'failed' : 'synced',
          errorKind: googleFailed ? 'auth' : undefined,
          message: googleFailed
            ? 'Google rejected the access token (expired or revoked); store a new service-account key in the destination secret'
            : undefined,
        }),
      ],
      alerts: googleFailed
        ? [
            {
              destination: 'google-ads',
              kind: 'auth',
              message:
                'Google rejected the access token (expired or revoked); store a new service-account key in the destination secret',
            },
          ]
        : [],
    });
  }
  return out;
}
