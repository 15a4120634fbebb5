/// <reference lib="dom" />
/** Calls to the hub API (same origin, session cookie). Errors carry the API's code and hint. */
import type { Action, Command, CreatedToken, Deployment, EnrolledGateway, EnrollmentToken, Gateway, HistoryResult, Incident, IncidentDetail, Me, Reading, ReviewItem, WorkOrder } from './types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string,
    readonly fields: { path: string; message: string }[] = [],
  ) {
    super(message);
  }
}

let sessionEnded: (() => void) | undefined;
/**
 * Told when a call finds the session over (a 401 outside the login calls: it expired or was
 * revoked), before the call fails: the page asks to log in again, keeping what was typed.
 */
export function onSessionEnded(listener: () => void): void {
  sessionEnded = listener;
}

/**
 * What a failed call says to the user: the API's message, the fields it refused and what to do.
 * A session that ended is a login prompt, never the API's hint for programs (POST /auth/login).
 */
export function apiErrorText(err: ApiError): string {
  if (err.code === 'SWG_ERR_AUTH_REQUIRED') return 'Your session ended; log in again.';
  return `${err.message}${err.fields.length ? ` (${err.fields.map((f) => `${f.path} ${f.message}`).join('; ')})` : ''}. ${err.hint}`;
}

async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string; hint: string; fields?: { path: string; message: string }[] } };
  if (!res.ok) {
    const e = data.error;
    if (res.status === 401 && !url.startsWith('/api/v1/auth/')) sessionEnded?.();
    throw new ApiError(res.status, e?.code ?? 'HTTP', e?.message ?? res.statusText, e?.hint ?? '', e?.fields);
  }
  return data as T;
}

const q = (params: Record<string, string | number | undefined>): string => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
};

export const api = {
  me: () => call<Me>('GET', '/api/v1/auth/me'),
  deployments: (limit = 5) => call<{ items: Deployment[] }>('GET', `/api/v1/deployments${q({ limit })}`),
  login: (username: string, password: string) => call<{ user: { username: string; role: Me['role'] } }>('POST', '/api/v1/auth/login', { username, password }),
  logout: () => call<{ ok: true }>('POST', '/api/v1/auth/logout'),
  reviews: (state?: string) => call<{ items: ReviewItem[] }>('GET', `/api/v1/reviews${q({ state, limit: 200 })}`),
  review: (id: string) => call<ReviewItem>('GET', `/api/v1/reviews/${encodeURIComponent(id)}`),
  approve: (id: string, note?: string) => call<ReviewItem>('POST', `/api/v1/reviews/${encodeURIComponent(id)}/approve`, note ? { note } : {}),
  reject: (id: string, reason: string) => call<ReviewItem>('POST', `/api/v1/reviews/${encodeURIComponent(id)}/reject`, { reason }),
  modify: (id: string, action: Action, note?: string) => call<ReviewItem>('POST', `/api/v1/reviews/${encodeURIComponent(id)}/modify`, note ? { action, note } : { action }),
  workOrders: (state: 'open' | 'closed') => call<{ items: WorkOrder[] }>('GET', `/api/v1/work-orders${q({ state, limit: 200 })}`),
  closeWorkOrder: (id: string, note: string) => call<WorkOrder>('POST', `/api/v1/work-orders/${encodeURIComponent(id)}/close`, { note }),
  incidents: (state: string, kind?: string) => call<{ items: Incident[] }>('GET', `/api/v1/incidents${q({ state, kind, limit: 200 })}`),
  incident: (id: string) => call<IncidentDetail>('GET', `/api/v1/incidents/${encodeURIComponent(id)}`),
  command: (id: string) => call<Command>('GET', `/api/v1/commands/${encodeURIComponent(id)}`),
  gateways: () => call<{ gateways: Gateway[] }>('GET', '/api/v1/gateways'),
  gateway: (id: string) => call<Gateway>('GET', `/api/v1/gateways/${encodeURIComponent(id)}`),
  points: (id: string) => call<{ points: Reading[] }>('GET', `/api/v1/gateways/${encodeURIComponent(id)}/points`),
  history: (gw: string, device: string, point: string, from: number, to: number) =>
    call<HistoryResult>('GET', `/api/v1/gateways/${encodeURIComponent(gw)}/points/${encodeURIComponent(device)}/${encodeURIComponent(point)}/history${q({ from, to, maxPoints: 300 })}`),
  enrollmentTokens: () => call<{ items: EnrollmentToken[] }>('GET', `/api/v1/enrollment/tokens${q({ state: 'active', limit: 200 })}`),
  createEnrollmentTokens: (body: { site: string; gateway?: string; count: number; ttl: string; qr: boolean }) =>
    call<{ items: (CreatedToken & { claim?: string; qrSvg?: string })[] }>('POST', '/api/v1/enrollment/tokens', body),
  revokeEnrollmentToken: (id: string) => call<EnrollmentToken>('DELETE', `/api/v1/enrollment/tokens/${encodeURIComponent(id)}`),
  enrolledGateways: () => call<{ items: EnrolledGateway[] }>('GET', '/api/v1/enrollment/gateways'),
  revokeEnrolledGateway: (gateway: string) => call<EnrolledGateway>('POST', `/api/v1/enrollment/gateways/${encodeURIComponent(gateway)}/revoke`),
};
