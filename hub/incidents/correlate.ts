/**
 * The emergence monitor's grouping, in memory and without I/O: anomaly events become incidents.
 *
 * - Points are peers when they carry the same Haystack markers and unit (their `signature`; a
 *   point without markers is known by its name and unit). How many gateways have such a point,
 *   per site, is the `population` the caller looks up (hub/registry/points.ts).
 * - A **fleet incident** forms when, within `windowMs`, at least `minGateways` distinct gateways
 *   alarm on points of one signature and they are at least `siteFraction` of the site's gateways
 *   with such a point (scope `site`: a heat wave on one site's outside-air sensors) or, over two or
 *   more sites (`minGateways` or more of the gateways outside the site with the most: a site's
 *   incident and stray alarms at other sites are not a fleet-wide cause), at least
 *   `fleetFraction` of all of them (scope `fleet`: a grid event on every meter); or, when the
 *   gateways run a version less than `releaseShare` of the fleet runs, `fleetFraction` of the
 *   gateways on it (scope `fleet`, release hint: a bad rollout).
 *   Later events on that signature (and site, for a site scope) join it while it is open.
 * - **Spread over the quiet period.** Weather reaches each building's detector at its own time
 *   (sensor placement, learned range, sensitivity): one site's outside-air alarms can come over
 *   30-60 min, never three within the window. A site incident also forms from the site's open
 *   equipment incidents on one signature over `quietMs` (the span an equipment incident stays
 *   open) once they come from `spreadSiteFraction` (0.7) of the site's gateways with such a point,
 *   and from one gateway more than `minGateways`. Why stricter: with independent faults at a rate
 *   r per gateway and point, k of N gateways within a span T happen by chance about C(N,k)·(r·T)^k
 *   per span, so six times the window needs more gateways to stay as rare. A per-point false
 *   alarm rate of 1 a gateway-day puts chance site incidents at about 5e-7 a day for 10 gateways
 *   (7 of 10 in 60 min) against 5e-7 for the window rule (5 of 10 in 10 min), and 6e-5 against
 *   2e-4 for 4 gateways (all 4 in 60 min against 3 in 10), while a heat wave that trips 90 % of
 *   the detectors reaches 7 of 10 in 99 % of cases. A site of three gateways needs them within
 *   the window. A site incident, however it formed, takes the site's open equipment incidents on
 *   its signature from that span when the spread share holds (from the window otherwise), and
 *   related points they hold (mixed air beside outside air) join it by the propagation rule.
 * - **Propagation.** A cause reaches further points of the same equipment later: a voltage dip
 *   trips voltage and power at once, a heat wave reaches mixed air within minutes and return air
 *   through the building's thermal mass up to hours later, each building with its own lag. Alarms
 *   on another kind of point sharing a marker with a fleet incident, on equipment that alarmed in
 *   it, join it: two or more of its gateways within the window while it is open, or, up to
 *   `propagationMs` after its latest member (reopening it if it closed quiet), a `fleetFraction`
 *   share of its gateways (two or more) since it began, their lags spread over hours. One gateway
 *   alarming alone on such a point stays its own equipment incident.
 * - Every other event is an **equipment incident** of its (gateway, device): one gateway
 *   deviating while its peers do not. Its events are provisional: if peers start alarming within
 *   the window, they move into the fleet incident, and an equipment incident left empty is
 *   `merged` into it.
 * - An incident without a new event for `quietMs` is `closed`; a later event opens a new one.
 *   Quiet by both clocks: its events' own times, and the hub's since it last took one. Events can
 *   arrive late and out of order (a site's store-and-forward backlog after an uplink outage): they
 *   are grouped by their own times, so an hour-old burst forms the incident it formed then, and
 *   stays open for an hour after it arrived rather than closing under the next live alarm.
 * - "Within the window" of an event is any span of `windowMs` that holds it (the one with the most
 *   gateways), earlier or later: the same incidents whatever order the events arrive in.
 */

export type IncidentKind = 'fleet' | 'equipment';
export type IncidentScope = 'site' | 'fleet' | 'equipment';
export type IncidentState = 'open' | 'closed' | 'merged';

export interface AnomalyInput {
  readonly eventId: string;
  readonly ts: number;
  readonly site: string;
  readonly gateway: string;
  readonly device?: string;
  readonly point?: string;
  /** Haystack markers of the point, from the point index ("point" left out); empty when unknown. */
  readonly tags: readonly string[];
  readonly unit?: string;
  readonly severity: string;
  /** The gateway's software version from its last birth. */
  readonly version?: string;
}

export interface Member extends AnomalyInput {
  readonly signature: string;
}

export interface Incident {
  readonly id: string;
  kind: IncidentKind;
  scope: IncidentScope;
  state: IncidentState;
  /** The one site of a site or equipment incident; absent for a fleet-wide one. */
  site?: string;
  signatures: string[];
  /** The markers every member's point shares, in the first member's reading order. */
  tags: string[];
  unit?: string;
  cause: string;
  /** Set when every member gateway runs this version (a fleet incident: a release is suspect). */
  release?: string;
  firstSeen: number;
  lastSeen: number;
  /** When (the hub's clock, as given to add) its latest member arrived; absent: lastSeen. */
  addedAt?: number;
  /** Gateways with a point of the incident's first signature (in its scope) when it formed. */
  population?: number;
  mergedInto?: string;
  closedAt?: number;
  readonly members: Member[];
}

export interface CorrelatorOptions {
  /** Events this close in time may belong together (default 10 min). */
  readonly windowMs?: number;
  /** An incident without events this long closes (default 60 min; a fleet incident's slower effects on related points still join it for propagationMs). */
  readonly quietMs?: number;
  /**
   * A fleet incident's related points (a marker shared, on equipment that alarmed in it) join it this
   * long after its latest member, reopening it when it closed quiet (default 3 h: outside air reaches
   * return and zone air through a building's thermal mass, whose time constant is hours).
   */
  readonly propagationMs?: number;
  /** Distinct gateways a fleet incident needs at least (default 3). */
  readonly minGateways?: number;
  /** Share of a site's gateways with such a point (default 0.5). */
  readonly siteFraction?: number;
  /** Share of all gateways with such a point, over two or more sites (default 0.3). */
  readonly fleetFraction?: number;
  /**
   * Share of a site's gateways with such a point whose alarms, spread over quietMs rather than
   * within the window, still form a site incident (default 0.7; and one gateway more than
   * minGateways): six times the span needs a stricter share to stay as rare by chance.
   */
  readonly spreadSiteFraction?: number;
  /**
   * A version run by less than this share of the fleet is a rollout in progress: gateways on it
   * alarming together count against the gateways on that version only (default 0.5).
   */
  readonly releaseShare?: number;
}

/** What drain returns: incidents to write, and members with their (new) incident. */
export interface Drained {
  readonly incidents: Incident[];
  readonly members: { member: Member; incident: string }[];
}

/** Gateways with a point of a signature, per site. */
export type Population = ReadonlyMap<string, number>;

const DEFAULTS = { windowMs: 600_000, quietMs: 3_600_000, propagationMs: 10_800_000, minGateways: 3, siteFraction: 0.5, fleetFraction: 0.3, spreadSiteFraction: 0.7, releaseShare: 0.5 } as const;

/** Markers too generic to say what two points have in common. */
const GENERIC = new Set(['point', 'sensor', 'cmd', 'sp', 'his', 'cur', 'writable', 'equip']);

export function signatureOf(input: Pick<AnomalyInput, 'tags' | 'unit' | 'point'>): string {
  const tags = [...new Set(input.tags.filter((t) => t !== 'point'))].sort();
  const what = tags.length > 0 ? tags.join(',') : `point:${input.point ?? '?'}`;
  return `${what}|${input.unit ?? ''}`;
}

function distinct<T>(values: Iterable<T>): number {
  return new Set(values).size;
}

/**
 * Of `xs`, those in the span of `span` ms holding `ts` that has the most distinct gateways (the
 * earliest such span on a tie). When every one is at or before `ts` (events arriving in order)
 * that is [ts − span, ts].
 */
export function aroundOf<T extends { readonly ts: number; readonly gateway: string }>(xs: readonly T[], ts: number, span: number): T[] {
  const near = xs.filter((x) => Math.abs(x.ts - ts) <= span);
  if (near.every((x) => x.ts <= ts)) return near;
  // Every span holding ts holds no more than one starting at its earliest member, or at ts.
  const starts = [...new Set([...near.filter((x) => x.ts <= ts).map((x) => x.ts), ts])].sort((a, b) => a - b);
  let best: T[] = [];
  let bestGateways = -1;
  for (const from of starts) {
    const inside = near.filter((x) => x.ts >= from && x.ts <= from + span);
    const gateways = distinct(inside.map((x) => x.gateway));
    if (gateways > bestGateways) {
      best = inside;
      bestGateways = gateways;
    }
  }
  return best;
}

function commonTags(members: readonly Member[]): string[] {
  const [first, ...rest] = members;
  if (!first) return [];
  return [...new Set(first.tags)].filter((t) => rest.every((m) => m.tags.includes(t)));
}

function describe(tags: readonly string[], members: readonly Member[]): string {
  const meaningful = tags.filter((t) => !GENERIC.has(t));
  if (meaningful.length > 0) return meaningful.join(' ');
  const points = [...new Set(members.map((m) => m.point ?? '?'))];
  return points.slice(0, 3).join(', ');
}

export class Correlator {
  private readonly o: Required<CorrelatorOptions>;
  private readonly open = new Map<string, Incident>();
  /** Fleet incidents closed quiet within propagationMs of their latest member: related points may still reopen them. */
  private readonly recent = new Map<string, Incident>();
  private readonly byEvent = new Map<string, Incident>();
  /** Incidents whose row or members changed since the last drain. */
  private readonly dirty = new Map<string, Incident>();
  private readonly dirtyMembers = new Map<string, { member: Member; incident: string }>();
  /** The hub's clock at the event being added (add's `now`). */
  private now = 0;

  constructor(
    options: CorrelatorOptions = {},
    private readonly newId: (first: Member) => string = (first) => `inc-${first.eventId}`,
  ) {
    this.o = { ...DEFAULTS, ...options };
  }

  get options(): Readonly<Required<CorrelatorOptions>> {
    return this.o;
  }

  /**
   * Open incidents from the store after a restart (with their members), replacing what it held;
   * fleet incidents closed less than propagationMs after their latest member may be passed too.
   */
  restore(incidents: readonly Incident[]): void {
    this.open.clear();
    this.recent.clear();
    this.byEvent.clear();
    for (const i of incidents) {
      if (i.state === 'closed' && i.kind === 'fleet') this.recent.set(i.id, i);
      if (i.state !== 'open') continue;
      this.open.set(i.id, i);
      for (const m of i.members) this.byEvent.set(m.eventId, i);
    }
  }

  openIncidents(): Incident[] {
    return [...this.open.values()];
  }

  /** Whether this event was grouped already (a redelivery). */
  knows(eventId: string): boolean {
    return this.byEvent.has(eventId);
  }

  /**
   * Groups one anomaly event; `population` gives the gateways per site with a point of its
   * signature (the event's own gateway counts even when the index does not know it yet);
   * `versionShare` the share of the fleet running the event's gateway's version; `now` the hub's
   * clock (default: the event's time, as when replaying a record in order).
   */
  add(input: AnomalyInput, population: Population, versionShare?: number, now = input.ts): Incident {
    const known = this.byEvent.get(input.eventId);
    if (known) return known;
    this.now = now;
    this.closeQuiet(now);
    const member: Member = { ...input, signature: signatureOf(input) };
    const joined = this.joinFleet(member);
    if (joined) return joined;
    const equipment = this.toEquipment(member, population);
    // A known cause's further effects before a new cause: return air trailing a heat wave is that heat wave.
    return this.joinRelated(member) ?? this.formFleet(member, population, versionShare) ?? equipment;
  }

  /** Closes incidents quiet for quietMs before `now` (the hub's clock) by both clocks; returns them. */
  closeQuiet(now: number): Incident[] {
    const closed: Incident[] = [];
    for (const i of this.open.values()) {
      if (Math.max(i.lastSeen, i.addedAt ?? i.lastSeen) + this.o.quietMs >= now) continue;
      i.state = 'closed';
      i.closedAt = now;
      this.open.delete(i.id);
      for (const m of i.members) this.byEvent.delete(m.eventId);
      if (i.kind === 'fleet') this.recent.set(i.id, i);
      this.touch(i);
      closed.push(i);
    }
    for (const i of this.recent.values()) if (i.state !== 'closed' || i.lastSeen + this.o.propagationMs < now) this.recent.delete(i.id);
    return closed;
  }

  /** What changed since the last call: incidents to write, and members with their (new) incident. */
  drain(): Drained {
    const out = { incidents: [...this.dirty.values()], members: [...this.dirtyMembers.values()] };
    this.dirty.clear();
    this.dirtyMembers.clear();
    return out;
  }

  /** Whether anything changed since the last drain. */
  get pending(): boolean {
    return this.dirty.size > 0 || this.dirtyMembers.size > 0;
  }

  /**
   * Puts back what a drain took and could not be written (the store refused): the next drain
   * returns it again, with anything changed since (a member moved since keeps its newer incident).
   */
  undrain(d: Drained): void {
    for (const i of d.incidents) this.dirty.set(i.id, i);
    for (const m of d.members) if (!this.dirtyMembers.has(m.member.eventId)) this.dirtyMembers.set(m.member.eventId, m);
  }

  private touch(i: Incident): void {
    this.dirty.set(i.id, i);
  }

  private place(m: Member, i: Incident): void {
    const previous = this.byEvent.get(m.eventId);
    if (previous && previous !== i) {
      const at = previous.members.findIndex((x) => x.eventId === m.eventId);
      if (at >= 0) previous.members.splice(at, 1);
      this.touch(previous);
    }
    i.members.push(m);
    i.firstSeen = Math.min(i.firstSeen, m.ts);
    i.lastSeen = Math.max(i.lastSeen, m.ts);
    i.addedAt = Math.max(i.addedAt ?? 0, this.now);
    this.byEvent.set(m.eventId, i);
    this.dirtyMembers.set(m.eventId, { member: m, incident: i.id });
    this.touch(i);
  }

  /** An active fleet incident this event belongs to. */
  private joinFleet(m: Member): Incident | undefined {
    for (const i of this.open.values()) {
      if (i.kind !== 'fleet' || !i.signatures.includes(m.signature)) continue;
      if (i.scope === 'site' && i.site !== m.site) continue;
      // While it is open: a cause like the weather goes on for hours. Not what came well before
      // it (a backlog alarm from hours earlier): in order, that would have been on its own.
      if (m.ts > i.lastSeen + this.o.quietMs || m.ts < i.firstSeen - this.o.windowMs) continue;
      this.place(m, i);
      // Alarms on its points still held as equipment incidents (before it formed, or before
      // their signature joined it) belong to it as well.
      const since = i.firstSeen - this.o.windowMs;
      const until = i.lastSeen + this.o.quietMs;
      const stranded: Member[] = [];
      for (const e of this.open.values()) {
        if (e.kind !== 'equipment') continue;
        for (const x of e.members) if (i.signatures.includes(x.signature) && x.ts >= since && x.ts <= until && (i.scope !== 'site' || x.site === i.site)) stranded.push(x);
      }
      return this.widen(m, stranded, [], i.scope === 'site' ? 'site' : 'fleet', i.site, i.population ?? 0, i);
    }
    return undefined;
  }

  private toEquipment(m: Member, population: Population): Incident {
    for (const i of this.open.values()) {
      if (i.kind !== 'equipment' || i.members[0]?.gateway !== m.gateway || i.members[0]?.device !== m.device) continue;
      if (m.ts > i.lastSeen + this.o.windowMs) continue;
      this.place(m, i);
      this.refresh(i);
      return i;
    }
    const peers = Math.max(0, (sum(population) || 1) - 1);
    const i: Incident = {
      id: this.newId(m),
      kind: 'equipment',
      scope: 'equipment',
      state: 'open',
      site: m.site,
      signatures: [m.signature],
      tags: [...m.tags],
      ...(m.unit === undefined ? {} : { unit: m.unit }),
      cause: '',
      firstSeen: m.ts,
      lastSeen: m.ts,
      population: peers + 1,
      members: [],
    };
    this.open.set(i.id, i);
    this.place(m, i);
    this.refresh(i);
    return i;
  }

  /** Forms (or widens) a fleet incident when enough peers alarm within the window. */
  private formFleet(m: Member, population: Population, versionShare: number | undefined): Incident | undefined {
    const { windowMs, quietMs } = this.o;
    // Provisional members: events on this signature in equipment incidents (within the window,
    // `recent`; at the site within quietMs, `spreadHere`: the equipment incidents still open), and
    // the members of site-scoped fleet incidents on it (a site incident may widen to the fleet).
    const candidates: Member[] = [];
    const siteIncidents: Incident[] = [];
    for (const i of this.open.values()) {
      if (i.kind === 'equipment') {
        for (const x of i.members) if (x.signature === m.signature) candidates.push(x);
      } else if (i.scope === 'site' && i.signatures.includes(m.signature) && i.lastSeen >= m.ts - windowMs && i.firstSeen <= m.ts + windowMs) {
        siteIncidents.push(i);
      }
    }
    const recent = aroundOf(candidates, m.ts, windowMs);
    const siteMembers = siteIncidents.flatMap((i) => i.members.filter((x) => x.signature === m.signature));
    const all = [...recent, ...siteMembers];
    const gateways = distinct(all.map((x) => x.gateway));
    const total = Math.max(sum(population), gateways);
    // Alarms beyond the site with the most of them (minGateways or more): one site's incident and
    // two stray alarms elsewhere are not a fleet-wide cause, however many gateways that site's
    // incident holds (a site incident gathered over quietMs can hold them all).
    const perSite = new Map<string, Set<string>>();
    for (const x of all) perSite.set(x.site, (perSite.get(x.site) ?? new Set()).add(x.gateway));
    const largest = Math.max(0, ...[...perSite.values()].map((g) => g.size));
    const elsewhere = gateways - largest;
    if (perSite.size >= 2 && elsewhere >= this.o.minGateways && gateways >= this.o.minGateways && gateways / total >= this.o.fleetFraction) {
      return this.widen(m, recent, siteIncidents, 'fleet', undefined, total);
    }
    if (m.version !== undefined && versionShare !== undefined && versionShare < this.o.releaseShare) {
      const onRelease = recent.filter((x) => x.version === m.version);
      const released = distinct(onRelease.map((x) => x.gateway));
      const peers = Math.max(Math.round(total * versionShare), released);
      if (released >= this.o.minGateways && released / peers >= this.o.fleetFraction) return this.widen(m, onRelease, [], 'fleet', undefined, peers);
    }
    const here = aroundOf(candidates.filter((x) => x.site === m.site), m.ts, windowMs);
    const hereGateways = distinct(here.map((x) => x.gateway));
    const atSite = Math.max(population.get(m.site) ?? 0, hereGateways);
    if (siteIncidents.some((i) => i.site === m.site)) return undefined;
    // Weather reaches each building's detector at its own time: a site incident takes the site's
    // open equipment incidents on this point (quietMs back), and forms from them too when a
    // stricter share of its gateways alarmed over that span.
    const spreadHere = aroundOf(candidates.filter((x) => x.site === m.site), m.ts, quietMs);
    const spreadGateways = distinct(spreadHere.map((x) => x.gateway));
    const withPoint = Math.max(population.get(m.site) ?? 0, spreadGateways);
    const together = hereGateways >= this.o.minGateways && hereGateways / atSite >= this.o.siteFraction;
    const spreadOut = spreadGateways >= Math.max(this.o.minGateways + 1, Math.ceil(this.o.spreadSiteFraction * withPoint));
    if (!together && !spreadOut) return undefined;
    const formed = spreadOut ? this.widen(m, spreadHere, [], 'site', m.site, withPoint) : this.widen(m, here, [], 'site', m.site, atSite);
    this.adoptRelated(formed);
    return formed;
  }

  /**
   * A site incident that forms late (its gateways' alarms spread over quietMs) finds its
   * equipment's related alarms already held as equipment incidents: mixed air that followed each
   * building's outside air. Each such kind of point joins by the propagation rule as if its latest
   * alarm came now.
   */
  private adoptRelated(i: Incident): void {
    const equipment = new Set(i.members.map(equipOf));
    const latest = new Map<string, Member>();
    for (const e of this.open.values()) {
      if (e.kind !== 'equipment') continue;
      for (const x of e.members) {
        if (i.signatures.includes(x.signature) || !equipment.has(equipOf(x))) continue;
        const seen = latest.get(x.signature);
        if (!seen || x.ts > seen.ts) latest.set(x.signature, x);
      }
    }
    for (const m of latest.values()) {
      const joining = this.relatedMembers(i, m);
      if (joining) this.widen(m, joining, [], i.scope === 'site' ? 'site' : 'fleet', i.site, i.population ?? 0, i);
    }
  }

  /**
   * Another kind of point sharing a marker with a fleet incident, on equipment that alarmed in it
   * (a grid event: voltage, then power of the same meters; a heat wave: outside, mixed, then return
   * air of the same AHUs). Its alarms join the incident when two or more of its gateways raise them
   * within the window while it is open, or, up to propagationMs after its latest member (reopening
   * it if it closed quiet), when since it began they came from a share of its gateways of at least
   * fleetFraction (two or more; counted while their own equipment incidents are open, each within
   * quietMs of the next): one gateway's own fault on such a point, or two false alarms in a large
   * incident, stay apart.
   */
  private joinRelated(m: Member): Incident | undefined {
    for (const i of [...this.open.values(), ...this.recent.values()]) {
      const joining = this.relatedMembers(i, m);
      if (!joining) continue;
      if (i.state === 'closed') this.reopen(i);
      return this.widen(m, joining, [], i.scope === 'site' ? 'site' : 'fleet', i.site, i.population ?? distinct(i.members.map((x) => x.gateway)), i);
    }
    return undefined;
  }

  /** The alarms on m's kind of point (m's among them) that join fleet incident i as its related effects, if they do. */
  private relatedMembers(i: Incident, m: Member): Member[] | undefined {
    const mine = m.tags.filter((t) => !GENERIC.has(t));
    // The kind of point it formed on joins only while it is open (joinFleet); a later alarm on it is news.
    if (mine.length === 0 || i.kind !== 'fleet' || i.signatures[0] === m.signature || i.lastSeen + this.o.propagationMs < m.ts || !i.tags.some((t) => mine.includes(t))) return undefined;
    const equipment = new Set(i.members.map(equipOf));
    if (!equipment.has(equipOf(m))) return undefined;
    // Effects follow their cause (a voltage dip's power alarms may come within the window of it).
    const since = i.firstSeen - this.o.windowMs;
    const candidates: Member[] = [];
    for (const e of this.open.values()) {
      if (e.kind !== 'equipment') continue;
      for (const x of e.members) if (x.signature === m.signature && x.ts >= since && equipment.has(equipOf(x))) candidates.push(x);
    }
    const gateways = distinct(i.members.map((x) => x.gateway));
    const near = aroundOf(candidates, m.ts, this.o.windowMs);
    const together = i.state === 'open' && i.lastSeen + this.o.quietMs >= m.ts && distinct(near.map((x) => x.gateway)) >= 2;
    const spread = distinct(candidates.map((x) => x.gateway)) >= Math.max(2, Math.ceil(this.o.fleetFraction * gateways));
    if (!together && !spread) return undefined;
    return together && !spread ? near : candidates;
  }

  /** A fleet incident closed quiet that its cause's later effects join again. */
  private reopen(i: Incident): void {
    this.recent.delete(i.id);
    i.state = 'open';
    delete i.closedAt;
    this.open.set(i.id, i);
    for (const x of i.members) this.byEvent.set(x.eventId, i);
    this.touch(i);
  }

  private widen(m: Member, provisional: readonly Member[], absorb: readonly Incident[], scope: 'site' | 'fleet', site: string | undefined, population: number, into?: Incident): Incident {
    // The same gateways alarming on another signature at the same time: that incident widens.
    const gws = new Set(provisional.map((x) => x.gateway));
    let target = into ?? [...this.open.values()].find((i) => {
      if (i.kind !== 'fleet' || absorb.includes(i) || i.firstSeen < m.ts - this.o.windowMs) return false;
      if (scope === 'site' && i.scope === 'site' && i.site !== site) return false;
      const theirs = new Set(i.members.map((x) => x.gateway));
      let shared = 0;
      for (const g of gws) if (theirs.has(g)) shared++;
      return shared / gws.size >= 0.5;
    });
    if (!target) target = absorb[0];
    if (!target) {
      const first = [...provisional].sort((a, b) => a.ts - b.ts)[0] ?? m;
      target = { id: this.freshId(provisional, first), kind: 'fleet', scope, state: 'open', ...(site === undefined ? {} : { site }), signatures: [m.signature], tags: [], cause: '', firstSeen: first.ts, lastSeen: first.ts, population, members: [] };
      this.open.set(target.id, target);
    }
    if (!target.signatures.includes(m.signature)) target.signatures.push(m.signature);
    if (scope === 'fleet' && target.scope !== 'fleet' && !into) {
      target.scope = 'fleet';
      delete target.site;
      target.population = population;
    }
    for (const other of absorb) {
      if (other === target) continue;
      for (const x of [...other.members]) this.place(x, target);
    }
    for (const x of provisional) if (this.byEvent.get(x.eventId) !== target) this.place(x, target);
    this.refresh(target);
    this.mergeRelated(target);
    // Equipment and site incidents left empty were merged into this one.
    for (const i of [...this.open.values()]) {
      if (i === target || i.members.length > 0) continue;
      i.state = 'merged';
      i.mergedInto = target.id;
      this.open.delete(i.id);
      this.touch(i);
    }
    for (const i of this.open.values()) if (this.dirty.has(i.id)) this.refresh(i);
    return target;
  }

  /**
   * An id for a new fleet incident from its earliest member, as newId gives it; not one an open
   * incident keeps (the earliest member's equipment incident has that id, and it may hold other
   * alarms that do not move, such as mixed air beside outside air).
   */
  private freshId(provisional: readonly Member[], first: Member): string {
    const moving = new Set(provisional.map((x) => x.eventId));
    for (const x of [first, ...[...provisional].sort((a, b) => a.ts - b.ts)]) {
      const id = this.newId(x);
      const holder = this.open.get(id) ?? this.recent.get(id);
      if (!holder || holder.members.every((y) => moving.has(y.eventId))) return id;
    }
    return `${this.newId(first)}-fleet`;
  }

  /**
   * Another open fleet incident that began within the window of this one, on points sharing a
   * marker, with mostly the same gateways (the smaller's half or more): one cause, one incident.
   */
  private mergeRelated(target: Incident): void {
    const mine = new Set(target.members.map((x) => x.gateway));
    for (const other of [...this.open.values()]) {
      if (other === target || other.kind !== 'fleet' || Math.abs(other.firstSeen - target.firstSeen) > this.o.windowMs) continue;
      if (!other.tags.some((t) => !GENERIC.has(t) && target.tags.includes(t))) continue;
      if (target.scope === 'site' && other.scope === 'site' && other.site !== target.site) continue;
      const theirs = new Set(other.members.map((x) => x.gateway));
      let shared = 0;
      for (const g of theirs) if (mine.has(g)) shared++;
      if (shared < Math.max(2, 0.5 * Math.min(mine.size, theirs.size))) continue;
      for (const sig of other.signatures) if (!target.signatures.includes(sig)) target.signatures.push(sig);
      if (other.scope === 'fleet' && target.scope === 'site') {
        target.scope = 'fleet';
        delete target.site;
      }
      for (const x of [...other.members]) this.place(x, target);
      other.state = 'merged';
      other.mergedInto = target.id;
      this.open.delete(other.id);
      this.touch(other);
      this.refresh(target);
    }
  }

  /** Recomputes an incident's derived fields (tags, sites, cause) from its members. */
  private refresh(i: Incident): void {
    const members = i.members;
    if (members.length === 0) return;
    i.firstSeen = members.reduce((a, x) => Math.min(a, x.ts), Infinity);
    i.lastSeen = members.reduce((a, x) => Math.max(a, x.ts), -Infinity);
    i.tags = commonTags(members);
    const units = new Set(members.map((x) => x.unit ?? ''));
    const [unit] = units;
    if (units.size === 1 && unit) i.unit = unit;
    else delete i.unit;
    const versions = new Set(members.map((x) => x.version ?? ''));
    const [version] = versions;
    const gateways = distinct(members.map((x) => x.gateway));
    if (i.kind === 'fleet' && versions.size === 1 && version) i.release = version;
    else delete i.release;
    const what = describe(i.tags, members);
    if (i.kind === 'fleet') {
      const sites = [...new Set(members.map((x) => x.site))].sort();
      const where = i.scope === 'site' ? `site ${i.site ?? sites[0] ?? '?'}` : `${sites.length} site${sites.length === 1 ? '' : 's'} (${sites.join(', ')})`;
      const release = i.release ? `; every one runs ${i.release}: a release is suspect` : '';
      // When each gateway first alarmed on the kind of point it formed on: together, or spread out.
      const first = new Map<string, number>();
      for (const x of members) if (x.signature === i.signatures[0]) first.set(x.gateway, Math.min(first.get(x.gateway) ?? Infinity, x.ts));
      const firsts = [...first.values()].sort((a, b) => a - b);
      const together = firsts.length < this.o.minGateways || (firsts[this.o.minGateways - 1] ?? 0) - (firsts[0] ?? 0) <= this.o.windowMs;
      const when = together ? `the first within ${Math.round(this.o.windowMs / 60_000)} min of each other` : `their first alarms spread over ${Math.round(((firsts.at(-1) ?? 0) - (firsts[0] ?? 0)) / 60_000)} min (each building's detector in its own time)`;
      i.cause = `${gateways} of ${i.population ?? gateways} gateways alarm on ${what} at ${where}, ${when}: a common cause (weather, grid, release)${release}`;
    } else {
      const first = members[0]!;
      const peers = Math.max(0, (i.population ?? 1) - 1);
      i.cause = `${first.gateway}/${first.device ?? '?'} deviates on ${what}${peers > 0 ? `; its ${peers} peer${peers === 1 ? '' : 's'} with the same point do not` : ''}: a fault of this equipment, not a common cause`;
    }
  }
}

function equipOf(x: Pick<Member, 'gateway' | 'device'>): string {
  return `${x.gateway}\n${x.device ?? ''}`;
}

function sum(population: Population): number {
  let n = 0;
  for (const v of population.values()) n += v;
  return n;
}
