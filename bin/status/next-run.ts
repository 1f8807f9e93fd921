/**
 * When an EventBridge Scheduler expression fires next: `cron(min hour day-of-month month day-of-week year)` read in
 * an IANA time zone, `rate(n unit)` counted from the last run, `at(yyyy-mm-ddThh:mm:ss)` once. The Scheduler API
 * does not say when a schedule fires next; this answers it for the expressions the stack deploys. Cron features that
 * are rarely used (`W`, `#`, `L` with an offset) give no answer rather than a wrong one.
 */

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

type Field = Set<number> | 'any';

/** One cron field as the set of values it allows, or undefined when it uses a feature not handled here. */
function parseField(text: string, min: number, max: number, names: string[] = [], nameBase = min): Field | undefined {
  if (text === '*' || text === '?') return 'any';
  const value = (s: string) => {
    const i = names.indexOf(s.toUpperCase());
    if (i >= 0) return i + nameBase;
    return /^\d+$/.test(s) ? Number(s) : Number.NaN;
  };
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) return undefined;
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [min, max];
    else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      [lo, hi] = [value(a), value(b)];
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < min || hi > max || lo > hi) return undefined;
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

const has = (f: Field, v: number) => f === 'any' || f.has(v);

/** Milliseconds a time zone is ahead of UTC at instant `t`. */
function zoneOffset(t: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return wall - Math.floor(t / 1000) * 1000;
}

/** The instant a wall-clock time (as if UTC) is in `timeZone`. */
function fromWall(wall: number, timeZone: string): number {
  const first = wall - zoneOffset(wall, timeZone);
  return wall - zoneOffset(first, timeZone);
}

function nextCron(body: string, timeZone: string, now: Date): Date | undefined {
  const f = body.trim().split(/\s+/);
  if (f.length !== 6) return undefined;
  const [minT, hourT, domT, monT, dowT, yearT] = f as [string, string, string, string, string, string];
  const minutes = parseField(minT, 0, 59);
  const hours = parseField(hourT, 0, 23);
  const lastDay = domT.toUpperCase() === 'L';
  const dom = lastDay ? 'any' : parseField(domT, 1, 31);
  const month = parseField(monT, 1, 12, MONTHS, 1);
  const dow = parseField(dowT, 1, 7, DAYS, 1);
  const year = parseField(yearT, 1970, 2199);
  if (!minutes || !hours || !dom || !month || !dow || !year) return undefined;
  const list = (fld: Field, lo: number, hi: number) =>
    Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).filter((v) => has(fld, v));
  const mins = list(minutes, 0, 59);
  const hrs = list(hours, 0, 23);
  const start = now.getTime() + zoneOffset(now.getTime(), timeZone);
  const d0 = new Date(start);
  // Six years of days is enough for any expression that fires at all (a leap day fires within eight; close enough).
  for (let i = 0; i < 366 * 6; i++) {
    const day = new Date(Date.UTC(d0.getUTCFullYear(), d0.getUTCMonth(), d0.getUTCDate() + i));
    const y = day.getUTCFullYear();
    const m = day.getUTCMonth() + 1;
    const d = day.getUTCDate();
    if (!has(year, y) || !has(month, m) || !has(dow, day.getUTCDay() + 1)) continue;
    if (lastDay ? new Date(Date.UTC(y, m, 0)).getUTCDate() !== d : !has(dom, d)) continue;
    for (const h of hrs)
      for (const mi of mins) {
        const at = fromWall(Date.UTC(y, m - 1, d, h, mi), timeZone);
        if (at > now.getTime()) return new Date(at);
      }
  }
  return undefined;
}

const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/**
 * The next time `expression` fires after `now`, or undefined when it never does again or cannot be told
 * (`rate()` without a last run, unsupported cron features, an unknown time zone).
 */
export function nextRunOf(
  expression: string,
  timeZone = 'UTC',
  now = new Date(),
  lastRunAt?: string,
): Date | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    return undefined;
  }
  const m = /^(cron|rate|at)\((.*)\)$/.exec(expression.trim());
  if (!m) return undefined;
  const [, kind, body = ''] = m;
  if (kind === 'cron') return nextCron(body, timeZone, now);
  if (kind === 'at') {
    const at = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body.trim());
    if (!at) return undefined;
    const [, y, mo, d, h, mi, s] = at.map(Number) as number[];
    const t = fromWall(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!), timeZone);
    return t > now.getTime() ? new Date(t) : undefined;
  }
  const rate = /^(\d+)\s+(minute|hour|day)s?$/.exec(body.trim());
  if (!rate || !lastRunAt) return undefined;
  const every = Number(rate[1]) * UNIT_MS[rate[2]!]!;
  const last = Date.parse(lastRunAt);
  if (!every || Number.isNaN(last)) return undefined;
  const next = last + Math.max(1, Math.ceil((now.getTime() - last) / every)) * every;
  return new Date(next);
}
