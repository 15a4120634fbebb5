/**
 * The start guard: a small self-contained script (<installRoot>/update-guard.mjs, Node built-ins
 * only) that the service runs before every start (systemd: ExecStartPre=/usr/bin/node
 * <installRoot>/update-guard.mjs <installRoot>). It catches what the updater cannot: a new release
 * that dies before its updater runs (a crash at load) restarts forever, so the guard counts the
 * starts of a pending release and, past update.maxBoots starts or its health deadline, switches
 * `current` back to the previous release itself. It records the outcome unreported; the updater
 * of the restored release reports it to the hub. The release that installs an update writes the
 * guard (the known-good code guards the new one), never the release on probation.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const GUARD_FILE = 'update-guard.mjs';

export const GUARD_SCRIPT = `// Swarmgate start guard (written by the updater, edge/update/guard.ts): run before each start.
import { closeSync, fsyncSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';

const root = process.argv[2];
if (!root) {
  process.stderr.write('usage: node update-guard.mjs INSTALL_ROOT\\n');
  process.exit(0);
}
const stateFile = join(root, 'update-state.json');
const write = (file, text) => {
  const tmp = file + '.tmp-guard';
  const fd = openSync(tmp, 'w', 0o644);
  writeSync(fd, text);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
  const dir = openSync(root, 'r');
  fsyncSync(dir);
  closeSync(dir);
};
let state;
try {
  state = JSON.parse(readFileSync(stateFile, 'utf8'));
} catch {
  process.exit(0);
}
const pending = state && state.pending;
if (!pending) process.exit(0);
let current;
try {
  current = basename(readlinkSync(join(root, 'current')));
} catch {
  process.exit(0);
}
if (current !== pending.version) process.exit(0);
const starts = (pending.starts ?? 0) + 1;
const maxBoots = pending.maxBoots ?? 3;
const now = Date.now();
// The deadline counts once the updater has started the release (it opens the window at its first
// start); a release that never gets that far is judged by its starts.
const late = (pending.boots ?? 0) > 0 && now >= pending.deadline;
if (starts <= maxBoots && !late) {
  write(stateFile, JSON.stringify({ ...state, pending: { ...pending, starts } }, null, 2) + '\\n');
  process.exit(0);
}
const reason = starts > maxBoots
  ? 'started ' + (starts - 1) + ' times without a health verdict (crash loop); the start guard rolled it back'
  : 'the health deadline passed before this start; the start guard rolled it back';
const tmp = join(root, '.current-guard');
rmSync(tmp, { force: true });
symlinkSync(join('releases', pending.previous), tmp);
renameSync(tmp, join(root, 'current'));
const handled = [...(state.handled ?? []).filter((d) => d !== pending.deployment), pending.deployment].slice(-50);
const last = { deployment: pending.deployment, version: pending.version, outcome: 'rolled-back', code: 'SWG_ERR_UPDATE_UNHEALTHY', reason, ts: now, reported: false };
write(stateFile, JSON.stringify({ v: 1, last, handled }, null, 2) + '\\n');
process.stderr.write('swarmgate update guard: ' + pending.version + ' ' + reason + '; current is ' + pending.previous + ' again\\n');
`;

/** Writes <root>/update-guard.mjs atomically. */
export function writeStartGuard(root: string): string {
  const file = join(root, GUARD_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, GUARD_SCRIPT);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return file;
}
