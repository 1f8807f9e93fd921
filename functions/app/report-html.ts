/** A human-readable sync report page for marketers: one table per segment and audience. No PII is ever in a report. */
import { describeExclusion } from '../core/segments';
import type { SyncReport } from '../core/sync';

const esc = (s: unknown) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

export function renderSyncHtml(r: SyncReport): string {
  const segs = r.segments
    .map(
      (s) =>
        `<tr><td>${esc(s.id)}</td><td>${s.matched}</td><td>${s.eligible}</td><td>${esc(
          Object.entries(s.excluded)
            .map(([k, v]) => `${describeExclusion(k)}: ${v}`)
            .join(', '),
        )}</td></tr>`,
    )
    .join('');
  const auds = r.audiences
    .map(
      (a) =>
        `<tr class="${esc(a.status)}"><td>${esc(a.segment)}</td><td>${esc(a.destination)}</td><td>${esc(a.audienceName)}</td><td>${esc(
          a.status,
        )}</td><td>${a.desired}</td><td>${a.added}</td><td>${a.removed}</td><td>${a.invalidEntries}</td><td>${esc(
          a.health ? `${a.health.approximateCountLowerBound ?? '?'}–${a.health.approximateCountUpperBound ?? '?'}` : '',
        )}</td><td>${esc(a.message ?? '')}</td></tr>`,
    )
    .join('');
  const alerts = r.alerts
    .map((a) => `<li><b>${esc(a.destination)}</b> (${esc(a.kind)}): ${esc(a.message)}</li>`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>audience-sync report ${esc(r.startedAt)}</title>
<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.failed td{background:#fee}.partial td{background:#ffe}</style></head>
<body><h1>Sync ${r.dryRun ? '(dry run) ' : ''}${esc(r.startedAt)}</h1>
${alerts ? `<h2>Needs attention</h2><ul>${alerts}</ul>` : ''}
<h2>Segments</h2><table><tr><th>segment</th><th>matched</th><th>eligible</th><th>excluded (reason: count)</th></tr>${segs}</table>
<h2>Audiences</h2><table><tr><th>segment</th><th>destination</th><th>audience</th><th>status</th><th>desired</th><th>added</th><th>removed</th><th>invalid</th><th>approx. size</th><th>note</th></tr>${auds}</table>
</body></html>
`;
}
