/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and self time grouped by
 * pipeline stage (by source file). Usage: tsx bench/profile-top.ts <file.cpuprofile> [topN]
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [, , path, topArg] = process.argv;
if (!path) throw new Error('usage: profile-top.ts <file.cpuprofile> [topN]');
const prof = JSON.parse(readFileSync(path, 'utf8')) as Profile;
const topN = Number(topArg ?? 25);

// Frames of a bundle (the bench runs bundled) are mapped back to their source file through the bundle's source map.
const maps = new Map<string, SourceMap | undefined>();
function sourceMapOf(url: string): SourceMap | undefined {
  if (!url.startsWith('file://')) return undefined;
  if (!maps.has(url)) {
    const path = `${fileURLToPath(url)}.map`;
    maps.set(url, existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8'))) : undefined);
  }
  return maps.get(url);
}
for (const n of prof.nodes) {
  const map = sourceMapOf(n.callFrame.url);
  if (!map) continue;
  const e = map.findEntry(n.callFrame.lineNumber, n.callFrame.columnNumber ?? 0) as {
    originalSource?: string;
    originalLine?: number;
  };
  if (e?.originalSource) {
    n.callFrame.url = e.originalSource;
    n.callFrame.lineNumber = e.originalLine ?? n.callFrame.lineNumber;
  }
}

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from samples × deltas.
const self = new Map<number, number>();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i]!;
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

const short = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, 'nm:')
    .replace(/^.*?\/(functions|bench|bin|test)\//, '$1/');

const fnSelf = new Map<string, number>();
for (const [id, t] of self) {
  const n = byId.get(id)!;
  const key = `${n.callFrame.functionName || '(anonymous)'}  ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  fnSelf.set(key, (fnSelf.get(key) ?? 0) + t);
}

function stage(url: string, fn: string): string {
  const u = short(url);
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)' || fn === '(program)') return fn;
  if (u.startsWith('nm:libphonenumber-js')) return 'phone (libphonenumber-js)';
  if (u.includes('normalize/phone')) return 'phone (normalize/phone.ts)';
  if (u.includes('normalize/hash') || fn === 'hash') return 'hashing';
  if (u.includes('core/normalize/')) return `normalize (${u.split('/').pop()})`;
  if (u.includes('core/formats/')) return `detect+map (${u.split('/').pop()})`;
  if (u.includes('core/ingest') || u.includes('compact-index')) return `ingest (${u.split('/').pop()})`;
  if (u.startsWith('nm:csv-parse') || u.includes('functions/reading/'))
    return `reading (${u.replace(/^nm:/, '').split('/').slice(0, 2).join('/')})`;
  if (u.startsWith('node:') || u === '') return `node internals/native (${fn || 'anon'})`;
  if (u.startsWith('nm:')) return `deps (${u.slice(3).split('/')[0]})`;
  return u;
}

// Inclusive time per stage: attribute each sample to the innermost frame that belongs to a project stage, so
// native work (e.g. crypto.hash, RegExp) is charged to the caller that asked for it.
const stageSelf = new Map<string, number>();
for (const [id, t] of self) {
  let cur: number | undefined = id;
  let label: string | undefined;
  while (cur !== undefined) {
    const n = byId.get(cur)!;
    const s = stage(n.callFrame.url, n.callFrame.functionName);
    if (!s.startsWith('node internals') && s !== '(program)') {
      label = s;
      break;
    }
    cur = parent.get(cur);
  }
  const n = byId.get(id)!;
  label ??= stage(n.callFrame.url, n.callFrame.functionName);
  stageSelf.set(label, (stageSelf.get(label) ?? 0) + t);
}

const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
const ms = (t: number) => `${(t / 1000).toFixed(0).padStart(6)} ms`;
console.log(`profile ${path}: ${(total / 1e6).toFixed(2)} s sampled`);
console.log('\nby stage (native work charged to the nearest project/library caller):');
for (const [k, t] of [...stageSelf].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${pct(t)} ${ms(t)}  ${k}`);
console.log(`\ntop ${topN} functions by self time:`);
for (const [k, t] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, topN)) console.log(`${pct(t)} ${ms(t)}  ${k}`);
