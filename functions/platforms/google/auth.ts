/**
 * Service-account access tokens for the Data Manager API through google-auth-library's JWT client (the
 * JWT-bearer grant: a JWT signed with the key's private key is exchanged for a one-hour access token, scope
 * `https://www.googleapis.com/auth/datamanager`; no developer token is needed).
 *
 * The library sends the exchange to Google's fixed token URL; when the key names another `token_uri` (a test server),
 * the request is redirected there, so tests run the library's real signing and exchange code. Errors never carry the
 * key or a token.
 */
import { JWT } from 'google-auth-library';
import { z } from 'zod';
import { DestinationError } from '../../core/ports';
import { scrub } from './errors';

export const DATAMANAGER_SCOPE = 'https://www.googleapis.com/auth/datamanager';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

const keySchema = z.object({
  type: z.literal('service_account').optional(),
  client_email: z.string().regex(/^[^@\s]+@[^@\s]+$/),
  private_key: z.string().includes('PRIVATE KEY'),
  private_key_id: z.string().optional(),
  project_id: z.string().optional(),
  token_uri: z.url().optional(),
});
export type ServiceAccountKey = z.output<typeof keySchema>;

/** Parses a service-account JSON key (as downloaded from Google Cloud); the error names the problem, never the key. */
export function parseServiceAccountKey(text: string, where = 'the Google secret'): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DestinationError(
      'auth',
      `${where} is not a JSON service-account key; store the whole key file (IAM → Service accounts → Keys → Add key → JSON)`,
    );
  }
  const r = keySchema.safeParse(json);
  if (!r.success)
    throw new DestinationError(
      'auth',
      `${where} is not a service-account key (missing or malformed: ${[...new Set(r.error.issues.map((i) => i.path.join('.')))].join(', ')}); store the whole JSON key file`,
    );
  return r.data;
}

/** The exact strings of a key that must never appear in a message: the PEM and each line of its body. */
export function keySecrets(key: ServiceAccountKey): string[] {
  const lines = key.private_key
    .split(/\r?\n|\\n/)
    .map((l) => l.trim())
    .filter((l) => l.length >= 16 && !l.startsWith('-----'));
  return [key.private_key, ...lines, ...(key.private_key_id ? [key.private_key_id] : [])];
}

export interface TokenSource {
  /** A valid access token (cached and refreshed by the library). */
  token(): Promise<string>;
  /** Secrets this source holds right now (key material, current token), for redaction. */
  secrets(): string[];
  readonly clientEmail?: string;
}

/** A fixed token (local runs and tests). */
export function staticToken(token: string): TokenSource {
  return { token: async () => token, secrets: () => [token] };
}

export function serviceAccountTokens(key: ServiceAccountKey, opts: { timeoutMs?: number } = {}): TokenSource {
  const jwt = new JWT({ email: key.client_email, key: key.private_key, scopes: [DATAMANAGER_SCOPE] });
  const tokenUri = key.token_uri;
  if (tokenUri && tokenUri !== GOOGLE_TOKEN_URL) {
    jwt.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(tokenUri);
        return config;
      },
    });
  }
  let current: string | undefined;
  const secrets = keySecrets(key);
  return {
    clientEmail: key.client_email,
    secrets: () => (current ? [...secrets, current] : secrets),
    async token() {
      try {
        const timeout = opts.timeoutMs ?? 30_000;
        const { token } = await withTimeout(jwt.getAccessToken(), timeout);
        if (!token) throw new Error('no access token in the response');
        current = token;
        return token;
      } catch (e) {
        if (e instanceof DestinationError) throw e;
        const err = e as { message?: string; response?: { status?: number; data?: { error?: string } }; code?: string };
        const status = err.response?.status;
        const grant = err.response?.data?.error;
        const msg = scrub(err.message ?? String(e), [...secrets, ...(current ? [current] : [])]);
        if (status !== undefined && status >= 400 && status < 500)
          throw new DestinationError(
            'auth',
            `Google refused the service-account key of ${key.client_email} (${grant ?? `HTTP ${status}`}): the key may be deleted or disabled, or the machine clock is off; create a new JSON key and store it in the Google secret`,
            { status },
          );
        throw new DestinationError('transient', `Google token exchange for ${key.client_email} failed: ${msg}`, {
          ...(status === undefined ? {} : { status }),
        });
      }
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DestinationError('transient', `Google token exchange timed out after ${ms} ms`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
