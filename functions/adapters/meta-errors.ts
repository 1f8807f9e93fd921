/**
 * Meta Graph API errors and rate-limit headers mapped to what sync should do (platforms.md, "Error codes to handle").
 * Messages are written for the operator and never include the token or request URLs.
 */
import { DestinationError } from '../core/ports';

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

/** The custom-audience terms page per ad account (platforms.md: …/customaudiences/app/tos/?act=…). */
const TOS_LINK = (adAccountId: string) =>
  `https://www.facebook.com/customaudiences/app/tos/?act=${adAccountId.replace(/^act_/, '')}`;

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

  if (code === 190)
    return new DestinationError(
      'auth',
      `${tag}: the access token is invalid or expired. Create a new system-user token with ads_management in Meta Business Settings and store it in the Meta token secret; nothing was lost, the next run resumes.`,
      details,
    );
  if (code === 80003 || code === 80004 || code === 17 || code === 613 || code === 4 || code === 32) {
    const minutes = ctx.usage?.regainAccessMinutes;
    return new DestinationError(
      'throttled',
      `${tag}: Meta rate limit reached${minutes ? `; access returns in about ${minutes} min` : ''}. Sync pauses and resumes from the last confirmed batch.`,
      { ...details, retryAfterSeconds: Math.max(60, (minutes ?? 5) * 60) },
    );
  }
  if (code === 2655 || code === 2663) {
    const link = said.match(/https?:\/\/\S+/)?.[0]?.replace(/[).,]+$/, '') ?? TOS_LINK(ctx.adAccountId);
    return new DestinationError(
      'terms',
      `${tag}: the Custom Audience terms of service are not accepted for ad account ${ctx.adAccountId}. A person with access to the ad account must accept them at ${link}`,
      { ...details, link },
    );
  }
  if (code === 100 && subcode === 1487366)
    return new DestinationError('deleted', `${tag}: the audience was deleted in Meta`, details);
  if (code === 100 && subcode === 1713230)
    return new DestinationError(
      'config',
      `${tag}: Meta restricts this audience (inferred health or finance topic); edits are refused. Review the segment and the audience in Ads Manager.`,
      details,
    );
  if (code === 1487301 || subcode === 1487301)
    return new DestinationError(
      'config',
      `${tag}: the audience is not shared with ad account ${ctx.adAccountId}; share it or remove its stored id`,
      details,
    );
  if (code === 200 || code === 294 || code === 10)
    return new DestinationError(
      'config',
      `${tag}: permission denied (${said || 'no message'}). The token needs ads_management on ad account ${ctx.adAccountId}.`,
      details,
    );
  if (code === 2650) {
    if (/low audience size|too small|below/i.test(said))
      return new DestinationError('low_audience_size', `${tag}: ${said}`, details);
    if (/replace/i.test(said)) return new DestinationError('replace_in_progress', `${tag}: ${said}`, details);
    return new DestinationError(
      'transient',
      `${tag}: Meta could not update the audience (${said || 'no message'})`,
      details,
    );
  }
  if (status === undefined || status >= 500 || status === 408 || status === 429 || code === 1 || code === 2)
    return new DestinationError('transient', `${tag}: ${said || 'no response or server error'}`, details);
  return new DestinationError('permanent', `${tag}: ${said || 'request rejected'}`, details);
}
