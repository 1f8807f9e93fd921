/**
 * The ingest report page, one per drop: rows = accepted + rejected, rejections by reason in words with their row
 * numbers, match-key coverage per platform, the consent breakdown, and which columns were read. A quarantined drop
 * gets a page that says why and what to do. Counts, reasons, row numbers and column names only: never a value.
 */
import type { IngestReport, RejectedRow } from '../core/ingest';
import { page } from './report-html';
import { esc, shareBar } from './report-svg';
import { describeConsent, describeKey, describeRejection, describeWarning, num, pct } from './report-words';

/** Row numbers listed per reason on the page; the rejected-rows CSV has all of them. */
const ROWS_PER_REASON = 40;

const fileOf = (source: string | undefined) =>
  (source ?? '')
    .replace(/#[^#]*$/, '')
    .split('/')
    .pop() ?? '';

function rejectionsTable(r: IngestReport, csvName?: string): string {
  const reasons = Object.entries(r.rejections)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  if (!reasons.length) return '<p>No row was rejected.</p>';
  const byReason = new Map<string, RejectedRow[]>();
  for (const row of r.rejectedRows ?? []) {
    const list = byReason.get(row.reason) ?? [];
    byReason.set(row.reason, list);
    list.push(row);
  }
  const multi = r.entries.length > 1;
  const rows = reasons
    .map(([reason, n]) => {
      const seen = byReason.get(reason) ?? [];
      const shown = seen.slice(0, ROWS_PER_REASON);
      const columns = [...new Set(seen.map((x) => x.column).filter((c): c is string => !!c))];
      const lines = shown.map((x) => `${multi ? `${x.entry}:` : ''}${x.line}`).join(', ');
      const more = n - shown.length;
      return `<tr><td>${esc(describeRejection(reason))} <span class="muted">(${esc(reason)})</span></td><td class="n">${num(n)}</td><td>${esc(columns.join(', ')) || '<span class="muted">—</span>'}</td><td>${lines ? esc(lines) : ''}${more > 0 ? ` <span class="muted">…and ${num(more)} more${csvName ? ` in ${esc(csvName)}` : ''}</span>` : ''}</td></tr>`;
    })
    .join('');
  return `<table><tr><th>reason</th><th class="n">rows</th><th>column</th><th>row numbers (line in the file)</th></tr>${rows}</table>${csvName ? `<p class="muted">Every rejected row (row number, reason, column — never values) is in ${esc(csvName)} beside this page.</p>` : ''}`;
}

function coverageTables(r: IngestReport): string {
  const platforms = Object.entries(r.keyCoverage ?? {});
  if (!platforms.length) return '<p class="muted">No platform keys were computed (no destination configured).</p>';
  return platforms
    .map(
      ([platform, keys]) =>
        `<h3>${esc(platform)}</h3><table><tr><th>match key</th><th class="n">share of accepted rows</th><th></th></tr>${Object.entries(
          keys,
        )
          .sort((a, b) => b[1] - a[1])
          .map(
            ([k, v]) =>
              `<tr><td>${esc(describeKey(k))} <span class="muted">(${esc(k)})</span></td><td class="n">${pct(v)}</td><td>${shareBar(v)}</td></tr>`,
          )
          .join('')}</table>`,
    )
    .join('');
}

function consentTable(r: IngestReport): string {
  const total = Math.max(1, r.accepted);
  const rows = Object.entries(r.consent ?? {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(
      ([state, n]) =>
        `<tr><td>${esc(describeConsent(state))}</td><td class="n">${num(n)}</td><td class="n">${pct(n / total)}</td><td>${shareBar(n / total)}</td><td>${r.suppressed?.[state] ? `held back: ${num(r.suppressed[state])}` : '<span class="muted">may be uploaded (zone rules decide)</span>'}</td></tr>`,
    )
    .join('');
  const held = r.heldBySuppression
    ? `<p>${num(r.heldBySuppression)} accepted row${r.heldBySuppression === 1 ? '' : 's'} belong to people a suppression or erasure holds back: stored, never uploaded.</p>`
    : '';
  return rows
    ? `<table><tr><th>consent</th><th class="n">rows</th><th class="n">share</th><th></th><th>upload</th></tr>${rows}</table>${held}`
    : '<p class="muted">No accepted rows.</p>';
}

function columnsTable(r: IngestReport): string {
  return r.entries
    .map((e) => {
      const read = (e.columns?.read ?? []).map((c) => `${esc(c.column)} → ${esc(c.field)}`).join(', ');
      const ignored = (e.columns?.ignored ?? []).map(esc).join(', ');
      return `<tr><td>${esc(e.name)}</td><td>${esc(e.format ?? e.error ?? '')}</td><td>${esc(e.encoding)}, ${esc(JSON.stringify(e.delimiter))}</td><td class="n">${num(e.rows)}</td><td>${read || '<span class="muted">—</span>'}</td><td>${ignored || '<span class="muted">none</span>'}</td></tr>`;
    })
    .join('');
}

const STATUS_WORDS: Record<string, string> = {
  ingested: 'ingested',
  validated: 'validated (nothing stored)',
  stale: 'ignored: older than the list’s current snapshot',
  already_ingested: 'ignored: this exact file was ingested before',
};

/** The page for an ingested (or validated) drop. `csvName`: the rejected-rows CSV beside it, if one was written. */
export function renderIngestHtml(r: IngestReport, opts: { at?: string; csvName?: string } = {}): string {
  const notes: string[] = [];
  if (r.message) notes.push(esc(r.message));
  for (const w of r.warnings ?? [])
    notes.push(
      `${esc(describeWarning(w.reason))}${w.column ? ` in column ${esc(w.column)}` : ''}: ${num(w.rows)} row${w.rows === 1 ? '' : 's'} (people kept)`,
    );
  const body = `<h1>Ingest report · list ${esc(r.list)}</h1>
<p class="meta">${esc(fileOf(r.source))} · ${esc(r.kind)} drop · format ${esc(r.format ?? 'unknown')} · exported ${esc(r.exportedAt)} (${esc(r.exportedAtFrom)})${opts.at ? ` · read ${esc(opts.at)}` : ''}</p>
<div class="${r.status === 'ingested' || r.status === 'validated' ? 'ok' : 'notes'}"><b>${esc(STATUS_WORDS[r.status] ?? r.status)}</b> — rows ${num(r.rows)} = accepted ${num(r.accepted)} + rejected ${num(r.rejected)}</div>
${notes.length ? `<div class="notes"><b>Notes</b><ul>${notes.map((n) => `<li>${n}</li>`).join('')}</ul></div>` : ''}
<h2>Summary</h2>
<table><tr><th>rows</th><th class="n">count</th></tr>
<tr><td>rows read</td><td class="n">${num(r.rows)}</td></tr>
<tr><td>accepted</td><td class="n">${num(r.accepted)}</td></tr>
<tr><td>rejected</td><td class="n">${num(r.rejected)}</td></tr>
<tr><td>merged (the same person again in the file)</td><td class="n">${num(r.merged)}</td></tr>
<tr><td>written (new or changed)</td><td class="n">${num(r.written)}</td></tr>
<tr><td>unchanged</td><td class="n">${num(r.unchanged)}</td></tr>
<tr><td>left the list (not in this snapshot)</td><td class="n">${num(r.removed)}</td></tr>
${r.staleRows ? `<tr><td>kept because a newer export had written them</td><td class="n">${num(r.staleRows)}</td></tr>` : ''}
${r.suppression ? `<tr><td>suppression: identities named / people matched now</td><td class="n">${num(r.suppression.identities)} / ${num(r.suppression.matchedNow)}</td></tr>` : ''}${r.suppression?.lifted !== undefined ? `<tr><td>suppressions lifted / still held by other lists</td><td class="n">${num(r.suppression.lifted)} / ${num(r.suppression.heldByOtherLists ?? 0)}</td></tr>` : ''}
</table>
<h2>Rejected rows by reason</h2>
${rejectionsTable(r, opts.csvName)}
<h2>Consent</h2>
${consentTable(r)}
<h2>Match-key coverage</h2>
${coverageTables(r)}
<h2>Columns</h2>
<table><tr><th>entry</th><th>format</th><th>encoding, delimiter</th><th class="n">rows</th><th>columns read → field</th><th>columns not used</th></tr>${columnsTable(r)}</table>`;
  return page(`audience-sync · ingest ${r.list} ${fileOf(r.source)}`, body);
}

/** The page for a drop that could not be read: what happened, why, and what to do. */
export function renderQuarantineHtml(q: {
  list?: string;
  object?: string;
  reason?: string;
  error?: string;
  at?: string;
}): string {
  const body = `<h1>Ingest report · ${q.list ? `list ${esc(q.list)}` : 'file not ingested'}</h1>
<p class="meta">${q.at ? `${esc(q.at)} · ` : ''}nothing was stored from this file</p>
<div class="attention" role="alert"><h2>Quarantined${q.reason ? `: ${esc(q.reason.replace(/_/g, ' '))}` : ''}</h2>
<p>${esc(q.error ?? 'the file could not be read')}</p>
<p class="action">What to do: fix the file as the message says and drop it again under incoming/&lt;list-id&gt;/. The list keeps its previous snapshot until then.${q.object ? ` The file was moved to ${esc(q.object)} and expires there.` : ''}</p></div>`;
  return page(`audience-sync · quarantined ${q.list ?? ''}`, body);
}
