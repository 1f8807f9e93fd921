/**
 * The sync report page people look at: what needs attention first (with the action to take), then per audience
 * what changed, the platform's size, match-key coverage and inline-SVG charts of the last runs, then per segment who
 * was excluded and why, in words. Counts, reasons and key names only: no PII is ever in a report. Every value is
 * escaped; the page loads nothing (no scripts, fonts, images or stylesheets from elsewhere).
 */

import { describeExclusion } from '../core/segments';
import type { AudienceReport, SyncReport } from '../core/sync';
import {
  type AudienceHistory,
  audienceHistories,
  audienceKey,
  reportedRange,
  type SegmentCoverage,
} from './report-data';
import { changesChart, esc, shareBar, sizeChart } from './report-svg';
import { alertAction, describeKey, describeStatus, num, pct } from './report-words';

export { esc };

const CSS = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:1.5em 2em 3em;max-width:1200px;color:#1d1d1d;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{font-size:1.05em;margin:1.2em 0 .4em}
.meta{color:#555;margin:0 0 1em}
table{border-collapse:collapse;margin:.4em 0 1em}td,th{border:1px solid #d5d5d5;padding:4px 9px;text-align:left;vertical-align:top}th{background:#f4f4f4;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.attention{border:2px solid #c62828;background:#fff5f5;border-radius:6px;padding:.6em 1.2em;margin:1em 0}
.attention h2{border:0;margin:.2em 0 .4em;color:#b71c1c}
.attention li{margin:.4em 0}.action{display:block;color:#333}
.ok{border:1px solid #2e7d32;background:#f3faf3;border-radius:6px;padding:.5em 1.2em;margin:1em 0}
.notes{border:1px solid #d9a400;background:#fffbea;border-radius:6px;padding:.5em 1.2em;margin:1em 0}
.failed td{background:#fdecec}.partial td,.stopped td,.held td{background:#fff8e1}
.audience{border:1px solid #ddd;border-radius:6px;padding:.4em 1.2em 1em;margin:1.2em 0}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #eee;background:#fff}
.muted{color:#666}ul.reasons{margin:.2em 0 .8em;padding-left:1.3em}
`;

/** A whole page: inline styles only. */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${CSS}</style></head>
<body>
${body}
</body></html>
`;
}

/** A link only to a web page (https), shown as its text: anything else is printed, never linked. */
const safeLink = (href: string | undefined, text: string) =>
  href && /^https:\/\/[^\s"'<>]+$/.test(href) ? `<a href="${esc(href)}">${esc(text)}</a>` : '';

const utc = (iso: string | undefined) => (iso ? `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC` : '—');

export interface SyncPageContext {
  /** Earlier sync runs, oldest first, this one included when it was stored (see syncHistory). */
  history?: SyncReport[];
  /** Match-key coverage per segment id (see segmentCoverage). */
  coverage?: Map<string, SegmentCoverage>;
}

function attentionItems(r: SyncReport): string[] {
  const items: string[] = [];
  for (const a of r.alerts) {
    const audiences = r.audiences.filter((x) => x.destination === a.destination).map((x) => x.audienceName);
    items.push(
      `<li><b>${esc(a.destination)}</b> — ${esc(a.message)}${audiences.length ? ` <span class="muted">(affects ${esc(audiences.join(', '))})</span>` : ''}<span class="action">What to do: ${esc(alertAction(a.kind))}${a.link ? ` ${safeLink(a.link, 'Open the platform page')}` : ''}</span></li>`,
    );
  }
  const alerted = new Set(r.alerts.map((a) => a.destination));
  for (const a of r.audiences) {
    if (a.status === 'failed' && !alerted.has(a.destination))
      items.push(
        `<li><b>${esc(a.audienceName)}</b> (${esc(a.destination)}) failed${a.message ? ` — ${esc(a.message)}` : ''}<span class="action">What to do: read the reason; the next sync retries from the last confirmed batch.</span></li>`,
      );
    if (a.status === 'held')
      items.push(
        `<li><b>${esc(a.audienceName)}</b> was held${a.message ? ` — ${esc(a.message)}` : ''}<span class="action">What to do: wait for the ingest to finish (or drop the file again if it stopped); the next sync catches up.</span></li>`,
      );
  }
  return items;
}

function noteItems(r: SyncReport): string[] {
  const items: string[] = [];
  for (const a of r.audiences) {
    if (a.status === 'partial' && a.message)
      items.push(`<li><b>${esc(a.audienceName)}</b>: ${esc(a.message)} (nothing lost; the sync continues)</li>`);
    if (a.status === 'below_min_size')
      items.push(
        `<li><b>${esc(a.audienceName)}</b>: ${num(a.desired)} people, below its minimum of ${num(a.minSize)}: not uploaded until it grows (removals still are).</li>`,
      );
    if (a.healedByDiff) items.push(`<li><b>${esc(a.audienceName)}</b>: healed by diff — ${esc(a.healedByDiff)}</li>`);
    if (a.invalidEntries)
      items.push(
        `<li><b>${esc(a.audienceName)}</b>: the platform refused ${num(a.invalidEntries)} entr${a.invalidEntries === 1 ? 'y' : 'ies'}${a.invalidFields.length ? ` (fields ${esc(a.invalidFields.join(', '))})` : ''}.</li>`,
      );
  }
  if (!r.done)
    items.push(
      `<li>This run is not finished: it continues in ${num(r.waitSeconds ?? 1)} s from its last confirmed batch.</li>`,
    );
  return items;
}

/** The keys that decide matching (email, phone), then how many others the people carry. */
const PRIMARY_KEYS = new Set(['EMAIL', 'PHONE', 'email', 'phone']);

function coverageCells(cov: SegmentCoverage | undefined, platform: string): string {
  const keys = cov?.byPlatform[platform];
  if (!keys || !Object.keys(keys).length) return '<span class="muted">—</span>';
  const primary = Object.entries(keys).filter(([k]) => PRIMARY_KEYS.has(k));
  const others = Object.entries(keys).filter(([k, v]) => !PRIMARY_KEYS.has(k) && v > 0).length;
  return `${primary.map(([k, v]) => `${esc(describeKey(k))} ${pct(v)}`).join(', ') || 'no email or phone'}${others ? ` <span class="muted">+ ${others} other key${others === 1 ? '' : 's'}</span>` : ''}`;
}

function audienceRow(a: AudienceReport, cov: SegmentCoverage | undefined): string {
  const size = reportedRange(a.health);
  return `<tr class="${esc(a.status)}"><td>${esc(a.audienceName)}<br><span class="muted">${esc(a.destination)} · ${esc(a.segment)}</span></td><td>${esc(describeStatus(a.status))}${a.message ? `<br><span class="muted">${esc(a.message)}</span>` : ''}</td><td class="n">${num(a.added)}</td><td class="n">${num(a.removed)}</td><td class="n">${num(a.invalidEntries)}</td><td class="n">${num(a.desired)}</td><td class="n">${size ? esc(size) : '<span class="muted">not reported</span>'}</td><td>${coverageCells(cov, a.platform)}</td></tr>`;
}

function audienceSection(a: AudienceReport, h: AudienceHistory | undefined, cov: SegmentCoverage | undefined): string {
  const keys = cov?.byPlatform[a.platform];
  const coverage =
    keys && Object.keys(keys).length
      ? `<table><tr><th>match key</th><th class="n">share of people</th><th></th></tr>${Object.entries(keys)
          .sort((x, y) => y[1] - x[1])
          .map(
            ([k, v]) =>
              `<tr><td>${esc(describeKey(k))} <span class="muted">(${esc(k)})</span></td><td class="n">${pct(v)}</td><td>${shareBar(v)}</td></tr>`,
          )
          .join(
            '',
          )}</table><p class="muted">Share of the ${num(cov!.rows)} accepted rows in ${esc(cov!.lists.join(', '))} (latest snapshot of each list) that carry each key. Email and phone matter most for matching.</p>`
      : '<p class="muted">No match-key coverage known yet (no snapshot of the lists this segment reads).</p>';
  const size = h?.size ?? [];
  const changes = h?.changes ?? [];
  return `<section class="audience" id="${esc(audienceKey(a))}"><h3>${esc(a.audienceName)} <span class="muted">· ${esc(a.destination)} · segment ${esc(a.segment)}</span></h3>
<div class="charts">${sizeChart(`Size of ${a.audienceName}, last ${size.length} runs`, size)}${changesChart(`Added and removed in ${a.audienceName}, last ${changes.length} runs`, changes)}</div>
${coverage}</section>`;
}

function segmentsTable(r: SyncReport): string {
  return r.segments
    .map((s) => {
      const reasons = Object.entries(s.excluded)
        .filter(([, n]) => n > 0)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `<li>${esc(describeExclusion(k))}: ${num(n)}</li>`)
        .join('');
      return `<tr><td>${esc(s.id)}</td><td class="n">${num(s.matched)}</td><td class="n">${num(s.eligible)}</td><td>${reasons ? `<ul class="reasons">${reasons}</ul>` : '<span class="muted">nobody</span>'}</td></tr>`;
    })
    .join('');
}

export function renderSyncHtml(r: SyncReport, ctx: SyncPageContext = {}): string {
  const histories = audienceHistories(ctx.history ?? (r.dryRun ? [] : [r]));
  const attention = attentionItems(r);
  const notes = noteItems(r);
  const live = r.audiences.filter((a) => a.status !== 'retired');
  const body = `<h1>Sync report${r.dryRun ? ' (dry run: nothing was sent)' : ''}</h1>
<p class="meta">Started ${esc(utc(r.startedAt))} · finished ${esc(utc(r.finishedAt))} · ${num(r.audiences.length)} audience${r.audiences.length === 1 ? '' : 's'} · ${r.done ? 'complete' : 'continues later'}</p>
${
  attention.length
    ? `<div class="attention" role="alert"><h2>Needs attention (${attention.length})</h2><ul>${attention.join('')}</ul></div>`
    : '<div class="ok">Nothing needs attention.</div>'
}
${notes.length ? `<div class="notes"><b>Notes</b><ul>${notes.join('')}</ul></div>` : ''}
<h2>Audiences</h2>
<table><tr><th>audience</th><th>status</th><th class="n">added</th><th class="n">removed</th><th class="n">invalid entries</th><th class="n">desired size</th><th class="n">platform’s size</th><th>match keys</th></tr>${r.audiences
    .map((a) => audienceRow(a, ctx.coverage?.get(a.segment)))
    .join('')}</table>
<p class="muted">Desired size: people the segment admits for this audience after consent rules. Platform’s size: what the platform reports (it can lag a day behind changes, and counts matched people only).</p>
<h2>Segments: who was left out, and why</h2>
<table><tr><th>segment</th><th class="n">match the rules</th><th class="n">eligible</th><th>excluded (reason: people)</th></tr>${segmentsTable(r)}</table>
<h2>History per audience</h2>
${live.map((a) => audienceSection(a, histories.get(audienceKey(a)), ctx.coverage?.get(a.segment))).join('\n') || '<p class="muted">No audiences.</p>'}
<p class="muted">Charts read the stored records of the last sync runs (times in UTC). Filled dots: size reported by the platform; hollow dots: no size reported, the desired size is shown.</p>`;
  return page(`audience-sync · sync ${r.startedAt}`, body);
}
