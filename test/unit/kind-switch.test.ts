// JWT mode and switching a target between static tokens and JWTs, decided purely: the target step and
// the FliptClient decisions (static and JWT) played against a simulated Flipt (its config, credentials
// Secret and rollouts) on an injected clock. After every step the invariant holds: every credential a
// client Secret holds is accepted by every running Flipt pod (a static token its config registers; a
// JWT whose issuer and audience its jwt method validates, signed by a published key, not expired).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { parse } from 'yaml';
import type { TargetConfig } from '../../src/config/operator-config.ts';
import { decideToken } from '../../src/fliptclient/decisions.ts';
import { credentialRoute, decideJwt, jwtAppliedVerdict } from '../../src/fliptclient/jwt-decisions.ts';
import { oldKindStillAccepted, staticTokensOfJwtClient, switchBackTokensToIssue } from '../../src/fliptinstance/kind-switch.ts';
import type { TargetStep } from '../../src/fliptinstance/step.ts';
import type { TargetState } from '../../src/vocabulary/registration.ts';
import { JwtSigner, clientClaims, readJwt, refreshAtOf, signedByPublishedKey, subjectFor } from '../../src/vocabulary/client-jwt.ts';
import { credentialKey, fingerprint, isWellFormedToken, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { credentialKindOf } from '../../src/vocabulary/credential-kind.ts';
import { clientKey, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { publishedKeys, type SigningKey } from '../../src/vocabulary/signing-keys.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';
import { SimulatedFlipt } from '../support/simulated-flipt.ts';
import { exampleTarget } from '../support/target-fixture.ts';
import { tamperedSignature } from '../support/tamper.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const staticTarget = exampleTarget();
const jwtTarget: TargetConfig = { ...staticTarget, credentialKind: 'jwt' };
const HELM = 'authentication:\n  required: true\n  methods:\n    token:\n      enabled: true\n';

interface JwtMethod {
  issuer: string;
  audiences: string[];
  jwks_url: string;
}

/** What a generation of Flipt pods accepts: the static tokens its config registers, and its jwt method. */
interface Accepted {
  tokens: Set<string>;
  jwt: JwtMethod | undefined;
}

/** Flipt, its objects and the clients' Secrets, as the API server and the pods would hold them. */
class World extends SimulatedFlipt<Accepted> {
  minted = 0;
  keys: SigningKey[];
  private readonly signer: JwtSigner;
  private clientDueAt = new Map<string, number>();

  constructor(target: TargetConfig, key: SigningKey, config = HELM) {
    super(target, T0, config, { tokens: new Set(), jwt: undefined });
    this.keys = [key];
    this.signer = new JwtSigner(() => this.keys);
  }

  override addClient(name: string, spec: FliptClient['spec'] = { target: 'default', rotation: { every: '720h', overlap: '1m' } }): FliptClient {
    return super.addClient(name, spec);
  }

  override reconcileTarget(): TargetStep {
    const step = super.reconcileTarget();
    if (step.config) assertValidFliptConfig(step.config.text);
    return step;
  }

  protected acceptedByConfig(): Accepted {
    const jwt = parse(this.config)?.authentication?.methods?.jwt;
    return {
      tokens: this.staticTokensOfConfig(),
      jwt: jwt?.enabled ? { issuer: jwt.validate_claims?.issuer, audiences: jwt.validate_claims?.audiences ?? [], jwks_url: jwt.jwks_url } : undefined,
    };
  }

  /** A fresh 64-hex token per key, as generateToken would give, but the same in every run. */
  protected newToken(key: string): string {
    return fingerprint(`${key}@${this.now}`).repeat(4);
  }

  /** One FliptClient reconcile, as the reconciler (static path) or the JWT reconciler does it. */
  async reconcileClient(client: FliptClient): Promise<void> {
    const key = clientKey('apps', client.metadata.name);
    const id = tokenIdFor('apps', client.metadata.name);
    const state = this.state!;
    if (!credentialRoute(client, this.target, state, this.keys, this.now).jwt) {
      const decision = decideToken(client.status?.credentialFingerprint, this.secrets.get(key), { id: this.credentials[credentialKey(this.target, id)] });
      this.secrets.set(key, decision.token);
      if (!client.status?.credentialFingerprint) client.status = { credentialFingerprint: fingerprint(decision.token), issuedAt: new Date(this.now).toISOString() };
      return;
    }
    const secretToken = this.secrets.get(key);
    const namedByStatus = secretToken !== undefined && fingerprint(secretToken) === client.status?.credentialFingerprint;
    const secretTokenSigned = !namedByStatus && secretToken !== undefined && (await signedByPublishedKey(secretToken, this.keys, this.now));
    const decision = decideJwt({ client, target: this.target, state, secretToken, secretTokenSigned, registeredToken: this.credentials[credentialKey(this.target, id)], keys: this.keys, now: this.now });
    const switchedNow = { credentialKindSince: new Date(this.now).toISOString() };
    if (decision.action === 'switchToStatic') {
      client.status = { ...client.status, credentialKind: 'staticToken', ...switchedNow, credentialFingerprint: fingerprint(decision.token), issuedAt: new Date(this.now).toISOString() };
      this.secrets.set(key, decision.token);
    } else if (decision.action === 'mint') {
      const issued = (await this.signer.sign(this.target.jwt, subjectFor('apps', client.metadata.name), clientClaims(client), this.now))!;
      const switched = credentialKindOf(client) !== 'jwt' && client.status?.credentialFingerprint !== undefined;
      client.status = { ...client.status, credentialKind: 'jwt', ...(switched ? switchedNow : {}), credentialFingerprint: fingerprint(issued.jwt), issuedAt: new Date(issued.issuedAt).toISOString() };
      this.secrets.set(key, issued.jwt);
      this.clientDueAt.set(key, refreshAtOf(issued));
      this.minted++;
    } else if (decision.action === 'keep') {
      this.clientDueAt.set(key, decision.refreshAt);
    }
  }

  async run(untilMs: number, check: () => void = this.assertInvariant): Promise<void> {
    for (let i = 0; i < 20_000 && this.now <= untilMs; i++) {
      this.finishDueRollout();
      this.reconcileTarget();
      for (const client of this.clients) await this.reconcileClient(client);
      this.reconcileTarget();
      check();
      const due = [this.targetDueAt, this.rollingTo ? this.workload.rolledOutAt : undefined, ...this.clientDueAt.values()].filter((t): t is number => t !== undefined && t > this.now);
      if (this.targetDueAt !== undefined && this.targetDueAt <= this.now) continue;
      if (due.length === 0 || Math.min(...due) > untilMs) return;
      this.now = Math.min(...due);
    }
  }

  /** Whether every running pod accepts the credential (during a rollout: old and new pods both). */
  accepts(credential: string): boolean {
    const generations = this.rollingTo ? [this.pods, this.rollingTo] : [this.pods];
    return generations.every((pods) => {
      if (isWellFormedToken(credential)) return pods.tokens.has(credential);
      const jwt = readJwt(credential);
      return (
        jwt !== undefined &&
        pods.jwt !== undefined &&
        jwt.issuer === pods.jwt.issuer &&
        pods.jwt.audiences.some((a) => jwt.audiences.includes(a)) &&
        jwt.expiresAt > this.now &&
        publishedKeys(this.keys, this.now).some((k) => k.kid === jwt.kid)
      );
    });
  }

  assertInvariant = (): void => {
    // Before the first rollout Flipt knows no client: nothing to hold to yet.
    if (this.restarts === 0 || (this.restarts === 1 && this.rollingTo)) return;
    for (const [key, credential] of this.secrets) {
      assert.ok(this.accepts(credential), `at +${(this.now - T0) / 1000}s the Secret of ${key} holds a ${readJwt(credential) ? 'JWT' : 'token'} a running Flipt pod does not accept`);
    }
  };

  jwtMethod(): JwtMethod | undefined {
    return parse(this.config)?.authentication?.methods?.jwt;
  }

  staticIds(): string[] {
    return Object.keys(parse(this.config)?.authentication?.methods?.token?.storage?.tokens ?? {});
  }
}

async function signingKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid: 'k1', privateJwk: await exportJWK(privateKey), createdAt: T0 - 60_000, signsFrom: T0, signsUntil: T0 + 7 * 24 * 3_600_000, retireAt: T0 + 8 * 24 * 3_600_000 };
}

test('JWT mode: the jwt method in one write and one restart; then 200 clients, refreshed for hours, cost no write and no restart', async () => {
  const world = new World(jwtTarget, await signingKey());
  world.addClient('first');
  await world.run(T0 + 60_000);
  assert.equal(world.configWrites, 1);
  assert.equal(world.restarts, 1);
  assert.deepEqual(world.jwtMethod(), {
    enabled: true,
    jwks_url: jwtTarget.jwt.jwksUrl,
    validate_claims: { issuer: jwtTarget.jwt.issuer, audiences: [jwtTarget.jwt.audience] },
  });
  assert.deepEqual(world.staticIds(), [], 'no static token for a JWT client');
  assert.ok(world.state!.jwtAccepted);
  for (let i = 0; i < 200; i++) world.addClient(`c${i}`);
  await world.run(T0 + 5 * 3_600_000);
  assert.equal(world.configWrites, 1, 'no ConfigMap write for clients');
  assert.equal(world.restarts, 1, 'no restart for clients');
  // Five hours, one-hour JWTs refreshed every 40 minutes: the first plus seven refreshes each.
  assert.equal(world.minted, 201 * 8, `${world.minted} JWTs signed`);
});

test('a JWT target waits for Flipt: nothing is signed before every pod validates JWTs', async () => {
  const world = new World(jwtTarget, await signingKey());
  const client = world.addClient('a');
  world.reconcileTarget();
  assert.equal(world.state!.jwtConfigured, true);
  assert.equal(world.state!.jwtAccepted, false, 'the rollout has not finished');
  const decision = decideJwt({ client, target: jwtTarget, state: world.state!, secretToken: undefined, secretTokenSigned: false, registeredToken: undefined, keys: world.keys, now: world.now });
  assert.equal(decision.action, 'wait');
  assert.equal(decision.action === 'wait' && decision.verdict.reason, 'JwtMethodPending');
});

test('static tokens -> JWTs: jwt method beside the tokens, Secrets switch once every pod validates JWTs, tokens leave together after the overlap; two restarts', async () => {
  const world = new World(staticTarget, await signingKey());
  for (const name of ['a', 'b', 'c']) world.addClient(name);
  await world.run(T0 + 60_000);
  assert.deepEqual(world.staticIds(), ['apps_a', 'apps_b', 'apps_c']);
  const [restarts, writes] = [world.restarts, world.configWrites];
  const before = new Map(world.clients.map((c) => [c, world.secrets.get(`apps/${c.metadata.name}`)!]));
  world.target = jwtTarget;
  await world.run(T0 + 30 * 60_000, () => {
    world.assertInvariant();
    // A pod that read its file just before the switch keeps working for the overlap (1m).
    for (const [client, token] of before) {
      const switchedAt = Date.parse(client.status?.credentialKindSince ?? '');
      if (world.now < switchedAt + 60_000) assert.ok(world.accepts(token), `${client.metadata.name}'s static token is still accepted within the overlap`);
    }
  });
  assert.equal(world.restarts - restarts, 2, 'one to add the jwt method, one to remove the static tokens');
  assert.equal(world.configWrites - writes, 2);
  assert.deepEqual(world.staticIds(), [], 'the static tokens are revoked');
  assert.deepEqual(world.credentials, {}, 'and gone from the credentials Secret');
  for (const client of world.clients) {
    assert.equal(client.status?.credentialKind, 'jwt');
    assert.ok(readJwt(world.secrets.get(`apps/${client.metadata.name}`)));
  }
});

test('JWTs -> static tokens: tokens issued and registered beside the jwt method, Secrets switch, the jwt method leaves after the overlap; two restarts', async () => {
  const world = new World(jwtTarget, await signingKey());
  for (const name of ['a', 'b', 'c']) world.addClient(name);
  await world.run(T0 + 60_000);
  const [restarts, writes] = [world.restarts, world.configWrites];
  world.target = staticTarget;
  await world.run(T0 + 30 * 60_000);
  assert.equal(world.restarts - restarts, 2, 'one to register the tokens, one to remove the jwt method');
  assert.equal(world.configWrites - writes, 2);
  assert.equal(world.jwtMethod(), undefined, 'the jwt method the operator wrote is gone');
  assert.equal(world.jwtRecord, undefined);
  assert.deepEqual(world.staticIds(), ['apps_a', 'apps_b', 'apps_c']);
  for (const client of world.clients) {
    const token = world.secrets.get(`apps/${client.metadata.name}`)!;
    assert.ok(isWellFormedToken(token));
    assert.equal(client.status?.credentialKind, 'staticToken');
    assert.equal(world.credentials[tokenIdFor('apps', client.metadata.name)], token);
  }
  // And back again: the whole round trip keeps the invariant.
  world.target = jwtTarget;
  await world.run(T0 + 60 * 60_000);
  assert.deepEqual(world.staticIds(), []);
});

test('a switch survives an operator that loses its memory between any two steps', async () => {
  const key = await signingKey();
  for (let seed = 0; seed < 6; seed++) {
    const world = new World(staticTarget, key);
    for (const name of ['a', 'b']) world.addClient(name);
    await world.run(T0 + 60_000);
    world.target = seed % 2 === 0 ? jwtTarget : staticTarget;
    if (seed % 2 === 1) {
      world.target = jwtTarget;
      await world.run(T0 + 20 * 60_000);
      world.target = staticTarget;
    }
    let step = 0;
    await world.run(T0 + 60 * 60_000, () => {
      world.assertInvariant();
      if (step++ % 3 === seed % 3) {
        world.state = undefined;
        world.hold = undefined;
      }
    });
    const kinds = world.clients.map((c) => c.status?.credentialKind);
    assert.deepEqual(kinds, seed % 2 === 0 ? ['jwt', 'jwt'] : ['staticToken', 'staticToken'], `seed ${seed}`);
  }
});

test('what keeps the operator from adding the jwt method is a problem of its own; static tokens keep working', async () => {
  const kubernetes = `${HELM}    kubernetes:\n      enabled: true\n`;
  const foreign = `${HELM}    jwt:\n      enabled: true\n      jwks_url: https://idp.example.com/jwks\n`;
  for (const [config, target, reason] of [
    [kubernetes, jwtTarget, 'KubernetesMethodEnabled'],
    [foreign, jwtTarget, 'JwtMethodConflict'],
    [HELM, { ...jwtTarget, jwt: { ...jwtTarget.jwt, jwksUrl: undefined } }, 'JwksUrlMissing'],
  ] as const) {
    const world = new World(staticTarget, await signingKey(), config);
    world.addClient('a');
    await world.run(T0 + 60_000);
    const before = world.config;
    world.target = target;
    await world.run(T0 + 10 * 60_000);
    assert.equal(world.state!.jwtProblem?.reason, reason);
    assert.match(world.state!.jwtProblem!.message, reason === 'JwksUrlMissing' ? /set jwt\.jwksUrl/ : /authentication\.methods\.(kubernetes|jwt)/);
    assert.equal(world.config, before, `${reason}: Flipt's config is left as it is`);
    assert.equal(world.clients[0]!.status?.credentialKind, undefined, 'the client keeps its static token');
    const newcomer = world.addClient('new');
    await world.run(T0 + 20 * 60_000);
    assert.equal(world.secrets.get('apps/new'), undefined, 'a new client gets nothing Flipt would refuse');
    const decision = decideJwt({ client: newcomer, target, state: world.state!, secretToken: undefined, secretTokenSigned: false, registeredToken: undefined, keys: world.keys, now: world.now });
    assert.equal(decision.action === 'wait' && decision.verdict.reason, reason);
  }
});

test('a problem with the jwt method: Ready waits, and JWTs are still refreshed, whether or not Flipt still runs it (pods not yet rolled do)', async () => {
  const world = new World(jwtTarget, await signingKey());
  const client = world.addClient('a', { target: 'default' });
  await world.run(T0 + 60_000);
  const jwt = readJwt(world.secrets.get('apps/a'))!;
  const problem = { reason: 'KubernetesMethodEnabled' as const, message: 'the config enables the kubernetes method beside the jwt method' };
  const decide = (state: TargetState) =>
    decideJwt({ client, target: jwtTarget, state, secretToken: world.secrets.get('apps/a'), secretTokenSigned: false, registeredToken: undefined, keys: world.keys, now: jwt.issuedAt + 40 * 60_000 });
  assert.deepEqual([world.state!.jwtConfigured, world.state!.jwtAccepted], [true, true], 'the fixture');
  assert.deepEqual(decide({ ...world.state!, jwtProblem: problem }), { action: 'mint', reason: 'Refresh' });
  const applied = jwtAppliedVerdict({ ...world.state!, jwtProblem: problem }, jwtTarget, 'apps/a');
  assert.deepEqual(applied, { status: 'False', reason: 'KubernetesMethodEnabled', message: problem.message });
  const notInConfig = { ...world.state!, jwtProblem: problem, jwtConfigured: false, jwtAccepted: false };
  assert.deepEqual(decide(notInConfig), { action: 'mint', reason: 'Refresh' });
  assert.equal(jwtAppliedVerdict(notInConfig, jwtTarget, 'apps/a').reason, 'KubernetesMethodEnabled', 'and Ready says why it waits');
});

test('a JWT is replaced at two thirds of its lifetime, when its claims change, when its key is retired, and on request', async () => {
  const world = new World(jwtTarget, await signingKey());
  const client = world.addClient('a', { target: 'default', metadata: { team: 'x' } });
  await world.run(T0 + 60_000);
  const decide = (secretTokenSigned = false) =>
    decideJwt({ client, target: jwtTarget, state: world.state!, secretToken: world.secrets.get('apps/a'), secretTokenSigned, registeredToken: undefined, keys: world.keys, now: world.now });
  const jwt = readJwt(world.secrets.get('apps/a'))!;
  assert.deepEqual(decide(), { action: 'keep', jwt, refreshAt: jwt.issuedAt + 40 * 60_000 });
  world.now = jwt.issuedAt + 40 * 60_000 - 1;
  assert.equal(decide().action, 'keep');
  world.now += 1;
  assert.deepEqual(decide(), { action: 'mint', reason: 'Refresh' });
  world.now = jwt.issuedAt + 1000;
  client.spec = { ...client.spec, metadata: { team: 'y' } };
  assert.deepEqual(decide(), { action: 'mint', reason: 'ClaimsChanged' });
  client.spec = { ...client.spec, metadata: { team: 'x' } };
  client.metadata.annotations = { 'flipt.io/rotate': 'now' };
  assert.deepEqual(decide(), { action: 'mint', reason: 'Requested' });
  client.metadata.annotations = {};
  const secret = world.secrets.get('apps/a')!;
  const edited = tamperedSignature(secret);
  world.secrets.set('apps/a', edited);
  assert.equal(await signedByPublishedKey(edited, world.keys, world.now), false);
  assert.deepEqual(decide(), { action: 'mint', reason: 'SecretLost' }, 'a Secret edited by hand is replaced, never trusted');
  world.secrets.set('apps/a', secret);
  // The Secret written just before its status, the status not yet in the cache: the JWT is ours, kept.
  const recorded = client.status!.credentialFingerprint;
  client.status = { ...client.status, credentialFingerprint: 'an-older-one' };
  assert.equal(await signedByPublishedKey(secret, world.keys, world.now), true);
  assert.equal(decide(true).action, 'keep');
  client.status = { ...client.status, credentialFingerprint: recorded };
  world.keys = [{ ...world.keys[0]!, retireAt: world.now }];
  assert.equal(decide().action, 'wait', 'retired key, and no key to sign with: wait');
});

test('which way a client goes: a static-token client of a JWT target keeps its token until every pod validates JWTs and a key may sign, and looks again exactly then', async () => {
  const key = { ...(await signingKey()), signsFrom: T0 + 5_000 };
  const state = (jwtAccepted: boolean) => ({ registered: new Map(), accepted: new Set<string>(), conflicts: new Set<string>(), refused: new Map(), rollout: { done: true, detail: '' }, authenticationRequired: true, jwtConfigured: true, jwtAccepted }) satisfies TargetState;
  const holding = (credentialKind?: 'jwt' | 'staticToken'): FliptClient => ({
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name: 'a', namespace: 'apps' },
    spec: {},
    status: { credentialFingerprint: 'f', ...(credentialKind ? { credentialKind } : {}) },
  });
  assert.deepEqual(credentialRoute(holding(), jwtTarget, state(false), [key], T0), { jwt: false }, 'Flipt does not validate JWTs yet: keep the token');
  assert.deepEqual(credentialRoute(holding(), jwtTarget, state(true), [key], T0), { jwt: false, lookAgainAt: T0 + 5_000 }, 'no key may sign yet: look again when one may');
  assert.deepEqual(credentialRoute(holding(), jwtTarget, state(true), [key], T0 + 5_000), { jwt: true });
  assert.deepEqual(credentialRoute({ ...holding(), status: {} }, jwtTarget, undefined, [], T0), { jwt: true }, 'a new client of a JWT target never gets a static token');
  assert.deepEqual(credentialRoute(holding('jwt'), staticTarget, state(true), [key], T0), { jwt: true }, 'a client holding a JWT keeps it refreshed until it can switch back');
  assert.deepEqual(credentialRoute(holding('staticToken'), staticTarget, state(true), [key], T0 + 5_000), { jwt: false });
});

test('a switch back the target has no room for: the client keeps its JWT, and ConfigApplied says why', () => {
  const state = (refused: TargetState['refused']): TargetState => ({ registered: new Map(), accepted: new Set(), conflicts: new Set(), refused, rollout: { done: true, detail: '' }, authenticationRequired: true, jwtConfigured: true, jwtAccepted: true });
  const full = state(new Map([['apps/a', { reason: 'TargetFull' as const, message: 'Target "default" is full' }]]));
  const refused = jwtAppliedVerdict(full, staticTarget, 'apps/a');
  assert.deepEqual([refused.status, refused.reason], ['True', 'SwitchingToStaticToken'], 'its JWT is still accepted');
  assert.match(refused.message, /cannot register this client's \(TargetFull: Target "default" is full\); the client keeps its JWT/);
  assert.doesNotMatch(jwtAppliedVerdict(full, staticTarget, 'apps/b').message, /TargetFull/, 'another client is not affected');
  assert.equal(jwtAppliedVerdict(full, jwtTarget, 'apps/a').reason, 'JwtMethodEnabled', 'a JWT target refuses no JWT client');
});

const fliptClient = (name: string, status?: FliptClient['status']): FliptClient => ({
  apiVersion: 'flipt.io/v1alpha1',
  kind: 'FliptClient',
  metadata: { name, namespace: 'apps', uid: `uid-${name}` },
  spec: { target: 'default' },
  ...(status ? { status } : {}),
});

test("a JWT client of a target with authentication.required false is told so (ConfigApplied AuthenticationNotRequired), as a static-token client is", () => {
  const state: TargetState = { registered: new Map(), accepted: new Set(), conflicts: new Set(), refused: new Map(), rollout: { done: true, detail: '' }, authenticationRequired: false, jwtConfigured: true, jwtAccepted: true };
  assert.equal(jwtAppliedVerdict(state, jwtTarget, 'apps/a').reason, 'AuthenticationNotRequired');
  assert.equal(jwtAppliedVerdict({ ...state, authenticationRequired: true }, jwtTarget, 'apps/a').reason, 'JwtMethodEnabled');
});

test("Flipt's environment overriding the jwt method: ConfigApplied False when it is known to refuse the JWTs, True with the warning when unknown", () => {
  const state: TargetState = { registered: new Map(), accepted: new Set(), conflicts: new Set(), refused: new Map(), rollout: { done: true, detail: '' }, authenticationRequired: true, jwtConfigured: true, jwtAccepted: true };
  const blocked = jwtAppliedVerdict({ ...state, authenticationRequired: false, envOverride: { reason: 'FliptEnvOverride', blocking: true, message: 'Deployment flipt/flipt sets X' } }, jwtTarget, 'apps/a');
  assert.deepEqual(blocked, { status: 'False', reason: 'FliptEnvOverride', message: `Flipt's config for target "default" validates this operator's JWTs, but Deployment flipt/flipt sets X` });
  const unknown = jwtAppliedVerdict({ ...state, envOverride: { reason: 'FliptEnvOverride', blocking: false, message: 'Deployment flipt/flipt sets Y' } }, jwtTarget, 'apps/a');
  assert.deepEqual([unknown.status, unknown.reason], ['True', 'FliptEnvOverride']);
  const byEnv = jwtAppliedVerdict({ ...state, authenticationRequiredByEnv: { required: false, variable: 'FLIPT_AUTHENTICATION_REQUIRED', reference: false, container: 'flipt' } }, jwtTarget, 'apps/a');
  assert.equal(byEnv.reason, 'AuthenticationNotRequired');
  assert.match(byEnv.message, /sets FLIPT_AUTHENTICATION_REQUIRED to false in container flipt, which Flipt reads over authentication\.required/);
  assert.equal(jwtAppliedVerdict({ ...state, authenticationRequired: false, authenticationRequiredByEnv: { required: true, variable: 'FLIPT_AUTHENTICATION_REQUIRED', reference: false, container: 'flipt' } }, jwtTarget, 'apps/a').reason, 'JwtMethodEnabled');
  // Not required outranks a warning: it is certain.
  assert.equal(jwtAppliedVerdict({ ...state, authenticationRequired: false, envOverride: { reason: 'FliptEnvOverride', blocking: false, message: 'm' } }, jwtTarget, 'apps/a').reason, 'AuthenticationNotRequired');
});

test('a switch to JWTs is complete once every issued client holds a JWT past its overlap: a new client with nothing issued does not hold the old tokens open', () => {
  const switched = fliptClient('a', { credentialFingerprint: 'f'.repeat(16), credentialKind: 'jwt', credentialKindSince: new Date(T0 - 3_600_000).toISOString() });
  assert.equal(oldKindStillAccepted(jwtTarget, [switched, fliptClient('b')], T0), false);
  const stillStatic = fliptClient('c', { credentialFingerprint: 'e'.repeat(16) });
  assert.equal(oldKindStillAccepted(jwtTarget, [switched, stillStatic], T0), true);
});

test("during a switch to JWTs, a client caught mid-rotation keeps both of its static tokens, the new one (<id>_next) too", () => {
  const tokens = { [credentialKey(jwtTarget, 'apps_a')]: 'a'.repeat(64), [credentialKey(jwtTarget, 'apps_a_next')]: 'b'.repeat(64) };
  const client = fliptClient('a', { credentialKind: 'jwt' });
  assert.deepEqual(staticTokensOfJwtClient(jwtTarget, client, tokens, true).map((t) => t.id), ['apps_a', 'apps_a_next']);
  assert.deepEqual(staticTokensOfJwtClient(jwtTarget, client, tokens, false), [], 'the switch complete: none');
});

test('a client that never switched does not cut short the overlap of one that just did', () => {
  const neverSwitched = fliptClient('a', { credentialFingerprint: 'f'.repeat(16), credentialKind: 'jwt' });
  const justSwitched = fliptClient('b', { credentialFingerprint: 'e'.repeat(16), credentialKind: 'jwt', credentialKindSince: new Date(T0 - 60_000).toISOString() });
  // The default overlap is 10 minutes: b's old credential must stay accepted until T0 + 9m.
  assert.equal(oldKindStillAccepted(jwtTarget, [neverSwitched, justSwitched], T0), true);
  assert.equal(oldKindStillAccepted(jwtTarget, [justSwitched, neverSwitched], T0), true);
  assert.equal(oldKindStillAccepted(jwtTarget, [neverSwitched, justSwitched], T0 + 9 * 60_000), false);
});

test('a switch is held open only by clients of this target, and until the latest overlap of any of them ends', () => {
  const switchedAt = (name: string, ago: number) => fliptClient(name, { credentialFingerprint: 'f'.repeat(16), credentialKind: 'jwt', credentialKindSince: new Date(T0 - ago).toISOString() });
  const done = switchedAt('a', 3_600_000);
  const elsewhere = { ...fliptClient('b', { credentialFingerprint: 'e'.repeat(16) }), spec: { target: 'other' } };
  assert.equal(oldKindStillAccepted(jwtTarget, [done, elsewhere], T0), false, "another target's static-token client");
  // The default overlap is 10 minutes: the one that switched a minute ago holds it open, in either order.
  const [early, late] = [switchedAt('c', 20 * 60_000), switchedAt('d', 60_000)];
  assert.equal(oldKindStillAccepted(jwtTarget, [late, early], T0), true);
  assert.equal(oldKindStillAccepted(jwtTarget, [early, late], T0), true);
});

test('the static tokens kept for a JWT client: only well-formed ones; with static tokens, only the one issued for the switch back', () => {
  const id = credentialKey(jwtTarget, 'apps_a');
  const next = credentialKey(jwtTarget, 'apps_a_next');
  const client = fliptClient('a', { credentialKind: 'jwt' });
  assert.deepEqual(staticTokensOfJwtClient(jwtTarget, client, { [id]: 'a'.repeat(64), [next]: 'not-a-token' }, true).map((t) => t.id), ['apps_a']);
  assert.deepEqual(staticTokensOfJwtClient(staticTarget, client, { [credentialKey(staticTarget, 'apps_a')]: 'a'.repeat(64), [credentialKey(staticTarget, 'apps_a_next')]: 'b'.repeat(64) }, true).map((t) => t.id), ['apps_a']);
});

test('switching back issues a static token for each JWT client of this target without a well-formed one, in key order', () => {
  const jwtClient = (name: string, target = 'default') => ({ ...fliptClient(name, { credentialFingerprint: 'f'.repeat(16), credentialKind: 'jwt' }), spec: { target } });
  const key = (name: string) => credentialKey(staticTarget, tokenIdFor('apps', name));
  const clients = [jwtClient('c'), jwtClient('b'), jwtClient('a'), jwtClient('elsewhere', 'other'), fliptClient('static', { credentialFingerprint: 'e'.repeat(16) })];
  assert.deepEqual(switchBackTokensToIssue(staticTarget, clients, { [key('a')]: 'a'.repeat(64), [key('b')]: 'truncated' }), [key('b'), key('c')]);
  assert.deepEqual(switchBackTokensToIssue(jwtTarget, clients, {}), [], 'a JWT target issues none');
});
