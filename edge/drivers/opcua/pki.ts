/**
 * One OPCUACertificateManager per PKI folder per process. Several OPC UA devices usually share
 * the gateway's PKI; separate managers on one folder would race to create the own certificate and
 * each would keep its own file watchers, so they are reference counted and disposed with the last user.
 */
import { mkdirSync } from 'node:fs';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { SwarmgateError, errorMessage } from '../../../shared/kit/errors.js';

interface Shared {
  readonly manager: OPCUACertificateManager;
  readonly ready: Promise<void>;
  users: number;
}

const managers = new Map<string, Shared>();

export interface PkiLease {
  readonly manager: OPCUACertificateManager;
  release(): Promise<void>;
}

export async function acquirePki(rootFolder: string, automaticallyAcceptUnknownCertificate: boolean): Promise<PkiLease> {
  let shared = managers.get(rootFolder);
  if (!shared) {
    // Created up front so a wrong path fails here with a clear error, not deep inside connect().
    try {
      mkdirSync(rootFolder, { recursive: true });
    } catch (err) {
      throw new SwarmgateError('SWG_ERR_CONFIG_INVALID', `cannot create the OPC UA PKI folder ${rootFolder}: ${errorMessage(err)}; set connection.pkiDir to a writable folder`, {
        cause: err,
        details: { pkiDir: rootFolder },
      });
    }
    const manager = new OPCUACertificateManager({ rootFolder, automaticallyAcceptUnknownCertificate });
    shared = { manager, ready: manager.initialize(), users: 0 };
    managers.set(rootFolder, shared);
  }
  const entry = shared;
  entry.users += 1;
  try {
    await entry.ready;
  } catch (err) {
    await releaseEntry(rootFolder, entry);
    throw err;
  }
  let released = false;
  return {
    manager: entry.manager,
    release: async () => {
      if (released) return;
      released = true;
      await releaseEntry(rootFolder, entry);
    },
  };
}

async function releaseEntry(rootFolder: string, entry: Shared): Promise<void> {
  entry.users -= 1;
  if (entry.users > 0) return;
  if (managers.get(rootFolder) === entry) managers.delete(rootFolder);
  await entry.ready.catch(() => undefined);
  await entry.manager.dispose();
}
