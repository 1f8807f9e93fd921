/**
 * Substack: the publication export's `email_list.<pub>.csv` (current and 2021 headers), the separate paid
 * "Subscribers" export, and the dashboard Subscribers table export (display-formatted: `$50.00`, star ratings).
 */
import { statusWord } from './status-words';
import type { FormatSpec } from './types';

/** Readers who asked Substack to delete their data show up as `…@deletion-request.substack.com`. */
export const SUBSTACK_DELETION_DOMAIN = '@deletion-request.substack.com';

// `plan` other = free; `type` comp/gift are complimentary, not paying.
const UNPAID = new Set(['other', 'free', 'comp', 'gift', 'complimentary', 'none']);
const PAID = /\b(paid|founding|monthly|yearly|annual|annually)\b/;

export const substack: FormatSpec = {
  id: 'substack',
  displayName: 'Substack subscriber export',
  fields: [
    { field: 'email', headers: ['email', 'Email'] },
    { field: 'fullName', headers: ['Name'] },
    // true when the reader turned email off: the inverse of subscribed.
    { field: 'emailDisabled', headers: ['email_disabled'] },
    { field: 'activeSubscription', headers: ['active_subscription'] },
    // email list `plan` (other/monthly/yearly…), paid export `type` (paid/comp/gift), dashboard `Subscription type`.
    { field: 'plan', headers: ['plan', 'type', 'Subscription type'] },
    { field: 'expiresAt', headers: ['expiry', 'Expires at'] },
    { field: 'signupAt', headers: ['created_at', 'Subscription date'] },
    // Activity: Substack's 0–5 star engagement rating.
    { field: 'rating', headers: ['Activity'], scale: 5 },
    // Display-formatted money: `$50.00`.
    { field: 'spend', headers: ['Revenue'] },
    { field: 'country', headers: ['Subscriber country'] },
    { field: 'opens', headers: ['Email opens (last 6 months)'] },
    { field: 'clicks', headers: ['Link clicks'] },
    { field: 'lastOpenAt', headers: ['Email last opened at'] },
    { field: 'lastClickAt', headers: ['Last clicked at'] },
  ],
  fingerprint: {
    signals: [
      ['active_subscription', 1.5],
      ['email_disabled', 2],
      ['prefer_digests', 1],
      ['stripe_connected_customer_id', 1.5],
      ['first_payment_at', 1],
      ['expiry', 0.5],
      [/^plan$/, 0.25],
      [/^type$/, 0.25],
      ['Subscription type', 1],
      [/^Activity$/, 0.5],
      ['Subscription date', 0.5],
      ['Subscriber country', 1],
      ['Email opens (last 6 months)', 1],
      ['Email last opened at', 1],
      ['Unique emails seen (last 6 months)', 1],
      ['Post views (last 6 months)', 1],
      ['Subscriptions gifted', 1],
      ['Subscription source (free)', 1],
      ['Receiving emails for', 1],
      ['Is Bestseller', 1],
    ],
  },
  // email_disabled true → unsubscribed (inverted flag); otherwise an active reader who signed up (an opt-in).
  consent(row) {
    return row.bool('emailDisabled') === true ? { consent: 'unsubscribed' } : { consent: 'subscribed', optIn: true };
  },
  /**
   * paid: `active_subscription` true on a plan that is not `other`/free; without that column, the plan or type word
   * (`paid`, `monthly`, `yearly`, `founding` → paid; `comp`, `gift`, `other`, `free` → not). An expiry before `now` → not paid.
   */
  derive(row, ctx) {
    const plan = row.text('plan');
    const word = plan === undefined ? undefined : statusWord(plan);
    const planPaid = word === undefined ? undefined : UNPAID.has(word) ? false : PAID.test(word) ? true : undefined;
    let paid = row.has('activeSubscription') ? row.bool('activeSubscription') === true && planPaid !== false : planPaid;
    if (paid && ctx.expiresAt !== undefined && ctx.expiresAt < ctx.now) paid = false;
    const out: { plan?: string; paid?: boolean } = {};
    if (plan !== undefined) out.plan = plan;
    if (paid !== undefined) out.paid = paid;
    return out;
  },
};
