#!/usr/bin/env -S node --max-semi-space-size=2
// --max-semi-space-size=2: a small young generation keeps a Pi-class gateway's resident set
// ~30 MB lower (the default 16 MB semi-space is sized for servers). The systemd units and
// `npm start` pass the same flag.
// Runs the compiled CLI (dist/, built by `npm install` via the prepare script). Set
// SWARMGATE_FROM_SOURCE=1 to run the TypeScript sources through tsx instead (development).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (!process.env.SWARMGATE_FROM_SOURCE && existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../cli/main.ts', import.meta.url).href);
}
