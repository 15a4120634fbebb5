/**
 * What the demo prints for a person at a terminal: alarms and events as the hub receives them,
 * decisions (review items, commands sent to the gateway), and a periodic one-line summary —
 * not every reading (that is `--verbose`).
 */
import type { CommandRecord } from '../hub/store/types.js';
import type { ReviewItem } from '../hub/review/types.js';
import type { WorkOrder } from '../hub/work-orders/service.js';
import type { Action, GatewayEvent } from '../shared/wire/messages.js';

export type Print = (line: string) => void;

const MAX_MESSAGE = 240;

export function clock(ts = Date.now()): string {
  return new Date(ts).toISOString().slice(11, 19);
}

function clip(text: string, max = MAX_MESSAGE): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** ALARM for critical events, WARNING, ACTION for what a gateway did by itself, EVENT otherwise. */
export function eventTag(e: Pick<GatewayEvent, 'kind' | 'severity'>): string {
  if (e.severity === 'critical') return 'ALARM';
  if (e.kind === 'local-action') return 'ACTION';
  if (e.severity === 'warning') return 'WARNING';
  return 'EVENT';
}

export function formatEvent(gateway: string, e: GatewayEvent): string {
  const where = e.device ? `${e.device}${e.point ? `/${e.point}` : ''}` : gateway;
  return `${clock()}  ${eventTag(e).padEnd(7)} ${where}: ${clip(e.message)}`;
}

function actionText(a: Action): string {
  return a.kind === 'write' ? `${a.device}/${a.point} = ${String(a.value)}` : `mode ${a.mode}`;
}

/** A review item that is new or changed state (the queue on the review page). */
export function formatReview(item: ReviewItem): string {
  const who = item.source === 'hub' ? `hub ${item.sourceAgent ?? 'agents'}` : item.gateway;
  // A modified item goes (or failed to go) out with the technician's value: show that one.
  const action = item.modifiedAction ? `${actionText(item.modifiedAction)} (modified from ${actionText(item.action)})` : actionText(item.action);
  const why = (item.state === 'failed' || item.state === 'rejected') && item.reason ? ` (${clip(item.reason, 120)})` : '';
  return `${clock()}  REVIEW  ${item.state}: ${action}${why} (${who}, confidence ${item.confidence.toFixed(2)}): ${clip(item.rationale, 160)}`;
}

export function formatCommand(record: CommandRecord): string {
  return `${clock()}  COMMAND ${record.status}: ${actionText(record.command.action)} on ${record.gateway} (from ${record.command.origin})${record.reason ? ` (${clip(record.reason, 120)})` : ''}`;
}

export interface SummaryInputs {
  readonly readingsPerS: number;
  readonly devicesUp: number;
  readonly devices: number;
  readonly simTime: number;
  readonly speed: number;
  readonly coldRoomC?: number;
  readonly openReviews: number;
  readonly openWorkOrders: number;
}

export function formatSummary(s: SummaryInputs): string {
  const sim = new Date(s.simTime).toISOString().slice(0, 16).replace('T', ' ');
  const cold = s.coldRoomC === undefined ? '' : `, cold room ${s.coldRoomC.toFixed(1)} degC`;
  return (
    `${clock()}  summary: ${s.readingsPerS.toFixed(1)} readings/s, devices up ${s.devicesUp}/${s.devices}${cold}, ` +
    `open reviews ${s.openReviews}, open work orders ${s.openWorkOrders}, simulated time ${sim} (${s.speed}x)`
  );
}

export function formatWorkOrder(w: WorkOrder): string {
  return `${clock()}  WORK ORDER (${w.urgency}) ${w.equipment}: ${clip(w.problem, 120)}; task: ${clip(w.task, 80)}`;
}

export function formatDevice(device: string, state: string, cause?: string): string {
  return `${clock()}  DEVICE  ${device} ${state}${cause ? `: ${clip(cause, 120)}` : ''}`;
}
