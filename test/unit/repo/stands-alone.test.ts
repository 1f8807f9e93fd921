/**
 * A clone of the public repository has nothing beside it: no code, test or script may read outside the repository.
 * Scans every tracked text file (docs excepted) for paths that leave it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

// Built from parts so this file does not match itself.
const OUTSIDE = [['..', 'shared'].join('/'), ['shared', 'samples'].join('/'), ['', 'work', ''].join('/')];

it('reads nothing outside the repository', () => {
  const files = execFileSync('git', ['ls-files'], { encoding: 'utf8' })
    .split('\n')
    .filter((f) => /\.(ts|js|json|ya?ml|sh)$/.test(f) || f.startsWith('.ci/'));
  const hits: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue; // deleted in the working tree
    }
    for (const needle of OUTSIDE) if (text.includes(needle)) hits.push(`${f}: ${needle}`);
  }
  expect(hits).toEqual([]);
});
