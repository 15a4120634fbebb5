/**
 * The broker credentials file (YAML): one entry per user with its role and password hashes. The
 * embedded broker checks `passwordHash` (scrypt for a chosen password, a salted HMAC for a generated
 * secret: passwords.ts); `mosquittoHash` ($7$ PBKDF2-SHA512) lets the same users
 * be emitted for an external Mosquitto. Plain passwords are never written; add/rotate hashes the
 * password given once (CLI: `swarmgate hub user add`).
 */
import { chmodSync, chownSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { dirname } from 'node:path';
import { parse } from 'yaml';
import { SwarmgateError, errorMessage } from '../../shared/kit/errors.js';
import { idName } from '../../shared/kit/id-name.js';
import { folderWriteProblem } from '../../shared/kit/writable-folder.js';
import type { Identity } from './acl.js';
import type { FileOwner } from './mosquitto.js';
import { mosquittoHash } from './mosquitto-hash.js';
import { hashPassword, hashSecret, isPasswordHash } from './passwords.js';
import { filterProblem, isValidFilter } from './topic-filter.js';

const strict = { additionalProperties: false } as const;
const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' });
/** A Sparkplug group id: no "/", "+" or "#", and not "STATE" (reserved for host application state). */
const SparkplugGroupId = Type.String({ pattern: '^(?!STATE$)[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'Sparkplug group id' });
const Username = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^:\\s]+$', description: 'MQTT username (no spaces or ":")' });
const Hashes = {
  username: Username,
  passwordHash: Type.String({ description: 'hash checked by the embedded broker: scrypt for a chosen password, salted HMAC-SHA256 for a generated 256-bit secret' }),
  mosquittoHash: Type.Optional(Type.String({ description: 'PBKDF2-SHA512 ($7$) hash for an external Mosquitto' })),
};

export const CredentialUserSchema = Type.Union([
  Type.Object(
    {
      ...Hashes,
      role: Type.Literal('gateway'),
      site: Id,
      gateway: Id,
      sparkplugGroups: Type.Optional(
        Type.Array(SparkplugGroupId, { maxItems: 32, uniqueItems: true, description: 'Sparkplug group ids the gateway may be an edge node in (as edge node <gateway>); absent: its site' }),
      ),
    },
    { ...strict, description: 'A gateway: confined to swarmgate/v1/<site>/<gateway>/# and its Sparkplug node in its groups' },
  ),
  Type.Object(
    {
      ...Hashes,
      role: Type.Literal('integration'),
      read: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Topic filters this user may subscribe to' }),
      write: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Topic filters this user may publish to' }),
    },
    { ...strict, description: 'A building system or integration with read and/or write scopes' },
  ),
  Type.Object({ ...Hashes, role: Type.Literal('hub') }, { ...strict, description: 'Another hub process: may do anything' }),
]);

export const CredentialsFileSchema = Type.Object({ users: Type.Array(CredentialUserSchema, { default: [] }) }, strict);

export type CredentialUser = Static<typeof CredentialUserSchema>;
export type CredentialsFile = Static<typeof CredentialsFileSchema>;

export type UserSpec =
  | { role: 'gateway'; username: string; site: string; gateway: string; sparkplugGroups?: readonly string[] }
  | { role: 'integration'; username: string; read?: readonly string[]; write?: readonly string[] }
  | { role: 'hub'; username: string };

export function identityOf(user: CredentialUser): Identity {
  switch (user.role) {
    case 'gateway':
      return { role: 'gateway', username: user.username, site: user.site, gateway: user.gateway, sparkplugGroups: sparkplugGroupsOf(user) };
    case 'integration':
      return { role: 'integration', username: user.username, read: user.read, write: user.write };
    case 'hub':
      return { role: 'hub', username: user.username };
  }
}

/** The Sparkplug groups a gateway user may use: the ones it carries, else its site (as before groups could be given). */
export function sparkplugGroupsOf(user: Extract<CredentialUser, { role: 'gateway' }>): readonly string[] {
  return user.sparkplugGroups ?? [user.site];
}

function invalid(file: string, message: string): SwarmgateError {
  return new SwarmgateError('SWG_ERR_HUB_CREDENTIALS', `${file}: ${message}`);
}

const HEADER = '# Swarmgate broker users. Managed by `swarmgate hub user add`; holds hashes only.\n';
/** The layout saveCredentials writes: one user per line as a flow mapping (JSON is YAML). */
const ONE_PER_LINE = /^(?:#[^\n]*\n)*users:(?: \[\])?\n(?: {2}- \{[^\n]*\}\n)*$/;

/** YAML as written by saveCredentials parses line by line with JSON.parse (thousands of users in ms); anything else with the YAML parser. */
function parseText(text: string): unknown {
  if (ONE_PER_LINE.test(text)) {
    return { users: text.split('\n').filter((l) => l.startsWith('  - {')).map((l) => JSON.parse(l.slice(4)) as unknown) };
  }
  return parse(text) ?? {};
}

const checkFile = TypeCompiler.Compile(CredentialsFileSchema);
const checkUser = TypeCompiler.Compile(CredentialUserSchema);

/** The last file read or written, by identity and mtime: enrollment, the broker and the CLI read it again and again. */
let cached: { readonly file: string; readonly key: string; readonly creds: CredentialsFile } | undefined;

function statKey(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

const octal = (mode: number): string => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

/** A credentials file this process may not read: who owns it, its mode, who we are, and what to do. */
function permissionDenied(file: string, err: unknown): SwarmgateError {
  let owner = '';
  try {
    const st = statSync(file);
    owner = ` (owner ${idName('passwd', st.uid)}, group ${idName('group', st.gid)}, mode ${octal(st.mode)})`;
  } catch {
    // The folder may be what is unreadable: the message then names only the file.
  }
  const self = process.getuid?.();
  const running = self === undefined ? '' : `; this process runs as user ${idName('passwd', self)}`;
  return new SwarmgateError('SWG_ERR_HUB_CREDENTIALS', `permission denied reading ${file}${owner}${running}`, {
    cause: err,
    hint:
      `the hub reads this file as its service user (deploy/systemd units: User=swarmgate): give it the file, e.g. \`chown swarmgate:swarmgate ${file}\`. ` +
      '`swarmgate hub user add` keeps the owner and mode of an existing file; creating one as root, give it --owner swarmgate',
  });
}

/** Reads and validates a credentials file; a missing file is an empty user list. */
export function loadCredentials(file: string): CredentialsFile {
  const key = statKey(file);
  if (key === undefined) return { users: [] };
  if (cached?.file === file && cached.key === key) return structuredClone(cached.creds);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw permissionDenied(file, err);
    throw new SwarmgateError('SWG_ERR_HUB_CREDENTIALS', `${file}: cannot read it (${errorMessage(err)})`, { cause: err, hint: 'name the credentials file itself (broker.embedded.credentialsFile, --credentials)' });
  }
  let raw: unknown;
  try {
    raw = parseText(text);
  } catch (err) {
    throw invalid(file, `not valid YAML (${errorMessage(err)})`);
  }
  const value = Value.Default(CredentialsFileSchema, raw);
  if (!checkFile.Check(value)) {
    const first = Value.Errors(CredentialsFileSchema, value).First();
    throw invalid(file, `${first?.path || '(document)'}: ${first?.message ?? 'invalid'}`);
  }
  const parsed = value;
  const seen = new Set<string>();
  parsed.users.forEach((user, i) => {
    if (seen.has(user.username)) throw invalid(file, `/users/${i}/username: duplicate user "${user.username}"`);
    seen.add(user.username);
    if (!isPasswordHash(user.passwordHash)) throw invalid(file, `/users/${i}/passwordHash: not a password hash of a known format (never store plain passwords)`);
    if (user.role === 'integration') {
      for (const [field, filters] of [['read', user.read], ['write', user.write]] as const) {
        filters.forEach((f, j) => {
          if (!isValidFilter(f)) throw invalid(file, `/users/${i}/${field}/${j}: malformed topic filter "${f}"`);
        });
      }
    }
  });
  cached = { file, key, creds: structuredClone(parsed) };
  return parsed;
}

function existing(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Gives the new file the old one's owner and group: root can; another user keeps the group when
 * it is one of its groups (else the file is its own, as any file it writes).
 */
function keepOwner(tmp: string, before: Stats): void {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || (before.uid === uid && before.gid === gid)) return;
  if (uid === 0) {
    chownSync(tmp, before.uid, before.gid);
    return;
  }
  try {
    chownSync(tmp, uid, before.gid);
  } catch {
    // Not a member of the file's group.
  }
}

/**
 * A new file written by root in a folder another user owns (the hub's state directory, owned by
 * its service user) goes to that user: root:root 0600 there would lock the hub out of it.
 */
function folderOwner(tmp: string, folder: string): void {
  if (process.getuid?.() !== 0) return;
  const st = statSync(folder);
  if (st.uid !== 0) chownSync(tmp, st.uid, st.gid);
}

/**
 * Why this process could not rewrite the credentials file (undefined: it can): the file is
 * rewritten through a temporary file beside it, so its folder must be writable. Checked at hub
 * start when gateways may enroll.
 */
export function credentialsFolderProblem(file: string): string | undefined {
  const folder = dirname(file);
  const problem = folderWriteProblem(folder);
  return problem && `the folder ${folder} of the credentials file ${file} ${problem.what} (${problem.errno})`;
}

/** The file could not be written: which file, the errno, and what to do about it. */
function unwritable(file: string, tmp: string, err: unknown, owner: FileOwner | undefined): SwarmgateError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = errorMessage(err);
  const hint =
    owner && code === 'EPERM'
      ? `giving the file to ${owner.name} (--owner) needs root`
      : code === 'EROFS' || code === 'EACCES' || code === 'EPERM'
        ? `the folder of ${file} must be writable by this user (the hub's service user when gateways enroll: the file is rewritten beside itself, as ${tmp}); ` +
          'under the shipped systemd units /etc is read-only to the hub (ProtectSystem=full): keep the credentials file in the state directory, /var/lib/swarmgate-hub'
        : undefined;
  return new SwarmgateError('SWG_ERR_HUB_CREDENTIALS_WRITE', `cannot write the broker credentials file ${file}: ${reason}`, { cause: err, details: { file, ...(code ? { errno: code } : {}) }, ...(hint ? { hint } : {}) });
}

/**
 * Writes the file atomically (a temporary file beside it, renamed over it). A file that exists
 * keeps its owner, group and mode: root adding a user must not take the file away from the hub's
 * service user. A new file is mode 0600, owned by `owner` when given (needs root), else by this
 * user — by the folder's owner when root writes it in a folder another user owns.
 */
function saveCredentials(file: string, creds: CredentialsFile, owner?: FileOwner): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const body = creds.users.length === 0 ? 'users: []\n' : `users:\n${creds.users.map((u) => `  - ${JSON.stringify(u)}\n`).join('')}`;
  const before = existing(file);
  const mode = before ? before.mode & 0o777 : 0o600;
  try {
    writeFileSync(tmp, HEADER + body, { mode: 0o600 });
    if (owner) chownSync(tmp, owner.uid, owner.gid);
    else if (before) keepOwner(tmp, before);
    else folderOwner(tmp, dirname(file));
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw unwritable(file, tmp, err, owner);
  }
  const key = statKey(file);
  cached = key === undefined ? undefined : { file, key, creds: structuredClone(creds) };
}

/**
 * Adds a user or rotates its password (and role/scopes). Writes the file atomically: a new file
 * mode 0600, an existing one keeping its owner, group and mode.
 * Returns whether the user was new. `generated`: the password came from generatePassword (a
 * 256-bit secret), so it gets the fast hash (see passwords.ts); a chosen password keeps scrypt.
 */
export async function upsertUser(file: string, spec: UserSpec, password: string, options: UpsertOptions = {}): Promise<{ created: boolean }> {
  const [created] = await upsertUsers(file, [{ spec, password }], options);
  return { created: created ?? false };
}

export interface UpsertOptions {
  readonly mosquittoIterations?: number;
  /** Who the file belongs to after the write (needs root); default: an existing file keeps its owner, a new one is this user's. */
  readonly owner?: FileOwner;
  /** The passwords came from generatePassword: the fast hash (see passwords.ts). */
  readonly generated?: boolean;
}

/** Adds or rotates many users with one write of the file (a fleet provisioned at once); per user, whether it was new. */
export async function upsertUsers(file: string, entries: readonly { spec: UserSpec; password: string }[], options: UpsertOptions = {}): Promise<boolean[]> {
  const users: CredentialUser[] = [];
  for (const { spec, password } of entries) {
    if (password.length < 8) throw invalid(file, `password for "${spec.username}" is shorter than 8 characters`);
    const passwordHash = options.generated === true ? hashSecret(password) : await hashPassword(password);
    const hashes = { passwordHash, mosquittoHash: mosquittoHash(password, options.mosquittoIterations) };
    let user: CredentialUser;
    switch (spec.role) {
      case 'gateway':
        user = { username: spec.username, ...hashes, role: 'gateway', site: spec.site, gateway: spec.gateway, ...(spec.sparkplugGroups ? { sparkplugGroups: [...spec.sparkplugGroups] } : {}) };
        break;
      case 'integration':
        for (const [field, filters] of [['read', spec.read ?? []], ['write', spec.write ?? []]] as const) {
          for (const f of filters) {
            const problem = filterProblem(f);
            if (problem) throw invalid(file, `user "${spec.username}": --${field} "${f}" is not a valid MQTT topic filter: ${problem}; nothing was written`);
          }
        }
        user = { username: spec.username, ...hashes, role: 'integration', read: [...(spec.read ?? [])], write: [...(spec.write ?? [])] };
        break;
      case 'hub':
        user = { username: spec.username, ...hashes, role: 'hub' };
        break;
    }
    const check = checkUser.Check(user) ? undefined : Value.Errors(CredentialUserSchema, user).First();
    if (check) throw invalid(file, `user "${spec.username}": ${check.path}: ${check.message}`);
    users.push(user);
  }
  // Read, change and write with no await in between: concurrent upserts in one process (gateways
  // enrolling at once) each see the others' users.
  const creds = loadCredentials(file);
  const index = new Map(creds.users.map((u, i) => [u.username, i]));
  const created = users.map((user) => {
    const at = index.get(user.username);
    if (at !== undefined) creds.users[at] = user;
    else index.set(user.username, creds.users.push(user) - 1);
    return at === undefined;
  });
  saveCredentials(file, creds, options.owner);
  return created;
}

/** Removes a user; returns false when there was none of that name. */
export function removeUser(file: string, username: string, options: { readonly owner?: FileOwner } = {}): boolean {
  const creds = loadCredentials(file);
  const users = creds.users.filter((u) => u.username !== username);
  if (users.length === creds.users.length) return false;
  saveCredentials(file, { users }, options.owner);
  return true;
}
