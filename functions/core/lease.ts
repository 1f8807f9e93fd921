/**
 * Leased locks with a heartbeat. The holder renews its lease while it works; a holder that stops renewing (a crashed
 * Lambda, a `kill -9`) loses the lock when the lease ends, about a minute later, and the next run takes over and says so.
 */
import type { ContactStore, LockHolder, LockOutcome } from './ports';

/** How long a lease lasts without a heartbeat. A crashed holder blocks others at most this long. */
export const LEASE_MS = 60_000;

/** The holder renewed too late and another run took the lock: stop writing at once. */
export class LeaseLost extends Error {
  override readonly name = 'LeaseLost';
}

/** "held by <owner> (last heartbeat 12 s ago)" — for waiting messages. */
export function describeHolder(holder: LockHolder | undefined, now: Date): string {
  if (!holder) return 'held by another run';
  const beat = holder.heartbeatAt
    ? Math.max(0, Math.round((now.getTime() - Date.parse(holder.heartbeatAt)) / 1000))
    : undefined;
  return `held by ${holder.owner}${beat === undefined ? '' : ` (last heartbeat ${beat} s ago)`}`;
}

export class Lease {
  private renewedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: ContactStore,
    readonly name: string,
    readonly owner: string,
    private readonly now: () => Date,
    readonly leaseMs = LEASE_MS,
  ) {}

  /** One attempt: acquired (perhaps taking over from a holder that stopped renewing), or who holds it. */
  async tryAcquire(): Promise<LockOutcome> {
    const now = this.now();
    const r = await this.store.acquireLock(this.name, this.owner, now, new Date(now.getTime() + this.leaseMs));
    if (r.acquired) this.renewedAt = now.getTime();
    return r;
  }

  /** Renews the lease when a third of it has passed; throws LeaseLost when another run took the lock meanwhile. */
  async keepAlive(): Promise<void> {
    const now = this.now();
    if (now.getTime() - this.renewedAt < this.leaseMs / 3) return;
    const r = await this.tryAcquire();
    if (!r.acquired)
      throw new LeaseLost(
        `the ${this.name} lock was taken over (${describeHolder(r.holder, now)}) while this run held it; stopping so two runs never write at once`,
      );
  }

  async release(): Promise<void> {
    await this.store.releaseLock(this.name, this.owner);
  }
}

/**
 * Waits for a lease up to `waitMs`, polling. Returns the outcome of the acquisition, or the last holder when it gave up.
 */
export async function acquireWaiting(
  lease: Lease,
  opts: { waitMs: number; pollMs: number; now: () => Date; sleep: (ms: number) => Promise<void> },
): Promise<LockOutcome> {
  const giveUpAt = opts.now().getTime() + opts.waitMs;
  for (;;) {
    const r = await lease.tryAcquire();
    if (r.acquired || opts.now().getTime() >= giveUpAt) return r;
    await opts.sleep(opts.pollMs);
  }
}
