/**
 * The Debian tools the packaging and image tests run for real: dpkg-deb (dpkg), mtools, mkfs.vfat
 * (dosfstools). Absent: the suite skips naming the package; with CI set it fails (peerOrSkip).
 */
import { execFileSync } from 'node:child_process';
import type { PeerStatus } from './peers.js';

function found(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Each tool with the Debian package that provides it. */
const TOOLS: Record<string, string> = { 'dpkg-deb': 'dpkg', dpkg: 'dpkg', mcopy: 'mtools', mtype: 'mtools', mdir: 'mtools', 'mkfs.vfat': 'dosfstools' };

export function deployToolsPeer(tools: readonly (keyof typeof TOOLS)[]): PeerStatus {
  const missing = tools.filter((t) => !found(t));
  const packages = [...new Set(missing.map((t) => TOOLS[t]))];
  return missing.length === 0
    ? { available: true, reason: '' }
    : { available: false, reason: `${missing.join(', ')} not found: apt-get install -y ${packages.join(' ')}` };
}
