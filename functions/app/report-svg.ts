/**
 * Inline SVG charts for the report pages: no scripts, no fonts, no images, readable when printed. Each chart has
 * axes with labelled ticks, a title (also for screen readers) and a legend. Values are counts; labels are dates.
 */

export const esc = (s: unknown) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const W = 560;
const H = 220;
const M = { top: 28, right: 16, bottom: 40, left: 64 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;

const COLORS = { size: '#1f5fbf', desired: '#7a7a7a', added: '#2e7d32', removed: '#c62828', axis: '#555' };

/** A step of 1, 2 or 5 × 10ⁿ that splits `max` into about `count` ticks. */
export function niceStep(max: number, count = 4): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
  return Math.max(1, step);
}

const short = (n: number) =>
  Math.abs(n) >= 1_000_000
    ? `${+(n / 1_000_000).toFixed(1)}M`
    : Math.abs(n) >= 10_000
      ? `${+(n / 1000).toFixed(1)}k`
      : n.toLocaleString('en-US');

/** "20 Nov" from an ISO time, in UTC (reports are read across time zones; the table says UTC). */
export const dayLabel = (iso: string) => {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getUTCDate()} ${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]}`;
};

const f = (n: number) => `${Math.round(n * 10) / 10}`;

function frame(title: string, body: string, legend: Array<[string, string, 'line' | 'box' | 'dash']>): string {
  let next = M.left;
  const items = legend
    .map(([label, color, kind]) => {
      const x = next;
      // No font metrics without a browser: about 6.2 px per character at 11 px, plus the mark and a gap.
      next += 18 + Math.ceil(label.length * 6.2) + 20;
      const mark =
        kind === 'box'
          ? `<rect x="${x}" y="8" width="10" height="10" fill="${color}"/>`
          : `<path d="M${x} 13h14" stroke="${color}" stroke-width="2"${kind === 'dash' ? ' stroke-dasharray="4 3"' : ''}/>`;
      return `${mark}<text x="${x + 18}" y="17">${esc(label)}</text>`;
    })
    .join('');
  return `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}" font-family="system-ui, sans-serif" font-size="11" fill="#222"><title>${esc(title)}</title>${items}${body}</svg>`;
}

/** x positions of n points spread over the plot; a single point sits in the middle. */
const xs = (n: number) => Array.from({ length: n }, (_, i) => M.left + (n === 1 ? PLOT_W / 2 : (i * PLOT_W) / (n - 1)));

/** About five date labels under the x axis, always the first and the last. */
function xLabels(ats: string[], xOf: (i: number) => number): string {
  const n = ats.length;
  const every = Math.max(1, Math.ceil(n / 5));
  const picks = new Set<number>();
  for (let i = 0; i < n; i += every) picks.add(i);
  picks.add(n - 1);
  // The last label wins over a neighbour too close to it.
  if (n > 1) for (const i of picks) if (i !== n - 1 && n - 1 - i < every / 2) picks.delete(i);
  return [...picks]
    .map((i) => {
      const x = xOf(i);
      // Labels at the plot's edges stay inside the chart.
      const anchor = x - M.left < 16 ? 'start' : M.left + PLOT_W - x < 16 ? 'end' : 'middle';
      const tx = anchor === 'start' ? x - 4 : anchor === 'end' ? x + 4 : x;
      return `<path d="M${f(x)} ${M.top + PLOT_H}v4" stroke="${COLORS.axis}"/><text x="${f(tx)}" y="${M.top + PLOT_H + 16}" text-anchor="${anchor}">${esc(dayLabel(ats[i]!))}</text>`;
    })
    .join('');
}

function yAxis(lo: number, hi: number, yOf: (v: number) => number): string {
  const step = niceStep(Math.max(Math.abs(lo), Math.abs(hi), 1));
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(v);
  return ticks
    .map(
      (v) =>
        `<path d="M${M.left - 4} ${f(yOf(v))}H${M.left + PLOT_W}" stroke="${v === 0 ? COLORS.axis : '#e3e3e3'}"/><text x="${M.left - 8}" y="${f(yOf(v) + 4)}" text-anchor="end">${esc(short(v))}</text>`,
    )
    .join('');
}

function axes(xTitle: string, yTitle: string): string {
  return `<path class="axis" d="M${M.left} ${M.top}V${M.top + PLOT_H}H${M.left + PLOT_W}" fill="none" stroke="${COLORS.axis}"/><text x="${M.left + PLOT_W / 2}" y="${H - 4}" text-anchor="middle">${esc(xTitle)}</text><text transform="translate(14 ${M.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${esc(yTitle)}</text>`;
}

export interface SizePoint {
  at: string;
  /** The platform's reported size when known, else the size the sync aimed for. */
  size: number;
  /** True when `size` is what the platform reported. */
  reported: boolean;
  /** How many people the segment admitted for this audience. */
  desired: number;
}

/** Audience size over runs: the size line (filled dots where the platform reported it) and the desired size dashed. */
export function sizeChart(title: string, points: SizePoint[]): string {
  if (!points.length)
    return frame(title, `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no runs yet</text>`, []);
  const hi = Math.max(1, ...points.map((p) => Math.max(p.size, p.desired)));
  const step = niceStep(hi);
  const top = Math.ceil(hi / step) * step;
  const yOf = (v: number) => M.top + PLOT_H - (v / top) * PLOT_H;
  const x = xs(points.length);
  const line = (vals: number[]) => vals.map((v, i) => `${i ? 'L' : 'M'}${f(x[i]!)} ${f(yOf(v))}`).join('');
  const single = points.length === 1 ? 'h0.01' : '';
  const dots = points
    .map(
      (p, i) =>
        `<circle cx="${f(x[i]!)}" cy="${f(yOf(p.size))}" r="3.5" fill="${p.reported ? COLORS.size : '#fff'}" stroke="${COLORS.size}" stroke-width="1.5"><title>${esc(`${dayLabel(p.at)}: ${p.size.toLocaleString('en-US')}${p.reported ? ' (reported by the platform)' : ' (desired; the platform reported no size)'}`)}</title></circle>`,
    )
    .join('');
  const body = [
    yAxis(0, top, yOf),
    axes(`last ${points.length} run${points.length === 1 ? '' : 's'}`, 'people'),
    xLabels(
      points.map((p) => p.at),
      (i) => x[i]!,
    ),
    `<path class="series desired" d="${line(points.map((p) => p.desired))}${single}" fill="none" stroke="${COLORS.desired}" stroke-width="1.5" stroke-dasharray="4 3"/>`,
    `<path class="series size" d="${line(points.map((p) => p.size))}${single}" fill="none" stroke="${COLORS.size}" stroke-width="2"/>`,
    dots,
  ].join('');
  return frame(title, body, [
    ['size (platform’s when known)', COLORS.size, 'line'],
    ['desired', COLORS.desired, 'dash'],
  ]);
}

export interface ChangePoint {
  at: string;
  added: number;
  removed: number;
}

/** Adds (up, green) and removes (down, red) per run, around a zero line. */
export function changesChart(title: string, points: ChangePoint[]): string {
  if (!points.length)
    return frame(title, `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no runs yet</text>`, []);
  const maxAdd = Math.max(0, ...points.map((p) => p.added));
  const maxRem = Math.max(0, ...points.map((p) => p.removed));
  const step = niceStep(Math.max(maxAdd, maxRem, 1));
  const hi = Math.max(step, Math.ceil(maxAdd / step) * step);
  const lo = maxRem > 0 ? -Math.ceil(maxRem / step) * step : 0;
  const yOf = (v: number) => M.top + ((hi - v) / (hi - lo)) * PLOT_H;
  const slot = PLOT_W / points.length;
  const bw = Math.max(2, Math.min(24, slot * 0.35));
  const cx = (i: number) => M.left + slot * (i + 0.5);
  const bars = points
    .map((p, i) => {
      const label = `${dayLabel(p.at)}: +${p.added.toLocaleString('en-US')} −${p.removed.toLocaleString('en-US')}`;
      const add = `<rect class="bar added" x="${f(cx(i) - bw)}" y="${f(yOf(p.added))}" width="${f(bw)}" height="${f(Math.max(p.added ? 1 : 0, yOf(0) - yOf(p.added)))}" fill="${COLORS.added}"><title>${esc(label)}</title></rect>`;
      const rem = `<rect class="bar removed" x="${f(cx(i))}" y="${f(yOf(0))}" width="${f(bw)}" height="${f(Math.max(p.removed ? 1 : 0, yOf(-p.removed) - yOf(0)))}" fill="${COLORS.removed}"><title>${esc(label)}</title></rect>`;
      return add + rem;
    })
    .join('');
  const body = [
    yAxis(lo, hi, yOf),
    axes(`last ${points.length} run${points.length === 1 ? '' : 's'}`, 'people'),
    xLabels(
      points.map((p) => p.at),
      cx,
    ),
    bars,
  ].join('');
  return frame(title, body, [
    ['added', COLORS.added, 'box'],
    ['removed (shown below 0)', COLORS.removed, 'box'],
  ]);
}

/** A horizontal share bar (0–1) for coverage tables. */
export function shareBar(share: number): string {
  const w = Math.round(Math.max(0, Math.min(1, share)) * 100);
  return `<svg class="share" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 10" width="100" height="10" aria-hidden="true"><rect width="100" height="10" fill="#eee"/><rect width="${w}" height="10" fill="${COLORS.size}"/></svg>`;
}
