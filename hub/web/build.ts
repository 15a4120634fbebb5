/**
 * Builds the review page into hub/web/dist with esbuild (already installed with tsx): one minified
 * script and one stylesheet with content hashes in their names, and index.html pointing at them.
 *   node --import tsx hub/web/build.ts        (npm run build runs it)
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

export interface WebBuild {
  readonly outDir: string;
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
}

export async function buildWeb(outDir = join(here, 'dist')): Promise<WebBuild> {
  rmSync(outDir, { recursive: true, force: true });
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
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  const outputs = Object.entries(result.metafile.outputs).map(([file, meta]) => ({ name: basename(file), bytes: meta.bytes }));
  const js = outputs.find((o) => o.name.startsWith('app-') && o.name.endsWith('.js'));
  const css = outputs.find((o) => o.name.startsWith('style-') && o.name.endsWith('.css'));
  if (!js || !css) throw new Error(`esbuild did not produce app js and css: ${outputs.map((o) => o.name).join(', ')}`);
  const html = readFileSync(join(here, 'index.html'), 'utf8').replace('{{js}}', js.name).replace('{{css}}', css.name);
  writeFileSync(join(outDir, 'index.html'), html);
  return { outDir, files: [...outputs, { name: 'index.html', bytes: Buffer.byteLength(html) }] };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = await buildWeb();
  for (const f of out.files) process.stdout.write(`${f.name.padEnd(28)} ${f.bytes} B\n`);
}
