/**
 * What an ad platform declares to the rest of the house. Core never names a platform: it asks a PlatformSpec, handed
 * in through a registry (functions/platforms/registry.ts), for its keys, limits, capabilities and policy.
 */
import type { z } from 'zod';
import type { KeysResult, RowContext } from './normalize/row';
import type { BatchMember } from './ports';

/** What a platform can do; core plans around these instead of probing config fields. */
export interface PlatformCapabilities {
  /** Replaces every member in one session (Meta `usersreplace`), which heals drift. */
  fullReplace: boolean;
  /** Builds lookalike audiences from a seed audience. */
  lookalike: boolean;
  /** Reports the audience's size back (approximate counts). */
  sizeReadBack: boolean;
  /** Members carry consent fields (Google `adUserData` / `adPersonalization`). */
  consentFields: boolean;
  /** Takes mobile advertiser ids (MADID, IDFA, GAID). */
  deviceIds: boolean;
  /** Creates audiences itself; otherwise the destination names an existing list. */
  createAudience: boolean;
  /** Deletes an audience (orphaned audiences under the `delete` policy). */
  deleteAudience: boolean;
}

/** A destination's answers to the questions core asks of every destination. */
export interface DestinationPolicy {
  /** A full replace every N days (0: never), where the platform can replace. */
  replaceEveryDays: number;
  /** Recreate an audience that was deleted on the platform (else alert and skip). */
  recreateDeleted: boolean;
}

/** The secret a destination reads its credentials from (Secrets Manager in the cloud). */
export interface SecretSpec {
  /** What the secret holds, for the operator (stack output description, errors). */
  description: string;
  /** The secret name the stack creates for a destination that names none. */
  defaultName(destinationId: string): string;
  /** The config field that names an existing secret instead. */
  nameField: string;
}

/** A destination config of some platform: `platform` plus the platform's own fields. */
export interface DestinationConfigBase {
  platform: string;
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds specs of different config types.
export interface PlatformSpec<C extends DestinationConfigBase = any> {
  id: string;
  displayName: string;
  /** zod schema of one destination of this platform (`platform: '<id>'` included, strict). */
  schema: z.ZodType<C>;
  /** The platform's key names in the order its requests list them. */
  keyOrder: readonly string[];
  /** The platform's own normalization and hashing of one row (its own variant of each rule). */
  matchKeys(row: RowContext): KeysResult<string>;
  /**
   * Members per request, requests that may run at once against one account, and how long a full-replace session
   * may stay open before the platform applies what it received (Meta: 90 minutes; unbounded when absent).
   */
  limits: { maxBatchSize: number; concurrency: number; requestsPerMinute?: number; replaceWindowMs?: number };
  /** Below this many members the platform does not serve an audience, so additions wait. */
  minAudienceSize: number;
  capabilities: PlatformCapabilities;
  policy(dest: C): DestinationPolicy;
  secret: SecretSpec;
  /**
   * What a dry run writes for one batch: the requests exactly as they would travel (hashes only), and the outcome the
   * platform would report (members it would drop count as invalid).
   */
  dryRun(
    op: 'add' | 'remove',
    audience: { id: string; name: string },
    batch: readonly BatchMember[],
    dest: C,
  ): DryRunBatch;
  /** Extra config checks zod cannot express (cross-field), each an operator-facing message. */
  check?(dest: C, destinationId: string): string[];
}

/** A dry-run batch: one entry per request that would be sent, and the platform's outcome. */
export interface DryRunBatch {
  requests: Array<Record<string, unknown>>;
  received: number;
  invalid: number;
  invalidFields?: string[];
}

/** Platforms by id. */
export type PlatformRegistry = Readonly<Record<string, PlatformSpec>>;

/** A platform of the registry by its id: own entries only (`constructor` or `toString` is no platform). */
export function platformOf(platforms: PlatformRegistry, platform: string): PlatformSpec | undefined {
  return Object.hasOwn(platforms, platform) ? platforms[platform] : undefined;
}

/** The spec of a destination's platform; throws with the list of known platforms (config validation prevents it). */
export function specOf(platforms: PlatformRegistry, platform: string): PlatformSpec {
  const spec = platformOf(platforms, platform);
  if (!spec)
    throw new Error(`platform "${platform}" is not available (available: ${Object.keys(platforms).join(', ')})`);
  return spec;
}

/** The platforms a config's destinations use, in id order: keys are computed for these only. */
export function platformsInUse(
  destinations: Readonly<Record<string, DestinationConfigBase>>,
  platforms: PlatformRegistry,
): PlatformSpec[] {
  const ids = [...new Set(Object.values(destinations).map((d) => d.platform))].sort();
  return ids.map((id) => specOf(platforms, id));
}
