/**
 * A process that runs one real install (edge/update/install.ts) and prints each step as it begins
 * or ends, so a test can SIGKILL it there: with SWG_TEST_PAUSE_AT=<step> it stops at that step
 * (blocked, as if the machine froze there) until it is killed. Input: SWG_TEST_INSTALL = { root, desired, publicKeyFile }.
 */
import { installRelease } from '../../../edge/update/install.js';
import { InstallLayout } from '../../../edge/update/layout.js';
import { readPublicKey } from '../../../shared/release/signing.js';
import type { UpdateDesired } from '../../../shared/wire/index.js';

const input = JSON.parse(process.env.SWG_TEST_INSTALL ?? '{}') as { root: string; desired: UpdateDesired; publicKeyFile: string };
const started = Date.now();
const installed = await installRelease(
  { deployment: input.desired.deployment, manifest: input.desired.manifest, url: input.desired.url, token: input.desired.token },
  { layout: new InstallLayout(input.root), publicKey: readPublicKey(input.publicKeyFile), healthDeadlineMs: 60_000, onStep: (step) => {
      process.stdout.write(`step ${step}\n`);
      if (process.env.SWG_TEST_PAUSE_AT === step) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
    },
  },
);
process.stdout.write(`done ${JSON.stringify({ ms: Date.now() - started, resumedFrom: installed.resumedFrom, downloadMs: installed.downloadMs, installMs: installed.installMs })}\n`);
