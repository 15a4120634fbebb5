/**
 * What the live stream (SSE) of the API sends, from one place: this process's own changes (review
 * items, gateway status, gateway events, commands, software deployments, incidents) and, where several hub processes share a
 * store, the changes the others relay (pg-relay.ts). The data is already in the shape the stream
 * sends.
 */
import { BurstWindow } from '../../shared/kit/burst-window.js';
import type { HubEvents } from '../events.js';
import type { IncidentView } from '../incidents/service.js';
import type { ReviewItem } from '../review/types.js';

/**
 * `gateway` is one gateway's status change; `gateways` sums up the changes that followed it within
 * a second (a site's network dropping or coming back): the first change of a quiet spell comes
 * at once on its own, the rest of the burst as one summary, so a fleet of 20,000 dropping at once
 * is a few events on every stream and every relay, not 20,000.
 */
export const LIVE_TOPICS = ['review', 'gateway', 'gateways', 'event', 'command', 'deployment', 'incident'] as const;
export type LiveTopic = (typeof LIVE_TOPICS)[number];
export type LiveListener = (topic: LiveTopic, data: unknown) => void;

/** Gateway ids listed in a `gateways` summary, and sites counted by name; the rest only in the totals. */
const BURST_SAMPLE = 50;
const BURST_WINDOW_MS = 1000;

/** The data of a `gateways` event. */
export interface GatewayBurst {
  /** Status changes summed up here (after the one sent on its own as `gateway`). */
  changes: number;
  byStatus: Record<string, number>;
  /** Changes per site and status, for the first BURST_SAMPLE sites. */
  sites: Record<string, Record<string, number>>;
  /** The first BURST_SAMPLE changes. */
  gateways: { gateway: string; site: string; status: string }[];
  windowMs: number;
}

interface GatewayChange {
  readonly gateway: string;
  readonly site: string;
  readonly status: string;
}

export interface LiveSources {
  readonly events: HubEvents;
  readonly review?: { onChange(listener: (item: ReviewItem) => void): () => void };
  /** Incidents opened, grown, merged or closed (hub/incidents), without their members. */
  readonly incidents?: { onChange(listener: (incident: IncidentView) => void): () => void };
}

export class LiveFeed {
  private readonly all = new Set<LiveListener>();
  private readonly local = new Set<LiveListener>();
  private readonly offs: (() => void)[];
  private readonly statusBursts: BurstWindow<GatewayChange & { readonly data: unknown }, GatewayBurst>;
  /**
   * Each gateway's last status change shown (status and state time): behind a shared broker every
   * hub process hears a gateway's state, and two processes applying it at once may both report
   * the change, one of them also relayed; a stream shows it once.
   */
  private readonly shownStatus = new Map<string, string>();

  constructor(sources: LiveSources, options: { readonly burstWindowMs?: number } = {}) {
    const emit = (topic: LiveTopic, data: unknown): void => {
      for (const l of this.local) l(topic, data);
      for (const l of this.all) l(topic, data);
    };
    const windowMs = options.burstWindowMs ?? BURST_WINDOW_MS;
    this.statusBursts = new BurstWindow({
      windowMs,
      single: (change) => {
        if (this.firstShowing(change.data)) emit('gateway', change.data);
      },
      start: (): GatewayBurst => ({ changes: 0, byStatus: {}, sites: {}, gateways: [], windowMs }),
      add: (burst, { gateway, site, status }) => {
        burst.changes++;
        burst.byStatus[status] = (burst.byStatus[status] ?? 0) + 1;
        const perSite = burst.sites[site] ?? (Object.keys(burst.sites).length < BURST_SAMPLE ? (burst.sites[site] = {}) : undefined);
        if (perSite) perSite[status] = (perSite[status] ?? 0) + 1;
        if (burst.gateways.length < BURST_SAMPLE) burst.gateways.push({ gateway, site, status });
      },
      summary: (burst) => emit('gateways', burst),
    });
    this.offs = [
      sources.events.on('gateway', ({ record, previous }) => this.statusBursts.push({ gateway: record.gateway, site: record.site, status: record.status, data: { ...record, previous: previous ?? null } })),
      sources.events.on('event', ({ site, gateway, event }) => emit('event', { ...event, site, gateway })),
      sources.events.on('command', ({ record }) => emit('command', record)),
      sources.events.on('deployment', (change) => emit('deployment', change)),
      ...(sources.review ? [sources.review.onChange((item) => emit('review', item))] : []),
      ...(sources.incidents ? [sources.incidents.onChange((incident) => emit('incident', incident))] : []),
    ];
  }

  /** Every change, this process's and relayed ones (the stream's clients). */
  subscribe(listener: LiveListener): () => void {
    this.all.add(listener);
    return () => this.all.delete(listener);
  }

  /** This process's own changes only (what a relay sends to the others). */
  onLocal(listener: LiveListener): () => void {
    this.local.add(listener);
    return () => this.local.delete(listener);
  }

  /** A change another hub process relayed: to the stream's clients, not relayed again. */
  deliverRemote(topic: LiveTopic, data: unknown): void {
    if (topic === 'gateway' && !this.firstShowing(data)) return;
    for (const l of this.all) l(topic, data);
  }

  /** false for a gateway status change already shown (same gateway, status and state time). */
  private firstShowing(data: unknown): boolean {
    const d = (data ?? {}) as { gateway?: unknown; status?: unknown; stateTs?: unknown };
    if (typeof d.gateway !== 'string') return true;
    const signature = `${String(d.status)}|${String(d.stateTs ?? '')}`;
    if (this.shownStatus.get(d.gateway) === signature) return false;
    this.shownStatus.set(d.gateway, signature);
    return true;
  }

  close(): void {
    this.statusBursts.flush();
    for (const off of this.offs.splice(0)) off();
    this.all.clear();
    this.local.clear();
  }
}
