// The audit of everything a FliptClient author controls that reaches Flipt's config, proven by reading
// the rendered config the way Flipt v2.11.0 does (its viper and YAML libraries, in Go): metadata keys
// and values, token ids built from namespaces and names, env-var names, inline tokens. Each arrives in
// Flipt byte for byte, and the only strings Flipt would resolve as references are the operator's own
// credential references. A client whose metadata holds "${" never reaches the config at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TargetConfig } from '../../src/config/operator-config.ts';
import { requiresAuthentication } from '../../src/vocabulary/registration.ts';
import { credentialReference, envVarFor, fingerprint, generateToken, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { authenticationMethodsOf, renderFliptConfig } from '../../src/fliptinstance/flipt-config.ts';
import { kubernetesMethodOn, readFliptEnv } from '../../src/fliptinstance/flipt-env.ts';
import { desiredCredentials, planTarget } from '../../src/fliptinstance/plan.ts';
import { SAMPLE_FLIPT_CONFIG } from '../support/flipt-target.ts';
import { readAsFlipt } from '../support/flipt-reader.ts';
import { hidden } from '../support/hidden.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const target = (credentialReference: TargetConfig['credentialReference']): TargetConfig => exampleTarget({ credentialReference });

interface Case {
  namespace: string;
  name: string;
  metadata?: Record<string, string>;
  token?: string;
}

function fliptClient(c: Case, token: string): FliptClient {
  return {
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name: c.name, namespace: c.namespace },
    spec: { target: 'default', ...(c.metadata ? { metadata: c.metadata } : {}) },
    status: { credentialFingerprint: fingerprint(token) },
  };
}

/** Renders the clients as the target reconciler does and reads the result as Flipt would. */
async function renderAndRead(mode: TargetConfig['credentialReference'], cases: Case[], source = SAMPLE_FLIPT_CONFIG, previouslyManaged: string[] = []) {
  const t = target(mode);
  const tokens = new Map(cases.map((c) => [`${c.namespace}/${c.name}`, c.token ?? generateToken()]));
  const clients = cases.map((c) => fliptClient(c, tokens.get(`${c.namespace}/${c.name}`)!));
  const desired = desiredCredentials(t, clients, (c) => tokens.get(`${c.metadata.namespace}/${c.metadata.name}`), {}, Date.now());
  const plan = planTarget(t, source, previouslyManaged, {}, desired, { remove: false, record: undefined });
  return { plan, tokens, reading: await readAsFlipt(plan.render.text), target: t };
}

// Values the CRD accepts (no "${"), each something YAML 1.1/1.2, viper or Go would like to reinterpret.
const TRICKY_VALUES = [
  '1_000', '0b101', '0o17', '0x1F', '1e3', '-1', '+1', '+1_000', '+0x1F', '.5', '.inf', '-.Inf', '.NaN', '0755',
  'yes', 'no', 'on', 'off', 'y', 'n', 'true', 'False', 'null', 'Null', '~', '',
  '2001-12-14t21:59:43.10-05:00', '12:30:45', '1:20',
  '!!binary aGVsbG8=', '!tag value', '&anchor value', '*alias', '<<', '- item', '? key', ': colon',
  'key: value', '# comment', 'value # comment', "'single'", '"double"', '[a, b]', '{a: b}', '|', '>-', '%YAML 1.1',
  '@at', '`backtick`', '  leading', 'trailing  ', '$env:HOME', '$HOME', '$(id)', '{env:HOME}', '$ {env:HOME}',
  'ünïcödé ✓', 'emoji 🚩', 'zero\u200bwidth', 'rtl \u202e', 'é',
];

// What the CRD and the operator refuse: references, and characters a YAML reader may take for breaks.
const REFUSED_VALUES = [
  '${env:HOME}', '${secret:file:x}', '${secret:x}', ' ${env:HOME}', '${env:HOME} ', 'x${env:A}', '${ENV:HOME}', '${}', '$${env:HOME}',
  'multi\nline', 'a\n${env:HOME}', '\ttab', 'crlf\r\n', 'nul\u0000', 'del\u007f', 'nel\u0085', 'ls\u2028', 'ps\u2029', '\ufeffbom',
];

test('metadata values Flipt reads are exactly the values in the spec, and none is a reference', async () => {
  // At most 32 keys per FliptClient: spread the values over several.
  const cases: Case[] = [];
  for (let i = 0; i < TRICKY_VALUES.length; i += 30) {
    cases.push({ namespace: 'apps', name: `tricky${i}`, metadata: Object.fromEntries(TRICKY_VALUES.slice(i, i + 30).map((v, j) => [`k${i + j}`, v])) });
  }
  const { reading, target: t } = await renderAndRead('secretFile', cases);
  for (const c of cases) {
    const id = tokenIdFor(c.namespace, c.name);
    assert.deepEqual(reading.tokens[id]?.metadata, { ...c.metadata, 'fliptclient-namespace': c.namespace, 'fliptclient-name': c.name });
  }
  const ours = cases.map((c) => credentialReference(t, tokenIdFor(c.namespace, c.name), ''));
  assert.deepEqual(reading.references.sort(), ['${env:CI_FLIPT_TOKEN}', ...ours].sort(), 'only the hand-written and our own references');
});

test('metadata keys that look like numbers, booleans or nulls stay the keys they are', async () => {
  const keys = ['1_0', '0x1', '0b1', '1e3', '10', '007', 'true', 'false', 'yes', 'no', 'on', 'null', 'nan', 'inf', '-', '_', '-1', '--', 'a-', '_a'];
  const metadata = Object.fromEntries(keys.map((k) => [k, `value of ${k}`]));
  const { reading } = await renderAndRead('secretFile', [{ namespace: 'apps', name: 'keys', metadata }]);
  assert.deepEqual(reading.tokens[tokenIdFor('apps', 'keys')]?.metadata, { ...metadata, 'fliptclient-namespace': 'apps', 'fliptclient-name': 'keys' });
});

test('token ids from namespaces and names that look like numbers reach Flipt unchanged', async () => {
  // DNS labels may be all digits or hex-like; joined with '_' they would read as numbers unquoted.
  const cases: Case[] = [
    { namespace: '123', name: '456' },
    { namespace: '0', name: '1' },
    { namespace: '1e3', name: '5' },
    { namespace: '0x1f', name: '2' },
    { namespace: '0b1', name: '0o7' },
    { namespace: 'true', name: 'null' },
    { namespace: 'a-b', name: 'c-d' },
  ];
  for (const mode of ['secretFile', 'env', 'inline'] as const) {
    const { reading, tokens, target: t } = await renderAndRead(mode, cases);
    for (const c of cases) {
      const id = tokenIdFor(c.namespace, c.name);
      const entry = reading.tokens[id];
      assert.ok(entry, `${mode}: Flipt reads id ${id} (has ${Object.keys(reading.tokens).join(', ')})`);
      assert.equal(hidden(entry.credential), hidden(credentialReference(t, id, tokens.get(`${c.namespace}/${c.name}`)!)), `${mode}: credential of ${id}`);
      assert.equal(entry.metadata?.['fliptclient-namespace'], c.namespace);
      assert.equal(entry.metadata?.['fliptclient-name'], c.name);
    }
    assert.equal(Object.keys(reading.tokens).length, cases.length + 1, `${mode}: no token merged or split`);
  }
});

test('env mode: variable names Flipt accepts, outside the FLIPT_ namespace Flipt binds, one per id', async () => {
  const cases: Case[] = [{ namespace: 'a-b', name: 'c' }, { namespace: 'a', name: 'b-c' }, { namespace: '1', name: '2' }];
  const { reading, target: t } = await renderAndRead('env', cases);
  const names = cases.map((c) => envVarFor(tokenIdFor(c.namespace, c.name)));
  assert.equal(new Set(names).size, names.length);
  for (const [i, c] of cases.entries()) {
    assert.match(names[i]!, /^[A-Z_][A-Z0-9_]*$/);
    assert.ok(!names[i]!.startsWith('FLIPT_'), `${names[i]} would be bound by Flipt's FLIPT_* environment mapping`);
    // Hidden: what fails this check may be a token written where the reference belongs.
    assert.equal(hidden(reading.tokens[tokenIdFor(c.namespace, c.name)]?.credential), hidden(`\${env:${names[i]}}`), `${names[i]}: registered by reference`);
  }
  assert.deepEqual(
    reading.references.filter((r) => r !== '${env:CI_FLIPT_TOKEN}').sort(),
    cases.map((c) => credentialReference(t, tokenIdFor(c.namespace, c.name), '')).sort(),
  );
});

test('inline mode: hex tokens that look like numbers reach Flipt as the same string', async () => {
  // All-digit hex with one 'e' reads as a float in YAML; a leading zero as octal.
  const numeric = ['1'.repeat(10) + 'e' + '2'.repeat(53), '0'.repeat(64), '0' + '7'.repeat(63), '9'.repeat(64)];
  const cases = numeric.map((token, i) => ({ namespace: 'apps', name: `n${i}`, token }));
  const { reading } = await renderAndRead('inline', cases);
  for (const c of cases) assert.equal(reading.tokens[tokenIdFor(c.namespace, c.name)]?.credential, c.token);
});

test('a client whose metadata holds a reference or a line break is left out, and a value an older version rendered is removed', async () => {
  for (const value of REFUSED_VALUES) {
    const { reading } = await renderAndRead('secretFile', [
      { namespace: 'apps', name: 'evil', metadata: { note: value } },
      { namespace: 'apps', name: 'good', metadata: { note: 'fine' } },
    ]);
    assert.equal(reading.tokens[tokenIdFor('apps', 'evil')], undefined, `${JSON.stringify(value)}: the client is not registered`);
    assert.ok(reading.tokens[tokenIdFor('apps', 'good')], 'other clients are');
    assert.ok(!reading.references.includes(value));
  }
  // A config an older operator wrote with such a value: the next apply removes the whole entry.
  const id = tokenIdFor('apps', 'evil');
  const older = SAMPLE_FLIPT_CONFIG.replace(
    '# hand-written token: the operator must never touch it',
    `${id}:\n            credential: "\${secret:file:${id}}"\n            metadata:\n              note: "\${env:FLIPT_TOKEN_OTHER}"\n          # hand-written token: the operator must never touch it`,
  );
  assert.deepEqual((await readAsFlipt(older)).tokens[id]?.metadata, { note: '${env:FLIPT_TOKEN_OTHER}' }, 'the fixture holds the value');
  const { reading, plan } = await renderAndRead('secretFile', [{ namespace: 'apps', name: 'evil', metadata: { note: '${env:FLIPT_TOKEN_OTHER}' } }], older, [id]);
  assert.equal(reading.tokens[id], undefined);
  assert.ok(!plan.render.text.includes('FLIPT_TOKEN_OTHER'));
  assert.ok(reading.tokens['ci-pipeline'], 'the hand-written token stays');
});

test('second line of defence: the renderer writes line breaks, separators and a BOM so that Flipt reads them unchanged', async () => {
  // DEL and the C1 controls are not covered here: Go's YAML refuses them even escaped by this library,
  // so only the refusal above keeps them out.
  const values = REFUSED_VALUES.filter((v) => !v.includes('${') && !/[\x7f-\x9f]/.test(v));
  assert.ok(values.some((v) => v.includes('\u2028')) && values.some((v) => v.includes('\n')));
  const metadata = Object.fromEntries(values.map((v, i) => [`k${i}`, v]));
  const render = renderFliptConfig({ source: '', previouslyManaged: [], heldCredentials: {}, credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false, tokens: [{ id: 'apps_raw', credential: '${secret:file:apps_raw}', metadata }] });
  assert.deepEqual((await readAsFlipt(render.text)).tokens.apps_raw?.metadata, metadata);
});

test("authentication.required and the kubernetes method's enabled are read as Flipt reads them: weakly typed, so a quoted \"true\" is true", async () => {
  // Helm's `quote` writes "true"; viper decodes Flipt's config weakly (strconv.ParseBool for strings, non-zero numbers).
  // Plain numbers Go's YAML reader sees where this library sees strings (1_000, 0b1) count too.
  const values = ['true', 'false', 'True', 'FALSE', '"true"', '"false"', "'1'", '"0"', '"t"', '"F"', '1', '0', '2', '""', '~',
    '1_000', '0_0', '0b1', '0b0', '+0x1', '-0x0', '0o7', '0755', '0.0', '1e3', '.5', '.nan', '-.inf'];
  for (const value of values) {
    const source = `authentication:\n  required: ${value}\n  methods:\n    kubernetes:\n      enabled: ${value}\n`;
    const flipt = await readAsFlipt(source);
    assert.equal(authenticationMethodsOf(source).kubernetesEnabled, flipt.kubernetesEnabled, `kubernetes.enabled: ${value}`);
    const render = renderFliptConfig({ source, previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false });
    assert.equal(render.authenticationRequired, flipt.authenticationRequired, `required: ${value}`);
  }
  assert.ok((await readAsFlipt('authentication:\n  methods:\n    kubernetes:\n      enabled: "true"\n')).kubernetesEnabled, 'the fixture: Flipt turns the method on');
  // A method named without `enabled` is off, as Flipt's default.
  const named = 'authentication:\n  methods:\n    kubernetes:\n      discovery_url: https://kubernetes.default.svc\n';
  assert.equal((await readAsFlipt(named)).kubernetesEnabled, false);
  assert.equal(authenticationMethodsOf(named).kubernetesEnabled, false);
  // A string strconv.ParseBool does not know: Flipt refuses the whole config (it does not start).
  await assert.rejects(readAsFlipt('authentication:\n  required: "yes"\n'));
});

test("FLIPT_AUTHENTICATION_* variables decide over Flipt's config file: the operator reads the written ones as Flipt does", async () => {
  const staticTarget = exampleTarget();
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const operator = (target: TargetConfig, name: string, value: string) => readFliptEnv(target, { containers: ['flipt'], vars: [{ container: 'flipt', name, value }], envFrom: [] }, { authenticationRequired: true, kubernetesEnabled: false, jwtConfigured: true });
  const blocked = (target: TargetConfig, name: string, value: string) => operator(target, name, value).override?.blocking ?? false;
  const source = (required: string) => `authentication:\n  required: ${required}\n  methods:\n    token:\n      enabled: true\n      storage:\n        type: static\n    jwt:\n      enabled: true\n`;
  for (const required of ['true', 'false']) {
    const config = source(required);
    const fromConfig = renderFliptConfig({ source: config, previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }).authenticationRequired;
    // '' is unset to viper: the file decides.
    for (const value of ['true', 'false', 'True', 'FALSE', '1', '0', 't', 'F', '']) {
      const what = `${value || '(empty)'} over required: ${required}`;
      const flipt = await readAsFlipt(config, { FLIPT_AUTHENTICATION_REQUIRED: value });
      assert.equal(operator(staticTarget, 'FLIPT_AUTHENTICATION_REQUIRED', value).authenticationRequired?.required ?? fromConfig, flipt.authenticationRequired, `FLIPT_AUTHENTICATION_REQUIRED=${what}`);
      // Blocked exactly when Flipt turns the method the target needs off (or kubernetes on beside jwt).
      const token = await readAsFlipt(config, { FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED: value });
      assert.equal(blocked(staticTarget, 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', value), !token.tokenEnabled, `FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED=${what}`);
      const jwt = await readAsFlipt(config, { FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED: value });
      assert.equal(blocked(jwtTarget, 'FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', value), !jwt.jwt.enabled, `FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED=${what}`);
      const kubernetes = await readAsFlipt(config, { FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED: value });
      assert.equal(blocked(jwtTarget, 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', value), kubernetes.kubernetesEnabled, `FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED=${what}`);
    }
  }
  // A value strconv.ParseBool does not know: Flipt refuses to start, and the operator says so.
  const names = { FLIPT_AUTHENTICATION_REQUIRED: staticTarget, FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED: staticTarget, FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED: jwtTarget, FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED: jwtTarget };
  for (const [name, target] of Object.entries(names)) {
    await assert.rejects(readAsFlipt(source('true'), { [name]: 'yes' }), name);
    assert.equal(blocked(target, name, 'yes'), true, name);
  }
  for (const value of ['static', 'db', '']) {
    const flipt = await readAsFlipt(source('true'), { FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE: value });
    assert.equal(blocked(staticTarget, 'FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE', value), flipt.tokenStorageType !== 'static', `storage type ${value || '(empty)'}`);
  }
  // ${env:NAME} in a variable: Flipt resolves it from its own environment, which the operator cannot see.
  // It claims nothing then (no reading, never blocking), only that it cannot tell.
  for (const resolved of ['true', 'false']) {
    const flipt = await readAsFlipt(source('true'), { FLIPT_AUTHENTICATION_REQUIRED: '${env:AUTH}', FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED: '${env:AUTH}', AUTH: resolved });
    assert.deepEqual([flipt.authenticationRequired, flipt.tokenEnabled], [resolved === 'true', resolved === 'true'], 'the fixture: Flipt resolves the reference');
  }
  for (const name of ['FLIPT_AUTHENTICATION_REQUIRED', 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED']) {
    const reading = operator(staticTarget, name, '${env:AUTH}');
    assert.deepEqual([reading.authenticationRequired, reading.override?.blocking], [undefined, false], name);
  }
});

test("${env:NAME} in authentication.required and the kubernetes method's enabled: the operator reads NAME from the pod template as Flipt resolves it", async () => {
  const target = exampleTarget();
  const config = 'authentication:\n  required: ${env:AUTH}\n  methods:\n    kubernetes:\n      enabled: ${env:AUTH}\n';
  const { authenticationRequired } = renderFliptConfig({ source: config, previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false });
  const { kubernetesEnabled } = authenticationMethodsOf(config);
  assert.deepEqual([authenticationRequired, kubernetesEnabled], [{ env: 'AUTH' }, { env: 'AUTH' }]);
  // undefined: the pod template does not set AUTH (Flipt gets an empty string).
  for (const value of ['true', 'false', '1', '0', 'T', 'f', '', undefined]) {
    const what = `AUTH=${value ?? '(unset)'}`;
    const flipt = await readAsFlipt(config, value === undefined ? {} : { AUTH: value });
    const env = { containers: ['flipt'], vars: value === undefined ? [] : [{ container: 'flipt', name: 'AUTH', value }], envFrom: [] };
    const reading = readFliptEnv(target, env, { authenticationRequired, jwtConfigured: false });
    assert.equal(reading.override, undefined, what);
    assert.equal(requiresAuthentication({ authenticationRequired, authenticationRequiredByEnv: reading.authenticationRequired }), flipt.authenticationRequired, what);
    assert.equal(kubernetesMethodOn(kubernetesEnabled, env).on, flipt.kubernetesEnabled, what);
  }
  // Not a boolean: Flipt refuses to load, and the operator blocks the target saying so.
  for (const value of ['yes', '${env:OTHER}']) {
    await assert.rejects(readAsFlipt(config, { AUTH: value, OTHER: 'true' }), value);
    assert.equal(readFliptEnv(target, { containers: ['flipt'], vars: [{ container: 'flipt', name: 'AUTH', value }], envFrom: [] }, { authenticationRequired, jwtConfigured: false }).override?.blocking, true, value);
  }
  // Not a boolean in the kubernetes method alone: Flipt refuses to load, and the operator does not read it as off.
  const kubernetesOnly = 'authentication:\n  methods:\n    kubernetes:\n      enabled: ${env:AUTH}\n';
  await assert.rejects(readAsFlipt(kubernetesOnly, { AUTH: 'yes' }));
  assert.equal(kubernetesMethodOn(authenticationMethodsOf(kubernetesOnly).kubernetesEnabled, { containers: ['flipt'], vars: [{ container: 'flipt', name: 'AUTH', value: 'yes' }], envFrom: [] }).on, undefined);
  // A written FLIPT_AUTHENTICATION_REQUIRED decides over the reference, for Flipt as for the operator.
  const over = await readAsFlipt(config, { AUTH: 'false', FLIPT_AUTHENTICATION_REQUIRED: 'true' });
  const vars = [{ container: 'flipt', name: 'AUTH', value: 'false' }, { container: 'flipt', name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'true' }];
  assert.deepEqual([over.authenticationRequired, readFliptEnv(target, { containers: ['flipt'], vars, envFrom: [] }, { authenticationRequired, jwtConfigured: false }).authenticationRequired?.required], [true, true]);
});
