import { DestinationError } from '../../core/ports';
import type { PlatformAdapter } from '../adapters';
import { MetaDestination } from './adapter';
import type { MetaDestinationConfig } from './spec';

/** A plain token, or JSON {"accessToken": "…"} (the stack's placeholder shape). */
function tokenOf(secret: string): string | undefined {
  if (!secret.startsWith('{')) return secret;
  try {
    const j = JSON.parse(secret) as Record<string, unknown>;
    const t = j.accessToken ?? j.access_token ?? j.token;
    return typeof t === 'string' && t !== '' ? t : undefined;
  } catch {
    return undefined;
  }
}

export const metaAdapter: PlatformAdapter<MetaDestinationConfig> = {
  localSecretEnv: ['META_ACCESS_TOKEN'],
  create(dest, ctx) {
    const adAccountId = dest.adAccountId ?? ctx.env.META_AD_ACCOUNT_ID;
    if (!adAccountId)
      throw new DestinationError(
        'config',
        `destination "${ctx.destinationId}": no Meta ad account; set adAccountId in the config (or META_AD_ACCOUNT_ID locally)`,
      );
    const accessToken = tokenOf(ctx.secret);
    if (!accessToken)
      throw new DestinationError(
        'auth',
        `destination "${ctx.destinationId}": its secret holds no Meta access token yet; store a system-user token with ads_management in it`,
      );
    return new MetaDestination({
      accessToken,
      adAccountId,
      graphUrl: ctx.env.META_GRAPH_URL,
      customerFileSource: dest.customerFileSource,
    });
  },
};
