/**
 * Property tests explore new random cases on every local run (that is how they find bugs); in CI they replay a fixed
 * seed so a landing never depends on luck. Set FC_SEED to replay a reported failure.
 */
import fc from 'fast-check';

const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : process.env.CI ? 20261122 : undefined;
if (seed !== undefined) fc.configureGlobal({ seed });
