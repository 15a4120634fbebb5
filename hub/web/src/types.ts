/** The shapes the page reads from the API (a subset of the OpenAPI document at /docs). */
export type Role = 'viewer' | 'technician' | 'admin';
export interface Me {
  name: string;
  role: Role;
  via: 'session' | 'token';
}
export type Action = { kind: 'write'; device: string; point: string; value: number | boolean | string } | { kind: 'mode'; mode: 'auto' | 'manual' | 'maintenance' };
export interface Sample {
  ts: number;
  value: unknown;
}
export interface ReviewItem {
  id: string;
  state: 'pending' | 'approved' | 'rejected' | 'expired' | 'executed' | 'failed';
  site: string;
  gateway: string;
  priority: number;
  source: 'gateway' | 'hub';
  sourceAgent?: string;
  actionClass: string;
  action: Action;
  modifiedAction?: Action;
  confidence: number;
  rationale: string;
  /** Absent in list responses. */
  evidence: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
  decidedBy?: string;
  decidedAt?: number;
  reason?: string;
  commandId?: string;
  version: number;
}
export interface Command {
  id: string;
  gateway: string;
  status: 'pending' | 'delivered' | 'applied' | 'rejected' | 'timed-out';
  reason?: string;
  updatedAt: number;
}
export interface Gateway {
  gateway: string;
  site: string;
  status: 'online' | 'offline' | 'unknown';
  lastSeen: number | null;
  version?: string;
  health?: { outboxDepth: number; outboxBytes: number; rssBytes: number; uptimeS: number };
  /** units: point name -> engineering unit, from the gateway's profiles. */
  devices?: { id: string; protocol: string; state: string; units?: Record<string, string> }[];
}
export interface Reading {
  device: string;
  point: string;
  value: unknown;
  quality: 'good' | 'uncertain' | 'bad';
  ts: number;
}
export interface HistoryResult {
  bucketMs: number;
  buckets?: { start: number; avg: number; min: number; max: number; count: number }[];
  samples?: { ts: number; value: unknown }[];
}
export interface WorkOrder {
  id: string;
  site: string;
  gateway: string;
  equipment: string;
  problem: string;
  task: string;
  urgency: 'low' | 'normal' | 'high' | 'critical';
  sourceAgent: string;
  state: 'open' | 'closed';
  createdAt: number;
  updatedAt: number;
  /** Occurrences while open (the condition came back after clearing). */
  seen: number;
  /** When the agents last saw the condition. */
  lastSeenAt: number;
  /** When the agents stopped seeing it; absent while present. */
  clearedAt?: number;
  closedBy?: string;
  closedAt?: number;
  note?: string;
}
