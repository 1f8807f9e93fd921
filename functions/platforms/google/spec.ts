/**
 * Google Customer Match through the Data Manager API: keys, limits and capabilities. How to talk to it is ./adapter.ts.
 */
import { z } from 'zod';
import { googleKeysOf } from '../../core/normalize/google';
import type { PlatformSpec } from '../../core/platform';
import { GOOGLE_KEY_ORDER } from './keys';

export const googleDestinationSchema = z.strictObject({
  platform: z.literal('google'),
  /** The Google Ads account that owns the Customer Match list (digits, no dashes). */
  operatingAccountId: z
    .string()
    .regex(/^\d{10}$/, 'write the Google Ads customer id as 10 digits without dashes')
    .optional(),
  /** The manager account the credentials log in through, when the list's account is reached via a manager. */
  loginAccountId: z
    .string()
    .regex(/^\d{10}$/, 'write the Google Ads customer id as 10 digits without dashes')
    .optional(),
  /** The Customer Match user list id (create the list in Google Ads: Tools → Audience manager → Customer list). */
  userListId: z.string().regex(/^\d+$/, 'write the user list id as digits').optional(),
  /** Secrets Manager secret holding the service-account key (JSON); the stack creates one per destination when absent. */
  credentialsSecretName: z.string().min(1).optional(),
});
export type GoogleDestinationConfig = z.output<typeof googleDestinationSchema>;

export const googlePlatform: PlatformSpec<GoogleDestinationConfig> = {
  id: 'google',
  displayName: 'Google Customer Match (Data Manager API)',
  schema: googleDestinationSchema,
  keyOrder: GOOGLE_KEY_ORDER,
  matchKeys: googleKeysOf,
  // 10,000 members a request; 300 requests a minute per Cloud project.
  limits: { maxBatchSize: 10_000, concurrency: 2, requestsPerMinute: 300 },
  // Lists serve from about 1,000 members on most surfaces.
  minAudienceSize: 1000,
  capabilities: {
    fullReplace: false,
    lookalike: false,
    sizeReadBack: false,
    consentFields: true,
    deviceIds: false,
    createAudience: false,
    deleteAudience: false,
  },
  policy: () => ({ replaceEveryDays: 0, recreateDeleted: false }),
  secret: {
    description: 'Google service-account key (JSON) with access to the Data Manager API',
    defaultName: (id) => `audience-sync/${id}/google-service-account`,
    nameField: 'credentialsSecretName',
  },
  dryRunBody: (op, audience, batch) => ({
    op,
    destinations: [{ productDestinationId: audience.id }],
    audienceMembers: batch.map((m) => m.keys),
  }),
};
