/**
 * Builds the review page into hub/web/dist with esbuild (already installed with tsx): one minified
 * script and one stylesheet with content hashes in their names, and index.html pointing at them.
 *   node --import tsx hub/web/build.ts        (npm run build runs it)
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

export interface WebBuild {
  readonly outDir: string;
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
}

/** Writes via a temp file and rename, so a hub reading the folder never sees a half-written file. */
function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export async function buildWeb(outDir = join(here, 'dist')): Promise<WebBuild> {
  const assets = join(outDir, 'assets');
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: { app: join(here, 'src/main.ts'), style: join(here, 'styles.css') },
    outdir: assets,
    entryNames: '[name]-[hash]',
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    write: false,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const outputs = result.outputFiles.map((f) => ({ name: basename(f.path), bytes: f.contents.length, file: f }));
  const js = outputs.find((o) => o.name.startsWith('app-') && o.name.endsWith('.js'));
  const css = outputs.find((o) => o.name.startsWith('style-') && o.name.endsWith('.css'));
  if (!js || !css) throw new Error(`esbuild did not produce app js and css: ${outputs.map((o) => o.name).join(', ')}`);
  // Assets first, the page that names them last; hashed names make concurrent builds agree.
  for (const o of outputs) writeAtomic(join(assets, o.name), o.file.contents);
  const html = readFileSync(join(here, 'index.html'), 'utf8').replace('{{js}}', js.name).replace('{{css}}', css.name);
  writeAtomic(join(outDir, 'index.html'), html);
  const current = new Set(outputs.map((o) => o.name));
  for (const f of readdirSync(assets)) if (!current.has(f) && !f.endsWith('.tmp')) rmSync(join(assets, f), { force: true });
  return { outDir, files: [...outputs.map(({ name, bytes }) => ({ name, bytes })), { name: 'index.html', bytes: Buffer.byteLength(html) }] };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = await buildWeb();
  for (const f of out.files) process.stdout.write(`${f.name.padEnd(28)} ${f.bytes} B\n`);
}
