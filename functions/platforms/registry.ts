/**
 * Every ad platform, registered the way export formats are (functions/core/formats/registry.ts). Adding a platform is
 * one folder under functions/platforms/ plus one line here and one in ./adapters.ts.
 */
import type { PlatformRegistry } from '../core/platform';
import { googlePlatform } from './google/spec';
import { metaPlatform } from './meta/spec';

export const PLATFORMS: PlatformRegistry = {
  meta: metaPlatform,
  google: googlePlatform,
};
