/**
 * The updater's own small state file (update-state.json beside `current`): the update that waits
 * for its health verdict, the last outcome, and the deployments already handled (a retained
 * desired update is not tried again after it failed or rolled back). Written atomically.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { decode } from '../../shared/wire/codec.js';
import { fsyncDir } from './layout.js';

const strict = { additionalProperties: false } as const;

export const PendingUpdateSchema = Type.Object(
  {
    deployment: Type.String(),
    version: Type.String(),
    previous: Type.String(),
    /** switching: written before `current` moves; checking: the new release is current and must prove itself. */
    phase: Type.Union([Type.Literal('switching'), Type.Literal('checking')]),
    switchedAt: Type.Integer(),
    deadline: Type.Integer(),
    /** Starts of the new release that reached its updater. */
    boots: Type.Integer({ minimum: 0 }),
    /** Starts of the service counted by the start guard (guard.ts), whether or not the updater ran. */
    starts: Type.Optional(Type.Integer({ minimum: 0 })),
    /** update.maxBoots at install time, for the start guard. */
    maxBoots: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  strict,
);

export const OutcomeSchema = Type.Object(
  {
    deployment: Type.String(),
    version: Type.String(),
    outcome: Type.Union([Type.Literal('healthy'), Type.Literal('rolled-back'), Type.Literal('failed')]),
    code: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    ts: Type.Integer(),
    /** false: decided by the start guard, still to be reported to the hub by the next updater. */
    reported: Type.Optional(Type.Boolean()),
  },
  strict,
);

export const UpdateStateFileSchema = Type.Object(
  {
    v: Type.Literal(1),
    pending: Type.Optional(PendingUpdateSchema),
    last: Type.Optional(OutcomeSchema),
    /** Deployments seen to an end here (newest last, at most 50). */
    handled: Type.Array(Type.String(), { maxItems: 50 }),
  },
  strict,
);

export type PendingUpdate = Static<typeof PendingUpdateSchema>;
export type UpdateOutcome = Static<typeof OutcomeSchema>;
export type UpdateStateFile = Static<typeof UpdateStateFileSchema>;

const EMPTY: UpdateStateFile = { v: 1, handled: [] };

/** The state, or an empty one when the file is missing or unreadable (a torn file cannot exist: writes rename). */
export function readUpdateState(file: string): UpdateStateFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return structuredClone(EMPTY);
  }
  const r = decode(UpdateStateFileSchema, file, text);
  return r.ok ? r.value : structuredClone(EMPTY);
}

export function writeUpdateState(file: string, state: UpdateStateFile): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

/** The state with an outcome recorded: pending cleared, the deployment marked handled. */
export function withOutcome(state: UpdateStateFile, outcome: UpdateOutcome): UpdateStateFile {
  const handled = [...state.handled.filter((d) => d !== outcome.deployment), outcome.deployment].slice(-50);
  return { v: 1, last: outcome, handled };
}
