/**
 * Staging on disk gives back every line written, in order and unchanged (lines are encoded into one reused buffer
 * before they are written, and read back a megabyte at a time and split again), and leaves nothing behind; a write
 * that failed is never read back as a whole staging.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fileStaging } from '../../../functions/adapters/file-staging';
import type { StagingArea } from '../../../functions/core/ports';

let dir: string | undefined;
afterEach(() => {
  vi.restoreAllMocks();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A file staging in a fresh temporary folder (removed after each test). */
async function openStaging(): Promise<{ staging: StagingArea; folder: string }> {
  const folder = mkdtempSync(join(tmpdir(), 'staging-test-'));
  dir = folder;
  return { staging: await fileStaging(folder)(), folder };
}

/** The buffer lines are encoded into, and the size of a read. */
const BLOCK = 1 << 20;

async function readBack(staging: StagingArea): Promise<string[]> {
  const back: string[] = [];
  for await (const batch of staging.batches()) for (const l of batch) back.push(l);
  return back;
}

/** FileHandle's prototype, whose write a test makes fail as a full disk would. */
async function fileHandleProto(): Promise<{ write: (...a: unknown[]) => Promise<unknown> }> {
  const fh = await open(join(dir as string, 'probe'), 'w');
  await fh.close();
  rmSync(join(dir as string, 'probe'));
  return Object.getPrototypeOf(fh);
}

async function roundTrip(lines: string[]): Promise<{ back: string[]; left: number }> {
  const { staging, folder } = await openStaging();
  // Written in batches of every size from one line to hundreds, as ingest writes a batch of rows' lines at a time.
  for (let at = 0, size = 1; at < lines.length; at += size, size = (size % 700) + 1)
    await staging.write(lines.slice(at, at + size));
  const back: string[] = [];
  for await (const batch of staging.batches()) for (const l of batch) back.push(l);
  await staging.dispose();
  return { back, left: readdirSync(folder).length };
}

describe('fileStaging', () => {
  it('reads back every line in order: JSON with escaped breaks, non-ASCII, lines longer than a read', async () => {
    const lines = [
      JSON.stringify({ t: 'r', c: 'a', r: { note: 'two\nlines\r\n', name: 'Zoë 🌍', sep: '\u2028' } }),
      'x'.repeat(3 << 20),
      JSON.stringify({ t: 'b', ids: ['é'.repeat(700_000)] }),
      ...Array.from({ length: 50_000 }, (_, i) => JSON.stringify({ t: 'r', c: String(i), r: { i } })),
      '{"t":"s","ids":[]}',
    ];
    const { back, left } = await roundTrip(lines);
    expect(back.length).toBe(lines.length);
    expect(back).toEqual(lines);
    expect(left).toBe(0);
  });

  it('an empty staging reads back nothing and is removed', async () => {
    const { back, left } = await roundTrip([]);
    expect(back).toEqual([]);
    expect(left).toBe(0);
  });

  it('a line written after the lines were read back is refused, not lost', async () => {
    const { staging } = await openStaging();
    await staging.write(['{"t":"r","c":"a"}']);
    const back: string[] = [];
    for await (const batch of staging.batches()) for (const l of batch) back.push(l);
    await expect(staging.write(['{"t":"r","c":"b"}'])).rejects.toThrow(/after its lines were read back/);
    expect(back).toEqual(['{"t":"r","c":"a"}']);
    await staging.dispose();
  });

  it('dispose without reading removes the file', async () => {
    const { staging, folder } = await openStaging();
    await staging.write(['{"t":"r"}']);
    await staging.dispose();
    expect(existsSync(folder) && readdirSync(folder).length).toBe(0);
  });

  it('reads back lines that fill the buffer exactly, and characters cut by every read boundary', async () => {
    const lines: string[] = [];
    let offset = 0;
    const push = (line: string) => {
      lines.push(line);
      offset += Buffer.byteLength(line) + 1;
    };
    // 349,525 three-byte characters and the newline are exactly the buffer (and the first read); one more goes past.
    push('€'.repeat((BLOCK - 1) / 3));
    push('a');
    push('€'.repeat((BLOCK - 1) / 3 + 1));
    push('b');
    for (const unit of ['é', '€', '🌍', '\u2028'])
      for (let d = 0; d < 6; d++) {
        // Padded so the next line starts d + 1 bytes before the end of a read: its characters are cut there.
        const end = (Math.floor(offset / BLOCK) + 1) * BLOCK;
        let pad = end - (d + 1) - offset - 1;
        if (pad < 0) pad += BLOCK;
        push('y'.repeat(pad));
        expect(offset % BLOCK).toBe(BLOCK - d - 1);
        push(`${unit.repeat(8)}|${d}`);
      }
    // A line of three and a half reads, made of surrogate pairs and escaped lone surrogates.
    push(`${'🌍'.repeat(900_000)}${JSON.stringify('\ud800\udfff\udc00')}`);
    push(JSON.stringify({ lone: '\ud83c', sep: '\u2028\u2029', nul: '\u0000' }));
    const { back, left } = await roundTrip(lines);
    expect(back.length).toBe(lines.length);
    for (let i = 0; i < lines.length; i++) expect(back[i] === lines[i], `line ${i}`).toBe(true);
    expect(left).toBe(0);
  });

  it('writes called without waiting for the one before are written whole, in the order they were called', async () => {
    const { staging } = await openStaging();
    // Each batch fills the buffer more than once, so a write is pending while the next batch would be encoded.
    const batch = (tag: string) => Array.from({ length: 120 }, (_, i) => `${tag}${i}:${'é'.repeat(10_000)}`);
    const batches = ['a', 'b', 'c', 'd'].map(batch);
    await Promise.all(batches.map((b) => staging.write(b)));
    // Read back while a write is still pending: the pending write is in what is read.
    const last = staging.write(batch('e'));
    const back = await readBack(staging);
    await last;
    expect(back).toEqual([...batches.flat(), ...batch('e')]);
    await staging.dispose();
  });

  it('once a write failed, staging refuses to be written or read: the lines it lost are never missing silently', async () => {
    const { staging, folder } = await openStaging();
    const line = (i: number) => `${i}:${'x'.repeat(300_000)}`;
    await staging.write([line(0), line(1)]);
    vi.spyOn(await fileHandleProto(), 'write').mockRejectedValueOnce(new Error('ENOSPC: no space left on device'));
    // The buffer (line 1) is written when line 2 does not fit, and that write fails.
    await expect(staging.write([line(2), line(3)])).rejects.toThrow(/ENOSPC/);
    await expect(staging.write([line(4)])).rejects.toThrow(/ENOSPC/);
    await expect(readBack(staging)).rejects.toThrow(/ENOSPC/);
    await staging.dispose();
    expect(readdirSync(folder)).toEqual([]);
  });

  it('a write that fails as the lines are read back fails the reading, and reading again does too', async () => {
    const { staging, folder } = await openStaging();
    await staging.write(['{"t":"r","a":[0]}']);
    vi.spyOn(await fileHandleProto(), 'write').mockRejectedValueOnce(new Error('EIO: i/o error'));
    await expect(readBack(staging)).rejects.toThrow(/EIO/);
    await expect(readBack(staging)).rejects.toThrow(/EIO/);
    await staging.dispose();
    expect(readdirSync(folder)).toEqual([]);
  });

  it('a write that fails while the next lines are encoded fails the next write or the read-back, never silently', async () => {
    const { staging, folder } = await openStaging();
    const line = (i: number) => `${i}:${'x'.repeat(300_000)}`;
    vi.spyOn(await fileHandleProto(), 'write').mockRejectedValueOnce(new Error('ENOSPC: no space left on device'));
    // Lines 0–2 fill the first buffer; line 3 starts its write and goes into the second one. The write fails there.
    await staging.write([line(0), line(1), line(2), line(3)]).catch(() => undefined);
    await expect(readBack(staging)).rejects.toThrow(/ENOSPC/);
    await staging.dispose();
    expect(readdirSync(folder)).toEqual([]);
  });

  it('a read-back stopped after its first batch (the next read in flight) closes and removes the file', async () => {
    const { staging, folder } = await openStaging();
    const lines = Array.from({ length: 4_000 }, (_, i) => `${i}:${'é'.repeat(1_000)}`);
    await staging.write(lines);
    const seen: string[] = [];
    for await (const batch of staging.batches()) {
      seen.push(...batch);
      break;
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen).toEqual(lines.slice(0, seen.length));
    await staging.dispose();
    expect(readdirSync(folder)).toEqual([]);
  });

  it('a read-back asked for after dispose is refused, never an empty staging', async () => {
    const { staging, folder } = await openStaging();
    const writing = staging.write(Array.from({ length: 50 }, (_, i) => `${i}:${'é'.repeat(30_000)}`));
    const disposing = staging.dispose();
    await expect(readBack(staging)).rejects.toThrow(/read back after it was disposed/);
    await writing;
    await disposing;
    await expect(staging.write(['{"t":"r"}'])).rejects.toThrow(/written after it was disposed/);
    expect(readdirSync(folder)).toEqual([]);
  });

  it('dispose called twice removes the folder once, after the last write landed', async () => {
    const { staging, folder } = await openStaging();
    const proto = await fileHandleProto();
    const write = proto.write;
    let landedAfterRemoval = 0;
    vi.spyOn(proto, 'write').mockImplementation(async function (this: unknown, ...a: unknown[]) {
      await new Promise((r) => setTimeout(r, 5));
      const out = await write.apply(this, a);
      if (!existsSync(folder)) landedAfterRemoval++;
      return out;
    });
    const writing = staging.write(Array.from({ length: 200 }, (_, i) => `${i}:${'é'.repeat(10_000)}`));
    await Promise.all([staging.dispose(), staging.dispose()]);
    await writing;
    expect(landedAfterRemoval).toBe(0);
    expect(existsSync(folder) && readdirSync(folder).length).toBe(0);
  });

  it('dispose while a write is pending removes everything, and the write does not write into a removed file', async () => {
    const { staging, folder } = await openStaging();
    const writing = staging.write(Array.from({ length: 300 }, (_, i) => `${i}:${'é'.repeat(10_000)}`));
    await staging.dispose();
    await writing.catch(() => undefined);
    expect(readdirSync(folder)).toEqual([]);
  });
});

// Linux, as Lambda runs: the owner of a staging is looked up in /proc (elsewhere only by pid, which these tests do not cover).
describe.runIf(existsSync('/proc/self/stat'))('what a killed run staged', () => {
  /** A child process that opens a staging in `folder`, writes a few megabytes and waits to be killed. */
  function stagingChild(folder: string): Promise<ChildProcess> {
    const script = `
      const { fileStaging } = await import(${JSON.stringify(join(process.cwd(), 'functions/adapters/file-staging.ts'))});
      const staging = await fileStaging(${JSON.stringify(folder)})();
      await staging.write(Array.from({ length: 3000 }, (_, i) => '{"t":"r","n":' + i + ',"pad":"' + 'x'.repeat(1000) + '"}'));
      process.stdout.write('staged\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return new Promise((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('staged')) resolve(child);
      });
      child.on('exit', (code) => reject(new Error(`the staging child exited (${code}) before it staged`)));
    });
  }

  const stagings = (folder: string) => readdirSync(folder).filter((n) => n.startsWith('audience-sync-stage-'));
  /** This process's start time and pid namespace, as /proc shows them (the tests below need /proc, as Lambda has it). */
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const ns = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];

  it('a killed run whose parent never reaped it (a zombie) counts as gone', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'staging-test-'));
    dir = folder;
    // The shell execs into sleep, which never waits for the node child: once that exits it stays a zombie.
    const sh = spawn('sh', ['-c', `"${process.execPath}" -e "process.exit(0)" & echo $!; exec sleep 30`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const pid = await new Promise<number>((resolve) =>
        sh.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
      );
      let zombie: string[] = [];
      for (let i = 0; i < 100; i++) {
        const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
        zombie = st.slice(st.lastIndexOf(')') + 2).split(' ');
        if (zombie[0] === 'Z') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(zombie[0]).toBe('Z');
      const left = join(folder, `audience-sync-stage-${pid}-${zombie[19]}-${ns}-Zo1Mb2`);
      mkdirSync(left);
      const next = await fileStaging(folder)();
      expect(existsSync(left)).toBe(false);
      await next.dispose();
    } finally {
      sh.kill('SIGKILL');
    }
  });

  it('sweeps running at once in several processes remove each stale folder once, and report it once', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'staging-test-'));
    dir = folder;
    for (let i = 0; i < 60; i++) {
      const f = join(folder, `audience-sync-stage-${process.pid}-1-${ns}-S${String(i).padStart(5, '0')}`);
      mkdirSync(f);
      writeFileSync(join(f, 'stage.jsonl'), 'z'.repeat(100));
    }
    const script = `
      const { removeStaleStaging } = await import(${JSON.stringify(join(process.cwd(), 'functions/adapters/file-staging.ts'))});
      let n = 0, bytes = 0;
      removeStaleStaging(${JSON.stringify(folder)}, (_f, b) => { n++; bytes += b; });
      process.stdout.write(JSON.stringify({ n, bytes }));
    `;
    const runs = await Promise.all(
      Array.from({ length: 4 }, () => {
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          cwd: process.cwd(),
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
        });
        return new Promise<{ n: number; bytes: number }>((resolve) => child.on('exit', () => resolve(JSON.parse(out))));
      }),
    );
    expect(runs.reduce((a, r) => a + r.n, 0)).toBe(60);
    expect(runs.reduce((a, r) => a + r.bytes, 0)).toBe(6000);
    expect(stagings(folder)).toEqual([]);
  });

  it('kill -9 mid-staging leaves its folder; the next staging in the same place removes it and says how much it freed, while a live run’s staging is kept', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'staging-test-'));
    dir = folder;
    const killed = await stagingChild(folder);
    const running = await stagingChild(folder);
    try {
      const [killedOne] = stagings(folder).filter((n) => n.includes(`-${killed.pid}-`));
      expect(killedOne).toBeDefined();
      killed.kill('SIGKILL');
      await new Promise((r) => killed.once('exit', r));
      expect(stagings(folder)).toHaveLength(2); // nothing removes it by itself

      const freed: number[] = [];
      const next = await fileStaging(folder, { onStale: (_f, bytes) => freed.push(bytes) })();
      const left = stagings(folder);
      expect(left).toHaveLength(2); // the live child's and this one
      expect(left.some((n) => n === killedOne)).toBe(false);
      expect(left.some((n) => n.includes(`-${running.pid}-`))).toBe(true);
      expect(freed).toHaveLength(1);
      expect(freed[0]).toBeGreaterThan(1 << 20); // what reached the disk before the kill (the last megabyte was still being encoded)
      await next.dispose();
    } finally {
      running.kill('SIGKILL');
      killed.kill('SIGKILL');
    }
  });

  it('a folder of this pid made by an earlier process (a runtime restarted in its sandbox), or of a live pid used again, is removed; open stagings and unrelated folders are not', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'staging-test-'));
    dir = folder;
    const mine = await fileStaging(folder)();
    // The same pid as this process, another start time: what a Lambda runtime restarted under the same pid finds.
    const restarted = join(folder, `audience-sync-stage-${process.pid}-1-${ns}-Zz9Yy8`);
    // A live process's pid, another start time: the pid was used again after the run that staged there died.
    const reused = join(folder, `audience-sync-stage-${process.ppid}-2-${ns}-Qq7Rr6`);
    // Made in another pid namespace (a container sharing /tmp): its pids mean other processes; the hour rule applies.
    const otherNamespaceOld = join(folder, `audience-sync-stage-${process.pid}-1-1-Oo5Pp4`);
    const otherNamespaceFresh = join(folder, `audience-sync-stage-${process.pid}-1-1-Mm3Nn2`);
    for (const f of [restarted, reused, otherNamespaceOld, otherNamespaceFresh]) {
      mkdirSync(f);
      writeFileSync(join(f, 'stage.jsonl'), 'x'.repeat(10_000));
    }
    // Named before folders carried their pid: removed only once nothing changed in it for an hour.
    const oldUnowned = join(folder, 'audience-sync-stage-Ab12Cd');
    const freshUnowned = join(folder, 'audience-sync-stage-Ef34Gh');
    for (const f of [oldUnowned, freshUnowned]) {
      mkdirSync(f);
      writeFileSync(join(f, 'stage.jsonl'), 'y');
    }
    // An hour by the file system's clock (the test may run with a faked one, as the suite does two years ahead).
    const hourAgo = (statSync(join(freshUnowned, 'stage.jsonl')).mtimeMs - 61 * 60 * 1000) / 1000;
    for (const f of [oldUnowned, otherNamespaceOld]) {
      utimesSync(join(f, 'stage.jsonl'), hourAgo, hourAgo);
      utimesSync(f, hourAgo, hourAgo);
    }
    mkdirSync(join(folder, 'something-else'));

    const next = await fileStaging(folder)();
    const left = readdirSync(folder).sort();
    expect(left).not.toContain(`audience-sync-stage-${process.pid}-1-${ns}-Zz9Yy8`);
    expect(left).not.toContain(`audience-sync-stage-${process.ppid}-2-${ns}-Qq7Rr6`);
    expect(left).not.toContain(`audience-sync-stage-${process.pid}-1-1-Oo5Pp4`);
    expect(left).toContain(`audience-sync-stage-${process.pid}-1-1-Mm3Nn2`);
    expect(left).not.toContain('audience-sync-stage-Ab12Cd');
    expect(left).toContain('audience-sync-stage-Ef34Gh');
    expect(left).toContain('something-else');
    expect(left.filter((n) => n.startsWith(`audience-sync-stage-${process.pid}-${start}-${ns}-`))).toHaveLength(2); // mine, next
    // The open staging still works after the sweep.
    await mine.write(['{"t":"r"}']);
    expect(await readBack(mine)).toEqual(['{"t":"r"}']);
    await mine.dispose();
    await next.dispose();
  });
});
