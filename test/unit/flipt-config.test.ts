// Rendering Flipt's config: only the operator's keys change, comments/order/hand-written tokens
// survive, a second render changes nothing, and every output is a config Flipt v2.11.0 accepts
// (its published JSON schema) with only viper-safe ids and metadata keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseDocument } from 'yaml';
import { authenticationMethodsOf, idsReferringToHeld, metadataOfTokens, renderFliptConfig, FliptConfigError, type ManagedToken, type RenderInput, type RenderResult } from '../../src/fliptinstance/flipt-config.ts';
import { envVarFor, fingerprint, generateToken, isWellFormedToken, tokenIdFor, tokensEqual } from '../../src/vocabulary/credentials.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';

const schemaFile = fileURLToPath(new URL('../../../shared/flipt/flipt.schema.json', import.meta.url));
const VIPER_SAFE = /^[a-z0-9_-]+$/;

test("Flipt's published schema is where the tests expect it", () => {
  assert.ok(existsSync(schemaFile), `Flipt's config schema is missing at ${schemaFile}: the shared/ directory must sit beside the repository`);
});

function token(namespace: string, name: string, metadata: Record<string, string> = {}): ManagedToken {
  const id = tokenIdFor(namespace, name);
  return {
    id,
    credential: `\${secret:file:${id}}`,
    metadata: { ...metadata, 'fliptclient-namespace': namespace, 'fliptclient-name': name },
  };
}

type Doc = {
  authentication?: {
    required?: boolean;
    methods?: { token?: { enabled?: boolean; storage?: { type?: string; tokens?: Record<string, { credential: string; metadata?: Record<string, string> }> } } };
  };
  secrets?: { providers?: { file?: { enabled?: boolean } } };
  [key: string]: unknown;
};

function tokensOf(text: string): Record<string, { credential: string; metadata?: Record<string, string> }> {
  return (parse(text) as Doc).authentication?.methods?.token?.storage?.tokens ?? {};
}

/**
 * Renders, then checks what must hold for every render: the output is valid for Flipt, the ids and
 * metadata keys it manages are viper-safe, and rendering the output again changes nothing at all. The
 * render that follows a write is answered from the recent renders without parsing; it must say what
 * parsing the written text says (the text, with a comment added so that it is parsed again).
 */
function render(input: Partial<RenderInput> & { source: string | undefined }): RenderResult {
  const full: RenderInput = { previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false, ...input };
  const result = renderFliptConfig(full);
  assertValidFliptConfig(result.text);
  const doc = parse(result.text) as Doc;
  if (!full.jwtMethod || full.tokens.length > 0) {
    assert.equal(doc.authentication?.methods?.token?.enabled, true);
    assert.equal(doc.authentication?.methods?.token?.storage?.type, 'static');
  }
  const tokens = tokensOf(result.text);
  for (const id of result.managedIds) {
    assert.match(id, VIPER_SAFE, `token id ${id}`);
    assert.ok(tokens[id], `managed token ${id} is in the output`);
    for (const key of Object.keys(tokens[id]!.metadata ?? {})) assert.match(key, VIPER_SAFE, `metadata key ${key} of ${id}`);
  }
  const reread = `${result.text}\n# read again\n`;
  const again = renderFliptConfig({ ...full, source: reread, previouslyManaged: result.managedIds });
  assert.equal(again.changed, false, `a second render changed the document:\n${result.text}\n---\n${again.text}`);
  assert.equal(again.text, reread, 'a second render returns its input byte-for-byte');
  assert.deepEqual(again.managedIds, result.managedIds);
  const afterWrite = renderFliptConfig({ ...full, source: result.text, previouslyManaged: result.managedIds });
  assert.deepEqual({ ...afterWrite, text: reread }, again, 'the render after a write says what parsing the written text says');
  assert.equal(afterWrite.text, result.text);
  return result;
}

const helmConfig = `# Flipt configuration, managed by the platform team.
# See https://docs.flipt.io/v2/configuration/overview

version: "2.0"

log:
  level: INFO # keep it quiet
  encoding: json

server:
  http_port: 8080
  grpc_port: 9000

# Tokens below are for the CI pipeline; do not remove.
authentication:
  required: true
  methods:
    token:
      enabled: true
      storage:
        type: static
        tokens:
          "ci-pipeline":
            credential: "\${env:FLIPT_CI_TOKEN}" # rotated by hand
            metadata:
              owner: "platform"

storage:
  default:
    remote: https://github.com/example/flags.git
    branch: main
    poll_interval: 30s

environments:
  default:
    name: Default
    storage: default
`;

test('rendering keeps comments, key order and hand-written tokens', () => {
  const result = render({ source: helmConfig, tokens: [token('payments', 'api', { team: 'payments' })] });
  assert.equal(result.changed, true);
  assert.deepEqual(result.managedIds, ['payments_api']);
  assert.deepEqual(result.conflictingIds, []);
  const text = result.text;
  for (const line of [
    '# Flipt configuration, managed by the platform team.',
    '# See https://docs.flipt.io/v2/configuration/overview',
    'level: INFO # keep it quiet',
    '# Tokens below are for the CI pipeline; do not remove.',
    'credential: "${env:FLIPT_CI_TOKEN}" # rotated by hand',
    '"ci-pipeline":',
    'poll_interval: 30s',
  ]) {
    assert.ok(text.includes(line), `lost or changed: ${line}\n${text}`);
  }
  const order = ['version:', 'log:', 'server:', 'authentication:', 'storage:\n  default:', 'environments:'].map((k) => text.indexOf(k));
  assert.ok(order.every((at) => at >= 0), 'every top-level key is still there');
  assert.deepEqual([...order].sort((a, b) => a - b), order, 'top-level key order kept');
  // Everything before the authentication section is byte-for-byte the same.
  const head = helmConfig.slice(0, helmConfig.indexOf('authentication:'));
  assert.ok(text.startsWith(head), 'untouched sections are untouched');

  const tokens = tokensOf(text);
  assert.deepEqual(Object.keys(tokens), ['ci-pipeline', 'payments_api'], 'the hand-written token first, ours appended');
  assert.deepEqual(tokens['ci-pipeline'], { credential: '${env:FLIPT_CI_TOKEN}', metadata: { owner: 'platform' } });
  assert.deepEqual(tokens.payments_api, {
    credential: '${secret:file:payments_api}',
    metadata: { 'fliptclient-name': 'api', 'fliptclient-namespace': 'payments', team: 'payments' },
  });
  assert.equal(result.authenticationRequired, true);
  // secretFile mode turns on Flipt's file secrets provider.
  assert.equal((parse(text) as Doc).secrets?.providers?.file?.enabled, true);
});

test('an unchanged document comes back byte-for-byte with changed=false', () => {
  const first = render({ source: helmConfig, tokens: [token('a', 'x'), token('b', 'y')] });
  const second = renderFliptConfig({ source: first.text, previouslyManaged: first.managedIds, heldCredentials: {}, tokens: [token('b', 'y'), token('a', 'x')], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false });
  assert.equal(second.changed, false, 'token order in the input does not matter');
  assert.equal(second.text, first.text);
  assert.deepEqual(second.managedIds, ['a_x', 'b_y']);
});

test('a document already saying everything is returned as is, even in an unusual layout', () => {
  const source = `authentication: {required: true, methods: {token: {enabled: true, storage: {type: static}}}}   # flow style\nsecrets:\n    providers:\n        file:\n            enabled: true\n`;
  const result = render({ source });
  assert.equal(result.changed, false);
  assert.equal(result.text, source);
  assert.deepEqual(result.managedIds, []);
});

test('only previously managed ids are removed', () => {
  const first = render({ source: helmConfig, tokens: [token('a', 'x'), token('b', 'y')] });
  // b/y is gone; "ci-pipeline" was never ours and "not-ours" is claimed but absent.
  const second = render({ source: first.text, previouslyManaged: [...first.managedIds, 'not-ours'], tokens: [token('a', 'x')] });
  assert.equal(second.changed, true);
  assert.deepEqual(second.managedIds, ['a_x']);
  assert.deepEqual(Object.keys(tokensOf(second.text)), ['ci-pipeline', 'a_x']);
  // Without the record of what was ours nothing is removed.
  const third = renderFliptConfig({ source: first.text, previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false });
  assert.equal(third.changed, false);
  assert.deepEqual(Object.keys(tokensOf(third.text)), ['ci-pipeline', 'a_x', 'b_y']);
  // Removing the last managed token leaves the hand-written one and a valid document.
  const last = render({ source: second.text, previouslyManaged: second.managedIds, tokens: [] });
  assert.deepEqual(Object.keys(tokensOf(last.text)), ['ci-pipeline']);
  assert.ok(last.text.includes('credential: "${env:FLIPT_CI_TOKEN}" # rotated by hand'));
});

test('a hand-written token with an id the operator wants is reported, never overwritten', () => {
  const source = `authentication:\n  methods:\n    token:\n      enabled: true\n      storage:\n        type: static\n        tokens:\n          payments_api:\n            credential: hand-written # mine\n`;
  const result = render({ source, tokens: [token('payments', 'api'), token('payments', 'web')] });
  assert.deepEqual(result.conflictingIds, ['payments_api']);
  assert.deepEqual(result.managedIds, ['payments_web']);
  assert.deepEqual(tokensOf(result.text).payments_api, { credential: 'hand-written' });
  assert.ok(result.text.includes('credential: hand-written # mine'));
  // Once recorded as ours (e.g. adopted), it is managed.
  const adopted = render({ source, previouslyManaged: ['payments_api'], tokens: [token('payments', 'api')] });
  assert.deepEqual(adopted.conflictingIds, []);
  assert.equal(tokensOf(adopted.text).payments_api!.credential, '${secret:file:payments_api}');
});

test("the operator's own entries are recognised when the record was lost: exactly its credential under the id, whatever the metadata", () => {
  const written = render({ source: '', tokens: [token('apps', 'web', { team: 't' }), token('apps', 'api')] });
  // The ConfigMap applied again with this text but without the annotation: nothing was recorded.
  const lost = render({ source: written.text, tokens: [token('apps', 'web', { team: 't' }), token('apps', 'api')] });
  assert.deepEqual(lost.conflictingIds, []);
  assert.deepEqual(lost.managedIds, written.managedIds, 'both managed again, so the record is written back');
  assert.equal(lost.changed, false, 'the text stays as it is');
  // Metadata changed meanwhile: still the operator's entry, now rewritten.
  const changed = render({ source: written.text, tokens: [token('apps', 'web', { team: 'u' })] });
  assert.deepEqual(changed.conflictingIds, []);
  assert.equal(tokensOf(changed.text)[tokenIdFor('apps', 'web')]!.metadata!.team, 'u');
  assert.ok(tokensOf(changed.text)[tokenIdFor('apps', 'api')], 'an entry the operator does not want is not removed without the record');
  // Inline mode: the entry holds the client's token itself; any other token under the id is someone else's.
  const mine = generateToken();
  const inline = (credential: string): ManagedToken => ({ ...token('apps', 'web'), credential });
  const inlineText = render({ source: '', credentialReference: 'inline', tokens: [inline(mine)] }).text;
  assert.deepEqual(render({ source: inlineText, credentialReference: 'inline', tokens: [inline(mine)] }).conflictingIds, []);
  assert.deepEqual(render({ source: inlineText, credentialReference: 'inline', tokens: [inline(generateToken())] }).conflictingIds, [tokenIdFor('apps', 'web')]);
  // A reference to another key is not the operator's.
  const other = written.text.replace(`\${secret:file:${tokenIdFor('apps', 'web')}}`, '${secret:file:mine}');
  assert.notEqual(other, written.text);
  assert.deepEqual(render({ source: other, tokens: [token('apps', 'web', { team: 't' })] }).conflictingIds, [tokenIdFor('apps', 'web')]);
});

test('without a record, an entry referring to a credential the operator holds under its id is its own: removed when no client wants it', () => {
  const web = tokenIdFor('apps', 'web');
  const gone = tokenIdFor('apps', 'gone');
  const written = render({ source: '', tokens: [token('apps', 'web'), token('apps', 'gone')] });
  const held = { [web]: generateToken(), [gone]: generateToken() };
  // The record lost, and apps/gone deleted meanwhile: its credential is about to be dropped, so its entry must go too.
  const lost = render({ source: written.text, heldCredentials: held, tokens: [token('apps', 'web')] });
  assert.deepEqual(lost.conflictingIds, []);
  assert.deepEqual(lost.managedIds, [web]);
  assert.deepEqual(Object.keys(tokensOf(lost.text)), [web], 'the deleted client\'s entry is removed');
  // A credential the Secret does not hold: nothing says the entry is the operator's, so it stays.
  const notHeld = render({ source: written.text, heldCredentials: { [web]: held[web]! }, tokens: [token('apps', 'web')] });
  assert.ok(tokensOf(notHeld.text)[gone], 'an entry without a held credential is left alone');
  // Inline mode: the entry must hold the very token the Secret holds.
  const inline = (id: string, credential: string): ManagedToken => ({ id, credential, metadata: {} });
  const inlineText = render({ source: '', credentialReference: 'inline', tokens: [inline(gone, held[gone]!)] }).text;
  const removed = render({ source: inlineText, credentialReference: 'inline', heldCredentials: held, tokens: [] });
  assert.equal(tokensOf(removed.text)[gone], undefined);
  const kept = render({ source: inlineText, credentialReference: 'inline', heldCredentials: { [gone]: generateToken() }, tokens: [] });
  assert.ok(tokensOf(kept.text)[gone], 'another token under the id is someone else\'s');
  // env mode: the reference names the Secret's key for the id.
  const envText = render({ source: '', credentialReference: 'env', tokens: [{ id: gone, credential: `\${env:${envVarFor(gone)}}`, metadata: {} }] }).text;
  assert.equal(tokensOf(render({ source: envText, credentialReference: 'env', heldCredentials: { [envVarFor(gone)]: held[gone]! }, tokens: [] }).text)[gone], undefined);
  assert.ok(tokensOf(render({ source: envText, credentialReference: 'env', heldCredentials: { [gone]: held[gone]! }, tokens: [] }).text)[gone]);
});

test("what the operator registered, read without the record: the entries that refer to a credential it holds under their id", () => {
  const [web, gone] = [tokenIdFor('apps', 'web'), tokenIdFor('apps', 'gone')];
  const held = { [web]: generateToken(), [gone]: generateToken() };
  const text = render({ source: 'authentication:\n  methods:\n    token:\n      storage:\n        tokens:\n          manual:\n            credential: hand-written\n', tokens: [token('apps', 'web'), token('apps', 'gone')] }).text;
  const secretFile = { credentialReference: 'secretFile' as const, heldCredentials: held };
  assert.deepEqual(idsReferringToHeld(text, secretFile), [web, gone], 'never the hand-written entry');
  assert.deepEqual(idsReferringToHeld(text, { ...secretFile, heldCredentials: { [web]: held[web]! } }), [web], 'an entry without a held credential is not');
  assert.deepEqual(idsReferringToHeld(text, { credentialReference: 'env', heldCredentials: held }), [], 'a reference as another mode writes it is not');
  const inlineText = render({ source: '', credentialReference: 'inline', tokens: [{ id: web, credential: held[web]!, metadata: {} }] }).text;
  assert.deepEqual(idsReferringToHeld(inlineText, { credentialReference: 'inline', heldCredentials: held }), [web]);
  assert.deepEqual(idsReferringToHeld(inlineText, { credentialReference: 'inline', heldCredentials: { [web]: generateToken() } }), [], 'inline: only the very token held');
  assert.deepEqual(idsReferringToHeld('authentication:\n  required: true\n', secretFile), []);
  assert.throws(() => idsReferringToHeld('a: [', secretFile), FliptConfigError);
});

test('a managed token edited by hand is put back', () => {
  const first = render({ source: '', tokens: [token('a', 'x', { team: 't' })] });
  const edited = first.text.replace('team: t', 'team: changed');
  assert.notEqual(edited, first.text);
  const again = render({ source: edited, previouslyManaged: first.managedIds, heldCredentials: {}, tokens: [token('a', 'x', { team: 't' })] });
  assert.equal(again.changed, true);
  assert.equal(again.text, first.text);
});

test('a managed token whose credential changed is written again: an inline token rotated, or a credential edited by hand', () => {
  const id = tokenIdFor('a', 'x');
  const [before, after] = [generateToken(), generateToken()];
  const first = render({ source: '', credentialReference: 'inline', tokens: [{ id, credential: before, metadata: {} }] });
  const rotated = render({ source: first.text, previouslyManaged: first.managedIds, heldCredentials: {}, credentialReference: 'inline', tokens: [{ id, credential: after, metadata: {} }] });
  assert.equal(rotated.changed, true);
  assert.equal(tokensOf(rotated.text)[id]!.credential, after);
  const reference = render({ source: '', tokens: [token('a', 'x')] });
  const edited = reference.text.replace(`\${secret:file:${id}}`, `\${secret:file:${id}-edited}`);
  assert.notEqual(edited, reference.text);
  const again = render({ source: edited, previouslyManaged: reference.managedIds, tokens: [token('a', 'x')] });
  assert.equal(again.changed, true);
  assert.equal(again.text, reference.text);
});

test('empty, null, missing and comment-only documents are treated as {}', () => {
  for (const source of [undefined, '', '\n', 'null\n', '~\n', '---\n', '{}\n', '# just a comment\n', '# one\n# two\n\n']) {
    const result = render({ source, tokens: [token('ns', 'app')] });
    assert.equal(result.changed, true, JSON.stringify(source));
    assert.deepEqual(result.managedIds, ['ns_app']);
    assert.equal(result.authenticationRequired, false);
    if (source?.startsWith('#')) assert.ok(result.text.includes(source.split('\n')[0]!), `comment kept for ${JSON.stringify(source)}:\n${result.text}`);
  }
});

test('an empty flow mapping ({}) that gets tokens is written in block style', () => {
  const source = 'authentication:\n  methods:\n    token:\n      enabled: true\n      storage:\n        type: static\n        tokens: {}\nsecrets: {providers: {file: {enabled: true}}}\n';
  const result = render({ source, tokens: [token('ns', 'app'), token('ns', 'web')] });
  assert.match(result.text, /^ {8}tokens:\n {10}ns_app:\n {12}credential: /m, result.text);
  assert.ok(result.text.includes('secrets: {providers: {file: {enabled: true}}}') || result.text.includes('secrets: { providers: { file: { enabled: true } } }'), 'a non-empty flow mapping stays flow');
  const whole = render({ source: '{}\n', tokens: [token('ns', 'app')] });
  assert.ok(whole.text.startsWith('authentication:\n  methods:\n'), whole.text);
  // Nothing to add: `{}` stays as written.
  const unchanged = render({ source: 'authentication:\n  methods:\n    token:\n      enabled: true\n      storage:\n        type: static\n        tokens: {}\n', credentialReference: 'env' });
  assert.equal(unchanged.changed, false);
  assert.ok(unchanged.text.endsWith('tokens: {}\n'));
});

test('empty (null or "") sections on the way are filled in, not refused', () => {
  const source = 'authentication:\n  required: true\n  methods:\n    token:\n      storage:\n        tokens:\nsecrets:\n';
  const result = render({ source, tokens: [token('ns', 'app')] });
  assert.deepEqual(Object.keys(tokensOf(result.text)), ['ns_app']);
  assert.equal(result.authenticationRequired, true);
  // An empty string, as a template that printed nothing leaves it, counts as empty too.
  const quoted = render({ source: 'authentication:\n  methods:\n    token:\n      storage:\n        tokens: ""\n', tokens: [token('ns', 'app')] });
  assert.deepEqual(Object.keys(tokensOf(quoted.text)), ['ns_app']);
});

test('a document that is not a mapping, or a non-mapping section, throws FliptConfigError', () => {
  for (const source of ['- a\n- b\n', 'just a string\n', '42\n', 'true\n']) {
    assert.throws(() => renderFliptConfig({ source, previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }), FliptConfigError, source);
  }
  for (const [source, where] of [
    ['authentication: true\n', 'authentication'],
    ['authentication: [a]\n', 'authentication'],
    ['authentication: "yes"\n', 'authentication'],
    ['authentication:\n  methods: []\n', 'authentication.methods'],
    ['authentication:\n  methods:\n    token: on\n', 'authentication.methods.token'],
    ['authentication:\n  methods:\n    token:\n      storage:\n        tokens: [x]\n', 'authentication.methods.token.storage.tokens'],
    ['secrets: 1\n', 'secrets'],
  ] as const) {
    assert.throws(
      () => renderFliptConfig({ source, previouslyManaged: [], heldCredentials: {}, tokens: [token('a', 'b')], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }),
      (err: unknown) => err instanceof FliptConfigError && err.message.includes(`${where} is not a mapping`),
      source,
    );
  }
  assert.throws(() => renderFliptConfig({ source: 'a: [\n', previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }), FliptConfigError);
  assert.throws(() => renderFliptConfig({ source: 'a: 1\n---\nb: 2\n', previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }), FliptConfigError);
});

test('a key repeated in one mapping, at any depth, is refused as Flipt refuses it; the same key in two mappings is not', () => {
  const sources: Array<[string, string]> = [
    ['log:\n  level: info\nlog:\n  level: debug\n', 'log'],
    ['authentication:\n  methods:\n    token:\n      storage:\n        tokens:\n          a: {credential: x}\n          b: {credential: y}\n          a: {credential: z}\n', 'a'],
    ['list:\n  - {k: 1, k: 2}\n', 'k'],
  ];
  for (const [source, key] of sources) {
    for (const parse of [() => authenticationMethodsOf(source), () => renderFliptConfig({ source, previouslyManaged: [], heldCredentials: {}, tokens: [token('a', 'b')], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false })]) {
      assert.throws(parse, (err: unknown) => err instanceof FliptConfigError && err.message.includes(`Map keys must be unique (${JSON.stringify(key)}`), source);
    }
  }
  assert.doesNotThrow(() => authenticationMethodsOf('a:\n  k: 1\nb:\n  k: 2\n'));
  assert.doesNotThrow(() => authenticationMethodsOf('"1": a string key\n1: an integer key\n'), 'keys of different types differ, in YAML as in Flipt');
});

test('secretFile mode enables the file secrets provider; env and inline leave secrets alone', () => {
  const secretFile = render({ source: 'secrets:\n  providers:\n    file:\n      base_path: /etc/flipt/secrets\n', tokens: [token('a', 'b')] });
  assert.deepEqual((parse(secretFile.text) as Doc).secrets, { providers: { file: { base_path: '/etc/flipt/secrets', enabled: true } } });
  const turnedOff = render({ source: 'secrets:\n  providers:\n    file:\n      enabled: false\n', tokens: [] });
  assert.equal((parse(turnedOff.text) as Doc).secrets?.providers?.file?.enabled, true);
  // The token method already as the operator writes it: turning the provider back on is still a change.
  const providerOff = parseDocument(secretFile.text);
  providerOff.setIn(['secrets', 'providers', 'file', 'enabled'], false);
  const onlyProviderOff = render({ source: providerOff.toString(), tokens: [token('a', 'b')] });
  assert.deepEqual([onlyProviderOff.changed, (parse(onlyProviderOff.text) as Doc).secrets?.providers?.file?.enabled], [true, true]);

  for (const credentialReference of ['env', 'inline'] as const) {
    const result = render({ source: 'log:\n  level: INFO\n', tokens: [], credentialReference });
    assert.equal((parse(result.text) as Doc).secrets, undefined, credentialReference);
  }
});

test('env and inline credentials render as the strings they are', () => {
  const id = tokenIdFor('ns', 'app');
  const env = render({
    source: '',
    credentialReference: 'env',
    tokens: [{ id, credential: `\${env:${envVarFor(id)}}`, metadata: {} }],
  });
  assert.equal(tokensOf(env.text)[id]!.credential, `\${env:${envVarFor(id)}}`);
  // Inline tokens that YAML would otherwise read as numbers or booleans stay strings.
  for (const credential of [generateToken(), '1234567890123456789012345678901234567890123456789012345678901234', '12e45', '0x1f', 'true', 'null']) {
    const inline = render({ source: '', credentialReference: 'inline', tokens: [{ id, credential, metadata: {} }] });
    assert.equal(tokensOf(inline.text)[id]!.credential, credential);
  }
  // Go's YAML reader takes a plain 0b... as binary: an inline token starting like a number is double-quoted.
  const binaryLike = `0b${'1'.repeat(62)}`;
  assert.match(render({ source: '', credentialReference: 'inline', tokens: [{ id, credential: binaryLike, metadata: {} }] }).text, new RegExp(`credential: "${binaryLike}"`));
});

test('strings that Go\'s YAML parser would read as numbers are written quoted', () => {
  // Flipt reads its config with viper and yaml.v3, which strips '_' from digits before ParseInt and
  // knows 0b/0o/0x: plain `1_000` is the number 1000 there, though a string in YAML 1.2.
  const metadata = { count: '1_000', bin: '0b101', oct: '0o17', big: '99999999999999999999', neg: '-1_0', word: 'payments', dashed: 'eu-west-1', '1_0': 'key-like-a-number' };
  const result = render({ source: '', tokens: [token('123', '456', metadata)] });
  assert.deepEqual(result.managedIds, ['123_456']);
  const text = result.text;
  assert.match(text, /^ +"123_456":$/m, `the all-digit id is quoted:\n${text}`);
  for (const [key, value] of Object.entries(metadata)) {
    if (/^[-+.0-9]/.test(value)) assert.ok(text.includes(`${key}: "${value}"`) || text.includes(`${key}: '${value}'`), `${key} quoted:\n${text}`);
  }
  assert.ok(text.includes('"1_0": key-like-a-number'), `a number-like key is quoted too:\n${text}`);
  assert.ok(text.includes('word: payments'), 'ordinary words stay plain');
  assert.deepEqual(tokensOf(text)['123_456']!.metadata, { ...metadata, 'fliptclient-name': '456', 'fliptclient-namespace': '123' });
});

test('authenticationRequired reflects the document and is never changed', () => {
  const cases: Array<[string, boolean]> = [
    ['authentication:\n  required: true\n', true],
    ['authentication:\n  required: false\n', false],
    ['log:\n  level: INFO\n', false],
    ['', false],
  ];
  for (const [source, required] of cases) {
    const result = render({ source, tokens: [token('a', 'b')] });
    assert.equal(result.authenticationRequired, required, source);
    const after = (parse(result.text) as Doc).authentication?.required;
    const before = (parse(source || '{}') as Doc | null)?.authentication?.required;
    assert.equal(after, before, 'authentication.required is left as it was');
  }
});

test('authenticationRequired reads the setting as Flipt does: a quoted "true", "1" or a non-zero number is true (flipt-reads-config compares with Flipt itself)', () => {
  // Not valid against Flipt's schema (required is a boolean there), so rendered without the schema check.
  const required = (value: string) =>
    renderFliptConfig({ source: `authentication:\n  required: ${value}\n`, previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }).authenticationRequired;
  assert.deepEqual(['"true"', '"1"', '"t"', '1', 'TRUE'].map(required), [true, true, true, true, true]);
  assert.deepEqual(['"false"', '"0"', '0', '""', '"yes"', '~'].map(required), [false, false, false, false, false, false]);
  // Plain integers as Go's YAML reader knows them (strings to this library): non-zero is true; quoted, they are no boolean.
  assert.deepEqual(['0x1', '0o7', '0b10', '1_000', '-0x1'].map(required), [true, true, true, true, true]);
  assert.deepEqual(['0x0', '0b0', '0_0', '"0x1"', '"1_000"'].map(required), [false, false, false, false, false]);
});

test('token enabled and storage type are forced to what static tokens need', () => {
  const source = 'authentication:\n  methods:\n    token:\n      enabled: false # off\n      storage:\n        type: memory\n';
  const result = render({ source, tokens: [] });
  const doc = parse(result.text) as Doc;
  assert.equal(doc.authentication?.methods?.token?.enabled, true);
  assert.equal(doc.authentication?.methods?.token?.storage?.type, 'static');
  assert.ok(result.text.includes('enabled: true # off'), `the comment on the line stays:\n${result.text}`);
});

test('many tokens: sorted managed ids, all valid', () => {
  const tokens = Array.from({ length: 50 }, (_, i) => token(`ns-${i % 7}`, `app-${i}`, { index: String(i) }));
  const result = render({ source: helmConfig, tokens });
  assert.equal(result.managedIds.length, 50);
  assert.deepEqual(result.managedIds, [...result.managedIds].sort());
  const removeHalf = render({ source: result.text, previouslyManaged: result.managedIds, tokens: tokens.filter((_, i) => i % 2 === 0) });
  assert.equal(removeHalf.managedIds.length, 25);
  assert.equal(Object.keys(tokensOf(removeHalf.text)).length, 26, '25 of ours and the hand-written one');
});

test('token ids are readable, stable, unique and viper-safe', () => {
  assert.equal(tokenIdFor('payments', 'api'), 'payments_api');
  assert.equal(tokenIdFor('payments', 'api'), tokenIdFor('payments', 'api'));
  const names = ['a', 'a-b', 'b', 'ab', 'x1', '1x', 'a-b-c', 'z'.repeat(63)];
  const ids = new Set<string>();
  for (const ns of names) {
    for (const name of names) {
      const id = tokenIdFor(ns, name);
      assert.match(id, VIPER_SAFE);
      assert.ok(!id.includes('.') && id === id.toLowerCase(), id);
      ids.add(id);
    }
  }
  assert.equal(ids.size, names.length ** 2, 'distinct (namespace, name) pairs give distinct ids');
  // "a-b"/"c" and "a"/"b-c" must differ: '_' cannot appear in a DNS label, so it is an unambiguous separator.
  assert.notEqual(tokenIdFor('a-b', 'c'), tokenIdFor('a', 'b-c'));
});

test('env var names are valid, upper case, and distinct for ids differing only in - and _', () => {
  const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;
  for (const id of ['payments_api', 'a-b_c', 'a_b-c', '1x_2y', `${'n'.repeat(63)}_${'m'.repeat(63)}`]) {
    const name = envVarFor(id);
    assert.match(name, ENV, name);
    assert.equal(name, name.toUpperCase());
    assert.equal(envVarFor(id), name, 'stable');
  }
  assert.notEqual(envVarFor('a-b_c'), envVarFor('a_b-c'));
  assert.notEqual(envVarFor('a-b'), envVarFor('a_b'));
  assert.ok(envVarFor('payments_api').startsWith('FLIPTCLIENT_TOKEN_PAYMENTS_API_'));
  // Flipt binds every FLIPT_* variable whose name matches a config path: ours stay outside that namespace.
  for (const id of ['authentication_required', 'a_b']) assert.ok(!envVarFor(id).startsWith('FLIPT_'));
});

test('generateToken gives 64 fresh hex characters; fingerprint gives 16; tokensEqual compares', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const t = generateToken();
    assert.match(t, /^[0-9a-f]{64}$/);
    assert.ok(isWellFormedToken(t));
    seen.add(t);
  }
  assert.equal(seen.size, 100, 'every call gives a new token');
  const t = generateToken();
  assert.match(fingerprint(t), /^[0-9a-f]{16}$/);
  assert.equal(fingerprint(t), fingerprint(t));
  assert.notEqual(fingerprint(t), fingerprint(generateToken()));
  assert.ok(!t.includes(fingerprint(t)), 'the fingerprint is not a piece of the token');
  assert.equal(tokensEqual(t, t), true);
  assert.equal(tokensEqual(t, `${t}`), true);
  assert.equal(tokensEqual(t, generateToken()), false);
  const flip = (c: string) => (c === '0' ? '1' : '0');
  assert.equal(tokensEqual(t, `${flip(t[0]!)}${t.slice(1)}`), false, 'differing in the first character only');
  assert.equal(tokensEqual(t, `${t.slice(0, 63)}${flip(t[63]!)}`), false, 'differing in the last character only');
  assert.equal(tokensEqual(t, t.slice(0, 63)), false, 'different lengths do not throw');
  assert.equal(tokensEqual('', ''), true);
  assert.equal(isWellFormedToken(undefined), false);
  assert.equal(isWellFormedToken(t.toUpperCase()), false);
  assert.equal(isWellFormedToken(`${t}\n`), false);
});

const jwtMethod = { jwksUrl: 'http://fco.fco.svc:8443/.well-known/jwks.json', issuer: 'flipt-client-operator', audience: 'flipt:default' };

test('the jwt method: added with its JWKS URL, issuer and audience, everything else left as it was; then nothing to change', () => {
  const result = render({ source: helmConfig, jwtMethod });
  assert.equal(result.changed, true);
  const doc = parse(result.text) as Doc & { authentication: { methods: { jwt: unknown } } };
  assert.deepEqual(doc.authentication.methods.jwt, { enabled: true, jwks_url: jwtMethod.jwksUrl, validate_claims: { issuer: 'flipt-client-operator', audiences: ['flipt:default'] } });
  assert.deepEqual(Object.keys(tokensOf(result.text)), ['ci-pipeline'], 'no static token section is added or changed');
  assert.ok(result.text.includes('level: INFO # keep it quiet') && result.text.includes('# Tokens below are for the CI pipeline; do not remove.'), 'comments stay');
  const fresh = render({ source: 'authentication:\n  required: true\n', jwtMethod });
  assert.equal((parse(fresh.text) as Doc).authentication?.methods?.token, undefined, 'with JWTs only, the token method is not switched on');
  assert.equal(render({ source: fresh.text, jwtMethod }).changed, false);
  // A number-like audience reaches Go's YAML reader as a string.
  assert.match(render({ source: '', jwtMethod: { ...jwtMethod, audience: '1_000' } }).text, /- "1_000"/);
});

test('the jwt method beside static tokens, then removed when the operator wrote it; a hand-written one is never removed unasked', () => {
  const both = render({ source: helmConfig, tokens: [token('a', 'x')], jwtMethod });
  assert.deepEqual(Object.keys(tokensOf(both.text)), ['ci-pipeline', 'a_x']);
  assert.ok((parse(both.text) as { authentication: { methods: { jwt?: unknown } } }).authentication.methods.jwt);
  const removed = render({ source: both.text, previouslyManaged: both.managedIds, tokens: [token('a', 'x')], removeJwtMethod: true });
  assert.equal((parse(removed.text) as { authentication: { methods: { jwt?: unknown } } }).authentication.methods.jwt, undefined);
  assert.deepEqual(Object.keys(tokensOf(removed.text)), ['ci-pipeline', 'a_x']);
  const untouched = render({ source: both.text, previouslyManaged: both.managedIds, tokens: [token('a', 'x')] });
  assert.equal(untouched.changed, false, 'without the removal asked for, the jwt method stays');
});

test('authenticationMethodsOf: the kubernetes method and any jwt method in a config', () => {
  assert.deepEqual(authenticationMethodsOf(helmConfig), { kubernetesEnabled: false, jwt: undefined });
  assert.deepEqual(authenticationMethodsOf('authentication:\n  methods:\n    kubernetes:\n      enabled: true\n'), { kubernetesEnabled: true, jwt: undefined });
  assert.deepEqual(authenticationMethodsOf('authentication:\n  methods:\n    kubernetes:\n      enabled: false\n    jwt:\n      public_key_file: /k.pem\n'), { kubernetesEnabled: false, jwt: { public_key_file: '/k.pem' } });
  assert.deepEqual(authenticationMethodsOf(''), { kubernetesEnabled: false, jwt: undefined });
  assert.deepEqual(authenticationMethodsOf('authentication:\n  methods:\n    kubernetes:\n      enabled: "true"\n'), { kubernetesEnabled: true, jwt: undefined }, 'as Flipt reads it');
  assert.deepEqual(authenticationMethodsOf('authentication:\n  methods:\n    kubernetes:\n      discovery_url: https://k\n'), { kubernetesEnabled: false, jwt: undefined }, 'named but not enabled: off, as Flipt defaults');
  assert.throws(() => authenticationMethodsOf('a: [\n'), FliptConfigError);
});

test('a render of an input seen recently is the same result; a change to any part of the input renders again', () => {
  const jwt = { jwksUrl: 'https://operator.example/jwks', issuer: 'flipt-client-operator', audience: 'flipt' };
  const base: RenderInput = {
    source: 'authentication:\n  required: true\n  methods:\n    token:\n      enabled: true\n      storage:\n        type: static\n        tokens:\n          old:\n            credential: x\n',
    previouslyManaged: [], heldCredentials: {},
    tokens: [token('apps', 'web')],
    credentialReference: 'secretFile',
    jwtMethod: undefined,
    removeJwtMethod: false,
  };
  const first = renderFliptConfig(base);
  // Equal content in new objects: the recent render answers.
  assert.equal(renderFliptConfig(structuredClone(base)), first);

  const withJwt = renderFliptConfig({ ...base, jwtMethod: jwt }).text;
  const variants: Array<[string, RenderInput, (text: string) => boolean]> = [
    ['source', { ...base, source: `${base.source}log:\n  level: debug\n` }, (text) => text.includes('level: debug')],
    ['previouslyManaged', { ...base, previouslyManaged: ['old'] }, (text) => !('old' in tokensOf(text))],
    ['tokens', { ...base, tokens: [token('apps', 'api')] }, (text) => tokenIdFor('apps', 'api') in tokensOf(text)],
    ['credentialReference', { ...base, credentialReference: 'env' }, (text) => !text.includes('secrets:')],
    ['jwtMethod', { ...base, jwtMethod: jwt }, (text) => text.includes(jwt.jwksUrl)],
    ['removeJwtMethod', { ...base, source: withJwt, removeJwtMethod: true }, (text) => !text.includes(jwt.jwksUrl)],
  ];
  for (const [part, input, expected] of variants) {
    const result = renderFliptConfig(input);
    assert.notEqual(result, first, `${part} changed, yet the earlier render came back`);
    assert.ok(expected(result.text), `${part} changed, and the render does not show it:\n${result.text}`);
  }
});

test('the render that follows a write of its text is known without parsing it again', () => {
  const input: RenderInput = {
    source: 'authentication:\n  methods:\n    token:\n      storage:\n        tokens:\n          apps_hand-made:\n            credential: x\n',
    previouslyManaged: [], heldCredentials: {},
    tokens: [token('apps', 'web', { team: 'true' }), { ...token('apps', 'hand-made'), id: 'apps_hand-made' }],
    credentialReference: 'secretFile',
    jwtMethod: undefined,
    removeJwtMethod: false,
  };
  const written = renderFliptConfig(input);
  assert.deepEqual(written.conflictingIds, ['apps_hand-made']);
  const next = renderFliptConfig({ ...input, source: written.text, previouslyManaged: written.managedIds });
  assert.equal(next.managedIds, written.managedIds, 'answered from the recent renders (the very same ids), not parsed again');
  assert.deepEqual({ ...next }, { ...written, changed: false });

  // A repeated id is a conflict with itself the first time and managed twice the next: nothing is assumed.
  const repeated = { ...input, source: undefined, tokens: [token('apps', 'api'), token('apps', 'api')] };
  const first = renderFliptConfig(repeated);
  assert.deepEqual(first.conflictingIds, [tokenIdFor('apps', 'api')]);
  const second = renderFliptConfig({ ...repeated, source: first.text, previouslyManaged: first.managedIds });
  assert.notEqual(second.managedIds, first.managedIds);
  assert.deepEqual(second.conflictingIds, []);
});

test('a metadata value beyond printable ASCII is written double-quoted, where Go\'s YAML reader keeps it as it is', () => {
  const metadata = { team: 'café', tab: 'a\tb', plain: 'cafe' };
  const { text } = render({ source: '', tokens: [token('apps', 'a', metadata)] });
  assert.ok(text.includes('team: "café"'), text);
  assert.ok(text.includes('tab: "a\\tb"'), text);
  assert.ok(text.includes('plain: cafe'), text);
  assert.deepEqual(tokensOf(text)['apps_a']!.metadata, { ...metadata, 'fliptclient-name': 'a', 'fliptclient-namespace': 'apps' });
});

test('recent renders are bounded: one pushed out by renders of other inputs is rendered again', () => {
  const input = (n: number): RenderInput => ({ source: `log:\n  level: INFO # ${n}\n`, previouslyManaged: [], heldCredentials: {}, tokens: [token('apps', 'web')], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false });
  const first = renderFliptConfig(input(0));
  for (let n = 1; n <= 3; n++) renderFliptConfig(input(n));
  assert.equal(renderFliptConfig(input(0)), first, 'still recent after three other inputs');
  // Each render keeps two entries (itself and the render after its write): eight hold four inputs.
  for (let n = 1; n <= 4; n++) renderFliptConfig(input(100 + n));
  const again = renderFliptConfig(input(0));
  assert.notEqual(again, first, 'pushed out by four newer inputs');
  assert.deepEqual(again, first);
});

test('long lines are never folded: a hand-written one stays as written, a long metadata value stays on its line', () => {
  const label = `    label: ${'a long hand-written label '.repeat(8).trim()}`;
  const source = `ui:\n  topbar:\n${label}\nlog:\n  level: INFO\n`;
  const value = 'words and more words '.repeat(12).trim();
  const { text } = render({ source, tokens: [token('apps', 'web', { note: value })] });
  assert.ok(text.startsWith(`ui:\n  topbar:\n${label}\n`), `the hand-written line is kept as it was:\n${text}`);
  assert.ok(text.includes(`note: ${value}\n`), `the metadata value is on one line:\n${text}`);
});

test('metadata is written in key order whatever the order of the input, so a reordered spec changes nothing', () => {
  const metadata = { zone: 'eu', app: 'web', team: 'payments' };
  const first = render({ source: '', tokens: [token('apps', 'web', metadata)] });
  assert.deepEqual(Object.keys(tokensOf(first.text)['apps_web']!.metadata!), ['app', 'fliptclient-name', 'fliptclient-namespace', 'team', 'zone']);
  const reordered = { team: 'payments', app: 'web', zone: 'eu' };
  const again = renderFliptConfig({ source: first.text, previouslyManaged: first.managedIds, heldCredentials: {}, tokens: [token('apps', 'web', reordered)], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false });
  assert.equal(again.changed, false, again.text);
});

test("metadataOfTokens: the string metadata the config holds for the ids asked about, nothing else", () => {
  const source = [
    'authentication:', '  methods:', '    token:', '      storage:', '        tokens:',
    '          apps_web:', '            credential: x', '            metadata:', '              team: payments', '              replicas: 3', '              nested: {a: b}',
    '          apps_api:', '            credential: y', '            metadata:', '              team: core',
    '          apps_bare:', '            credential: z', '',
  ].join('\n');
  const held = metadataOfTokens(source, new Set(['apps_web', 'apps_bare', 'apps_gone']));
  assert.deepEqual([...held], [['apps_web', { team: 'payments' }]]);
  assert.deepEqual([...metadataOfTokens('log:\n  level: INFO\n', new Set(['apps_web']))], []);
});
