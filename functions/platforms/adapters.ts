/**
 * How each platform's adapter is built from its destination config and its secret. One line per platform, as in
 * ./registry.ts; the rest of the house builds destinations through `buildDestinations` and names no platform.
 */
import type { DestinationConfigBase } from '../core/platform';
import type { Destination } from '../core/ports';
import { googleAdapter } from './google/factory';
import { metaAdapter } from './meta/factory';

export interface AdapterContext {
  destinationId: string;
  /** The destination's secret as stored (Secrets Manager in the cloud, the environment locally). */
  secret: string;
  /** Local-only settings (test servers, account ids) from the environment. */
  env: Readonly<Record<string, string | undefined>>;
  /** `sync --dry-run` with credentials: let the platform check requests without changing anything, where it can. */
  validateOnly?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds factories of different config types.
export interface PlatformAdapter<C extends DestinationConfigBase = any> {
  /** Environment variables that hold this platform's credentials for local runs (the first that is set wins). */
  localSecretEnv: readonly string[];
  /** Builds the adapter; throws a DestinationError (config, auth) when the destination cannot work. */
  create(dest: C, ctx: AdapterContext): Destination;
}

export const ADAPTERS: Readonly<Record<string, PlatformAdapter>> = {
  meta: metaAdapter,
  google: googleAdapter,
};
