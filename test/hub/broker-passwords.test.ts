import { describe, expect, it } from 'vitest';
import { loadCredentials, upsertUser } from '../../hub/broker/credentials.js';
import { generatePassword, hashPassword, hashSecret, isPasswordHash, isSecretHash, verifyPassword } from '../../hub/broker/passwords.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEmbeddedBroker } from '../../hub/broker/embedded.js';
import { tempDir } from '../support/tmp.js';
import { closed, connectClient, endAll } from './helpers.js';

describe('broker password formats', () => {
  it('a generated secret gets the salted HMAC format and verifies only with itself', async () => {
    const secret = generatePassword();
    expect(Buffer.from(secret, 'base64url').length).toBe(32);
    const hash = hashSecret(secret);
    expect(hash).toMatch(/^\$sha256\$/);
    expect(isPasswordHash(hash) && isSecretHash(hash)).toBe(true);
    expect(await verifyPassword(secret, hash)).toBe(true);
    expect(await verifyPassword(`${secret}x`, hash)).toBe(false);
    expect(await verifyPassword(generatePassword(), hash)).toBe(false);
    // Salted: the same secret hashes differently each time.
    expect(hashSecret(secret)).not.toBe(hash);
  });

  it('refuses to give a short (chosen) password the fast format', () => {
    expect(() => hashSecret('correct horse')).toThrow(/hashPassword/);
  });

  it('a chosen password keeps scrypt, and verification dispatches on the format', async () => {
    const hash = await hashPassword('a person chose this', { N: 1024, r: 8, p: 1 });
    expect(hash).toMatch(/^\$scrypt\$1024\$/);
    expect(isSecretHash(hash)).toBe(false);
    expect(await verifyPassword('a person chose this', hash)).toBe(true);
    expect(await verifyPassword('a person chose that', hash)).toBe(false);
  });

  it('a tampered or truncated entry never verifies', async () => {
    const secret = generatePassword();
    const hash = hashSecret(secret);
    expect(await verifyPassword(secret, hash.slice(0, -4))).toBe(false);
    expect(await verifyPassword(secret, hash.replace('$sha256$', '$sha1$'))).toBe(false);
    expect(isPasswordHash(secret)).toBe(false);
  });

  it('upsertUser: generated secrets get the fast hash, chosen passwords scrypt; the file loads either', async () => {
    const dir = tempDir('swg-passwords-');
    try {
      const file = join(dir.path, 'users.yaml');
      const secret = generatePassword();
      await upsertUser(file, { role: 'gateway', username: 'gw-1', site: 's', gateway: 'gw-1' }, secret, { generated: true, mosquittoIterations: 101 });
      await upsertUser(file, { role: 'integration', username: 'bms', read: ['swarmgate/v1/#'] }, 'chosen by a person', { mosquittoIterations: 101 });
      const users = loadCredentials(file).users;
      const gw = users.find((u) => u.username === 'gw-1');
      const bms = users.find((u) => u.username === 'bms');
      expect(gw?.passwordHash).toMatch(/^\$sha256\$/);
      expect(bms?.passwordHash).toMatch(/^\$scrypt\$/);
      expect(await verifyPassword(secret, gw?.passwordHash ?? '')).toBe(true);
      expect(await verifyPassword('chosen by a person', bms?.passwordHash ?? '')).toBe(true);
    } finally {
      dir.remove();
    }
  });

  it('upsertUser refuses a malformed topic filter, naming it and why, and leaves the file as it was', async () => {
    const dir = tempDir('swg-passwords-');
    try {
      const file = join(dir.path, 'users.yaml');
      await upsertUser(file, { role: 'integration', username: 'bms', read: ['swarmgate/v1/#'] }, 'chosen by a person', { mosquittoIterations: 101 });
      const before = readFileSync(file, 'utf8');
      await expect(upsertUser(file, { role: 'integration', username: 'scada', read: ['swarmgate/#/v1'] }, 'chosen by a person', { mosquittoIterations: 101 })).rejects.toThrow(
        /user "scada": --read "swarmgate\/#\/v1" is not a valid MQTT topic filter: '#' must be the last level.*nothing was written/,
      );
      await expect(upsertUser(file, { role: 'integration', username: 'scada', write: ['site+/cmd'] }, 'chosen by a person', { mosquittoIterations: 101 })).rejects.toThrow(/--write "site\+\/cmd".*wildcard must fill a whole level/);
      expect(readFileSync(file, 'utf8')).toBe(before);
      expect(loadCredentials(file).users.map((u) => u.username)).toEqual(['bms']);
    } finally {
      dir.remove();
    }
  });

  it('the embedded broker lets a gateway in with its generated secret, refuses another, and drops it on rotation', async () => {
    const dir = tempDir('swg-passwords-broker-');
    const file = join(dir.path, 'users.yaml');
    const secret = generatePassword();
    await upsertUser(file, { role: 'gateway', username: 'gw-1', site: 's', gateway: 'gw-1' }, secret, { generated: true, mosquittoIterations: 101 });
    const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, credentialsFile: file });
    try {
      await expect(connectClient(broker.url, { username: 'gw-1', password: generatePassword(), clientId: 'gw-1' })).rejects.toThrow(/Bad username or password|Not authorized/i);
      const gw = await connectClient(broker.url, { username: 'gw-1', password: secret, clientId: 'gw-1' });
      expect(gw.connected).toBe(true);
      const rotated = generatePassword();
      await upsertUser(file, { role: 'gateway', username: 'gw-1', site: 's', gateway: 'gw-1' }, rotated, { generated: true, mosquittoIterations: 101 });
      broker.reloadCredentials();
      expect(await closed(gw)).toBe(true);
      await expect(connectClient(broker.url, { username: 'gw-1', password: secret, clientId: 'gw-1' })).rejects.toThrow();
      const again = await connectClient(broker.url, { username: 'gw-1', password: rotated, clientId: 'gw-1' });
      await endAll([gw, again]);
    } finally {
      await broker.close();
      dir.remove();
    }
  });
});
