/**
 * A destination that sends nothing: every request body that would travel is appended to
 * `<dir>/<platform>/<audience>.jsonl` as `{"op":"add"|"remove","payload":{…}}`. Payloads are hashes only (Google's
 * country and postal codes travel in clear, as they would). For Google the payload is the exact
 * `audienceMembers:ingest` / `:remove` body, with an `endpoint` beside it; members the live adapter would drop are
 * dropped and counted here too. It confirms every batch, so a second local run sends only what changed.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Platform } from '../core/config';
import { META_KEYS } from '../core/model';
import type { AudienceRef, BatchMember, BatchOutcome, Destination } from '../core/ports';
import { toSchemaRows } from '../core/sync-plan';
import {
  type GoogleDestinationSettings,
  googleRequestBodies,
  prepareMembers,
  termsNotConfirmed,
} from './google-destination';

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
  readonly maxBatchSize: number;
  private readonly dir: string;

  constructor(
    readonly platform: Platform,
    outDir: string,
    maxBatchSize = 10_000,
    /** For `google`: the destination's settings, so bodies are the ones GoogleDestination would send. */
    private readonly google?: GoogleDestinationSettings,
  ) {
    this.maxBatchSize = maxBatchSize;
    this.dir = join(outDir, platform);
    mkdirSync(this.dir, { recursive: true });
  }

  private write(audience: AudienceRef, op: 'add' | 'remove', batch: BatchMember[]): BatchOutcome {
    if (this.platform === 'google' && this.google) return this.writeGoogle(audience, op, batch, this.google);
    const payload = this.platform === 'meta' ? toSchemaRows(batch, META_KEYS) : { members: batch.map((m) => m.keys) };
    appendFileSync(join(this.dir, `${slug(audience.name)}.jsonl`), `${JSON.stringify({ op, payload })}\n`);
    return { received: batch.length, invalid: 0 };
  }

  private writeGoogle(
    audience: AudienceRef,
    op: 'add' | 'remove',
    batch: BatchMember[],
    settings: GoogleDestinationSettings,
  ): BatchOutcome {
    if (op === 'add' && !settings.termsAccepted) throw termsNotConfirmed(settings.operatingAccountId);
    const file = join(this.dir, `${slug(audience.name)}.jsonl`);
    for (const { endpoint, body } of googleRequestBodies(settings, audience.id, op, batch))
      appendFileSync(file, `${JSON.stringify({ op, endpoint, payload: body })}\n`);
    const prepared = prepareMembers(batch, op === 'add' ? 'ingest' : 'remove', settings.consent);
    return {
      received: prepared.members.length,
      invalid: prepared.dropped,
      ...(prepared.problems.length > 0 ? { invalidFields: prepared.problems } : {}),
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
}
