/**
 * Semantic tags: the Project Haystack point markers a profile may give its points, the rules a
 * Haystack user expects of them (exactly one of sensor/cmd/sp, one quantity, one medium, one duct
 * or pipe section, a unit that fits the quantity ...), and proposeTags, which drafts markers from
 * the names and units vendors give their objects (discovery uses it).
 *
 * Vocabulary, checks and proposals stay in one file: the proposal rules are the vocabulary read
 * backwards, and splitting them would only spread one table over two places.
 *
 * `point` is implied on every point: a profile may write it, normalizeTags drops it.
 */

import { closest } from '../../shared/kit/suggest.js';

/** What a marker says about a point; the groups drive the "at most one" rules and the reading order. */
export type MarkerGroup = 'function' | 'section' | 'waterKind' | 'medium' | 'component' | 'quantity' | 'modifier' | 'state';

const group = (g: MarkerGroup, names: string): [string, MarkerGroup][] => names.split(' ').map((n) => [n, g]);

/** The known point markers and their group. */
export const MARKERS: ReadonlyMap<string, MarkerGroup> = new Map([
  ...group('function', 'sensor cmd sp'),
  ...group('section', 'discharge supply return mixed outside exhaust entering leaving zone'),
  ...group('waterKind', 'chilled hot condenser domestic'),
  ...group('medium', 'air water elec steam gas refrig'),
  ...group('component', 'damper valve fan pump coil filter compressor chiller boiler meter door'),
  ...group('quantity', 'temp humidity pressure flow power energy co2 speed current volt freq pf enthalpy'),
  ...group('modifier', 'delta cool heat cooling heating effective occ unocc min max'),
  ...group('state', 'run enable alarm occupied'),
]);

/**
 * Haystack tags that are not point markers a profile writes: what the gateway derives them from.
 * Maps, not plain objects: a tag or unit named "constructor" or "__proto__" must find nothing.
 */
const RESERVED: ReadonlyMap<string, string> = new Map(Object.entries({
  writable: 'the gateway derives it from `writable:`; set `writable: true` on the point instead',
  his: 'every point the gateway reports has history at the hub; remove it',
  cur: 'every point the gateway reports has a current value; remove it',
  unit: 'set `unit:` on the point instead',
  kind: 'the gateway derives it from the point\'s data type; remove it',
  id: 'the point is identified by gateway, device and point name; remove it',
  dis: 'use `description:` on the point instead',
}));

/** Words people write for a marker. */
const SYNONYMS: ReadonlyMap<string, string> = new Map(Object.entries({
  temperature: 'temp', setpoint: 'sp', command: 'cmd', status: 'sensor', rh: 'humidity', outdoor: 'outside', oa: 'outside',
  electric: 'elec', electrical: 'elec', voltage: 'volt', frequency: 'freq', occupancy: 'occupied', chw: 'chilled', hw: 'hot',
  running: 'run', enabled: 'enable', fault: 'alarm', carbonDioxide: 'co2', airflow: 'flow', powerFactor: 'pf',
}));

/** Haystack tag names: an identifier starting with a lower-case letter. */
export const MARKER_PATTERN = '^[a-z][a-zA-Z0-9_]{0,31}$';
const MARKER_RE = new RegExp(MARKER_PATTERN);

export interface TagProblem {
  /** Index of the offending tag in the list; undefined when the list as a whole is at fault. */
  readonly index?: number;
  readonly message: string;
}

export interface TaggedPoint {
  readonly unit?: string;
  readonly writable?: boolean;
}

const QUANTITY_OF_UNIT: ReadonlyMap<string, string> = new Map<string, string>([
  ...['degC', '°C', 'degF', '°F', 'K', 'C', 'F'].map((u): [string, string] => [u, 'temp']),
  ...['%RH', 'RH', '%rh'].map((u): [string, string] => [u, 'humidity']),
  ...['Pa', 'kPa', 'hPa', 'bar', 'mbar', 'psi', 'inH2O', 'inWC'].map((u): [string, string] => [u, 'pressure']),
  ...['W', 'kW', 'MW'].map((u): [string, string] => [u, 'power']),
  ...['Wh', 'kWh', 'MWh', 'J', 'kJ', 'MJ', 'GJ', 'BTU'].map((u): [string, string] => [u, 'energy']),
  ...['m3/h', 'm³/h', 'L/s', 'l/s', 'cfm', 'CFM', 'gpm', 'GPM', 'm3/s', 'l/min', 'L/min'].map((u): [string, string] => [u, 'flow']),
  ...['ppm'].map((u): [string, string] => [u, 'co2']),
  ...['V', 'kV', 'mV'].map((u): [string, string] => [u, 'volt']),
  ...['A', 'mA', 'kA'].map((u): [string, string] => [u, 'current']),
  ...['Hz'].map((u): [string, string] => [u, 'freq']),
  ...['rpm', 'RPM'].map((u): [string, string] => [u, 'speed']),
]);

/** The quantity a unit measures, when the unit says it unambiguously (`%` does not). */
export function quantityOfUnit(unit: string | undefined): string | undefined {
  return unit === undefined ? undefined : QUANTITY_OF_UNIT.get(unit.trim());
}

function suggestion(tag: string): string {
  const synonym = SYNONYMS.get(tag) ?? SYNONYMS.get(tag.toLowerCase());
  if (synonym) return `; Haystack writes "${synonym}"`;
  const words = new Map<string, string>([...[...MARKERS.keys()].map((m): [string, string] => [m, m]), ...SYNONYMS]);
  const near = closest(tag, words.keys());
  const best = near === undefined ? undefined : words.get(near);
  return best ? `; did you mean "${best}"?` : '; the known point markers are listed in edge/config/haystack.ts (MARKERS)';
}

const GROUP_WORDS: Readonly<Record<string, string>> = {
  quantity: 'quantities (a point measures one)',
  medium: 'media (air, water, elec, ...)',
  section: 'duct or pipe sections (discharge, return, zone, ...)',
  waterKind: 'kinds of water (chilled, hot, condenser, domestic)',
};

/** Every rule a tag list breaks, for a point with this unit and writability. */
export function tagProblems(tags: readonly string[], point: TaggedPoint = {}): TagProblem[] {
  const problems: TagProblem[] = [];
  const seen = new Map<string, number>();
  const byGroup = new Map<MarkerGroup, string[]>();
  tags.forEach((tag, index) => {
    if (!MARKER_RE.test(tag)) {
      problems.push({ index, message: `"${tag}" is not a Haystack tag name (a lower-case letter, then letters, digits or "_", e.g. "temp", "co2")${suggestion(tag.replace(/[^A-Za-z0-9_]/g, ''))}` });
      return;
    }
    const first = seen.get(tag);
    if (first !== undefined) {
      problems.push({ index, message: `"${tag}" is given twice (also tag ${first + 1}); remove one` });
      return;
    }
    seen.set(tag, index);
    const reserved = RESERVED.get(tag);
    if (reserved) {
      problems.push({ index, message: `"${tag}" is not a marker a profile writes: ${reserved}` });
      return;
    }
    if (tag === 'point') return;
    const g = MARKERS.get(tag);
    if (!g) {
      problems.push({ index, message: `unknown marker "${tag}"${suggestion(tag)}` });
      return;
    }
    byGroup.set(g, [...(byGroup.get(g) ?? []), tag]);
  });
  const has = (tag: string): boolean => seen.has(tag);
  const indexOf = (tag: string): number | undefined => seen.get(tag);
  const functions = byGroup.get('function') ?? [];
  if (functions.length === 0) problems.push({ message: 'a point needs exactly one of sensor (an input), cmd (an output) or sp (a setpoint); none is given' });
  else if (functions.length > 1) problems.push({ index: indexOf(functions[1]!), message: `a point is exactly one of sensor, cmd or sp; "${functions.join('" and "')}" are given` });
  for (const g of ['quantity', 'medium', 'section', 'waterKind'] as const) {
    const list = byGroup.get(g) ?? [];
    if (list.length > 1) problems.push({ index: indexOf(list[1]!), message: `"${list.join('" and "')}" are two ${GROUP_WORDS[g]}; keep one` });
  }
  for (const kind of byGroup.get('waterKind') ?? []) {
    if (!has('water')) problems.push({ index: indexOf(kind), message: `"${kind}" describes water: add "water" (e.g. ${kind} water supply temp sensor)` });
  }
  if (has('supply') && has('air')) problems.push({ index: indexOf('supply'), message: 'Haystack calls the air an air handler supplies "discharge air": write "discharge" instead of "supply"' });
  const quantity = (byGroup.get('quantity') ?? [])[0];
  const unitQuantity = quantityOfUnit(point.unit);
  if (quantity && unitQuantity && quantity !== unitQuantity) {
    problems.push({ index: indexOf(quantity), message: `"${quantity}" does not fit the point's unit "${point.unit ?? ''}", which measures ${unitQuantity}` });
  }
  if (point.writable === true && has('sensor')) {
    problems.push({ index: indexOf('sensor'), message: 'the point is writable but tagged "sensor" (an input): tag it "cmd" (an output) or "sp" (a setpoint), or make it read-only' });
  }
  return problems.sort((a, b) => (a.index ?? -1) - (b.index ?? -1));
}

const ORDER: readonly MarkerGroup[] = ['section', 'medium', 'component', 'quantity', 'state', 'modifier', 'function'];

/**
 * The tags in the order people read them ("discharge air temp sensor", "chilled water supply temp
 * sensor"), without duplicates and without the implied `point`.
 */
export function normalizeTags(tags: readonly string[]): string[] {
  const unique = [...new Set(tags)].filter((t) => t !== 'point');
  const rank = (tag: string): number => {
    const g = MARKERS.get(tag);
    if (g === undefined) return ORDER.length + 1;
    // Water reads "chilled water supply", air "discharge air".
    if (unique.includes('water')) {
      if (g === 'waterKind') return 0;
      if (g === 'medium') return 0.5;
      if (g === 'section') return 0.7;
    }
    if (g === 'waterKind') return 0.4;
    return ORDER.indexOf(g);
  };
  return unique.map((tag, i) => ({ tag, i })).sort((a, b) => rank(a.tag) - rank(b.tag) || a.i - b.i).map((x) => x.tag);
}

// ---------------------------------------------------------------------------------------------
// Proposals from vendor names

export interface TagProposalInput {
  /** Object or point name as the vendor wrote it: "ZN-T", "CHW Supply Temp", "supply_air_temp". */
  readonly name: string;
  readonly description?: string;
  readonly unit?: string;
  readonly writable?: boolean;
  /** A two-state point (BACnet BI/BO/BV, a coil, a GPIO line). */
  readonly binary?: boolean;
}

type Hint = 'sp' | 'cmd' | 'sensor';

/** What a word in a vendor name stands for: markers, and a function hint. */
const WORDS: Readonly<Record<string, { readonly tags?: string; readonly hint?: Hint }>> = {
  ...Object.fromEntries(['temp', 'temperature', 'tmp', 't'].map((w) => [w, { tags: 'temp' }])),
  ...Object.fromEntries(['humidity', 'hum', 'humid', 'rh'].map((w) => [w, { tags: 'humidity' }])),
  ...Object.fromEntries(['pressure', 'press', 'pres', 'static'].map((w) => [w, { tags: 'pressure' }])),
  dp: { tags: 'delta pressure' },
  duct: { tags: 'discharge air' },
  dsp: { tags: 'discharge air pressure' },
  ...Object.fromEntries(['flow', 'flw'].map((w) => [w, { tags: 'flow' }])),
  airflow: { tags: 'air flow' },
  cfm: { tags: 'air flow' },
  gpm: { tags: 'water flow' },
  ...Object.fromEntries(['discharge', 'disch', 'dis'].map((w) => [w, { tags: 'discharge' }])),
  da: { tags: 'discharge air' },
  dat: { tags: 'discharge air temp' },
  sa: { tags: 'discharge air' },
  sat: { tags: 'discharge air temp' },
  ...Object.fromEntries(['supply', 'sup', 'sply', 'supp'].map((w) => [w, { tags: 'supply' }])),
  ...Object.fromEntries(['return', 'ret', 'rtn'].map((w) => [w, { tags: 'return' }])),
  ra: { tags: 'return air' },
  rat: { tags: 'return air temp' },
  ...Object.fromEntries(['mixed', 'mix'].map((w) => [w, { tags: 'mixed' }])),
  ma: { tags: 'mixed air' },
  mat: { tags: 'mixed air temp' },
  ...Object.fromEntries(['outside', 'outdoor', 'ambient', 'amb', 'oa'].map((w) => [w, { tags: 'outside' }])),
  oat: { tags: 'outside air temp' },
  ...Object.fromEntries(['exhaust', 'exh', 'ea'].map((w) => [w, { tags: 'exhaust' }])),
  ...Object.fromEntries(['zone', 'zn', 'space', 'spc', 'room', 'rm'].map((w) => [w, { tags: 'zone' }])),
  znt: { tags: 'zone air temp' },
  ...Object.fromEntries(['entering', 'ent', 'inlet'].map((w) => [w, { tags: 'entering' }])),
  ...Object.fromEntries(['leaving', 'lvg', 'outlet'].map((w) => [w, { tags: 'leaving' }])),
  ewt: { tags: 'entering water temp' },
  lwt: { tags: 'leaving water temp' },
  ...Object.fromEntries(['chilled', 'chw', 'chwtr'].map((w) => [w, { tags: 'chilled water' }])),
  chws: { tags: 'chilled water supply' },
  chwr: { tags: 'chilled water return' },
  chwst: { tags: 'chilled water supply temp' },
  chwrt: { tags: 'chilled water return temp' },
  chwp: { tags: 'chilled water pump' },
  hot: { tags: 'hot' },
  hw: { tags: 'hot water' },
  hwst: { tags: 'hot water supply temp' },
  hwrt: { tags: 'hot water return temp' },
  hwp: { tags: 'hot water pump' },
  ...Object.fromEntries(['condenser', 'cond', 'cw'].map((w) => [w, { tags: 'condenser water' }])),
  cwst: { tags: 'condenser water supply temp' },
  cwrt: { tags: 'condenser water return temp' },
  cwp: { tags: 'condenser water pump' },
  ...Object.fromEntries(['water', 'wtr'].map((w) => [w, { tags: 'water' }])),
  air: { tags: 'air' },
  steam: { tags: 'steam' },
  ...Object.fromEntries(['damper', 'dmp', 'dpr', 'dmpr'].map((w) => [w, { tags: 'damper' }])),
  ...Object.fromEntries(['valve', 'vlv', 'vlve'].map((w) => [w, { tags: 'valve' }])),
  ...Object.fromEntries(['fan', 'sf', 'rf', 'ef'].map((w) => [w, { tags: 'fan' }])),
  ...Object.fromEntries(['pump', 'pmp'].map((w) => [w, { tags: 'pump' }])),
  coil: { tags: 'coil' },
  ...Object.fromEntries(['filter', 'filt', 'flt'].map((w) => [w, { tags: 'filter' }])),
  ...Object.fromEntries(['compressor', 'comp', 'cmp'].map((w) => [w, { tags: 'compressor' }])),
  meter: { tags: 'meter' },
  ...Object.fromEntries(['door', 'dr'].map((w) => [w, { tags: 'door' }])),
  ...Object.fromEntries(['power', 'pwr', 'kw', 'demand'].map((w) => [w, { tags: 'power' }])),
  ...Object.fromEntries(['energy', 'kwh', 'consumption'].map((w) => [w, { tags: 'energy' }])),
  ...Object.fromEntries(['elec', 'electric', 'electrical'].map((w) => [w, { tags: 'elec' }])),
  ...Object.fromEntries(['volt', 'volts', 'voltage'].map((w) => [w, { tags: 'volt' }])),
  ...Object.fromEntries(['current', 'amps', 'amp', 'amperage'].map((w) => [w, { tags: 'current' }])),
  ...Object.fromEntries(['freq', 'frequency', 'hz'].map((w) => [w, { tags: 'freq' }])),
  pf: { tags: 'pf' },
  ...Object.fromEntries(['speed', 'spd', 'rpm'].map((w) => [w, { tags: 'speed' }])),
  co2: { tags: 'co2' },
  ...Object.fromEntries(['occupied', 'occupancy', 'occ'].map((w) => [w, { tags: 'occupied' }])),
  ...Object.fromEntries(['unocc', 'unoccupied'].map((w) => [w, { tags: 'unocc' }])),
  ...Object.fromEntries(['cooling', 'clg', 'cool'].map((w) => [w, { tags: 'cool' }])),
  ...Object.fromEntries(['heating', 'htg', 'heat'].map((w) => [w, { tags: 'heat' }])),
  ...Object.fromEntries(['effective', 'eff', 'actual'].map((w) => [w, { tags: 'effective' }])),
  ...Object.fromEntries(['alarm', 'alm', 'alrm', 'fault', 'trip', 'tripped'].map((w) => [w, { tags: 'alarm' }])),
  ...Object.fromEntries(['enable', 'en', 'ena', 'enabled'].map((w) => [w, { tags: 'enable' }])),
  ...Object.fromEntries(['run', 'running', 'proof', 'prf'].map((w) => [w, { tags: 'run', hint: 'sensor' }])),
  ...Object.fromEntries(['sp', 'setpoint', 'stpt', 'spt', 'setp', 'set'].map((w) => [w, { hint: 'sp' }])),
  ...Object.fromEntries(['cmd', 'command', 'start', 'stop', 'ss', 'c', 'output', 'ao', 'bo'].map((w) => [w, { hint: 'cmd' }])),
  ...Object.fromEntries(['status', 'sts', 'stat', 's', 'feedback', 'fb', 'sensor', 'input', 'ai', 'bi'].map((w) => [w, { hint: 'sensor' }])),
};

/** Lower-case words of a vendor name: separators, camelCase and digits split ("ZoneTemp1" -> zone temp). */
export function nameWords(text: string): string[] {
  return text
    .replace(/\([^)]*\)/g, ' ')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .flatMap((w) => (/^co2$/i.test(w) ? [w] : w.split(/[0-9]+/)))
    .map((w) => w.toLowerCase())
    .filter((w) => w !== '');
}

const COUNTER_WORDS = new Set(['hours', 'hrs', 'hour', 'runtime', 'counter', 'starts', 'count']);

interface Gathered {
  readonly tags: Set<string>;
  readonly hints: Set<Hint>;
}

function gather(words: readonly string[]): Gathered {
  const tags = new Set<string>();
  const hints = new Set<Hint>();
  words.forEach((word, i) => {
    if (word === 'power' && words[i + 1] === 'factor') word = 'pf';

    const meaning = WORDS[word];
    if (!meaning) return;
    for (const t of meaning.tags?.split(' ') ?? []) tags.add(t);
    if (meaning.hint) hints.add(meaning.hint);
  });
  // Run hours and start counters are totals of the run state, not the state.
  if (words.some((w) => COUNTER_WORDS.has(w))) tags.delete('run');
  return { tags, hints };
}

const inGroup = (tags: Set<string>, g: MarkerGroup): string[] => [...tags].filter((t) => MARKERS.get(t) === g);
/** A name says what the point is about when it names a quantity, a component or a state. */
const saysWhat = (tags: Set<string>): boolean => ['quantity', 'component', 'state'].some((g) => inGroup(tags, g as MarkerGroup).length > 0);

/**
 * Markers proposed for a point from its vendor name (the description when the name says too
 * little), unit, writability and whether it is two-state; an empty list when nothing is
 * recognised. The result passes tagProblems for the same point.
 */
export function proposeTags(input: TagProposalInput): string[] {
  let found = gather(nameWords(input.name));
  if (!saysWhat(found.tags) && input.description) {
    const fromDescription = gather(nameWords(input.description));
    found = { tags: new Set([...found.tags, ...fromDescription.tags]), hints: new Set([...found.hints, ...fromDescription.hints]) };
  }
  const tags = found.tags;
  const hints = found.hints;
  const unitQuantity = quantityOfUnit(input.unit);
  // A unit is data, a name is prose: the unit's quantity wins over what the name says.
  const quantities = inGroup(tags, 'quantity');
  if (unitQuantity) {
    for (const q of quantities) tags.delete(q);
    tags.add(unitQuantity);
  } else if (quantities.length > 1) {
    for (const q of quantities.slice(1)) tags.delete(q);
  }
  if (input.unit?.trim() === '%RH') tags.add('humidity');
  if (!saysWhat(tags) && !(hints.has('sp') && inGroup(tags, 'section').length > 0)) return [];
  // A two-state alarm is about a quantity, not a measurement of it: "temp sensor" finds measurements only.
  if (input.binary === true && tags.has('alarm')) for (const q of inGroup(tags, 'quantity')) tags.delete(q);
  const quantity = inGroup(tags, 'quantity')[0];

  // Media: kinds of water, the air of ducts and rooms, electricity.
  if (inGroup(tags, 'waterKind').length > 0 || tags.has('pump')) {
    if (inGroup(tags, 'waterKind').length > 0) tags.add('water');
  }
  if (!tags.has('water') && !tags.has('steam')) {
    const ducted = inGroup(tags, 'section').filter((s) => s !== 'entering' && s !== 'leaving').length > 0;
    if (quantity === 'humidity' || quantity === 'co2' || (ducted && (quantity !== undefined || tags.has('damper')))) tags.add('air');
    if (tags.has('supply') && tags.has('air')) {
      tags.delete('supply');
      tags.add('discharge');
    }
    if (tags.has('air') && !['temp', 'humidity', 'pressure', 'flow', 'co2', 'enthalpy'].includes(quantity ?? '') && !tags.has('damper')) tags.delete('air');
  }
  if (quantity && ['volt', 'current', 'freq', 'pf'].includes(quantity)) tags.add('elec');
  if ((quantity === 'power' || quantity === 'energy') && !tags.has('water') && !tags.has('air') && !tags.has('coil') && !tags.has('steam')) tags.add('elec');
  if (tags.has('occupied') && hints.has('sp')) {
    tags.delete('occupied');
    tags.add('occ');
  }
  const onOff = ['fan', 'pump', 'compressor'].filter((c) => tags.has(c));
  if (input.binary === true && onOff.length > 0 && quantity === undefined && !tags.has('enable') && !tags.has('alarm')) tags.add('run');

  let fn: Hint;
  if (hints.has('sp')) fn = 'sp';
  else if (hints.has('cmd') && input.writable !== false) fn = 'cmd';
  else if (input.writable === true) fn = input.binary === true || onOff.length > 0 || tags.has('damper') || tags.has('valve') || tags.has('enable') || quantity === undefined ? 'cmd' : 'sp';
  else fn = hints.has('cmd') ? 'cmd' : 'sensor';
  if (fn === 'sp' && (tags.has('cool') || tags.has('heat'))) {
    if (tags.delete('cool')) tags.add('cooling');
    if (tags.delete('heat')) tags.add('heating');
  }
  tags.add(fn);
  const proposed = normalizeTags([...tags]);
  // Never propose what the checks refuse: drop the list rather than hand out a bad one.
  return tagProblems(proposed, { ...(input.unit !== undefined ? { unit: input.unit } : {}), ...(input.writable !== undefined ? { writable: input.writable } : {}) }).length === 0 ? proposed : [];
}
