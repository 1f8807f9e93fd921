/**
 * Staging on local disk (the ingest Lambda's /tmp): what one drop will change, written while the file is read and
 * applied once it was read in full. Lines hold hashes and attributes only, as the table does; the file is deleted in
 * every case when the ingest ends, and what a killed run left behind is removed by the next staging made in the same
 * place ({@link removeStaleStaging}).
 *
 * Lines are encoded as they arrive into a 1 MiB buffer that is written when full, while the next lines are encoded
 * into a second one: a line's string dies young, where strings held until a gathered write outlived the garbage
 * collector's young generation and were copied by every scavenge (a fifth of ingest's own compute went to that).
 * They are read back a megabyte at a time, the next one read while this one is decoded, line
 * by line: a staged line is JSON, whose strings escape every line break, so a newline byte always ends a line (and is
 * never part of a multi-byte character). Each line is its own string, not a slice of one string of the megabyte:
 * records parsed from such slices held more of the heap while they waited for their batch of store writes (2.6 KB
 * each against 1.5 KB), each scavenge of the apply pass copied about 10 MB, and ingest spent ~10 % more CPU.
 */

import { randomUUID } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync } from 'node:fs';
import { type FileHandle, open as openFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StagingArea } from '../core/ports';

/** Bytes encoded before they are written, and read at a time. */
const BLOCK = 1 << 20;
const LF = 0x0a;
/**
 * A staging folder's name: this prefix, the pid of the process that made it, when that process started and its pid
 * namespace (`x` for either where there is no /proc), then mkdtemp's six characters:
 * `audience-sync-stage-8-1234567-4026531836-Ab12Cd`.
 */
const PREFIX = 'audience-sync-stage-';
const OWNER = /^(\d+)-(\d+|x)-(\d+|x)-/;
/**
 * A folder whose owner cannot be looked up (named before folders carried it, or made in another pid namespace) is
 * stale once nothing in it changed for this long.
 */
const UNOWNED_STALE_MS = 60 * 60 * 1000;

/** A process as /proc shows it: its state letter and when it started (clock ticks after boot, field 22). */
function procOf(pid: number | 'self'): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may hold spaces and parentheses) start after its last `)`.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] as string, start: fields[19] as string };
  } catch {
    return undefined;
  }
}

function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? 'x';
  } catch {
    return 'x';
  }
}

const OWN_NAMESPACE = pidNamespace();
/** This process's part of a staging folder's name (see {@link PREFIX}). */
const OWN = `${process.pid}-${procOf('self')?.start ?? 'x'}-${OWN_NAMESPACE}`;

export interface FileStagingOptions {
  /** Told of each folder a killed run left behind, after it was removed (with the bytes it freed). */
  onStale?: (folder: string, bytes: number) => void;
}

export function fileStaging(dir = tmpdir(), options: FileStagingOptions = {}): () => Promise<StagingArea> {
  return async () => {
    const folder = mkdtempSync(join(dir, `${PREFIX}${OWN}-`));
    // Ages are read against the file system's clock (the new folder's time), not this process's, which may be off.
    removeStaleStaging(dir, options.onStale, statSync(folder).mtimeMs);
    const path = join(folder, 'stage.jsonl');
    let out: FileHandle | undefined = await openFile(path, 'w');
    // Two buffers, reused: lines are encoded into one while the other is being written, so the rows go on being
    // read while the disk takes the last megabyte (each write awaited before the next line was encoded left this
    // thread idle for a tenth of an ingest). Only one write is in flight at a time: the file is written in order.
    let buf = Buffer.allocUnsafe(BLOCK);
    let spare = Buffer.allocUnsafe(BLOCK);
    let used = 0;
    let writing: Promise<void> | undefined;
    // A write that failed lost the lines it held: every later write and read fails with it, so no caller can read
    // back a staging with lines missing as if it were whole.
    let failed: { error: unknown } | undefined;
    // Writes and the read-back run one after another, in the order they were called: a read-back would otherwise
    // close the file under a write, and lines of two calls could interleave.
    let queue: Promise<unknown> = Promise.resolve();
    const inTurn = <T>(op: () => Promise<T>): Promise<T> => {
      const run = queue.then(() => {
        if (failed) throw failed.error;
        return op();
      });
      queue = run.catch(() => undefined);
      return run;
    };
    const writeOut = async (fh: FileHandle, bytes: Buffer) => {
      try {
        await writeAll(fh, bytes);
      } catch (e) {
        failed = { error: e };
        throw e;
      }
    };
    /** Waits for the write in flight; throws what it failed with. */
    const settle = async () => {
      const w = writing;
      writing = undefined;
      if (w) await w;
    };
    /** Starts writing what `buf` holds (after the write in flight) and encodes on into the other buffer. */
    const flush = async (fh: FileHandle) => {
      await settle();
      if (used === 0) return;
      const bytes = buf.subarray(0, used);
      [buf, spare] = [spare, buf];
      used = 0;
      writing = writeOut(fh, bytes);
      // Seen when it is waited for (the next flush, the close): until then it must not count as unhandled.
      writing.catch(() => undefined);
    };
    /** Set when dispose is called: nothing is written or read back after it. */
    let disposed = false;
    const closeOnce = async () => {
      const o = out;
      if (!o) return;
      out = undefined;
      try {
        await flush(o);
        await settle();
      } finally {
        // A file that could not be closed may not hold its last bytes: failed, as a failed write is.
        await o.close().catch((e: unknown) => {
          failed ??= { error: e };
          throw e;
        });
      }
    };
    // Once: a second caller (a read-back again, or dispose) waits for the same closing and sees how it ended.
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= closeOnce();
      return closing;
    };
    const write = async (lines: readonly string[]) => {
      // A line after the read-back would never reach the file: a caller's bug, said at once, not a lost line.
      const fh = out;
      if (!fh)
        throw new Error(
          disposed ? 'staging was written after it was disposed' : 'staging was written after its lines were read back',
        );
      for (const line of lines) {
        // A UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
        if (used + 3 * line.length + 1 > BLOCK) {
          await flush(fh);
          if (3 * line.length + 1 > BLOCK) {
            await settle();
            await writeOut(fh, Buffer.from(`${line}\n`, 'utf8'));
            continue;
          }
        }
        used += buf.write(line, used);
        buf[used++] = LF;
      }
    };
    let disposing: Promise<void> | undefined;
    return {
      write: (lines) => inTurn(() => write(lines)),
      batches: async function* () {
        await inTurn(async () => {
          // Its file is gone (or going): what it would read back is not the staging, not even empty.
          if (disposed) throw new Error('staging was read back after it was disposed');
          await close();
        });
        const input = await openFile(path, 'r');
        // Two buffers here too: the next megabyte is read while the lines of this one are decoded and applied. The
        // unfinished line a read ends with is copied to the front of the other buffer and the next read lands after
        // it (no read copies a megabyte); a line longer than the buffer grows both.
        let cur = Buffer.allocUnsafe(BLOCK);
        let next = Buffer.allocUnsafe(BLOCK);
        let kept = 0;
        const readInto = (b: Buffer, at: number) => {
          const r = input.read(b, at, b.length - at, null);
          r.catch(() => undefined);
          return r;
        };
        let reading: ReturnType<typeof readInto> | undefined = readInto(cur, 0);
        try {
          for (;;) {
            const { bytesRead } = await reading;
            reading = undefined;
            if (bytesRead === 0) break;
            const filled = kept + bytesRead;
            // Only the bytes read now can hold the last newline (the kept ones held none).
            const end = cur.lastIndexOf(LF, filled - 1);
            if (end < kept) {
              // No newline yet: a line longer than a read; keep reading into this buffer, grown when full.
              kept = filled;
              if (kept === cur.length) {
                const bigger = Buffer.allocUnsafe(cur.length * 2);
                cur.copy(bigger, 0, 0, kept);
                cur = bigger;
                next = Buffer.allocUnsafe(cur.length);
              }
              reading = readInto(cur, kept);
              continue;
            }
            kept = filled - (end + 1);
            cur.copy(next, 0, end + 1, filled);
            reading = readInto(next, kept);
            // Up to the newline: the buffer's bytes past it are of earlier reads.
            for (const lines of lineBatches(cur, end + 1)) yield lines;
            [cur, next] = [next, cur];
          }
          if (kept > 0) for (const lines of lineBatches(cur, kept)) yield lines;
        } finally {
          // A read still in flight (the caller stopped early) lands before the file is closed.
          await reading?.catch(() => undefined);
          await input.close();
        }
      },
      dispose: () => {
        // Once, whoever calls it: a second call waits for the first, which removes the folder only after the last
        // write landed (after the writes called before it; a failed one leaves the file to be closed here).
        disposing ??= (async () => {
          disposed = true;
          await queue;
          await close().catch(() => undefined);
          rmSync(folder, { recursive: true, force: true });
        })();
        return disposing;
      },
    };
  };
}

/**
 * Removes the staging folders in `dir` that no running ingest owns. A run killed mid-file (`kill -9`, a Lambda
 * timeout or out-of-memory kill) never disposes of its staging, and a Lambda sandbox keeps /tmp for the invocations
 * after it: what a killed ingest of a large file staged (about 1 KB a row) would take the space the next one needs,
 * and its retry would fail the same way. A folder is stale when the process named in it is gone: no process has its
 * pid, the one that has it started at another time (a pid used again, this process's own included: a Lambda runtime
 * restarted in its sandbox may get the same pid), or it is a zombie. Folders of live processes (another CLI run on the
 * same machine, another thread of this one) are left alone, and so are, for an hour after their last change, those
 * made in another pid namespace (a container sharing /tmp), whose pids cannot be looked up here. A folder is claimed
 * by renaming it to one of this process's names before it is removed, so two sweeps never remove (or count) one
 * folder twice, and a folder this process may not move (another user's, in a shared /tmp) is left where it is.
 */
export function removeStaleStaging(
  dir: string,
  onStale?: (folder: string, bytes: number) => void,
  /** The file system's time now (ms), which folder ages are measured against. */
  now = Date.now(),
): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // no such folder yet: nothing was left in it
  }
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const folder = join(dir, name);
    if (!isStale(folder, name.slice(PREFIX.length), now)) continue;
    const claimed = join(dir, `${PREFIX}${OWN}-gone-${randomUUID().slice(0, 8)}`);
    try {
      renameSync(folder, claimed);
    } catch {
      continue; // another sweep took it first, or it is not this process's to move
    }
    const bytes = bytesIn(claimed);
    try {
      rmSync(claimed, { recursive: true, force: true });
      onStale?.(folder, bytes);
    } catch {
      // Left under this process's name: a sweep after this process ends removes it.
    }
  }
}

function isStale(folder: string, rest: string, now: number): boolean {
  const owner = OWNER.exec(rest);
  if (owner === null) return unowned(folder, now);
  const [, pidText, started, namespace] = owner as unknown as [string, string, string, string];
  if (namespace !== 'x' && OWN_NAMESPACE !== 'x' && namespace !== OWN_NAMESPACE) return unowned(folder, now);
  const pid = Number(pidText);
  const proc = procOf(pid);
  const dead = proc !== undefined && (proc.state === 'Z' || proc.state === 'X');
  if (proc !== undefined && started !== 'x') return dead || proc.start !== started;
  // No start time to compare: this process's own folders (or another thread's) are live; another's while its pid is.
  if (pid === process.pid) return false;
  return proc !== undefined ? dead : !isAlive(pid);
}

/** A folder whose owner cannot be looked up: stale once nothing in it changed for an hour. */
const unowned = (folder: string, now: number): boolean => now - lastChange(folder, now) > UNOWNED_STALE_MS;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists, under another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The latest modification time of the folder or a file in it (ms); `now` when it cannot be read. */
function lastChange(folder: string, now: number): number {
  try {
    let latest = statSync(folder).mtimeMs;
    for (const f of readdirSync(folder)) latest = Math.max(latest, statSync(join(folder, f)).mtimeMs);
    return latest;
  } catch {
    return now;
  }
}

function bytesIn(folder: string): number {
  try {
    // A link named as a staging is removed, not followed: what it points to is not counted either.
    if (!lstatSync(folder).isDirectory()) return 0;
    return readdirSync(folder).reduce((n, f) => n + statSync(join(folder, f)).size, 0);
  } catch {
    return 0;
  }
}

/**
 * Lines handed on at a time when reading back: a megabyte's thousand lines decoded at once were all alive at every
 * scavenge of the apply pass that reads them, and each was copied by it.
 */
const READ_LINES = 64;

/** The non-empty lines of `bytes[0, end)`, each decoded on its own (the last may lack its newline), some at a time. */
function* lineBatches(bytes: Buffer, end: number): Generator<string[]> {
  let lines: string[] = [];
  let from = 0;
  for (let nl = bytes.indexOf(LF, from); nl !== -1 && nl < end; nl = bytes.indexOf(LF, from)) {
    if (nl > from) lines.push(bytes.toString('utf8', from, nl));
    from = nl + 1;
    if (lines.length === READ_LINES) {
      yield lines;
      lines = [];
    }
  }
  if (from < end) lines.push(bytes.toString('utf8', from, end));
  if (lines.length > 0) yield lines;
}

/** Writes every byte (a write may take fewer than it was given). */
async function writeAll(fh: FileHandle, bytes: Buffer): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
    at += bytesWritten;
  }
}
