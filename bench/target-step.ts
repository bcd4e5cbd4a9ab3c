// npm run bench:step -- [N ...]     (default: 500 1000 2000 4000)
// The target step's CPU time when nothing changes (a resync, or the step after a restart) for N
// issued FliptClients on one target: parsing Flipt's config, rendering it again, and comparing, the
// first time the step sees its input (each timed step lists the managed ids in another order, which
// changes nothing but the input), and again with the same input, which the recent renders answer.
// Each figure is the median of 7 steps. Beside it, in the same run, the YAML parse of that config
// alone, without and with the yaml library's own repeated-key check, which compares each key with
// every other of its mapping: the operator replaced it with a one-pass check because it grew with N
// squared.
import { parseDocument } from 'yaml';
import { decideTargetStep, type ObservedTarget } from '../src/fliptinstance/step.ts';
import { fingerprint, generateToken } from '../src/vocabulary/credentials.ts';
import { clientKey, type FliptClient } from '../src/vocabulary/fliptclient.ts';
import { exampleTarget } from '../test/support/target-fixture.ts';

const SIZES = (process.argv.length > 2 ? process.argv.slice(2) : ['500', '1000', '2000', '4000']).map(Number);
if (!SIZES.every((n) => Number.isInteger(n) && n >= 1 && n <= 20_000)) {
  process.stderr.write('usage: npm run bench:step -- [N ...]   (N in 1..20000)\n');
  process.exit(2);
}
// Room for every size here: the step's capacity check is not what this measures.
const target = { ...exampleTarget(), credentialReference: 'secretFile' as const };

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

function timed(run: () => unknown): number {
  const started = performance.now();
  run();
  return performance.now() - started;
}

/** The target as it stands once N clients are issued, registered and rolled out. */
function settled(n: number): ObservedTarget {
  const tokens = new Map<string, string>();
  const clients: FliptClient[] = [];
  for (let i = 0; i < n; i++) {
    const token = generateToken();
    const name = `app-${i}`;
    tokens.set(clientKey('apps', name), token);
    clients.push({ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace: 'apps' }, spec: { target: 'default', metadata: { team: `team-${i % 10}` } }, status: { credentialFingerprint: fingerprint(token) } });
  }
  const fresh: ObservedTarget = {
    configMap: { text: 'authentication:\n  required: true\n', managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 },
    credentials: {},
    workload: { configHash: undefined, restartedAtMs: undefined, changedSinceOurRestart: false, rollout: { done: true, detail: 'rolled out' }, env: { containers: ['flipt'], vars: [], envFrom: [] } },
    clients,
    clientSecretToken: (c) => tokens.get(clientKey(c.metadata.namespace, c.metadata.name)),
  };
  const now = Date.now();
  const step = decideTargetStep(target, fresh, now);
  if (!step.config || !step.restart) throw new Error(`N = ${n}: the first step wrote no config`);
  const state = decideTargetStep(target, { ...fresh, previous: step.state }, now).state;
  return {
    ...fresh,
    configMap: { text: step.config.text, managedRecord: step.config.managedRecord, managedIds: JSON.parse(step.config.managedRecord) as string[], jwtRecord: step.config.jwtRecord, otherDataBytes: 0, otherAnnotationBytes: 0 },
    credentials: step.credentials ?? {},
    workload: { configHash: step.restart.configHash, restartedAtMs: now, changedSinceOurRestart: false, rollout: { done: true, detail: 'rolled out' }, env: { containers: ['flipt'], vars: [], envFrom: [] } },
    previous: state,
  };
}

process.stdout.write(`Node ${process.version}; median of 7 steps per N, after 3 to warm up\n\n`);
process.stdout.write('     N   config KiB   target step ms: new input   same input   per 1,000 clients (new)   YAML parse ms: no key check   yaml\'s own key check\n');
for (const n of SIZES) {
  const observed = settled(n);
  const now = Date.now() + 60_000;
  const text = observed.configMap!.text!;
  const managedIds = observed.configMap!.managedIds;
  let variant = 0;
  const step = (rotation: number) => {
    const reordered = [...managedIds.slice(rotation), ...managedIds.slice(0, rotation)];
    const result = decideTargetStep(target, { ...observed, configMap: { ...observed.configMap!, managedIds: reordered } }, now);
    if (result.config || result.restart) throw new Error(`N = ${n}: a settled target wrote again`);
  };
  for (let i = 0; i < 3; i++) step(++variant);
  const stepMs = median(Array.from({ length: 7 }, () => timed(() => step(++variant))));
  step(0);
  const sameMs = median(Array.from({ length: 7 }, () => timed(() => step(0))));
  const uncheckedMs = median(Array.from({ length: 5 }, () => timed(() => parseDocument(text, { uniqueKeys: false }))));
  const quadraticMs = median(Array.from({ length: 5 }, () => timed(() => parseDocument(text))));
  process.stdout.write(
    `${String(n).padStart(6)}   ${(text.length / 1024).toFixed(0).padStart(10)}   ${stepMs.toFixed(0).padStart(25)}   ${sameMs.toFixed(1).padStart(10)}   ${((stepMs / n) * 1000).toFixed(0).padStart(23)}   ${uncheckedMs.toFixed(0).padStart(27)}   ${quadraticMs.toFixed(0).padStart(20)}\n`,
  );
}
