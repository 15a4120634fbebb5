/**
 * Gateway broker users for enrollment, kept in the embedded broker's credentials file: issuing
 * writes a new user (or rotates its password), revoking removes it. The running broker re-reads
 * the file (at once when it is given here, else within a second) and disconnects a client whose
 * user is gone or whose password changed.
 */
import type { GatewayCredentialIssuer } from '../enrollment/ports.js';
import { loadCredentials, removeUser, upsertUser } from './credentials.js';
import { generatePassword } from './passwords.js';

export class CredentialsFileIssuer implements GatewayCredentialIssuer {
  constructor(
    private readonly file: string,
    private readonly broker?: { reloadCredentials(): void },
  ) {}

  async issue(gateway: string, site: string): Promise<{ username: string; password: string }> {
    const password = generatePassword();
    await upsertUser(this.file, { role: 'gateway', username: gateway, site, gateway }, password, { generated: true });
    this.broker?.reloadCredentials();
    return { username: gateway, password };
  }

  async revoke(username: string): Promise<boolean> {
    const removed = removeUser(this.file, username);
    this.broker?.reloadCredentials();
    return removed;
  }

  exists(username: string): boolean {
    return loadCredentials(this.file).users.some((u) => u.username === username);
  }
}
