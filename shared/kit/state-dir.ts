/**
 * Where a service keeps its data under systemd. The shipped units set `StateDirectory=` (the hub:
 * swarmgate-hub, the gateway: swarmgate), which creates /var/lib/<name> for the service user and
 * passes it as $STATE_DIRECTORY; /etc, where the config files live, is read-only to the services
 * (ProtectSystem=full). The gateway and the hub resolve their data paths with these functions.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** The service's state directory: the first entry of $STATE_DIRECTORY when it is absolute, else undefined (not under systemd). */
export function serviceStateDirectory(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const first = env.STATE_DIRECTORY?.split(':')[0];
  return first && isAbsolute(first) ? first : undefined;
}

/**
 * Whether a data path holds data: a file, or a folder with something in it. An empty folder holds
 * none (a command run from a shell may have made it and left it empty): it does not keep a service
 * from its state directory. A folder this user may not list counts as holding data.
 */
export function holdsData(path: string): boolean {
  try {
    if (!statSync(path).isDirectory()) return true;
  } catch {
    return false;
  }
  try {
    return readdirSync(path).length > 0;
  } catch {
    return true;
  }
}

/**
 * A data path (a database, a journal folder, a folder of uploads) from a config file: absolute as
 * given; relative, in the service state directory under systemd, else next to the config file —
 * also under systemd when it holds data there already (data kept beside the config before this
 * rule stays in use). `installed` is the state directory the shipped unit gives the service: a
 * command run from a shell on the same config (`sudo swarmgate hub enroll create --config
 * /etc/swarmgate/hub.yaml`) has no $STATE_DIRECTORY, and must use the service's data there, not
 * make another next to the config, when only the service's holds data.
 */
export function resolveDataPath(
  configFile: string,
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => boolean = holdsData,
  installed?: string,
): string {
  if (isAbsolute(path)) return path;
  const beside = resolve(dirname(configFile), path);
  const state = serviceStateDirectory(env);
  if (state) return exists(beside) ? beside : join(state, path);
  if (installed !== undefined && !exists(beside) && exists(join(installed, path))) return join(installed, path);
  return beside;
}
