/** Progress is drawn for a person at a terminal only; what it wraps reads and sends exactly as without it. */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TerminalProgress } from '../../../bin/progress';
import type { Destination } from '../../../functions/core/ports';

/** A stream that says it is a terminal, collecting what is drawn on it. */
function fakeTerminal() {
  const s = new PassThrough() as PassThrough & NodeJS.WriteStream & { text(): string };
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  const ok = (cb?: () => void) => {
    cb?.();
    return true;
  };
  Object.assign(s, {
    isTTY: true,
    columns: 120,
    rows: 30,
    cursorTo: (_x: number, _y?: number, cb?: () => void) => ok(cb),
    moveCursor: (_dx: number, _dy: number, cb?: () => void) => ok(cb),
    clearLine: (_d: number, cb?: () => void) => ok(cb),
    clearScreenDown: (cb?: () => void) => ok(cb),
    text: () => Buffer.concat(chunks).toString('utf8'),
  });
  return s;
}

describe('TerminalProgress', () => {
  it('is off when output is piped (as in tests and CI)', () => {
    expect(process.stdout.isTTY && process.stderr.isTTY && !process.env.CI).toBeFalsy();
    expect(TerminalProgress.forTerminal()).toBeUndefined();
  });

  it('counts bytes and rows while an export is read, and hands every row through', async () => {
    const term = fakeTerminal();
    const progress = new TerminalProgress(term);
    const csv = `email\n${Array.from({ length: 3000 }, (_, i) => `p${i}@example.org`).join('\n')}\n`;
    const entries = progress.read(
      'list.csv',
      { name: 'list.csv', open: async () => Readable.from([Buffer.from(csv)]) },
      csv.length,
    );
    let rows = 0;
    for await (const e of entries) for await (const r of e.rows) if (r.kind === 'row') rows++;
    progress.stop();
    expect(rows).toBe(3000);
    const drawn = term.text();
    expect(drawn).toContain('list.csv');
    expect(drawn).toMatch(/3,000 rows/);
    expect(drawn).toMatch(/rows\/s/);
    expect(drawn).not.toContain('@example.org');
  });

  it('counts sent batches without changing what a destination does', async () => {
    const term = fakeTerminal();
    const progress = new TerminalProgress(term);
    const calls: string[] = [];
    const dest: Destination = {
      platform: 'meta',
      maxBatchSize: 10,
      ensureAudience: async () => ({ ref: { id: '1', name: 'a' }, created: false }),
      add: async (_a, b) => {
        calls.push(`add ${b.length}`);
        return { received: b.length, invalid: 0 };
      },
      remove: async (_a, b) => {
        calls.push(`remove ${b.length}`);
        return { received: b.length, invalid: 0 };
      },
    };
    const watched = progress.destination('meta-main', dest)!;
    expect(watched.replace).toBeUndefined();
    expect(watched.maxBatchSize).toBe(10);
    const member = { cid: 'c', keys: { EMAIL: 'h' } };
    expect(await watched.add({ id: '1', name: 'a' }, [member, member])).toEqual({ received: 2, invalid: 0 });
    await watched.remove({ id: '1', name: 'a' }, [member]);
    // The line is redrawn a few times a second: a wait shows while it lasts.
    await progress.clock({ now: () => new Date(), sleep: () => new Promise((r) => setTimeout(r, 400)) }).sleep(30_000);
    progress.stop();
    expect(calls).toEqual(['add 2', 'remove 1']);
    expect(term.text()).toMatch(/2 batches sent \(3 people\)/);
    expect(term.text()).toMatch(/waiting 30 s/);
  });
});
