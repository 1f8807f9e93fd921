// A pool worker script that never starts serving: it ends at once (for pool.test.ts).
process.exit(3);
