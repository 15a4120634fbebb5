#!/usr/bin/env node
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
