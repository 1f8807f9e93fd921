import { trimAll } from './text';

/** IDFA / AAID / GAID: 8-4-4-4-12 hex. The all-zero id is what a device sends when ad tracking is limited. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ZERO = '00000000-0000-0000-0000-000000000000';

/**
 * Meta MADID rule: lowercase, hyphens kept, not hashed. Only a device advertising id (a UUID) is accepted; the
 * all-zero id of a device with limited ad tracking identifies nobody.
 */
export function normalizeMadid(value: string): string | undefined {
  const t = trimAll(value).toLowerCase();
  if (!UUID.test(t) || t === ZERO) return undefined;
  return t;
}
