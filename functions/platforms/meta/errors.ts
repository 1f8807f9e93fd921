/**
 * Meta Graph API errors and rate-limit headers mapped to what sync should do.
 *
 * Errors are mapped by code and subcode, never by message text (Meta's own advice): one Graph code means several
 * things (200 is a permission error, but 200/1870047 is a removal refused for audience size and 200/1870034 missing
 * terms; 2650 is a generic update failure whose subcodes describe replace sessions). The rules are a table, so each
 * row is visible and tested. Messages are one actionable line for the operator and never include the token,
 * request URLs or member data.
 */
import { DestinationError, type DestinationErrorKind } from '../../core/ports';

export interface GraphErrorBody {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
}

export interface Usage {
  usagePercent?: number;
  regainAccessMinutes?: number;
}

/** Reads `X-Business-Use-Case-Usage` (JSON keyed by ad account id): the highest of call count, CPU and time, in %. */
export function parseBucUsage(header: unknown): Usage {
  if (typeof header !== 'string' || header === '') return {};
  try {
    const parsed = JSON.parse(header) as Record<string, Array<Record<string, number>>>;
    let usagePercent: number | undefined;
    let regainAccessMinutes: number | undefined;
    for (const entries of Object.values(parsed)) {
      for (const e of entries ?? []) {
        const pct = Math.max(e.call_count ?? 0, e.total_cputime ?? 0, e.total_time ?? 0);
        usagePercent = Math.max(usagePercent ?? 0, pct);
        if (e.estimated_time_to_regain_access)
          regainAccessMinutes = Math.max(regainAccessMinutes ?? 0, e.estimated_time_to_regain_access);
      }
    }
    return { usagePercent, regainAccessMinutes };
  } catch {
    return {};
  }
}

/** The custom-audience terms page per ad account (Meta's `…/customaudiences/app/tos/?act=…`). */
const TOS_LINK = (adAccountId: string) =>
  `https://www.facebook.com/customaudiences/app/tos/?act=${adAccountId.replace(/^act_/, '')}`;

interface RuleContext {
  adAccountId: string;
  /** What Meta said (error_user_msg or message), token redacted. */
  said: string;
  minutes?: number;
  link: string;
}

export interface GraphErrorRule {
  /** Graph error code; absent: any code carrying this subcode. */
  code?: number;
  /** error_subcode; absent: any subcode. A row with the subcode wins over the code's row without one. */
  subcode?: number;
  kind: DestinationErrorKind;
  /** The operator's line, after "Meta <operation> failed (code X/Y): ". */
  say: (c: RuleContext) => string;
  /** Terms rows carry the link to accept the terms; throttling rows how long to wait. */
  carries?: 'link' | 'retryAfter';
  /** The platform applied the replace session with what it had received (timed out, or already finished). */
  sessionApplied?: true;
}

const THROTTLED: Omit<GraphErrorRule, 'code'> = {
  kind: 'throttled',
  say: (c) =>
    `Meta rate limit reached${c.minutes ? `; access returns in about ${c.minutes} min` : ''}. Sync pauses and resumes from the last confirmed batch.`,
  carries: 'retryAfter',
};
const TERMS: Omit<GraphErrorRule, 'code' | 'subcode'> = {
  kind: 'terms',
  say: (c) =>
    `the Custom Audience terms of service are not accepted for ad account ${c.adAccountId}. A person with access to the ad account must accept them at ${c.link}`,
  carries: 'link',
};
const PERMISSION: Omit<GraphErrorRule, 'code'> = {
  kind: 'config',
  say: (c) =>
    `permission denied (${c.said || 'no message'}). The token needs ads_management on ad account ${c.adAccountId}.`,
};

/**
 * (code, subcode) → what sync does. Sources: Meta's Marketing API custom-audience guide and error reference, the
 * replace-API guide for the 2650 subcodes, and recorded Graph responses for 200/1870047.
 */
export const GRAPH_ERROR_RULES: readonly GraphErrorRule[] = [
  {
    code: 190,
    kind: 'auth',
    say: () =>
      'the access token is invalid or expired. Create a new system-user token with ads_management in Meta Business Settings and store it in the Meta token secret; nothing was lost, the next run resumes.',
  },
  { code: 80003, ...THROTTLED },
  { code: 80004, ...THROTTLED },
  { code: 17, ...THROTTLED },
  { code: 613, ...THROTTLED },
  { code: 4, ...THROTTLED },
  { code: 32, ...THROTTLED },
  { code: 2655, ...TERMS },
  { code: 2663, ...TERMS },
  // Terms not accepted also arrive as permission-coded errors with these subcodes.
  { code: 200, subcode: 1870034, ...TERMS },
  { code: 200, subcode: 1870090, ...TERMS },
  {
    // "Audience Size too Low": a known outcome, not a permission problem. Sync keeps the members pending removal.
    code: 200,
    subcode: 1870047,
    kind: 'low_audience_size',
    say: () =>
      'Meta refuses removals that would leave the audience below its minimum size (about 100 matched people); the members stay pending removal and are retried next run. Nothing to fix in the token or its permissions.',
  },
  { code: 200, ...PERMISSION },
  { code: 294, ...PERMISSION },
  { code: 10, ...PERMISSION },
  { code: 100, subcode: 1487366, kind: 'deleted', say: () => 'the audience was deleted in Meta' },
  {
    code: 100,
    subcode: 1713230,
    kind: 'config',
    say: () =>
      'Meta restricts this audience (inferred health or finance topic); edits are refused. Review the segment and the audience in Ads Manager.',
  },
  {
    code: 1487301,
    kind: 'config',
    say: (c) => `the audience is not shared with ad account ${c.adAccountId}; share it or remove its stored id`,
  },
  {
    subcode: 1487301,
    kind: 'config',
    say: (c) => `the audience is not shared with ad account ${c.adAccountId}; share it or remove its stored id`,
  },
  // 2650 "failed to update the custom audience": the subcodes describe replace sessions.
  {
    code: 2650,
    subcode: 1870145,
    kind: 'replace_in_progress',
    say: () =>
      'another update (a replace session) is in progress on this audience; sync leaves it alone and retries later. Meta closes a replace session at most 90 minutes after it started.',
  },
  {
    code: 2650,
    subcode: 1870158,
    kind: 'replace_timed_out',
    sessionApplied: true,
    say: () =>
      'the replace session timed out (Meta closes it 90 minutes after its first batch) and Meta kept only the members it had received; sync re-adds the rest by diff.',
  },
  {
    code: 2650,
    subcode: 1870147,
    kind: 'replace_restart',
    say: () => 'Meta has no first batch for this replace session; sync starts a new session or heals by diff.',
  },
  {
    code: 2650,
    subcode: 1870159,
    kind: 'replace_restart',
    // Finished means applied: the audience holds what the session received, whether or not we saw the last reply.
    sessionApplied: true,
    say: () => 'this replace session has already finished on Meta; sync starts a new session or heals by diff.',
  },
  {
    code: 2650,
    subcode: 1870148,
    kind: 'transient',
    say: () =>
      'Meta reported that something went wrong in the replace session; retried a bounded number of times, then resumed on the next run.',
  },
  {
    code: 2650,
    subcode: 1870144,
    kind: 'config',
    say: () =>
      'the audience has 100 million members or more, which Meta cannot replace; set replaceEveryDays: 0 on this destination (additions and removals still work).',
  },
  {
    // Also a "MULTI_HASHES" data-source lock: retried a bounded number of times.
    code: 2650,
    kind: 'transient',
    say: (c) => `Meta could not update the audience (${c.said || 'no message'}); retried a bounded number of times.`,
  },
];

/** The rule for a code and subcode: exact pair first, then the code's catch-all row, then a subcode row for any code. */
export function findGraphErrorRule(code: number | undefined, subcode: number | undefined): GraphErrorRule | undefined {
  if (code === undefined) return undefined;
  return (
    (subcode === undefined ? undefined : GRAPH_ERROR_RULES.find((r) => r.code === code && r.subcode === subcode)) ??
    GRAPH_ERROR_RULES.find((r) => r.code === code && r.subcode === undefined) ??
    (subcode === undefined ? undefined : GRAPH_ERROR_RULES.find((r) => r.code === undefined && r.subcode === subcode))
  );
}

/** Maps an HTTP status + Graph error body to a DestinationError. */
export function mapGraphError(
  status: number | undefined,
  body: GraphErrorBody | undefined,
  ctx: { adAccountId: string; usage?: Usage; operation: string },
): DestinationError {
  const code = body?.code;
  const subcode = body?.error_subcode;
  const details = { code, subcode, status };
  const said = (body?.error_user_msg || body?.message || '').replace(/access_token=[^&\s]+/g, 'access_token=***');
  const tag = `Meta ${ctx.operation} failed${code !== undefined ? ` (code ${code}${subcode ? `/${subcode}` : ''})` : status ? ` (HTTP ${status})` : ''}`;

  const rule = findGraphErrorRule(code, subcode);
  if (rule) {
    const minutes = ctx.usage?.regainAccessMinutes;
    // Prefer the terms link Meta sent (it names the right business); fall back to the account's terms page.
    const link = said.match(/https?:\/\/\S+/)?.[0]?.replace(/[).,]+$/, '') ?? TOS_LINK(ctx.adAccountId);
    const line = rule.say({ adAccountId: ctx.adAccountId, said, minutes, link });
    if (rule.carries === 'link') return new DestinationError(rule.kind, `${tag}: ${line}`, { ...details, link });
    if (rule.carries === 'retryAfter')
      return new DestinationError(rule.kind, `${tag}: ${line}`, {
        ...details,
        retryAfterSeconds: Math.max(60, (minutes ?? 5) * 60),
      });
    return new DestinationError(rule.kind, `${tag}: ${line}`, {
      ...details,
      ...(rule.sessionApplied ? { sessionApplied: true } : {}),
    });
  }
  if (status === undefined || status >= 500 || status === 408 || status === 429 || code === 1 || code === 2)
    return new DestinationError('transient', `${tag}: ${said || 'no response or server error'}`, details);
  return new DestinationError('permanent', `${tag}: ${said || 'request rejected'}`, details);
}
