/**
 * Removes the exact secrets an adapter holds (access tokens, API keys, developer tokens) from every message it passes
 * on. Platform error messages sometimes repeat the token they were sent, verbatim or URL-encoded, anywhere in the
 * text; pattern-based redaction (`access_token=…`, the logger's safety net) cannot know every shape a token takes,
 * but the adapter knows the token itself.
 *
 * Each platform adapter keeps one redactor with its secrets and runs every error it throws through `error()`:
 *
 *   private readonly secrets = new SecretRedactor([opts.accessToken]);
 *   …
 *   catch (e) { throw this.secrets.error(toDestinationError(e)); }
 *
 * Tokens that change during a run (OAuth access tokens after a refresh) are added with `add()`.
 */

export const REDACTED_SECRET = '[redacted-secret]';

/** The forms a secret can take in text: as is, URL-encoded (path/query), form-encoded (spaces as +), either hex case. */
function formsOf(secret: string): string[] {
  const component = encodeURIComponent(secret);
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  const forms = new Set([secret, component, encodeURI(secret), form]);
  for (const f of [...forms]) forms.add(f.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
  // Longest first, so a form that contains another is removed whole.
  return [...forms].sort((a, b) => b.length - a.length);
}

export class SecretRedactor {
  private forms: string[] = [];

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const s of secrets) this.add(s);
  }

  /** Adds a secret (ignored when empty or undefined). */
  add(secret: string | undefined): this {
    if (!secret) return this;
    this.forms = [...new Set([...this.forms, ...formsOf(secret)])].sort((a, b) => b.length - a.length);
    return this;
  }

  /** The text with every form of every secret replaced by `[redacted-secret]`. */
  text(s: string): string {
    let out = s;
    for (const f of this.forms) if (out.includes(f)) out = out.split(f).join(REDACTED_SECRET);
    return out;
  }

  /**
   * Redacts an error in place and returns it: its message, its stack (which repeats the message) and any string in
   * its `details` (such as a link taken from the platform's message) and its `cause`. Non-errors become an Error with redacted text.
   */
  error<E extends Error>(e: E): E;
  error(e: unknown): Error;
  error(e: unknown): Error {
    if (!(e instanceof Error)) return new Error(this.text(String(e)));
    e.message = this.text(e.message);
    if (e.stack) e.stack = this.text(e.stack);
    const details = (e as { details?: unknown }).details;
    if (details && typeof details === 'object')
      for (const [k, v] of Object.entries(details))
        if (typeof v === 'string') (details as Record<string, unknown>)[k] = this.text(v);
    if (e.cause instanceof Error && e.cause !== e) this.error(e.cause);
    return e;
  }
}

/**
 * Every secret this process has read (destination tokens and keys, from Secrets Manager or the environment). The
 * loggers run each line through it before the pattern safety net, so a secret that reaches a log line by any path
 * (an error message a library built, a field someone added) is removed by value, whatever its shape.
 */
export const processSecrets = new SecretRedactor();

/** Strings inside a JSON secret shorter than this are field values like "service_account", not credentials. */
const MIN_JSON_SECRET_PART = 16;

/**
 * Remembers a secret for the loggers. A JSON secret (a service-account key, `{ "accessToken": … }`) is remembered
 * whole and by each string inside it that is long enough to be a credential (a private key, a token, a key id).
 */
export function rememberSecret(secret: string | undefined): void {
  if (!secret) return;
  processSecrets.add(secret);
  if (!secret.trimStart().startsWith('{')) return;
  try {
    const walk = (v: unknown): void => {
      if (typeof v === 'string') {
        if (v.length >= MIN_JSON_SECRET_PART && !/^https?:\/\//.test(v)) processSecrets.add(v);
      } else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x);
    };
    walk(JSON.parse(secret));
  } catch {
    // Not JSON after all: remembered whole above.
  }
}
