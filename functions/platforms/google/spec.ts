/**
 * Google Customer Match through the Data Manager API: keys, limits and capabilities. How to talk to it is ./adapter.ts,
 * the request bodies are ./requests.ts.
 */
import { z } from 'zod';
import { googleKeysOf } from '../../core/normalize/google';
import type { PlatformSpec } from '../../core/platform';
import { GOOGLE_KEY_ORDER } from './keys';
import { googleRequestBodies, googleSettings, prepareMembers } from './requests';

const googleAdsId = z.string().regex(/^\d{3}-?\d{3}-?\d{4}$/, 'write a Google Ads customer id like 123-456-7890');

export const googleDestinationSchema = z.strictObject({
  platform: z.literal('google'),
  /** The Google Ads account that owns the lists; may be left out locally and given as GOOGLE_ADS_ACCOUNT_ID. */
  operatingAccountId: googleAdsId.optional(),
  /** The manager account the service account was added to, when it is not a user of the operating account. */
  loginAccountId: googleAdsId.optional(),
  linkedAccountId: googleAdsId.optional(),
  /** Lists created in Google Ads: audience name → user list id. Other audiences are found by name or created. */
  userListIds: z.record(z.string().min(1), z.string().regex(/^\d+$/, 'a user list id is digits')).optional(),
  createLists: z.boolean().default(true),
  /** How long Google keeps a member after its last upload (whole days, at most 540). */
  membershipDurationDays: z.number().int().min(1).max(540).default(540),
  /** A person accepted the Customer Match terms for this account in Google Ads. Nothing is added until then. */
  customerMatchTermsAccepted: z.boolean().default(false),
  /**
   * Everyone the consent policy admits granted ad_user_data and ad_personalization (sent as request-level consent).
   * Members in the EEA, the UK and Switzerland carry their own consent, derived from what their source recorded.
   */
  consentGranted: z.boolean().default(false),
  /** A full replace (re-send everyone, then removeAll of those not re-sent) every N days; 0 turns it off. */
  replaceEveryDays: z.number().int().nonnegative().default(30),
  /** Secrets Manager secret holding the service-account JSON key (cloud); the stack creates one when absent. */
  keySecretName: z.string().min(1).optional(),
});
export type GoogleDestinationConfig = z.output<typeof googleDestinationSchema>;

export const googlePlatform: PlatformSpec<GoogleDestinationConfig> = {
  id: 'google',
  displayName: 'Google Customer Match',
  schema: googleDestinationSchema,
  keyOrder: GOOGLE_KEY_ORDER,
  matchKeys: googleKeysOf,
  // 10,000 members a request; 300 requests a minute and 100,000 a day per Cloud project. Concurrency 4: four workers
  // making one call at a time stay under 300 a minute unless a call takes less than 0.8 s, which 10,000 members don't.
  limits: { maxBatchSize: 10_000, concurrency: 4, requestsPerMinute: 300 },
  // Lists serve from about 1,000 members on most surfaces.
  minAudienceSize: 1000,
  capabilities: {
    fullReplace: true,
    lookalike: false,
    sizeReadBack: false,
    consentFields: true,
    deviceIds: false,
    createAudience: true,
    deleteAudience: false,
  },
  // A list Google deleted is not recreated behind the operator's back: it may have been removed on purpose.
  policy: (d) => ({ replaceEveryDays: d.replaceEveryDays, recreateDeleted: false }),
  secret: {
    description: 'Google service-account key (the JSON file) with access to the Data Manager API',
    defaultName: (id) => `audience-sync/${id}/google-service-account`,
    nameField: 'keySecretName',
  },
  dryRun(op, audience, batch, dest) {
    const settings = googleSettings(dest);
    const prepared = prepareMembers(batch, op === 'add' ? 'ingest' : 'remove', settings.consent);
    return {
      requests: googleRequestBodies(settings, audience.id, op, batch).map(({ endpoint, body }) => ({
        endpoint,
        payload: body,
      })),
      received: prepared.members.length,
      invalid: prepared.dropped,
      ...(prepared.problems.length ? { invalidFields: prepared.problems } : {}),
    };
  },
};
