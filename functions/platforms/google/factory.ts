import type { PlatformAdapter } from '../adapters';
import { GoogleDestination } from './adapter';
import { parseServiceAccountKey, serviceAccountTokens, staticToken } from './auth';
import { googleSettings } from './requests';
import type { GoogleDestinationConfig } from './spec';

export const googleAdapter: PlatformAdapter<GoogleDestinationConfig> = {
  // A service-account key (JSON) or, for a quick local try, an OAuth access token.
  localSecretEnv: ['GOOGLE_SERVICE_ACCOUNT_KEY', 'GOOGLE_ACCESS_TOKEN'],
  create(dest, ctx) {
    const tokens = ctx.secret.startsWith('{')
      ? serviceAccountTokens(parseServiceAccountKey(ctx.secret, `the secret of destination "${ctx.destinationId}"`))
      : staticToken(ctx.secret);
    return new GoogleDestination({
      ...googleSettings(dest, ctx.env.GOOGLE_ADS_ACCOUNT_ID),
      tokens,
      ...(ctx.env.GOOGLE_DATAMANAGER_URL ? { baseUrl: ctx.env.GOOGLE_DATAMANAGER_URL } : {}),
      ...(ctx.validateOnly ? { validateOnly: true } : {}),
    });
  },
};
