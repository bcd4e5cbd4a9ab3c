// The operator's command line as a user meets it: help, version, and one clear line with a non-zero
// exit for every way it cannot start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installCrd, testCluster } from '../support/cluster.ts';
import { writeOperatorConfig } from '../support/operator-process.ts';
import { scratchDir } from '../support/scratch.ts';
import { closedAfterMs, openConnection } from '../support/sockets.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const dir = scratchDir('cli');
const VALID = 'targets:\n  - {name: default, namespace: flipt, configMap: {name: flipt}, workload: {kind: Deployment, name: flipt}}\nleaderElection: {namespace: default}\n';

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KUBECONFIG: '' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('--help and --version', () => {
  const help = run('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: flipt-client-operator/);
  assert.match(help.stdout, /--config/);
  const version = run('--version');
  assert.equal(version.code, 0);
  assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
});

test('an unknown flag: exit 2 and one line', () => {
  const r = run('--bogus');
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /Unknown option '--bogus'/);
});

test('a missing config file: exit 1 and one line naming it', () => {
  const r = run('--config', join(dir, 'nope.yaml'));
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /nope\.yaml: cannot read operator config: ENOENT/);
});

test('an invalid config file: exit 1 and one line naming the file and the field', () => {
  const path = file('bad.yaml', VALID.replace('kind: Deployment', 'kind: Job'));
  const r = run('--config', path);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /bad\.yaml: invalid operator config: targets\.0\.workload\.kind: must be one of Deployment, StatefulSet/);
});

test('an unreachable API server: exit 1 and one line naming it', async () => {
  const port = await closedPort();
  const kubeconfig = file(
    'unreachable.kubeconfig',
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
  );
  const r = run('--config', file('ok.yaml', VALID), '--kubeconfig', kubeconfig);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, new RegExp(`cannot reach the Kubernetes API server at https://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('a valid config and a reachable API server: it starts, counts exchange connections beyond exchange.maxConnections, and stops cleanly on SIGTERM', async () => {
  const cluster = await testCluster();
  await installCrd(cluster.kubeConfig);
  const { spawn } = await import('node:child_process');
  const { path: config, ports } = writeOperatorConfig({
    targets: [{ name: 'default', namespace: 'flipt', configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' } }],
    exchange: { enabled: true, maxConnections: 1 },
  });
  const child = spawn(process.execPath, [MAIN, '--config', config, '--kubeconfig', cluster.kubeconfigPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!out.includes('caches synced') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /"msg":"caches synced"/);
  const health = await fetch(`http://127.0.0.1:${ports.health}/healthz`);
  assert.equal(health.status, 200);
  const metrics = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
  assert.match(metrics, /flipt_operator_leader/);
  assert.match(metrics, /^flipt_operator_exchange_connections_dropped_total 0$/m);
  // One connection held open; the next is closed unserved, and counted.
  const held = await openConnection(ports.exchange);
  assert.ok((await closedAfterMs(await openConnection(ports.exchange), 5_000)) < 5_000, 'the connection beyond the cap is closed at once');
  const after = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
  assert.match(after, /^flipt_operator_exchange_connections_dropped_total 1$/m);
  held.destroy();
  child.kill('SIGTERM');
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 0);
  assert.match(out, /"msg":"stopped"/);
});

test('a port already in use: exit 1 and one line naming the port and its use, for each of the three listeners', async () => {
  const cluster = await testCluster();
  const { createServer } = await import('node:net');
  const { spawn } = await import('node:child_process');
  const free = async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    return port;
  };
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, resolve));
  const busy = (blocker.address() as { port: number }).port;
  try {
    for (const [key, use] of [['health', 'health probes'], ['metrics', 'metrics'], ['exchange', 'exchange']] as const) {
      const ports = { health: await free(), metrics: await free(), exchange: await free(), [key]: busy };
      const config = file(`busy-${key}.yaml`, `${VALID}exchange: {enabled: true, port: ${ports.exchange}}\nhealth: {port: ${ports.health}}\nmetrics: {port: ${ports.metrics}}\n`);
      const child = spawn(process.execPath, [MAIN, '--config', config, '--kubeconfig', cluster.kubeconfigPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      assert.equal(code, 1, `${key}: ${stderr}`);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
      assert.match(stderr, new RegExp(`cannot listen on port ${busy} for the ${use}: EADDRINUSE`));
    }
  } finally {
    blocker.close();
  }
});
