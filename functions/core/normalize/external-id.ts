import { trimAll } from './text';

/** Meta EXTERN_ID rule: sent as is (trimmed), not hashed; case and inner spaces are significant to the advertiser. */
export function normalizeExternalId(value: string): string | undefined {
  const t = trimAll(value);
  return t.length > 0 ? t : undefined;
}
