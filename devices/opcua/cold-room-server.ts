/**
 * The freezer cold room as an OPC UA server (node-opcua). Address space:
 *   Objects/Facility/ColdRoom/{Temperature, DoorOpen, CompressorRunning, Setpoint,
 *   BackupCompressor, CompressorFault, HighTemperatureAlarm}
 * with string node ids `ns=1;s=ColdRoom.<Name>` (ns=1 is the server's own namespace, the first
 * after the standard one). Values are pushed from the physics every publishIntervalMs, so
 * subscriptions see changes. Faults: offline stops the server until cleared; opcua-restart stops
 * it and starts it again on the same port (clients must recover their sessions/subscriptions).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createLogger } from '../../shared/kit/log.js';
import { SwarmgateError } from '../../shared/kit/errors.js';
import { DEFAULT_HOST, resolveContext, sleep, type SimContextOptions } from '../context.js';
import type { FaultRegistry } from '../faults/registry.js';
import type { FacilityModel } from '../physics/model.js';
import { buildColdRoomAddressSpace, type ColdRoomNodes } from './address-space.js';
import { OPCUACertificateManager, OPCUAServer } from 'node-opcua';

const log = createLogger('sim-opcua');

export interface ColdRoomServerOptions extends SimContextOptions {
  readonly host?: string;
  /** Default 0 (ephemeral; the port is then kept across restarts). */
  readonly port?: number;
  /** Folder for simulator state; the PKI goes to <dataDir>/pki/opcua-server. Default: <os tmpdir>/swarmgate-sim
   *  (shared between runs, so the server certificate is generated only once). */
  readonly dataDir?: string;
  /** How often values are copied from the physics into the address space. Default 250 ms. */
  readonly publishIntervalMs?: number;
}

export interface ColdRoomServer {
  readonly endpointUrl: string;
  readonly port: number;
  readonly model: FacilityModel;
  readonly faults: FaultRegistry;
  /** Namespace index of the ColdRoom nodes (1). */
  readonly namespaceIndex: number;
  /** Stop and start again on the same port (what the opcua-restart fault does). */
  restart(downMs?: number): Promise<void>;
  readonly running: boolean;
  stop(): Promise<void>;
}

export const OPCUA_USERS: Readonly<Record<string, string>> = { operator: 'operator-secret' };

export async function startColdRoomServer(options: ColdRoomServerOptions = {}): Promise<ColdRoomServer> {
  const ctx = resolveContext(options);
  const { model, faults } = ctx;
  const host = options.host ?? DEFAULT_HOST;
  const pkiRoot = join(options.dataDir ?? join(tmpdir(), 'swarmgate-sim'), 'pki', 'opcua-server');
  mkdirSync(pkiRoot, { recursive: true });
  let port = options.port ?? 0;
  let server: OPCUAServer | undefined;
  let nodes: ColdRoomNodes | undefined;
  let stopped = false;
  // Serialise start/stop so faults arriving together cannot interleave them.
  let chain: Promise<void> = Promise.resolve();
  const serial = (op: () => Promise<void>): Promise<void> => {
    chain = chain.then(op, op);
    return chain;
  };

  const start = async (): Promise<void> => {
    if (server) return;
    const serverCertificateManager = new OPCUACertificateManager({ rootFolder: join(pkiRoot, 'server'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
    const userCertificateManager = new OPCUACertificateManager({ rootFolder: join(pkiRoot, 'user'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
    const s = new OPCUAServer({
      port,
      host,
      hostname: host,
      resourcePath: '/swarmgate/coldroom',
      serverCertificateManager,
      userCertificateManager,
      allowAnonymous: true,
      userManager: { isValidUser: (user: string, password: string) => OPCUA_USERS[user] === password },
      buildInfo: { productName: 'Swarmgate simulated cold room', manufacturerName: 'Swarmgate Simulated Equipment', softwareVersion: '1.0.0' },
    });
    try {
      await s.initialize();
      nodes = buildColdRoomAddressSpace(s, model, faults);
      await s.start();
    } catch (err) {
      await s.shutdown().catch(() => undefined);
      throw new SwarmgateError('SWG_ERR_SIM_START', `OPC UA cold room server could not start on ${host}:${port}`, { cause: err });
    }
    server = s;
    port = s.endpoints[0]?.port ?? port;
    log.info({ endpointUrl: endpointUrl() }, 'OPC UA cold room server listening');
  };

  const shutdown = async (): Promise<void> => {
    const s = server;
    if (!s) return;
    server = undefined;
    nodes = undefined;
    await s.shutdown(0);
  };

  const endpointUrl = (): string => `opc.tcp://${host}:${port}/swarmgate/coldroom`;

  const publisher = setInterval(() => nodes?.refresh(), options.publishIntervalMs ?? 250);
  publisher.unref();

  const unsubscribe = faults.onChange((event, fault) => {
    if (stopped) return;
    if (fault.kind === 'offline' && fault.device === 'freezer') {
      void serial(async () => (faults.isOffline('freezer') ? shutdown() : start())).catch((err: unknown) => log.error({ err }, 'offline toggle failed'));
    }
    if (fault.kind === 'opcua-restart' && event === 'inject') {
      void serial(async () => {
        await shutdown();
        await sleep(fault.downMs ?? 500);
        if (!stopped && !faults.isOffline('freezer')) await start();
      })
        .catch((err: unknown) => log.error({ err }, 'opcua-restart failed'))
        .finally(() => {
          // One-shot: it disappears from the fault list when done.
          if (faults.list().some((f) => f.id === fault.id)) faults.clear(fault.id);
        });
    }
  });

  try {
    await serial(start);
  } catch (err) {
    clearInterval(publisher);
    unsubscribe();
    ctx.release();
    throw err;
  }

  return {
    get endpointUrl() {
      return endpointUrl();
    },
    get port() {
      return port;
    },
    get running() {
      return server !== undefined;
    },
    model,
    faults,
    namespaceIndex: nodes?.namespaceIndex ?? 1,
    restart: (downMs = 500) =>
      serial(async () => {
        await shutdown();
        await sleep(downMs);
        await start();
      }),
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(publisher);
      unsubscribe();
      await serial(shutdown);
      ctx.release();
    },
  };
}
