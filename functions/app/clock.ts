/** Clocks for the handlers and the CLI: the real one, and one that runs from an `--as-of` date. No AWS imports. */
import type { Clock } from '../core/ports';

export const realClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * A clock that starts at `asOf` and runs at real speed from there: `local --as-of` evaluates date rules (and every
 * other "now") as of the day the bundled samples were exported, so the demo shows the same sizes on any date,
 * while leases and waits still see time pass.
 */
export function clockAsOf(asOf: Date): Clock {
  const offset = asOf.getTime() - Date.now();
  return { now: () => new Date(Date.now() + offset), sleep: realClock.sleep, wall: () => new Date() };
}

/** Parses an `--as-of` value (ISO date or timestamp) into a clock, or says in one line what is wrong. */
export function parseAsOf(value: string | undefined): Clock {
  if (value === undefined || value === '') return realClock;
  const t = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t))
    throw new Error(`--as-of ${JSON.stringify(value)} is not a date; write it as YYYY-MM-DD or an ISO timestamp`);
  return clockAsOf(new Date(t));
}
