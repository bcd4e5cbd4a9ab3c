// `npm run demo`, the README's main job, runs to the end: every sample FliptClient Ready, and a pod's
// service-account token traded at the exchange, with no credential printed or logged; its log goes with the test's scratch files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scratchDir } from '../support/scratch.ts';

const DEMO = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));

test('the demo brings the samples to Ready and trades a service-account token at the exchange, with no credential in its output or its operator log', async () => {
  // The demo keeps its operator log for the reader; under the test's scratch directory it goes at exit.
  const child = spawn(process.execPath, [DEMO], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: scratchDir('demo') } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, output);
  assert.match(output, /all 3 FliptClients Ready/);
  assert.match(output, /trades its token for the credential\n.*\nHTTP 200\n/);
  assert.match(output, /"clientToken": "<64 characters, redacted>"/);
  assert.match(output, /"io\.flipt\.auth\.k8s\.serviceaccount\.name": "checkout"/);
  // The only 64-hex string printed is Flipt's config hash: no token.
  const hexes = [...output.matchAll(/\b[0-9a-f]{64}\b/g)].map((m) => m[0]);
  const configHash = /"flipt\.io\/config-hash":"([0-9a-f]{64})"/.exec(output)?.[1];
  assert.ok(configHash);
  // Counted, not compared: a failing assertion prints what it compares, and these may be tokens.
  assert.equal(hexes.filter((hex) => hex !== configHash).length, 0, '64-hex strings besides the config hash in the output');
  const logPath = /operator logs \(JSON, no credentials\): (\S+)/.exec(output)?.[1];
  assert.ok(logPath, 'the demo names its operator log');
  const log = readFileSync(logPath, 'utf8');
  assert.match(log, /caches synced/);
  assert.equal(log.match(/\b[0-9a-f]{64}\b|eyJ[\w-]+\.[\w-]+\./g)?.length ?? 0, 0, 'tokens or JWTs in the operator log');
});
