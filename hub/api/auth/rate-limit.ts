/**
 * Failed-login limits, three of them, each a fixed window of failures:
 *   user-address  failures of one user name from one address: guessing one password from one place;
 *   user          failures of one user name from any address: guessing it from many places;
 *   address       failures from one address over any user names: spraying one password over many names.
 * The user-address limit always holds (right password included: otherwise it would not slow the
 * guessing). The user and address limits do not hold for a user at an address it has logged in
 * from successfully in the last `trustMs` (a technician behind a NAT shared with a noisy
 * neighbour, or an admin whose name is being guessed from elsewhere): there the right password
 * gets in, a wrong one still counts. Counts live in this process; an admin lifts them through
 * the API (unlock). Only failures count; a success clears its user-address window.
 *
 * An attempt counts as a failure from the moment it is let through (`attempt`), and a success
 * takes it back (`succeeded`): the password check takes a while (scrypt), and attempts sent at
 * once must not all pass the limit before the first of them has failed.
 */
export type LimitKind = 'user-address' | 'user' | 'address';

export interface LimitRule {
  readonly max: number;
  readonly windowMs: number;
}

export interface LoginLimits {
  readonly userAddress: LimitRule;
  readonly user: LimitRule;
  readonly address: LimitRule;
  /** How long a successful login keeps its address trusted for that user. */
  readonly trustMs: number;
}

export interface Refusal {
  readonly by: LimitKind;
  readonly retryAfterS: number;
}

export interface ActiveLimit {
  readonly kind: LimitKind;
  readonly username?: string;
  readonly address?: string;
  readonly failures: number;
  readonly retryAfterS: number;
}

interface Window {
  count: number;
  resetAt: number;
}

/** Failure counts per key in fixed windows, bounded in keys so a flood of names cannot grow it. */
class Windows {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly rule: LimitRule,
    private readonly maxKeys: number,
  ) {}

  failures(key: string, now: number): number {
    const w = this.windows.get(key);
    return w && w.resetAt > now ? w.count : 0;
  }

  /** Seconds until the window of a key over its limit ends; 0 when it is not over. */
  refusal(key: string, now: number): number {
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now || w.count < this.rule.max) return 0;
    return Math.max(1, Math.ceil((w.resetAt - now) / 1000));
  }

  /** Takes back one failure counted in the current window (an attempt that succeeded after all). */
  remove(key: string, now: number): void {
    const w = this.windows.get(key);
    if (w && w.resetAt > now && w.count > 0) w.count -= 1;
  }

  add(key: string, now: number): void {
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= this.maxKeys) this.prune(now);
      w = { count: 0, resetAt: now + this.rule.windowMs };
      this.windows.set(key, w);
    }
    w.count += 1;
  }

  delete(key: string): boolean {
    return this.windows.delete(key);
  }

  /** Deletes the keys the predicate picks; returns how many were over their limit. */
  deleteWhere(pick: (key: string) => boolean, now: number): number {
    let over = 0;
    for (const key of [...this.windows.keys()]) {
      if (!pick(key)) continue;
      if (this.refusal(key, now) > 0) over++;
      this.windows.delete(key);
    }
    return over;
  }

  *over(now: number): Generator<[string, Window]> {
    for (const [key, w] of this.windows) if (w.resetAt > now && w.count >= this.rule.max) yield [key, w];
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    // Still full (a flood of distinct keys): drop the oldest half rather than grow without bound.
    if (this.windows.size >= this.maxKeys) for (const k of [...this.windows.keys()].slice(0, this.maxKeys / 2)) this.windows.delete(k);
  }
}

/**
 * The enrollment limiter (a LoginLimiter of its own) counts failures per token where logins count
 * them per user name: its "user" is this key.
 */
export const ENROLL_LIMIT_PREFIX = 'enroll:';
export const enrollLimitKey = (tokenId: string): string => `${ENROLL_LIMIT_PREFIX}${tokenId}`;

const SEP = '\u0000';
const pairKey = (username: string, address: string): string => `${username}${SEP}${address}`;

export class LoginLimiter {
  private readonly userAddress: Windows;
  private readonly user: Windows;
  private readonly address: Windows;
  /** user-address key -> last successful login. */
  private readonly trusted = new Map<string, number>();

  constructor(
    private readonly limits: LoginLimits,
    private readonly maxKeys = 10_000,
  ) {
    this.userAddress = new Windows(limits.userAddress, maxKeys);
    this.user = new Windows(limits.user, maxKeys);
    this.address = new Windows(limits.address, maxKeys);
  }

  /** Whether an attempt may go on to the password check; the refusal with the longest wait otherwise. */
  check(username: string, address: string, now = Date.now()): Refusal | undefined {
    const name = username.toLowerCase();
    const pair = this.userAddress.refusal(pairKey(name, address), now);
    if (pair > 0) return { by: 'user-address', retryAfterS: pair };
    if (this.isTrusted(name, address, now)) return undefined;
    const user = this.user.refusal(name, now);
    const addr = this.address.refusal(address, now);
    if (user === 0 && addr === 0) return undefined;
    return user >= addr ? { by: 'user', retryAfterS: user } : { by: 'address', retryAfterS: addr };
  }

  /**
   * Lets an attempt go on to the password check and counts it as failed right away; or the
   * refusal with the longest wait. Call succeeded() when it succeeds.
   */
  attempt(username: string, address: string, now = Date.now()): Refusal | undefined {
    const refusal = this.check(username, address, now);
    if (!refusal) this.failed(username, address, now);
    return refusal;
  }

  failed(username: string, address: string, now = Date.now()): void {
    const name = username.toLowerCase();
    this.userAddress.add(pairKey(name, address), now);
    this.user.add(name, now);
    this.address.add(address, now);
  }

  /** An attempt let through by attempt() ended neither way (the service failed): it does not count. */
  withdraw(username: string, address: string, now = Date.now()): void {
    const name = username.toLowerCase();
    this.userAddress.remove(pairKey(name, address), now);
    this.user.remove(name, now);
    this.address.remove(address, now);
  }

  /** An attempt let through by attempt() succeeded: it is not a failure, and the address is trusted for the user. */
  succeeded(username: string, address: string, now = Date.now()): void {
    this.withdraw(username, address, now);
    const key = pairKey(username.toLowerCase(), address);
    this.userAddress.delete(key);
    this.trusted.delete(key);
    if (this.trusted.size >= this.maxKeys) for (const k of [...this.trusted.keys()].slice(0, this.maxKeys / 2)) this.trusted.delete(k);
    this.trusted.set(key, now);
  }

  /**
   * Lifts the limits of a user name (its own and every user-address one) and/or of an address
   * (its own and every user-address one); returns how many limits that were holding it lifted.
   */
  unlock(target: { username?: string; address?: string }, now = Date.now()): number {
    let lifted = 0;
    const name = target.username?.toLowerCase();
    if (name !== undefined) {
      if (this.user.refusal(name, now) > 0) lifted++;
      this.user.delete(name);
    }
    if (target.address !== undefined) {
      if (this.address.refusal(target.address, now) > 0) lifted++;
      this.address.delete(target.address);
    }
    lifted += this.userAddress.deleteWhere((key) => {
      const [u, a] = key.split(SEP);
      return (name === undefined || u === name) && (target.address === undefined || a === target.address);
    }, now);
    return lifted;
  }

  /** The limits holding now, longest wait first. */
  active(now = Date.now()): ActiveLimit[] {
    const out: ActiveLimit[] = [];
    const wait = (w: Window): number => Math.max(1, Math.ceil((w.resetAt - now) / 1000));
    for (const [key, w] of this.userAddress.over(now)) {
      const [username = '', address = ''] = key.split(SEP);
      out.push({ kind: 'user-address', username, address, failures: w.count, retryAfterS: wait(w) });
    }
    for (const [username, w] of this.user.over(now)) out.push({ kind: 'user', username, failures: w.count, retryAfterS: wait(w) });
    for (const [address, w] of this.address.over(now)) out.push({ kind: 'address', address, failures: w.count, retryAfterS: wait(w) });
    return out.sort((a, b) => b.retryAfterS - a.retryAfterS);
  }

  private isTrusted(name: string, address: string, now: number): boolean {
    const at = this.trusted.get(pairKey(name, address));
    return at !== undefined && now - at < this.limits.trustMs;
  }
}
