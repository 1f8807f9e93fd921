/** The state folder lock on its own: who holds it, when a lock is stale, and that a run only frees its own lock. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../../bin/cli-errors';
import { LOCK_FILE, lockStateFolder } from '../../../bin/local/state-lock';

const fresh = () => join(mkdtempSync(join(tmpdir(), 'as-lock-')), 'state');
const thrown = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e as CliError;
  }
  throw new Error('did not throw');
};
async function deadPid() {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('lockStateFolder', () => {
  it('creates the folder and a lock naming this pid; a second lock on it is busy (exit 3) until released', () => {
    const dir = fresh();
    const lock = lockStateFolder(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
    });
    const e = thrown(() => lockStateFolder(dir));
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(EXIT.busy);
    expect(e.message).toBe(
      `state folder ${dir} is in use by another audience-sync run (pid ${process.pid}); wait for it or use another --state`,
    );
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lockStateFolder(dir).release();
  });

  it('takes over a lock whose process is gone', async () => {
    const dir = fresh();
    lockStateFolder(dir).release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid(), host: hostname(), since: '', id: 'x' }));
    const lock = lockStateFolder(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('an unreadable lock is busy while fresh (a run may be writing it) and stale when old', () => {
    const dir = fresh();
    lockStateFolder(dir).release();
    const path = join(dir, LOCK_FILE);
    writeFileSync(path, '');
    expect(thrown(() => lockStateFolder(dir)).message).toMatch(/in use by another audience-sync run \(pid unknown\)/);
    // A minute older by the file system's own clock (which a shifted process clock, e.g. faketime, does not move).
    const old = new Date(statSync(path).mtimeMs - 60_000);
    utimesSync(path, old, old);
    lockStateFolder(dir).release();
  });

  it('a lock on another host cannot be checked and counts as held', () => {
    const dir = fresh();
    lockStateFolder(dir).release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', since: '', id: 'x' }));
    expect(thrown(() => lockStateFolder(dir)).message).toMatch(/\(pid 1 on elsewhere\)/);
  });

  it('release never removes a lock that another run holds now', async () => {
    const dir = fresh();
    const lock = lockStateFolder(dir);
    const other = JSON.stringify({ pid: process.pid, host: hostname(), since: '', id: 'someone-else' });
    writeFileSync(join(dir, LOCK_FILE), other);
    lock.release();
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(other);
  });

  it('a state path that cannot be a folder is a usage error', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'as-lock-')), 'file');
    writeFileSync(file, 'x');
    const e = thrown(() => lockStateFolder(join(file, 'state')));
    expect(e.exitCode).toBe(EXIT.usage);
    expect(e.message).toMatch(/cannot use .* as the state folder \(ENOTDIR\)/);
  });
});
