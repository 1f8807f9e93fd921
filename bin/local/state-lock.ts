/**
 * One audience-sync run per state folder. The embedded stores cannot share a folder: a second dynalite on the same
 * LevelDB fails deep inside ("Database is closed") and s3rver would interleave writes. A lock file holds the pid of
 * the run that owns the folder; a lock whose process is gone (killed, crashed) is stale and taken over.
 */
import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT } from '../cli-errors';

export const LOCK_FILE = 'audience-sync.lock';

interface Holder {
  pid: number;
  host: string;
  since: string;
  id: string;
}

export interface StateLock {
  readonly path: string;
  release(): void;
}

/** A lock file without readable content this old was not left half-written by a run that is starting. */
const UNREADABLE_STALE_MS = 10_000;

function readHolder(path: string): Holder | 'unreadable' | 'gone' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw e;
  }
  try {
    const h = JSON.parse(text) as Holder;
    return Number.isInteger(h.pid) && typeof h.id === 'string' ? h : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function isRunning(h: Holder): boolean {
  // Another machine's pid (a shared folder) cannot be checked from here: assume it runs.
  if (h.host !== hostname()) return true;
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(path: string, h: Holder | 'unreadable'): boolean {
  if (h !== 'unreadable') return !isRunning(h);
  try {
    return fileSystemNow(dirname(path)) - statSync(path).mtimeMs > UNREADABLE_STALE_MS;
  } catch {
    return true;
  }
}

/**
 * "Now" by the clock that stamps files in `dir` (a probe file's mtime): a lock file's age is measured on the clock
 * that wrote it, which need not be this process's (a network share, a shifted clock).
 */
function fileSystemNow(dir: string): number {
  const probe = join(dir, `.clock-${process.pid}`);
  writeFileSync(probe, '');
  try {
    return statSync(probe).mtimeMs;
  } finally {
    unlinkSync(probe);
  }
}

function busy(stateDir: string, h: Holder | 'unreadable'): CliError {
  const who = h === 'unreadable' ? 'pid unknown' : `pid ${h.pid}${h.host === hostname() ? '' : ` on ${h.host}`}`;
  return new CliError(
    `state folder ${stateDir} is in use by another audience-sync run (${who}); wait for it or use another --state`,
    EXIT.busy,
  );
}

/** Creates `path` holding `tmp`'s content in one step (a hard link), or exclusively where links are not supported. */
function createExclusive(tmp: string, path: string, content: string): boolean {
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
  }
  try {
    writeFileSync(path, content, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Takes the state folder for this run, or throws a CliError (exit 3) naming the run that has it. */
export function lockStateFolder(stateDir: string): StateLock {
  try {
    mkdirSync(stateDir, { recursive: true });
  } catch (e) {
    throw new CliError(
      `cannot use ${stateDir} as the state folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); pass --state <dir> that can be created and written`,
    );
  }
  const path = join(stateDir, LOCK_FILE);
  const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), id: randomUUID() };
  const content = `${JSON.stringify(me)}\n`;
  const tmp = `${path}.${me.id}.tmp`;
  writeFileSync(tmp, content);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (createExclusive(tmp, path, content)) return held(path, me);
      const holder = readHolder(path);
      if (holder === 'gone') continue;
      if (!isStale(path, holder)) throw busy(stateDir, holder);
      // Stale: move it aside (atomic), then make sure what was moved is the lock just judged stale, not a
      // fresh one another run created in between; if it is fresh, put it back.
      const aside = `${path}.${me.id}.stale`;
      try {
        renameSync(path, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const moved = readHolder(aside);
      const judged = typeof moved === 'object' && typeof holder === 'object' && moved.id === holder.id;
      if (typeof moved === 'object' && !judged && isRunning(moved)) {
        try {
          linkSync(aside, path);
        } catch {
          // Someone holds it again already; either way this run does not get it.
        }
        unlinkSync(aside);
        throw busy(stateDir, moved);
      }
      unlinkSync(aside);
    }
    throw busy(stateDir, 'unreadable');
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

function held(path: string, me: Holder): StateLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const h = readHolder(path);
    if (h !== 'gone' && h !== 'unreadable' && h.id === me.id) unlinkSync(path);
  };
  // A run that exits without closing its stores (process.exit, a signal handler) still frees the folder.
  process.on('exit', release);
  return { path, release };
}
