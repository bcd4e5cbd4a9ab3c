// The operator SIGKILLed at arbitrary points during a burst and started again converges with no
// token lost and no credential in the config without a Secret behind it. The state each crash leaves
// behind is checked while no operator runs: work was in progress, every reference resolves, and
// every token a client Secret held then is the token it holds at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { revision } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, listFliptClients } from '../support/fliptclients.ts';
import { hidden } from '../support/hidden.ts';
import { assertConsistent, assertReferencesResolve, HAND_WRITTEN_IDS } from '../support/invariants.ts';
import { Scenario } from '../support/scenario.ts';
import { secretValue } from '../../src/kube/secret-data.ts';

const CLIENTS = 60;
const APP = 'crash-app';
let scenario: Scenario;

before(async () => {
  scenario = await Scenario.start({ minInterval: '1s' });
  await scenario.createAppNamespace(APP);
});

after(() => scenario?.stop());

async function clientSecretTokens(): Promise<Map<string, string>> {
  const secrets = await scenario.cluster.clients.core.listNamespacedSecret({ namespace: APP, labelSelector: 'flipt.io/client' });
  return new Map(secrets.items.map((s: V1Secret) => [s.metadata!.labels!['flipt.io/client']!, secretValue(s, 'token')!]));
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
  // Every token a client Secret held at any crash: it must be the one that client holds at the end.
  const heldAtCrash = new Map<string, string>();
  for (const [what, reached] of crashPoints) {
    await waitFor(reached, what, 90_000, 20);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 250)));
    await scenario.restartOperator(true, async () => {
      const ready = (await listFliptClients(scenario.cluster.clients, APP)).filter((c) => condition(c, 'Ready')?.status === 'True').length;
      assert.ok(ready < CLIENTS, `the crash after ${what} hit work in progress (${ready} of ${CLIENTS} Ready)`);
      await assertReferencesResolve(scenario);
      for (const [name, token] of await clientSecretTokens()) {
        const before = heldAtCrash.get(name);
        assert.ok(before === undefined || before === token, `${name}'s Secret changed its token between crashes`);
        heldAtCrash.set(name, token);
      }
    });
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
  assert.ok(heldAtCrash.size > 0, 'some tokens were issued before a crash');
  const final = await clientSecretTokens();
  for (const [name, token] of heldAtCrash) assert.equal(hidden(final.get(name)), hidden(token), `${name} kept the token its Secret held at a crash`);
  const logs = scenario.allLogs();
  const credentials = await scenario.credentials();
  for (const token of [...Object.values(credentials), ...final.values()]) assert.ok(!logs.includes(token), 'token in logs');
});

test('the safe write order, from the recorded watches: a credential exists before any config refers to it', async () => {
  await scenario.quietPeriod();
  const firstCredential = new Map<string, number>();
  for (const secret of scenario.credentialSecrets.versions) {
    for (const key of Object.keys(secret.data ?? {})) if (!firstCredential.has(key)) firstCredential.set(key, revision(secret));
  }
  let checked = 0;
  const seen = new Set<string>();
  for (const cm of scenario.configMaps.versions) {
    for (const [id, line] of referencedIds(cm.data?.['default.yml'] ?? '')) {
      if (seen.has(id) || HAND_WRITTEN_IDS.includes(id)) continue;
      seen.add(id);
      const credentialAt = firstCredential.get(id);
      assert.ok(credentialAt !== undefined, `${id} is referenced (${line}) but never had a credential`);
      assert.ok(credentialAt < revision(cm), `${id}: credential written at revision ${credentialAt}, referenced at ${revision(cm)}`);
      checked++;
    }
  }
  assert.equal(checked, CLIENTS, 'every client of the burst was checked');
});

/** The ids the config refers to with ${secret:file:<id>}, with the line that does. */
function referencedIds(config: string): Array<[string, string]> {
  return [...config.matchAll(/\$\{secret:file:([^}]+)\}/g)].map((m) => [m[1]!, m[0]]);
}
