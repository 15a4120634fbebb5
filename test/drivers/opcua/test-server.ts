/**
 * A small node-opcua server for the OPC UA driver tests: a few variables of different types and
 * access levels, values the test sets (so deadband and restart assertions are deterministic),
 * and a restart on the same port with fresh state. PKI under a temp folder, never $HOME or cwd.
 */
import { join } from 'node:path';
import {
  DataType,
  OPCUACertificateManager,
  OPCUAServer,
  StatusCodes,
  Variant,
  setErrorLogger,
  setWarningLogger,
  type UAVariable,
} from 'node-opcua';

/** node-opcua prints warnings straight to the console; keep test output readable. */
export function quietNodeOpcua(): void {
  if (process.env.SWARMGATE_LOG_LEVEL) return;
  setWarningLogger(() => undefined);
  setErrorLogger(() => undefined);
}

export const NODES = {
  temperature: 'ns=1;s=Room.Temperature',
  setpoint: 'ns=1;s=Room.Setpoint',
  mode: 'ns=1;s=Room.Mode',
  enabled: 'ns=1;s=Room.Enabled',
  label: 'ns=1;s=Room.Label',
  level: 'ns=1;s=Room.Level',
  broken: 'ns=1;s=Room.Broken',
  doubtful: 'ns=1;s=Room.Doubtful',
} as const;

export interface TestServer {
  readonly endpointUrl: string;
  readonly port: number;
  /** Sets a variable's value (source timestamp now). */
  set(nodeId: string, value: number | boolean | string): void;
  /** Shut down, wait, start again on the same port with a fresh address space. */
  restart(downMs?: number): Promise<void>;
  shutdown(): Promise<void>;
  /** Starts (again) on the same port; `without` leaves Room variables out (by browse name). */
  start(options?: { readonly without?: readonly string[] }): Promise<void>;
  /** Adds the variables left out by start({ without }) to the running server. */
  addMissing(): void;
  /** Deletes every subscription on the server side, behind the clients' backs. */
  dropSubscriptions(): number;
  /** Subscriptions ever created on this server instance (to tell transfer from recreation). */
  cumulatedSubscriptionCount(): number;
  readonly running: boolean;
}

export async function startTestServer(pkiDir: string): Promise<TestServer> {
  let port = 0;
  let server: OPCUAServer | undefined;
  const variables = new Map<string, UAVariable>();
  let addLater: (() => void)[] = [];

  const start = async (options: { readonly without?: readonly string[] } = {}): Promise<void> => {
    addLater = [];
    const s = new OPCUAServer({
      port,
      host: '127.0.0.1',
      hostname: '127.0.0.1',
      resourcePath: '/test',
      serverCertificateManager: new OPCUACertificateManager({ rootFolder: join(pkiDir, 'server'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
      userCertificateManager: new OPCUACertificateManager({ rootFolder: join(pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
      userManager: { isValidUser: (user: string, password: string) => user === 'operator' && password === 'secret' },
    });
    await s.initialize();
    const addressSpace = s.engine.addressSpace;
    if (!addressSpace) throw new Error('no address space');
    const ns = addressSpace.getOwnNamespace();
    const room = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Room', nodeId: 's=Room' });
    const create = (name: string, dataType: string, value: unknown, writable: boolean): void => {
      const v = ns.addVariable({
        componentOf: room,
        browseName: name,
        nodeId: `s=Room.${name}`,
        dataType,
        minimumSamplingInterval: 0,
        accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        description: `${name} of the test room`,
      });
      v.setValueFromSource(new Variant({ dataType: DataType[dataType as keyof typeof DataType], value }));
      variables.set(`ns=1;s=Room.${name}`, v);
    };
    const add = (name: string, dataType: string, value: unknown, writable: boolean): void => {
      if (options.without?.includes(name)) addLater.push(() => create(name, dataType, value, writable));
      else create(name, dataType, value, writable);
    };
    add('Temperature', 'Double', -18.5, false);
    add('Setpoint', 'Double', -20, true);
    add('Mode', 'Int32', 1, true);
    add('Enabled', 'Boolean', true, true);
    add('Label', 'String', 'freezer', false);
    const level = ns.addAnalogDataItem({
      componentOf: room,
      browseName: 'Level',
      nodeId: 's=Room.Level',
      dataType: 'Double',
      engineeringUnitsRange: { low: 0, high: 100 },
      minimumSamplingInterval: 0,
    });
    level.setValueFromSource(new Variant({ dataType: DataType.Double, value: 50 }));
    variables.set(NODES.level, level);
    add('Broken', 'Double', 0, false);
    variables.get(NODES.broken)?.setValueFromSource(new Variant({ dataType: DataType.Double, value: 0 }), StatusCodes.BadSensorFailure);
    add('Doubtful', 'Double', 7, false);
    variables.get(NODES.doubtful)?.setValueFromSource(new Variant({ dataType: DataType.Double, value: 7 }), StatusCodes.UncertainLastUsableValue);
    await s.start();
    port = s.endpoints[0]?.port ?? port;
    server = s;
  };

  const shutdown = async (): Promise<void> => {
    const s = server;
    server = undefined;
    variables.clear();
    await s?.shutdown(0);
  };

  await start();
  return {
    get endpointUrl() {
      return `opc.tcp://127.0.0.1:${port}/test`;
    },
    get port() {
      return port;
    },
    get running() {
      return server !== undefined;
    },
    set(nodeId, value) {
      const v = variables.get(nodeId);
      if (!v) throw new Error(`no variable ${nodeId} (server running: ${server !== undefined})`);
      const dataType = v.getBasicDataType();
      v.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good, new Date());
    },
    async restart(downMs = 300) {
      await shutdown();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    shutdown,
    start,
    dropSubscriptions() {
      let dropped = 0;
      for (const session of server?.engine.getSessions() ?? []) {
        for (const sub of session.publishEngine.subscriptions) {
          session.deleteSubscription(sub.id);
          dropped += 1;
        }
      }
      return dropped;
    },
    cumulatedSubscriptionCount: () => server?.engine.cumulatedSubscriptionCount ?? 0,
    addMissing() {
      const pending = addLater;
      addLater = [];
      for (const add of pending) add();
    },
  };
}
