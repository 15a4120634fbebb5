/** `npm run schema`: writes deploy/schema/*.schema.json from the TypeBox schemas. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { builtinDrivers } from '../drivers/builtin.js';
import { gatewayConfigJsonSchema, profileJsonSchema } from './json-schema.js';

const out = fileURLToPath(new URL('../../deploy/schema/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(`${out}gateway-config.schema.json`, `${JSON.stringify(gatewayConfigJsonSchema(builtinDrivers()), null, 2)}\n`);
writeFileSync(`${out}device-profile.schema.json`, `${JSON.stringify(profileJsonSchema(builtinDrivers()), null, 2)}\n`);
process.stdout.write(`wrote ${out}gateway-config.schema.json and device-profile.schema.json\n`);
