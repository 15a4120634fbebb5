/**
 * The enrollment service on both stores: a token is claimed once however many gateways race with
 * it (two hub processes on one PostgreSQL included), a bound token names the gateway, an unbound
 * one takes the requested id when free, a broken site template does not burn the token, and the
 * broker user it issues is the one the credentials file holds.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialsFileIssuer } from '../../hub/broker/gateway-credentials.js';
import { loadCredentials } from '../../hub/broker/credentials.js';
import { verifyPassword } from '../../hub/broker/passwords.js';
import { sqlFor } from '../../hub/db/sql.js';
import { ANSWER_AGAIN_MS, EnrollmentService, type EnrollmentSettings } from '../../hub/enrollment/service.js';
import type { HubStore } from '../../hub/store/types.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { enrollMacMatches, enrollProofMessage, enrollSecretHash, parseEnrollToken, type EnrollRequest } from '../../shared/wire/enrollment.js';
import { tempDir } from '../support/tmp.js';
import { sharedStoreBackends, type SharedStores } from './shared-stores.js';


function requestFor(token: string, extra: Partial<EnrollRequest> = {}): EnrollRequest {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const id = parseEnrollToken(token)?.id ?? '';
  return { token, publicKey: pem, proof: sign(null, enrollProofMessage(id, pem), privateKey).toString('base64'), ...extra };
}

function suite(kind: string, open: () => Promise<SharedStores>, skip = false): void {
  describe.skipIf(skip)(`enrollment service on ${kind}`, () => {
    const dir = tempDir('swg-enroll-svc-');
    const credentials = join(dir.path, 'users.yaml');
    const templates = join(dir.path, 'templates');
    mkdirSync(templates);
    writeFileSync(join(templates, 'default.yaml'), 'gateway: { id: x, site: y }\ndevices: []\n');
    const settings: EnrollmentSettings = { brokerUrl: 'mqtts://hub.example:8883', templatesDir: templates, defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000 };
    let close: (() => Promise<void>) | undefined;
    let stores: [HubStore, HubStore];
    beforeAll(async () => {
      const opened = await open();
      close = opened.close;
      stores = opened.stores;
    });
    afterAll(async () => {
      await close?.();
      dir.remove();
    });

    it('claims a token once when gateways race with it on two hub processes', async () => {
      const [a, b] = stores.map((store) => new EnrollmentService({ sql: sqlFor(store), settings, issuer: new CredentialsFileIssuer(credentials) }));
      if (!a || !b) throw new Error('two services expected');
      const [created] = await a.createTokens({ site: 'hq', createdBy: 'test' });
      if (!created) throw new Error('no token');
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).enroll(requestFor(created.token, { requestedId: `racer-${i}` }))));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isSwarmgateError(r.reason, 'SWG_ERR_ENROLL_TOKEN')).toBe(true);
      const answer = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<EnrollmentService['enroll']>>>).value;
      expect(enrollMacMatches(enrollSecretHash(parseEnrollToken(created.token)?.secret ?? ''), answer.identity, answer.mac)).toBe(true);
      // The broker user issued is the one in the credentials file, with the password handed out.
      const user = loadCredentials(credentials).users.find((u) => u.username === answer.identity.gateway);
      expect(user).toMatchObject({ role: 'gateway', site: 'hq', gateway: answer.identity.gateway });
      expect(await verifyPassword(answer.identity.broker.password, user?.passwordHash ?? '')).toBe(true);
      expect(answer.identity.configYaml).toContain(`id: ${answer.identity.gateway}`);
      expect(answer.identity.configYaml).toContain('url: mqtts://hub.example:8883');
      expect((await b.listTokens({ site: 'hq' }))[0]).toMatchObject({ state: 'used', usedBy: answer.identity.gateway });
    });

    it('a bound token names the gateway; an unbound one takes a free requested id, else makes one', async () => {
      const svc = new EnrollmentService({ sql: sqlFor(stores[0]), settings, issuer: new CredentialsFileIssuer(credentials) });
      const [bound] = await svc.createTokens({ site: 'hq', gateway: 'ahu-gw-7', createdBy: 'test' });
      expect((await svc.enroll(requestFor(bound?.token ?? '', { requestedId: 'other' }))).identity.gateway).toBe('ahu-gw-7');
      const [free, taken] = await svc.createTokens({ site: 'hq', count: 2, createdBy: 'test' });
      expect((await svc.enroll(requestFor(free?.token ?? '', { requestedId: 'roof-gw' }))).identity.gateway).toBe('roof-gw');
      expect((await svc.enroll(requestFor(taken?.token ?? '', { requestedId: 'roof-gw' }))).identity.gateway).toMatch(/^hq-gw-[0-9a-f]{6}$/);
    });

    it('two gateways asking for the same free id at once: one gets it, the other another id, both keep working credentials', async () => {
      const [a, b] = stores.map((store) => new EnrollmentService({ sql: sqlFor(store), settings, issuer: new CredentialsFileIssuer(credentials) }));
      if (!a || !b) throw new Error('two services expected');
      const [t1, t2] = await a.createTokens({ site: 'hq', count: 2, createdBy: 'test' });
      const answers = await Promise.all([a.enroll(requestFor(t1?.token ?? '', { requestedId: 'same-name' })), b.enroll(requestFor(t2?.token ?? '', { requestedId: 'same-name' }))]);
      const ids = answers.map((x) => x.identity.gateway).sort();
      expect(ids[0]).not.toBe(ids[1]);
      expect(ids).toContain('same-name');
      const users = loadCredentials(credentials).users;
      for (const answer of answers) {
        const user = users.find((u) => u.username === answer.identity.gateway);
        expect(await verifyPassword(answer.identity.broker.password, user?.passwordHash ?? '')).toBe(true);
        expect(answer.identity.configYaml).toContain(`id: ${answer.identity.gateway}`);
      }
      const enrolled = await a.listGateways({ site: 'hq' });
      expect(enrolled.filter((g) => ids.includes(g.gateway)).map((g) => g.tokenId).sort()).toEqual([t1?.id, t2?.id].sort());
    });

    it('a token for a gateway id enrolled at another site is refused unless the move is asked for', async () => {
      const svc = new EnrollmentService({ sql: sqlFor(stores[0]), settings, issuer: new CredentialsFileIssuer(credentials) });
      const [first] = await svc.createTokens({ site: 'hq', gateway: 'mover-1', createdBy: 'test' });
      await svc.enroll(requestFor(first?.token ?? ''));
      // Same site (a replaced box): fine. Another site: refused, saying where it is and how to move it.
      expect(await svc.createTokens({ site: 'hq', gateway: 'mover-1', createdBy: 'test' })).toHaveLength(1);
      await expect(svc.createTokens({ site: 'plant', gateway: 'mover-1', createdBy: 'test' })).rejects.toMatchObject({
        code: 'SWG_ERR_ENROLL_SITE_MOVE',
        status: 409,
        message: expect.stringMatching(/"mover-1" is enrolled at site hq, not plant; .*--move-site \("moveSite": true\)/) as unknown,
      });
      await expect(svc.createTokens({ site: 'plant', moveSite: true, createdBy: 'test' })).rejects.toMatchObject({ code: 'SWG_ERR_API_VALIDATION' });
      const [move] = await svc.createTokens({ site: 'plant', gateway: 'mover-1', moveSite: true, createdBy: 'test' });
      expect(move).toMatchObject({ site: 'plant', gateway: 'mover-1', moveSite: true });
      expect((await svc.enroll(requestFor(move?.token ?? ''))).identity).toMatchObject({ gateway: 'mover-1', site: 'plant' });
      expect((await svc.listGateways({ site: 'plant' })).map((g) => g.gateway)).toContain('mover-1');
      // A token made before its gateway enrolled elsewhere does not move it either, and is not spent.
      const [late] = await svc.createTokens({ site: 'plant', gateway: 'mover-2', createdBy: 'test' });
      const [elsewhere] = await svc.createTokens({ site: 'hq', gateway: 'mover-2', createdBy: 'test' });
      await svc.enroll(requestFor(elsewhere?.token ?? ''));
      await expect(svc.enroll(requestFor(late?.token ?? ''))).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN', message: expect.stringMatching(/has since enrolled at site hq; the token does not move it/) as unknown });
      expect((await svc.listGateways({ site: 'hq' })).map((g) => g.gateway)).toContain('mover-2');
      expect((await svc.listTokens({ site: 'plant', state: 'active' })).map((t) => t.id)).toContain(late?.id);
    });

    it('revokes an unused token once; an already revoked or used one is refused with when and by whom', async () => {
      const svc = new EnrollmentService({ sql: sqlFor(stores[0]), settings, issuer: new CredentialsFileIssuer(credentials) });
      const [t, u] = await svc.createTokens({ site: 'depot', count: 2, createdBy: 'test' });
      expect(await svc.revokeToken(t?.id ?? '', 'alice')).toMatchObject({ state: 'revoked', revokedBy: 'alice' });
      await expect(svc.revokeToken(t?.id ?? '', 'bob')).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN_SPENT', status: 409, message: expect.stringMatching(/already revoked at .* by alice/) as unknown });
      expect((await svc.listTokens({ site: 'depot', state: 'revoked' }))[0]).toMatchObject({ revokedBy: 'alice' });
      const answer = await svc.enroll(requestFor(u?.token ?? ''));
      await expect(svc.revokeToken(u?.id ?? '', 'bob')).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN_SPENT', message: expect.stringContaining(`(by gateway ${answer.identity.gateway})`) as unknown });
      await expect(svc.revokeToken('nosuchtoken1', 'bob')).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_UNKNOWN' });
    });

    it('a broken template or a key that did not sign the proof does not burn the token', async () => {
      const svc = new EnrollmentService({ sql: sqlFor(stores[0]), settings: { ...settings, templatesDir: join(dir.path, 'nowhere') }, issuer: new CredentialsFileIssuer(credentials) });
      const [t] = await svc.createTokens({ site: 'plant', createdBy: 'test' });
      const token = t?.token ?? '';
      await expect(svc.enroll(requestFor(token))).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_TEMPLATE' });
      const forged = { ...requestFor(token), proof: requestFor(token).proof };
      await expect(svc.enroll(forged)).rejects.toMatchObject({ code: 'SWG_ERR_API_VALIDATION', message: expect.stringMatching(/^proof:/) as unknown });
      expect((await svc.listTokens({ site: 'plant' }))[0]?.state).toBe('active');
    });

    it('answers the gateway that claimed a token again (same key, within a day), with a new password; no one else', async () => {
      let now = Date.now();
      const svc = new EnrollmentService({ sql: sqlFor(stores[0]), settings, issuer: new CredentialsFileIssuer(credentials), now: () => now });
      const other = new EnrollmentService({ sql: sqlFor(stores[1]), settings, issuer: new CredentialsFileIssuer(credentials), now: () => now });
      for (const bound of [undefined, 'plant-again-bound']) {
        const [t] = await svc.createTokens({ site: 'plant', createdBy: 'test', ...(bound ? { gateway: bound } : {}) });
        const token = t?.token ?? '';
        const { publicKey, privateKey } = generateKeyPairSync('ed25519');
        const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
        const sameKey: EnrollRequest = { token, publicKey: pem, proof: sign(null, enrollProofMessage(t?.id ?? '', pem), privateKey).toString('base64') };
        const first = await svc.enroll(sameKey);
        now += 60_000;
        // The answer was lost: the same key asks again, here through the other hub process.
        const again = await other.enroll(sameKey);
        expect(again.identity).toMatchObject({ gateway: first.identity.gateway, site: 'plant', tokenId: t?.id, keyFingerprint: first.identity.keyFingerprint, issuedAt: now });
        expect(enrollMacMatches(enrollSecretHash(parseEnrollToken(token)?.secret ?? ''), again.identity, again.mac)).toBe(true);
        const user = loadCredentials(credentials).users.find((u) => u.username === first.identity.gateway);
        expect(await verifyPassword(again.identity.broker.password, user?.passwordHash ?? '')).toBe(true);
        expect(await verifyPassword(first.identity.broker.password, user?.passwordHash ?? '')).toBe(false);
        const listed = (await svc.listGateways({ site: 'plant' })).filter((g) => g.gateway === first.identity.gateway);
        expect(listed).toHaveLength(1);
        // Another key with the token is refused as a used token.
        await expect(svc.enroll(requestFor(token))).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN', message: expect.stringMatching(/already used/) as unknown });
        // A day after the claim, the same key is refused too; so is a revoked gateway's.
        now += ANSWER_AGAIN_MS;
        await expect(svc.enroll(sameKey)).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN', message: expect.stringMatching(/already used/) as unknown });
        now -= ANSWER_AGAIN_MS;
        await svc.revokeGateway(first.identity.gateway, 'test');
        await expect(svc.enroll(sameKey)).rejects.toMatchObject({ code: 'SWG_ERR_ENROLL_TOKEN', message: expect.stringMatching(/already used/) as unknown });
      }
    });
  });
}

for (const backend of await sharedStoreBackends()) suite(backend.kind, backend.open, backend.skip);
