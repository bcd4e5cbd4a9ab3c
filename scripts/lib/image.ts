// Builds the operator's image without Docker or a registry: Debian's buildah (vfs storage, chroot
// isolation, so it needs neither a daemon nor user namespaces) builds the project's Dockerfile on two
// local bases: for the build stage, Node 24 on Debian packages (mmdebstrap) with the Node binary the
// npm registry ships (the `node` devDependency) and npm; for the runtime stage, the same Node binary
// with only the shared libraries it links, laid out as distroless's nodejs images are (no shell, no
// package manager). Every step is cached: the Debian root filesystem in .cache/image/, the bases in
// buildah's storage under tags derived from everything that goes into them.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(ROOT, '.cache', 'image');

/** buildah's global options: vfs storage works on any filesystem, without fuse-overlayfs. */
export const BUILDAH_GLOBAL = ['--storage-driver', 'vfs'];

export const DEBIAN_SUITE = 'bookworm';
const DEBIAN_SOURCES = [
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE} main`,
  `deb http://deb.debian.org/debian ${DEBIAN_SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${DEBIAN_SUITE}-security main`,
];
// Leave documentation, manual pages and translations out of the root filesystem; drop apt's lists.
const MMDEBSTRAP_OPTIONS = [
  '--variant=minbase',
  '--include=ca-certificates',
  '--dpkgopt=path-exclude=/usr/share/doc/*',
  '--dpkgopt=path-include=/usr/share/doc/*/copyright',
  '--dpkgopt=path-exclude=/usr/share/man/*',
  '--dpkgopt=path-exclude=/usr/share/locale/*',
  '--dpkgopt=path-exclude=/usr/share/info/*',
  '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
];
/** The npm that Node 24.21.0 bundles (its CHANGELOG), installed into the base for the build stage. */
export const NPM_VERSION = '11.19.0';

// The build stage's base: Debian, then Node and npm, and the `node` user (uid/gid 1000) the official images have.
const BUILD_BASE_CONTAINERFILE = `FROM scratch
ADD rootfs.tar /
COPY node /usr/local/bin/node
ADD npm.tgz /usr/local/lib/
RUN mkdir -p /usr/local/lib/node_modules \\
 && mv /usr/local/lib/package /usr/local/lib/node_modules/npm \\
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && echo 'node:x:1000:1000:node:/home/node:/bin/sh' >> /etc/passwd \\
 && echo 'node:x:1000:' >> /etc/group \\
 && mkdir -p /home/node && chown 1000:1000 /home/node \\
 && node --version && npm --version
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["node"]
`;

// The runtime stage's base, in the layout of gcr.io/distroless/nodejs24 (the Dockerfile's default):
// Node at /nodejs/bin/node, the shared libraries it links where the loader looks for them, CA
// certificates, and distroless's users. Nothing else: no shell, no package manager, no other program.
const RUNTIME_BASE_CONTAINERFILE = `ARG BUILD_BASE
FROM \${BUILD_BASE} AS source
RUN set -e \\
 && mkdir -p /runtime/nodejs/bin /runtime/etc/ssl/certs /runtime/tmp \\
 && cp /usr/local/bin/node /runtime/nodejs/bin/node \\
 && for lib in $(ldd /usr/local/bin/node | grep -o '/[^ ]*'); do cp -L --parents "$lib" /runtime; done \\
 && cp /etc/ssl/certs/ca-certificates.crt /runtime/etc/ssl/certs/ \\
 && printf 'root:x:0:0:root:/root:/sbin/nologin\\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\\n' > /runtime/etc/passwd \\
 && printf 'root:x:0:\\nnobody:x:65534:\\nnonroot:x:65532:\\n' > /runtime/etc/group \\
 && chmod 1777 /runtime/tmp
FROM scratch
COPY --from=source /runtime/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/nodejs/bin/node"]
`;

export type Log = (line: string) => void;

/** The tools an image build needs that this machine lacks (buildah, and mmdebstrap for the base). */
export function missingImageTools(): string[] {
  return ['buildah', 'mmdebstrap'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0);
}

/** Runs a command, printing a progress line every 30 s; rejects with its exit code and the end of its output. */
export function run(command: string, args: string[], log: Log, label: string, options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 1_000_000) output = output.slice(-500_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const progress = setInterval(() => log(`${label}: still running (${Math.round((Date.now() - started) / 1000)}s)`), 30_000);
    child.on('error', (err) => {
      clearInterval(progress);
      reject(err);
    });
    child.on('exit', (code) => {
      clearInterval(progress);
      if (code === 0) resolve(output);
      else reject(new Error(`${label}: \`${command} ${args.join(' ')}\` exited ${code}:\n${output.slice(-4000)}`));
    });
  });
}

export function buildah(args: string[], log: Log, label: string, options: { cwd?: string } = {}): Promise<string> {
  return run('buildah', [...BUILDAH_GLOBAL, ...args], log, label, options);
}

export async function imageExists(tag: string): Promise<boolean> {
  return spawnSync('buildah', [...BUILDAH_GLOBAL, 'inspect', '--type', 'image', tag], { stdio: 'ignore' }).status === 0;
}

/** The Node binary and version the `node` devDependency installed (the npm registry's build for this platform). */
export function nodeFromNpm(): { binary: string; version: string } {
  const dir = join(ROOT, 'node_modules', 'node');
  const binary = join(dir, 'bin', 'node');
  if (!existsSync(binary)) throw new Error('node_modules/node/bin/node is missing: run `npm ci` first');
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return { binary, version };
}

const sha = (...parts: string[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 12);
};

/** The Debian root filesystem as a tar, made by mmdebstrap once and kept in .cache/image/. */
async function debianRootfs(log: Log): Promise<{ path: string; key: string; seconds: number; cached: boolean }> {
  const key = sha(DEBIAN_SUITE, ...DEBIAN_SOURCES, ...MMDEBSTRAP_OPTIONS);
  const path = join(CACHE, `debian-${DEBIAN_SUITE}-minbase-${key}.tar`);
  if (existsSync(path)) return { path, key, seconds: 0, cached: true };
  mkdirSync(CACHE, { recursive: true });
  log(`image base: mmdebstrap ${DEBIAN_SUITE} (Debian packages, a few minutes)`);
  const started = Date.now();
  const partial = `${path}.partial`;
  // mmdebstrap picks the output format from the file name, and needs the .tar suffix.
  const partialTar = `${partial}.tar`;
  await run('mmdebstrap', [...MMDEBSTRAP_OPTIONS, DEBIAN_SUITE, partialTar, ...DEBIAN_SOURCES], log, 'image base: mmdebstrap');
  renameSync(partialTar, path);
  return { path, key, seconds: Math.round((Date.now() - started) / 1000), cached: false };
}

export interface BaseImage {
  tag: string;
  cached: boolean;
  /** Seconds spent: mmdebstrap, then buildah (0 when cached). */
  rootfsSeconds: number;
  buildSeconds: number;
}

export interface BaseImages {
  /** Debian + the npm registry's Node + npm: the Dockerfile's build stage. */
  build: BaseImage;
  /** The same Node and the libraries it links, in distroless's layout: the Dockerfile's runtime stage. */
  runtime: BaseImage;
}

/** The two local bases (see the top of this file), each built unless buildah already has it. */
export async function ensureBaseImages(log: Log): Promise<BaseImages> {
  const build = await ensureBuildBase(log);
  const tag = `localhost/flipt-client-operator-runtime:node${nodeFromNpm().version}-${sha(build.tag, RUNTIME_BASE_CONTAINERFILE)}`;
  if (await imageExists(tag)) return { build, runtime: { tag, cached: true, rootfsSeconds: 0, buildSeconds: 0 } };
  const context = mkdtempSync(join(tmpdir(), 'fco-image-runtime-'));
  try {
    writeFileSync(join(context, 'Containerfile'), RUNTIME_BASE_CONTAINERFILE);
    log(`image runtime base: buildah bud ${tag} (FROM ${build.tag})`);
    const started = Date.now();
    await buildah(['bud', '--isolation', 'chroot', '--layers=false', '--build-arg', `BUILD_BASE=${build.tag}`, '-t', tag, '-f', 'Containerfile', '.'], log, 'image runtime base: buildah bud', { cwd: context });
    return { build, runtime: { tag, cached: false, rootfsSeconds: 0, buildSeconds: Math.round((Date.now() - started) / 1000) } };
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

async function ensureBuildBase(log: Log): Promise<BaseImage> {
  const node = nodeFromNpm();
  const rootfsKey = sha(DEBIAN_SUITE, ...DEBIAN_SOURCES, ...MMDEBSTRAP_OPTIONS);
  const tag = `localhost/flipt-client-operator-base:node${node.version}-${sha(rootfsKey, node.version, process.arch, NPM_VERSION, BUILD_BASE_CONTAINERFILE)}`;
  if (await imageExists(tag)) return { tag, cached: true, rootfsSeconds: 0, buildSeconds: 0 };
  const rootfs = await debianRootfs(log);
  const context = mkdtempSync(join(tmpdir(), 'fco-image-base-'));
  try {
    linkOrCopy(rootfs.path, join(context, 'rootfs.tar'));
    copyFileSync(node.binary, join(context, 'node'));
    log(`image base: npm ${NPM_VERSION} from the npm registry`);
    await run('npm', ['pack', `npm@${NPM_VERSION}`, '--pack-destination', context, '--silent'], log, 'image base: npm pack', { cwd: context });
    renameSync(join(context, `npm-${NPM_VERSION}.tgz`), join(context, 'npm.tgz'));
    writeFileSync(join(context, 'Containerfile'), BUILD_BASE_CONTAINERFILE);
    log(`image base: buildah bud ${tag}`);
    const started = Date.now();
    await buildah(['bud', '--isolation', 'chroot', '--layers=false', '-t', tag, '-f', 'Containerfile', '.'], log, 'image base: buildah bud', { cwd: context });
    return { tag, cached: false, rootfsSeconds: rootfs.seconds, buildSeconds: Math.round((Date.now() - started) / 1000) };
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/** The host's CA bundle: npm in the build stage trusts what the host trusts (say, a TLS-inspecting proxy's CA). */
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Builds the project's Dockerfile on the local bases. Without `--layers`, buildah commits once
 * per stage: with vfs storage every commit copies the whole root filesystem, so caching each instruction
 * (`--layers`) made a cold build take 6 minutes instead of 1½ here. RUN steps see the host's CA bundle
 * through a bind mount and an npmrc naming it; neither is written into the image.
 */
export async function buildProjectImage(tag: string, bases: { build: string; runtime: string }, log: Log): Promise<number> {
  const started = Date.now();
  const mounts: string[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'fco-image-build-'));
  try {
    if (existsSync(HOST_CA_BUNDLE)) {
      writeFileSync(join(scratch, 'npmrc'), 'cafile=/run/host-ca-bundle.crt\n');
      mounts.push('--volume', `${HOST_CA_BUNDLE}:/run/host-ca-bundle.crt:ro`, '--volume', `${join(scratch, 'npmrc')}:/usr/local/etc/npmrc:ro`);
    }
    log(`image: buildah bud ${tag} (FROM ${bases.build}, then ${bases.runtime})`);
    await buildah(
      ['bud', '--isolation', 'chroot', '--layers=false', ...mounts, '--build-arg', `BUILD_IMAGE=${bases.build}`, '--build-arg', `RUNTIME_IMAGE=${bases.runtime}`, '-t', tag, '-f', 'Dockerfile', '.'],
      log,
      'image: buildah bud',
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return Math.round((Date.now() - started) / 1000);
}

/** The image's size as `buildah images` reports it (uncompressed, decimal units), in bytes. */
export async function imageSize(tag: string, log: Log): Promise<number> {
  const images = JSON.parse(await buildah(['images', '--json'], log, 'image: images')) as Array<{ names: string[] | null; size: string }>;
  const image = images.find((i) => i.names?.includes(tag));
  const match = /^([\d.]+)\s*(B|kB|MB|GB)$/.exec(image?.size ?? '');
  if (!match) throw new Error(`buildah images: no size for ${tag} (${JSON.stringify(image)})`);
  return Math.round(Number(match[1]) * { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[match[2] as 'B' | 'kB' | 'MB' | 'GB']);
}
