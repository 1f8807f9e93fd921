/**
 * Meta custom audiences from a customer list: what the rest of the house needs to know about Meta, and nothing about
 * how to talk to it (that is ./adapter.ts).
 */
import { z } from 'zod';
import { applyRules } from '../../core/normalize/row';
import type { DestinationPolicy, PlatformSpec } from '../../core/platform';
import { toSchemaRows } from '../../core/sync-plan';
import { META_KEY_ORDER, META_RULES } from './keys';

export const metaDestinationSchema = z.strictObject({
  platform: z.literal('meta'),
  /** `act_<digits>`; may be left out locally and given as META_AD_ACCOUNT_ID. */
  adAccountId: z
    .string()
    .regex(/^act_\d+$/, 'write the ad account as act_<digits>')
    .optional(),
  customerFileSource: z
    .enum(['USER_PROVIDED_ONLY', 'PARTNER_PROVIDED_ONLY', 'BOTH_USER_AND_PARTNER_PROVIDED'])
    .default('USER_PROVIDED_ONLY'),
  /** A full `usersreplace` every N days heals drift; 0 turns it off. */
  replaceEveryDays: z.number().int().nonnegative().default(30),
  /** Recreate an audience that was deleted in Ads Manager (else alert and skip). */
  recreateDeleted: z.boolean().default(true),
  /** Secrets Manager secret holding the access token (cloud); the stack creates one per destination when absent. */
  tokenSecretName: z.string().min(1).optional(),
});
export type MetaDestinationConfig = z.output<typeof metaDestinationSchema>;

export const metaPlatform: PlatformSpec<MetaDestinationConfig> = {
  id: 'meta',
  displayName: 'Meta (Facebook, Instagram)',
  schema: metaDestinationSchema,
  keyOrder: META_KEY_ORDER,
  matchKeys: (row) => applyRules(META_RULES, row),
  // At most 10,000 records per call (Marketing API); calls per ad account are paced on the usage header.
  // A replace session is closed 90 minutes after its first batch, and applied with what it received.
  // Concurrency 4 per ad account: Meta limits calls per ad account per hour (190,000 + 40 × audiences on standard
  // access), not calls at once, and 4 workers making one call each at a time stay far below it (14,400/h at 1 s a
  // call); every worker reads the same per-account usage header and pauses from 75 %. Parallel /users calls never
  // conflict on members: shards hold disjoint cids, every removal ends before the first addition, and a replace
  // session (which refuses /users while open) never runs beside them — it streams alone in the finish step.
  limits: { maxBatchSize: 10_000, concurrency: 4, replaceWindowMs: 90 * 60_000 },
  // About 100 matched people is the usable minimum.
  minAudienceSize: 100,
  capabilities: {
    fullReplace: true,
    lookalike: true,
    sizeReadBack: true,
    consentFields: false,
    deviceIds: true,
    createAudience: true,
    deleteAudience: true,
  },
  policy: (d): DestinationPolicy => ({ replaceEveryDays: d.replaceEveryDays, recreateDeleted: d.recreateDeleted }),
  secret: {
    description: 'Meta system-user access token with ads_management (plain, or JSON {"accessToken": "…"})',
    defaultName: (id) => `audience-sync/${id}/meta-access-token`,
    nameField: 'tokenSecretName',
  },
  // The /users body: a multi-key schema and rows in schema order ("" for an unknown value).
  dryRun: (_op, _audience, batch) => ({
    requests: [{ payload: toSchemaRows(batch, META_KEY_ORDER) }],
    received: batch.length,
    invalid: 0,
  }),
};
