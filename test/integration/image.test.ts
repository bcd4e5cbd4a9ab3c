// The operator's image, built here and run, not only written: buildah (no Docker engine, no registry)
// builds the project's Dockerfile on local bases made of Debian packages and the npm registry's Node
// binary (the runtime one in distroless's layout), then runs the image with its own ENTRYPOINT and CMD
// against the test control plane (chroot isolation shares the host's network, so the container reaches
// the API server on loopback). It must hold no program but Node, run as uid 1000 inside the image's
// root filesystem, answer --version, and reconcile a FliptClient to Ready. Skipped, with one line
// saying why, where buildah is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildah, buildProjectImage, ensureBaseImages, imageSize, missingImageTools, nodeFromNpm, ROOT } from '../../scripts/lib/image.ts';
import { installCrd, testCluster, waitFor } from '../support/cluster.ts';
import { createFliptTarget, simulateDeploymentController } from '../support/flipt-target.ts';
import { condition, createFliptClient, getFliptClient, removeFliptClients } from '../support/fliptclients.ts';
import { writeOperatorConfig } from '../support/operator-process.ts';
import { secretValue } from '../../src/kube/secret-data.ts';

const missing = missingImageTools();
const skip = missing.length === 0 ? false : `${missing.join(' and ')} not installed, so the image is not built here (apt-get install -y buildah mmdebstrap; .ci/run does it)`;
const CONFIG_DIR = '/etc/flipt-client-operator';
const NODE = '/nodejs/bin/node';
const MB = 1e6;

// Run by the image's Node: every program its root filesystem holds, outside the kernel's and buildah's
// mounts: an executable ELF file other than a shared library (those carry the executable bit too), or
// a script whose `#!` interpreter is there to run it.
const PROGRAMS = `
const { closeSync, existsSync, lstatSync, openSync, readdirSync, readSync } = require('node:fs');
const head = (path) => {
  const fd = openSync(path, 'r');
  const bytes = Buffer.alloc(256);
  const length = readSync(fd, bytes, 0, 256, 0);
  closeSync(fd);
  return bytes.subarray(0, length);
};
const found = [];
let files = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = (dir === '/' ? '' : dir) + '/' + name;
    if (['/proc', '/sys', '/dev', '/run'].includes(path)) continue;
    const stat = lstatSync(path);
    if (stat.isDirectory()) walk(path);
    else if (stat.isFile()) {
      files++;
      if (!(stat.mode & 0o111) || /\\.so(\\.|$)/.test(name)) continue;
      const bytes = head(path);
      const script = /^#!\\s*(\\S+)/.exec(bytes.toString('latin1'));
      const elf = bytes[0] === 0x7f && bytes.toString('latin1', 1, 4) === 'ELF';
      if (script ? existsSync(script[1]) : elf) found.push(path);
    }
  }
};
walk('/');
console.log(JSON.stringify({ files, programs: found }));
`;

interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Env?: string[];
}

/** The process (seen from the host) whose environment carries this marker. */
function findProcess(marker: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(marker)) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

test('the image builds from the Dockerfile, runs as uid 1000, answers --version and reconciles a FliptClient to Ready', { skip }, async (t) => {
  const log = (line: string) => console.log(`# ${line}`);
  const figures: string[] = [];
  // Clean-ups run last registered, first run: the operator stops before its container goes, then the image.
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const started = Date.now();
  const { build, runtime } = await ensureBaseImages(log);
  figures.push(build.cached ? `build base ${build.tag}: cached` : `build base ${build.tag}: mmdebstrap ${build.rootfsSeconds}s, buildah ${build.buildSeconds}s`);
  figures.push(runtime.cached ? `runtime base ${runtime.tag}: cached` : `runtime base ${runtime.tag}: buildah ${runtime.buildSeconds}s`);
  const tag = `localhost/flipt-client-operator:test-${process.pid}`;
  const buildSeconds = await buildProjectImage(tag, { build: build.tag, runtime: runtime.tag }, log);
  cleanups.push(() => buildah(['rmi', tag], log, 'image: rmi').catch(() => {}));
  const size = await imageSize(tag, log);
  const baseSize = await imageSize(runtime.tag, log);
  figures.push(`image build ${buildSeconds}s; size ${(size / MB).toFixed(0)} MB (runtime base ${(baseSize / MB).toFixed(0)} MB + operator ${((size - baseSize) / MB).toFixed(0)} MB)`);
  // The operator's layer: the bundle only, about 14 MB with its source map; no node_modules (client-node
  // alone is 65 MB there), no TypeScript and no second Node binary from the `node` devDependency (over 120 MB).
  assert.ok(size - baseSize < 30 * MB, `the operator adds ${((size - baseSize) / MB).toFixed(0)} MB to its base`);

  const config = (JSON.parse(await buildah(['inspect', '--type', 'image', tag], log, 'image: inspect')) as { OCIv1: { config: ImageConfig } }).OCIv1.config;
  assert.equal(config.User, '1000:1000');
  assert.deepEqual(config.Entrypoint, [NODE, '--max-old-space-size=256', '--max-semi-space-size=4', 'dist/main.js']);
  assert.deepEqual(config.Cmd, ['--config', `${CONFIG_DIR}/config.yaml`]);
  // The malloc settings the benchmark measures with (bench/reconcile.ts).
  for (const setting of ['MALLOC_MMAP_THRESHOLD_=131072', 'MALLOC_TRIM_THRESHOLD_=131072']) assert.ok(config.Env?.includes(setting), `${setting} in ${config.Env?.join(' ')}`);

  const container = `fco-image-${randomBytes(4).toString('hex')}`;
  await buildah(['from', '--name', container, tag], log, 'image: from');
  cleanups.push(() => buildah(['rm', container], log, 'image: rm').catch(() => {}));
  const inside = (args: string[], extra: string[] = []) => buildah(['run', '--isolation', 'chroot', ...extra, container, '--', ...args], log, 'image: run');

  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal((await inside([...config.Entrypoint!, '--version'])).trim(), version, 'the entrypoint answers --version');
  assert.equal((await inside([NODE, '--version'])).trim(), `v${nodeFromNpm().version}`, "the npm registry's Node 24");
  const contents = JSON.parse(await inside([NODE, '-e', PROGRAMS])) as { files: number; programs: string[] };
  assert.deepEqual(contents.programs, [NODE], 'no program but Node: no shell, no package manager');
  await assert.rejects(inside(['sh', '-c', 'true']), 'no shell to run');
  figures.push(`runtime filesystem: ${contents.files} files, one program (${NODE})`);

  // The operator against the test control plane, started exactly as the image says (ENTRYPOINT + CMD),
  // with its config and a kubeconfig mounted where the CMD looks.
  const cluster = await testCluster();
  await installCrd(cluster.kubeConfig);
  const namespace = `flipt-image-${randomBytes(3).toString('hex')}`;
  await createFliptTarget(cluster.clients, { namespace, configMap: 'flipt', deployment: 'flipt' });
  const stopRollouts = simulateDeploymentController(cluster.clients, namespace, 'flipt');
  cleanups.push(stopRollouts);
  const written = writeOperatorConfig({
    targets: [{ name: 'default', namespace, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' }, restart: { minInterval: '1s' } }],
    exchange: { enabled: true },
  });
  const mount = mkdtempSync(join(tmpdir(), 'fco-image-config-'));
  cleanups.push(() => rmSync(mount, { recursive: true, force: true }));
  copyFileSync(written.path, join(mount, 'config.yaml'));
  copyFileSync(cluster.kubeconfigPath, join(mount, 'kubeconfig'));
  for (const file of ['', 'config.yaml', 'kubeconfig']) chownSync(join(mount, file), 1000, 1000);
  const marker = `FCO_IMAGE_TEST=${container}`;
  const child = spawn(
    'buildah',
    ['--storage-driver', 'vfs', 'run', '--isolation', 'chroot', '--volume', `${mount}:${CONFIG_DIR}:ro`, '--env', `KUBECONFIG=${CONFIG_DIR}/kubeconfig`, '--env', marker, '--env', 'LOG_LEVEL=debug', container, '--', ...config.Entrypoint!, ...config.Cmd!],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let pid: number | undefined;
  cleanups.push(async () => {
    if (pid !== undefined) process.kill(pid, 'SIGTERM');
    else child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${written.ports.health}/readyz`)).ok, `the operator in the image to be ready (output: ${output.slice(-1000)})`, 60_000);

  pid = findProcess(marker);
  assert.ok(pid, 'the operator process is found by its environment');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m, 'it runs as uid 1000');
  assert.match(status, /^Gid:\s+1000\s+1000\s+1000\s+1000$/m, 'and gid 1000');
  assert.notEqual(readlinkSync(`/proc/${pid}/root`), '/', "inside the image's root filesystem");
  assert.equal(readlinkSync(`/proc/${pid}/cwd`).endsWith('/app'), true, 'in the WORKDIR');

  const appNamespace = `team-image-${randomBytes(3).toString('hex')}`;
  await cluster.clients.core.createNamespace({ body: { metadata: { name: appNamespace } } });
  cleanups.push(() => removeFliptClients(cluster, appNamespace));
  const reconcileStarted = Date.now();
  await createFliptClient(cluster.clients, appNamespace, 'checkout');
  await waitFor(
    async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'Ready')?.status === 'True',
    `FliptClient checkout Ready (operator output: ${output.slice(-1500)})`,
    60_000,
  );
  const secret = await cluster.clients.core.readNamespacedSecret({ name: 'checkout-flipt', namespace: appNamespace });
  assert.ok(/^[0-9a-f]{64}$/.test(secretValue(secret, 'token') ?? ''), 'the token is 64 hex characters');
  figures.push(`FliptClient Ready ${((Date.now() - reconcileStarted) / 1000).toFixed(1)}s after creation; whole test ${Math.round((Date.now() - started) / 1000)}s`);

  // SIGTERM (what the kubelet sends) stops it cleanly.
  process.kill(pid, 'SIGTERM');
  pid = undefined;
  assert.equal(await exited, 0, output.slice(-1000));
  for (const line of figures) t.diagnostic(line);
  console.log(figures.map((f) => `# image: ${f}`).join('\n'));
});
