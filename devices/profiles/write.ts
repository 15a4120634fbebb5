/** Regenerates devices/profiles/*.yaml from the simulator maps: `npx tsx devices/profiles/write.ts`. */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProfiles, profileYaml } from './build.js';

const here = dirname(fileURLToPath(import.meta.url));
for (const [file, doc] of Object.entries(buildProfiles())) {
  writeFileSync(join(here, file), profileYaml(doc));
  console.log(`wrote ${file}`);
}
