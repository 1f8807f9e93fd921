/**
 * Runs the embedded AWS servers (startEmbeddedAws: dynalite in memory + s3rver) in their own process, so that
 * the ingest worker's CPU and peak RSS are its own, as they would be against the real DynamoDB.
 * Prints one JSON line `{ env }` when ready; when stdin closes it shuts down and prints `{ maxRssMB, cpuSeconds }`.
 */
import { startEmbeddedAws } from '../bin/local/embedded';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const table = process.argv[2] ?? 'bench-contacts';
const aws = await startEmbeddedAws(undefined, { table });
process.stdout.write(`${JSON.stringify({ env: aws.env })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await aws.close();
  const u = process.resourceUsage();
  const cpuSeconds = (u.userCPUTime + u.systemCPUTime) / 1e6;
  process.stdout.write(`${JSON.stringify({ maxRssMB: u.maxRSS / 1024, cpuSeconds })}\n`);
  process.exit(0);
});
