/**
 * `npm run prove:phones [-- <cases> <seed>]`: the phone fast path's proof on a million generated numbers (default)
 * of every country and shape: the compiled numbering plans must never disagree with libphonenumber-js, and
 * normalizePhone never with the implementation that asked libphonenumber every time. Prints a summary and one
 * `PHONES {json}` line; exits 1 on any disagreement. (npm test runs the same proof on 25,000 numbers.)
 */
import { provePhones } from '../test/unit/normalize/phone-proof';

const cases = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 1);
const t0 = performance.now();
const p = provePhones(cases, seed);
const seconds = (performance.now() - t0) / 1000;
const out = (s: string) => process.stdout.write(`${s}\n`);
out(`phones: ${p.cases.toLocaleString('en-US')} generated numbers (seed ${seed}) in ${seconds.toFixed(1)} s`);
out(
  `  clean digit strings: ${p.clean.toLocaleString('en-US')}; decided by the compiled plans: ${p.decided.toLocaleString('en-US')} (${((100 * p.decided) / Math.max(1, p.clean)).toFixed(1)} %), the rest by libphonenumber`,
);
for (const [shape, [d, c]] of Object.entries(p.decidedByShape))
  out(
    `    ${shape.padEnd(15)} ${((100 * d) / Math.max(1, c)).toFixed(1).padStart(5)} % of ${c.toLocaleString('en-US')}`,
  );
out(`  valid after normalizePhone: ${p.valid.toLocaleString('en-US')}`);
out(
  `  disagreements: plans vs libphonenumber ${p.planDisagreements.length}, normalizePhone vs before ${p.normalizeDisagreements.length}`,
);
for (const d of [...p.planDisagreements, ...p.normalizeDisagreements].slice(0, 10)) out(`    ${JSON.stringify(d)}`);
out(
  `PHONES ${JSON.stringify({ cases: p.cases, seed, clean: p.clean, decided: p.decided, planDisagreements: p.planDisagreements.length, normalizeDisagreements: p.normalizeDisagreements.length, seconds: Math.round(seconds * 10) / 10 })}`,
);
process.exitCode = p.planDisagreements.length + p.normalizeDisagreements.length > 0 ? 1 : 0;
