/// <reference lib="dom" />
/** A tiny element builder: h('button', { class: 'x', onclick }, 'text', child). No framework. */

type Child = Node | string | number | false | null | undefined;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
}

/**
 * Said above a view shown again because it changed under the user (decided elsewhere, expired):
 * what they did or typed was not recorded (an error), or it was after all (`recorded`).
 */
export function staleNotice(text: string, recorded = false): HTMLElement {
  return h('p', { class: recorded ? 'notice' : 'error', role: 'alert', id: 'stale-notice' }, text);
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag: string, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** "3 min ago", "in 2 h": short relative times for a phone screen. */
export function ago(ts: number | null | undefined, now = Date.now()): string {
  if (ts === null || ts === undefined) return 'never';
  const d = Math.round((now - ts) / 1000);
  const abs = Math.abs(d);
  const unit = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return d >= 0 ? `${unit} ago` : `in ${unit}`;
}

export function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 10 ? 2 : 1);
  if (v === null || v === undefined) return '—';
  return String(v);
}

/**
 * A name a phone may wrap only between its parts: a <wbr> after every "_" and "/" and after a "." before a letter, so
 * "supply_air_temperature" breaks as "supply_air_|temperature", never inside a word.
 */
export function breakable(text: string): (string | HTMLElement)[] {
  const out: (string | HTMLElement)[] = [];
  // After "." only before a letter: "ahu1.|setpoint", but never "21.|5".
  for (const part of text.split(/(?<=[_/])|(?<=\.)(?=[A-Za-z])/)) {
    if (out.length) out.push(document.createElement('wbr'));
    out.push(part);
  }
  return out;
}

const UNIT_SYMBOLS: Record<string, string> = { degC: '°C', degF: '°F', degK: 'K', m3: 'm³', 'm3/h': 'm³/h', percent: '%' };

/** A value as a technician reads it: rounded, with its unit ("21.5 °C", "63 %"); booleans and text as they are. */
export function withUnit(v: unknown, unit: string | undefined): string {
  const text = fmt(v);
  if (typeof v !== 'number' || !unit) return text;
  return `${text} ${UNIT_SYMBOLS[unit] ?? unit}`;
}

/** The unit's symbol as shown ("degC" -> "°C"). */
export function unitSymbol(unit: string | undefined): string | undefined {
  return unit === undefined ? undefined : (UNIT_SYMBOLS[unit] ?? unit);
}
