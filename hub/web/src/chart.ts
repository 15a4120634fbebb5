/// <reference lib="dom" />
/**
 * A small inline SVG line chart: the line (bucket averages or raw samples), a min/max band for
 * buckets, the latest value, and first/last time labels. It is an image with a text summary
 * for screen readers (role="img" + aria-label), and scales with its container.
 */
import { breakable, fmt, h, s } from './dom.js';

export interface Series {
  readonly points: readonly { ts: number; v: number; lo?: number; hi?: number }[];
  readonly label: string;
  readonly unit?: string;
  /** An on/off point (a relay, a door): drawn as steps, labelled on and off. */
  readonly binary?: boolean;
}

const W = 320;
const H = 120;
const PAD = { l: 34, r: 8, t: 8, b: 18 };

function time(ts: number, spanMs: number): string {
  const d = new Date(ts);
  return spanMs > 2 * 86_400_000 ? `${d.getMonth() + 1}/${d.getDate()}` : `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** Whether every sample is true or false (an on/off point). */
export function isBinary(samples: readonly { value: unknown }[]): boolean {
  return samples.length > 0 && samples.every((x) => typeof x.value === 'boolean');
}

/** Numeric samples from evidence or history ({ts, value} with booleans as 0/1). */
export function numeric(samples: readonly { ts: number; value: unknown }[]): { ts: number; v: number }[] {
  const out: { ts: number; v: number }[] = [];
  for (const x of samples) {
    const v = typeof x.value === 'boolean' ? (x.value ? 1 : 0) : typeof x.value === 'number' ? x.value : Number.NaN;
    if (Number.isFinite(v) && Number.isFinite(x.ts)) out.push({ ts: x.ts, v });
  }
  return out.sort((a, b) => a.ts - b.ts);
}

export function chart(series: Series): HTMLElement {
  const pts = series.points;
  const fig = h('figure', { class: 'chart' });
  if (pts.length === 0) {
    fig.append(h('figcaption', {}, h('span', {}, breakable(series.label), ': no numeric data')));
    return fig;
  }
  const t0 = pts[0]!.ts;
  const t1 = pts[pts.length - 1]!.ts;
  const binary = series.binary === true;
  let lo = binary ? 0 : Math.min(...pts.map((p) => p.lo ?? p.v));
  let hi = binary ? 1 : Math.max(...pts.map((p) => p.hi ?? p.v));
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const show = (v: number): string => (binary ? (v >= 0.5 ? 'on' : 'off') : `${fmt(v)}${series.unit ? ` ${series.unit}` : ''}`);
  const x = (ts: number): number => PAD.l + ((ts - t0) / Math.max(1, t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v: number): number => PAD.t + (1 - (v - lo) / (hi - lo)) * (H - PAD.t - PAD.b);
  const last = pts[pts.length - 1]!;
  const range = binary ? `${pts.filter((p, i) => i > 0 && p.v !== pts[i - 1]!.v).length} switches` : `min ${show(lo)}, max ${show(hi)}`;
  const summary = `${series.label}: ${pts.length} points from ${time(t0, t1 - t0)} to ${time(t1, t1 - t0)}, ${range}, last ${show(last.v)}`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, preserveAspectRatio: 'none', class: 'chart-svg' });
  svg.append(s('title', {}, summary));
  svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(lo), y2: y(lo), class: 'axis' }), s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(hi), y2: y(hi), class: 'grid' }));
  if (pts.some((p) => p.lo !== undefined)) {
    const band = [...pts.map((p) => `${x(p.ts).toFixed(1)},${y(p.hi ?? p.v).toFixed(1)}`), ...[...pts].reverse().map((p) => `${x(p.ts).toFixed(1)},${y(p.lo ?? p.v).toFixed(1)}`)];
    svg.append(s('polygon', { points: band.join(' '), class: 'band' }));
  }
  // An on/off point holds its state until the next sample: steps, not slopes between samples.
  const vertices = binary ? pts.flatMap((p, i) => (i === 0 ? [p] : [{ ts: p.ts, v: pts[i - 1]!.v }, p])) : pts;
  svg.append(s('polyline', { points: vertices.map((p) => `${x(p.ts).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '), class: 'line' }));
  svg.append(s('circle', { cx: x(last.ts), cy: y(last.v), r: 3, class: 'dot' }));
  const label = (tx: number, ty: number, text: string, anchor = 'start') => s('text', { x: tx, y: ty, 'text-anchor': anchor, class: 'lbl' }, text);
  svg.append(label(PAD.l - 4, y(hi) + 4, binary ? 'on' : fmt(hi), 'end'), label(PAD.l - 4, y(lo) + 4, binary ? 'off' : fmt(lo), 'end'));
  svg.append(label(PAD.l, H - 4, time(t0, t1 - t0)), label(W - PAD.r, H - 4, time(t1, t1 - t0), 'end'));
  const title = series.unit && !binary ? `${series.label} (${series.unit})` : series.label;
  fig.append(svg, h('figcaption', {}, h('span', {}, breakable(title)), h('span', { class: 'last' }, `last ${show(last.v)}`)));
  return fig;
}
