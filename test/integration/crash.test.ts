// The operator SIGKILLed at arbitrary points during a burst and started again converges with no
// token lost and no credential in the config without a Secret behind it. The invariant is checked
// directly on the objects, also at each crash, while work is half done.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, listFliptClients } from '../support/fliptclients.ts';
import { assertConsistent } from '../support/invariants.ts';
import { Scenario } from '../support/scenario.ts';

const CLIENTS = 60;
const APP = 'crash-app';
let scenario: Scenario;

before(async () => {
  scenario = await Scenario.start({ minInterval: '1s' });
  await scenario.createAppNamespace(APP);
});

after(() => scenario?.stop());

/** Every credential the config refers to exists, whatever moment the operator died at. */
async function assertNoDanglingReference(): Promise<void> {
  const tokens = await scenario.managedTokens();
  const credentials = await scenario.credentials();
  for (const [id, entry] of Object.entries(tokens)) {
    const match = /^\$\{secret:file:(.+)\}$/.exec(entry.credential);
    if (match) assert.ok(credentials[match[1]!], `after a crash the config refers to ${id} without a credential`);
  }
}

test(`SIGKILL at three points of a burst of ${CLIENTS}: converges, nothing lost`, async () => {
  const names = Array.from({ length: CLIENTS }, (_, i) => ({ namespace: APP, name: `svc-${i}` }));
  const creating = (async () => {
    for (const n of names) await createFliptClient(scenario.cluster.clients, n.namespace, n.name);
  })();
  const issued = async () => (await listFliptClients(scenario.cluster.clients, APP)).filter((c) => c.status?.credentialFingerprint).length;
  // Crash points by progress, not by the clock (a loaded machine starts slower): while the first
  // tokens are issued, while the target's config is being written, and with half the burst issued;
  // each a random few milliseconds after the point is reached.
  const crashPoints: Array<[string, () => Promise<boolean>]> = [
    ['the first tokens issued', async () => (await issued()) >= 3],
    ['the target config being written', async () => Object.keys(await scenario.managedTokens()).some((id) => id.startsWith(`${APP}_`))],
    ['half the burst issued', async () => (await issued()) >= CLIENTS / 2],
  ];
  const issuedBeforeCrash = new Map<string, string>();
  for (const [what, reached] of crashPoints) {
    await waitFor(reached, what, 90_000, 20);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 250)));
    await scenario.restartOperator(true);
    await assertNoDanglingReference();
    for (const c of await listFliptClients(scenario.cluster.clients, APP)) {
      const fingerprint = c.status?.credentialFingerprint;
      if (fingerprint && !issuedBeforeCrash.has(c.metadata.name)) issuedBeforeCrash.set(c.metadata.name, fingerprint);
    }
  }
  await creating;
  try {
    await waitFor(async () => {
      const clients = await listFliptClients(scenario.cluster.clients, APP);
      return clients.length === CLIENTS && clients.every((c) => condition(c, 'Ready')?.status === 'True');
    }, `all ${CLIENTS} Ready after the crashes`, 120_000, 500);
  } catch (err) {
    // Say why: which clients are stuck where, and what the operator last complained about.
    const stuck = (await listFliptClients(scenario.cluster.clients, APP)).filter((c) => condition(c, 'Ready')?.status !== 'True');
    const reasons = stuck.slice(0, 10).map((c) => `${c.metadata.name}: ${condition(c, 'Ready')?.reason ?? 'no status'} ${condition(c, 'Ready')?.message ?? ''}`);
    const warnings = scenario.allLogs().split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).slice(-15);
    const alive = scenario.operator.child.exitCode === null && scenario.operator.child.signalCode === null;
    const tail = scenario.operator.output().split('\n').slice(-8).join('\n');
    throw new Error(
      `${(err as Error).message}\n${stuck.length} not Ready:\n${reasons.join('\n')}\noperator alive: ${alive}\noperator warnings:\n${warnings.join('\n')}\noperator output tail:\n${tail}`,
    );
  }
  await assertConsistent(scenario, names);
  assert.ok(issuedBeforeCrash.size > 0, 'some tokens were issued before a crash');
  for (const c of await listFliptClients(scenario.cluster.clients, APP)) {
    const before = issuedBeforeCrash.get(c.metadata.name);
    if (before) assert.equal(c.status?.credentialFingerprint, before, `${c.metadata.name} kept the token it had before the crash`);
  }
  const logs = scenario.allLogs();
  const credentials = await scenario.credentials();
  for (const token of Object.values(credentials)) assert.ok(!logs.includes(token), 'token in logs');
});
