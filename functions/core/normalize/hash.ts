import * as crypto from 'node:crypto';

type OneShotHash = (algorithm: string, data: string, outputEncoding: 'hex') => string;

// crypto.hash (Node >= 20.12) skips the Hash object and is ~3x faster than createHash for short strings.
const oneShot: OneShotHash | undefined = (crypto as { hash?: OneShotHash }).hash;

const digest: (s: string) => string =
  typeof oneShot === 'function'
    ? (s) => oneShot('sha256', s, 'hex')
    : (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * The last few values hashed and their digests. One row hashes the same value several times (its email for the
 * contact id, the identity and Meta's EMAIL key; its phone for the identity and PHONE; the same phone in two columns;
 * a name both platforms normalize alike), and a digest costs some 300 ns against a few string comparisons here.
 */
const RECENT = 4;
const recentIn: string[] = new Array<string>(RECENT).fill('');
const recentOut: string[] = new Array<string>(RECENT).fill(digest(''));
let recentAt = 0;

/** SHA-256 of the UTF-8 bytes of `s`, as lowercase hex. */
export function sha256Hex(s: string): string {
  for (let i = 0; i < RECENT; i++) if (recentIn[i] === s) return recentOut[i] as string;
  const h = digest(s);
  recentIn[recentAt] = s;
  recentOut[recentAt] = h;
  recentAt = (recentAt + 1) % RECENT;
  return h;
}

/** True when `s` is exactly 64 hex digits (either case): a value that already is a SHA-256 digest. */
export function isSha256Hex(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    // 0-9, A-F, a-f
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * Hashes a normalized value once: a value that already is a 64-hex SHA-256 passes through lowercased,
 * because hashing a hash twice is the classic silent 0%-match bug.
 */
export function hashOnce(normalizedValue: string): string {
  return isSha256Hex(normalizedValue) ? normalizedValue.toLowerCase() : sha256Hex(normalizedValue);
}
