/**
 * A destination that sends nothing: every request body that would travel is appended to
 * `<dir>/<platform>/<audience>.jsonl` as `{"op":"add"|"remove", …the platform's request body}`. Hashes only.
 * It confirms every batch, so a second local run sends only what changed, exactly like a real platform.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DestinationConfigBase, PlatformSpec } from '../core/platform';
import type { AudienceRef, BatchMember, BatchOutcome, Destination } from '../core/ports';

/** File-name-safe slug of an audience name. */
export const slug = (name: string) =>
  name
    .normalize('NFKD')
    .replace(/[^\w\s-]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-')
    .slice(0, 80) || 'audience';

export class DryRunDestination implements Destination {
  readonly platform: string;
  readonly maxBatchSize: number;
  private readonly dir: string;

  constructor(
    private readonly spec: PlatformSpec,
    outDir: string,
    private readonly destination: DestinationConfigBase,
    maxBatchSize = spec.limits.maxBatchSize,
  ) {
    this.platform = spec.id;
    this.maxBatchSize = maxBatchSize;
    this.dir = join(outDir, spec.id);
    mkdirSync(this.dir, { recursive: true });
  }

  private write(audience: AudienceRef, op: 'add' | 'remove', batch: BatchMember[]): BatchOutcome {
    // The platform's own requests, exactly as they would travel.
    const dry = this.spec.dryRun(op, audience, batch, this.destination);
    const file = join(this.dir, `${slug(audience.name)}.jsonl`);
    for (const request of dry.requests) appendFileSync(file, `${JSON.stringify({ op, ...request })}\n`);
    return {
      received: dry.received,
      invalid: dry.invalid,
      ...(dry.invalidFields ? { invalidFields: dry.invalidFields } : {}),
    };
  }

  async ensureAudience(spec: { name: string; knownId?: string }) {
    return { ref: { id: spec.knownId ?? `dry-run:${slug(spec.name)}`, name: spec.name }, created: !spec.knownId };
  }

  async add(audience: AudienceRef, batch: BatchMember[]) {
    return this.write(audience, 'add', batch);
  }

  async remove(audience: AudienceRef, batch: BatchMember[]) {
    return this.write(audience, 'remove', batch);
  }

  async deleteAudience(audience: AudienceRef) {
    appendFileSync(join(this.dir, `${slug(audience.name)}.jsonl`), `${JSON.stringify({ op: 'delete' })}\n`);
  }
}
