/**
 * What the live stream (SSE) of the API sends, from one place: this process's own changes (review
 * items, gateway status, gateway events, commands, software deployments, incidents) and, where several hub processes share a
 * store, the changes the others relay (pg-relay.ts). The data is already in the shape the stream
 * sends.
 */
import type { HubEvents } from '../events.js';
import type { IncidentView } from '../incidents/service.js';
import type { ReviewItem } from '../review/types.js';

export const LIVE_TOPICS = ['review', 'gateway', 'event', 'command', 'deployment', 'incident'] as const;
export type LiveTopic = (typeof LIVE_TOPICS)[number];
export type LiveListener = (topic: LiveTopic, data: unknown) => void;

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

  constructor(sources: LiveSources) {
    const emit = (topic: LiveTopic, data: unknown): void => {
      for (const l of this.local) l(topic, data);
      for (const l of this.all) l(topic, data);
    };
    this.offs = [
      sources.events.on('gateway', ({ record, previous }) => emit('gateway', { ...record, previous: previous ?? null })),
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
    for (const l of this.all) l(topic, data);
  }

  close(): void {
    for (const off of this.offs.splice(0)) off();
    this.all.clear();
    this.local.clear();
  }
}
