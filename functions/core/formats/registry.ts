/** Every supported format, in detection order (ties fall back to generic, so order never decides). */
import { activecampaign } from './activecampaign';
import { beehiiv } from './beehiiv';
import { brevo } from './brevo';
import { campaignMonitor } from './campaign-monitor';
import { constantContact } from './constant-contact';
import { generic } from './generic';
import { hubspot } from './hubspot';
import { kit } from './kit';
import { klaviyo } from './klaviyo';
import { mailchimp } from './mailchimp';
import { mailerlite } from './mailerlite';
import { metaTemplate } from './meta-template';
import { shopify } from './shopify';
import { substack } from './substack';
import { FORMAT_IDS, type FormatId, type FormatSpec } from './types';

export const FORMAT_SPECS: Readonly<Record<FormatId, FormatSpec>> = {
  mailchimp,
  klaviyo,
  hubspot,
  brevo,
  activecampaign,
  kit,
  substack,
  beehiiv,
  mailerlite,
  campaign_monitor: campaignMonitor,
  constant_contact: constantContact,
  shopify,
  meta_template: metaTemplate,
  generic,
};

/** Supported formats with their display names (for config validation, docs and reports). */
export const FORMATS: readonly { id: FormatId; displayName: string }[] = FORMAT_IDS.map((id) => ({
  id,
  displayName: FORMAT_SPECS[id].displayName,
}));

export function isFormatId(value: unknown): value is FormatId {
  return typeof value === 'string' && (FORMAT_IDS as readonly string[]).includes(value);
}
