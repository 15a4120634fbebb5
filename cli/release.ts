/**
 * `swarmgate release keygen --out DIR`                 the fleet's Ed25519 release key pair
 * `swarmgate release build --version V --key release.key [--from DIR] [--entry PATH] [--min-node X.Y.Z] --out DIR`
 *                                                       the app tarball and its signed manifest
 * `swarmgate release verify --manifest FILE --pub release.pub [--artifact FILE]`
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileErrorReason } from '../shared/kit/config-file.js';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SwarmgateError } from '../shared/kit/errors.js';
import { packageRoot } from '../shared/kit/package-info.js';
import { appFiles, minimumNode } from '../shared/release/app-files.js';
import { buildRelease, sha256File, stagedFiles } from '../shared/release/artifact.js';
import { RELEASE_VERSION_PATTERN } from '../shared/release/manifest.js';
import { generateReleaseKeys, readPrivateKey, readPublicKey, verifyManifest } from '../shared/release/signing.js';
import type { Command } from './commands.js';
import { usageError } from './usage.js';

const HELP = `usage:
  swarmgate release keygen --out DIR
      writes DIR/release.key (Ed25519 private key, mode 0600; keep it off the hub and gateways)
      and DIR/release.pub (the fleet public key the hub and every gateway pin)
  swarmgate release build --version V --key release.key --out DIR [--from DIR] [--entry bin/swarmgate.js] [--min-node 20.19.0]
      packs the app (default: this checkout, built: bin, dist, package.json, production node_modules,
      unit files, profiles; --from: every entry of a staged app folder) into DIR/swarmgate-V.tar.gz
      and writes the signed DIR/swarmgate-V.manifest.json
  swarmgate release verify --manifest FILE --pub release.pub [--artifact FILE]
`;

/**
 * A file named by an option, checked before it is used: a missing or unreadable one is this
 * command's usage error naming the option, the file and why ("--manifest /x.json: no such file").
 */
export function inputFile(command: string, option: string, file: string): string {
  let problem: string | undefined;
  try {
    const stats = statSync(file);
    if (stats.isDirectory()) problem = 'a folder, not a file';
    else if (!stats.isFile()) problem = 'not a regular file';
    else accessSync(file, constants.R_OK);
  } catch (err) {
    problem = fileErrorReason(err);
  }
  if (problem !== undefined) throw usageError(command, `${option} ${file}: ${problem}`);
  return file;
}

async function keygen(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { out: { type: 'string' }, force: { type: 'boolean' } } });
  if (!values.out) throw usageError('release', '--out DIR is required');
  const dir = resolve(values.out);
  const priv = join(dir, 'release.key');
  const pub = join(dir, 'release.pub');
  if (!values.force && (existsSync(priv) || existsSync(pub))) throw usageError('release', `${dir} holds a release key already; a new key would orphan every gateway that pinned the old one (--force overwrites)`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keys = generateReleaseKeys();
  writeFileSync(priv, keys.privatePem, { mode: 0o600 });
  chmodSync(priv, 0o600);
  writeFileSync(pub, keys.publicPem, { mode: 0o644 });
  process.stdout.write(`wrote ${priv} (private, 0600) and ${pub} (public)\nkey id ${keys.keyId}\n`);
  return 0;
}

async function build(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { version: { type: 'string' }, key: { type: 'string' }, from: { type: 'string' }, out: { type: 'string' }, entry: { type: 'string' }, 'min-node': { type: 'string' } },
  });
  if (!values.version || !values.key || !values.out) throw usageError('release', '--version, --key and --out are required');
  if (!new RegExp(RELEASE_VERSION_PATTERN).test(values.version)) throw usageError('release', `--version "${values.version}" must match ${RELEASE_VERSION_PATTERN}`);
  const privateKey = readPrivateKey(inputFile('release', '--key', values.key));
  const sourceDir = resolve(values.from ?? packageRoot());
  if (values.from && !statSync(sourceDir, { throwIfNoEntry: false })?.isDirectory()) throw new SwarmgateError('SWG_ERR_RELEASE_BUILD', `--from ${sourceDir} is not a folder`);
  const files = values.from ? stagedFiles(sourceDir) : appFiles(sourceDir);
  const started = Date.now();
  const built = await buildRelease({
    version: values.version,
    privateKey,
    sourceDir,
    files,
    outDir: resolve(values.out),
    minNode: values['min-node'] ?? minimumNode(sourceDir),
    ...(values.entry ? { entry: values.entry } : {}),
  });
  const { artifact } = built.manifest;
  process.stdout.write(
    `release ${values.version}: ${built.tarball} (${(artifact.size / 1024 / 1024).toFixed(1)} MiB, sha256 ${artifact.sha256.slice(0, 16)}…, ${files.length} entries, ${Date.now() - started} ms)\n` +
      `manifest ${built.manifestFile} signed by key ${built.manifest.signature.keyId}\n`,
  );
  return 0;
}

async function verifyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { manifest: { type: 'string' }, pub: { type: 'string' }, artifact: { type: 'string' } } });
  if (!values.manifest || !values.pub) throw usageError('release', '--manifest and --pub are required');
  const manifestFile = inputFile('release', '--manifest', values.manifest);
  const publicKey = readPublicKey(inputFile('release', '--pub', values.pub));
  if (values.artifact) inputFile('release', '--artifact', values.artifact);
  const manifest = verifyManifest(readFileSync(manifestFile), publicKey, manifestFile);
  if (values.artifact) {
    const size = statSync(values.artifact).size;
    const sha = await sha256File(values.artifact);
    if (size !== manifest.artifact.size || sha !== manifest.artifact.sha256) {
      throw new SwarmgateError('SWG_ERR_RELEASE_DIGEST', `${values.artifact}: size ${size} sha256 ${sha} but the manifest says size ${manifest.artifact.size} sha256 ${manifest.artifact.sha256}`);
    }
  }
  process.stdout.write(`release ${manifest.version}: signature ok (key ${manifest.signature.keyId})${values.artifact ? ', artifact ok' : ''}\n`);
  return 0;
}

export const releaseCommand: Pick<Command, 'run'> = {
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'keygen') return keygen(rest);
    if (sub === 'build') return build(rest);
    if (sub === 'verify') return verifyCommand(rest);
    process.stdout.write(HELP);
    return sub === '--help' || sub === '-h' ? 0 : 2;
  },
};
