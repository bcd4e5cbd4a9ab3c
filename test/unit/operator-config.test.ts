// The operator's configuration file: defaults are filled in, and every mistake is reported with the
// file name and the field (or line) at fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadOperatorConfig, parseOperatorConfig, targetAllowsNamespace } from '../../src/config/operator-config.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const SOURCE = '/etc/flipt-client-operator/config.yaml';

const minimal = `
targets:
  - name: default
    namespace: flipt
    configMap:
      name: flipt
    workload:
      kind: Deployment
      name: flipt
`;

/** Asserts parsing fails with a ConfigError whose message names the file and contains every part. */
function assertRejected(text: string, ...parts: (string | RegExp)[]): string {
  let message = '';
  assert.throws(
    () => parseOperatorConfig(text, SOURCE, {}),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      message = err.message;
      return true;
    },
  );
  assert.ok(message.startsWith(SOURCE), `the error names the file: ${message}`);
  assert.ok(!message.includes('\n'), `the error is one line: ${JSON.stringify(message)}`);
  for (const part of parts) {
    if (typeof part === 'string') assert.ok(message.includes(part), `expected ${JSON.stringify(part)} in: ${message}`);
    else assert.match(message, part);
  }
  return message;
}

test('a minimal file loads with every default filled in', () => {
  const config = parseOperatorConfig(minimal, SOURCE, {});
  assert.equal(config.targets.length, 1);
  const [target] = config.targets;
  assert.deepEqual(target, {
    name: 'default',
    namespace: 'flipt',
    configMap: { name: 'flipt', key: 'default.yml' },
    credentialsSecret: 'flipt-client-credentials',
    credentialReference: 'secretFile',
    workload: { kind: 'Deployment', name: 'flipt' },
    allowedNamespaces: ['*'],
    restart: { minInterval: 10_000 },
    credentialKind: 'staticToken',
    jwt: { audience: 'flipt:default', lifetime: 3_600_000, issuer: 'flipt-client-operator', jwksUrl: undefined },
  });
  assert.equal('url' in target!, false);
  assert.deepEqual(config.exchange, {
    enabled: true,
    port: 8443,
    audiences: ['flipt-client-operator'],
    maxBodyBytes: 16384,
    maxConnections: 1024,
    cache: { ttl: 60_000, negativeTtl: 10_000, maxEntries: 10000 },
    rateLimit: { perServiceAccountPerMinute: 120, globalPerSecond: 500, failedPerSourcePerMinute: 60 },
  });
  assert.deepEqual(config.health, { port: 8081 });
  assert.deepEqual(config.metrics, { port: 8080 });
  assert.deepEqual(config.leaderElection, {
    enabled: true,
    namespace: 'flipt-client-operator',
    leaseName: 'flipt-client-operator',
    leaseDuration: 15_000,
    renewDeadline: 10_000,
    retryPeriod: 2_000,
  });
  assert.equal(config.resyncPeriod, 600_000);
  assert.deepEqual(config.jwt, {
    issuer: 'flipt-client-operator',
    signingKeys: { secretName: 'flipt-client-operator-signing-keys', namespace: 'flipt-client-operator', rotateEvery: 168 * 3_600_000, publishAhead: 60_000 },
  });
});

test('an installation is named "default" and reports unknown targets unless the file says otherwise', () => {
  assert.deepEqual(parseOperatorConfig(minimal, SOURCE, {}).installation, { name: 'default', reportUnknownTargets: true });
  const team = parseOperatorConfig(`${minimal}installation: {name: team-a, reportUnknownTargets: false}\n`, SOURCE, {});
  assert.deepEqual(team.installation, { name: 'team-a', reportUnknownTargets: false });
  assertRejected(`${minimal}installation: {name: Team_A}\n`, 'installation.name');
});

test('the lease namespace comes from POD_NAMESPACE unless the file names one', () => {
  assert.equal(parseOperatorConfig(minimal, SOURCE, { POD_NAMESPACE: 'ops' }).leaderElection.namespace, 'ops');
  const named = `${minimal}leaderElection:\n  namespace: elsewhere\n`;
  assert.equal(parseOperatorConfig(named, SOURCE, { POD_NAMESPACE: 'ops' }).leaderElection.namespace, 'elsewhere');
});

test('a full file keeps what it says', () => {
  const config = parseOperatorConfig(
    `
# two Flipt instances
targets:
  - name: prod
    namespace: flipt-prod
    configMap: {name: flipt, key: config.yaml}
    credentialsSecret: flipt-tokens
    credentialReference: env
    workload: {kind: StatefulSet, name: flipt}
    url: https://flipt.example.com
    allowedNamespaces: [payments, search]
    restart: {minInterval: 1m30s}
  - name: staging
    namespace: flipt-staging
    configMap: {name: flipt}
    credentialReference: inline
    workload: {kind: Deployment, name: flipt}
    credentialKind: jwt
    jwt: {audience: https://flipt.staging.example.com, lifetime: 15m}
exchange:
  port: 9443
  tls: {certFile: /tls/tls.crt, keyFile: /tls/tls.key}
  audiences: [flipt, flipt-client-operator]
  maxBodyBytes: 4096
  maxConnections: 50
  cache: {ttl: 1m, negativeTtl: 500ms, maxEntries: 10}
  rateLimit: {perServiceAccountPerMinute: 5, globalPerSecond: 7, failedPerSourcePerMinute: 9}
health: {port: 9001}
metrics: {port: 9002}
leaderElection: {enabled: false, leaseName: fco, leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 5s}
resyncPeriod: 1h
jwt:
  issuer: https://flipt-client-operator.example.com
  jwksUrl: https://fco.fco.svc:9443/.well-known/jwks.json
  signingKeys: {secretName: fco-keys, namespace: fco, rotateEvery: 24h, publishAhead: 10m}
`,
    SOURCE,
    {},
  );
  const [prod, staging] = config.targets;
  assert.deepEqual(prod, {
    name: 'prod',
    namespace: 'flipt-prod',
    configMap: { name: 'flipt', key: 'config.yaml' },
    credentialsSecret: 'flipt-tokens',
    credentialReference: 'env',
    workload: { kind: 'StatefulSet', name: 'flipt' },
    url: 'https://flipt.example.com',
    allowedNamespaces: ['payments', 'search'],
    restart: { minInterval: 90_000 },
    credentialKind: 'staticToken',
    jwt: { audience: 'flipt:prod', lifetime: 3_600_000, issuer: 'https://flipt-client-operator.example.com', jwksUrl: 'https://fco.fco.svc:9443/.well-known/jwks.json' },
  });
  assert.equal(staging!.credentialsSecret, 'flipt-client-credentials');
  assert.equal(staging!.credentialReference, 'inline');
  assert.equal(staging!.credentialKind, 'jwt');
  assert.deepEqual(staging!.jwt, {
    audience: 'https://flipt.staging.example.com',
    lifetime: 900_000,
    issuer: 'https://flipt-client-operator.example.com',
    jwksUrl: 'https://fco.fco.svc:9443/.well-known/jwks.json',
  });
  assert.deepEqual(config.jwt.signingKeys, { secretName: 'fco-keys', namespace: 'fco', rotateEvery: 86_400_000, publishAhead: 600_000 });
  assert.deepEqual(config.exchange, {
    enabled: true,
    port: 9443,
    tls: { certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' },
    audiences: ['flipt', 'flipt-client-operator'],
    maxBodyBytes: 4096,
    maxConnections: 50,
    cache: { ttl: 60_000, negativeTtl: 500, maxEntries: 10 },
    rateLimit: { perServiceAccountPerMinute: 5, globalPerSecond: 7, failedPerSourcePerMinute: 9 },
  });
  assert.deepEqual(config.leaderElection, {
    enabled: false,
    namespace: 'flipt-client-operator',
    leaseName: 'fco',
    leaseDuration: 30_000,
    renewDeadline: 20_000,
    retryPeriod: 5_000,
  });
  assert.equal(config.resyncPeriod, 3_600_000);
  assert.equal(targetAllowsNamespace(prod!, 'payments'), true);
  assert.equal(targetAllowsNamespace(prod!, 'other'), false);
  assert.equal(targetAllowsNamespace(staging!, 'anything'), true);
});

test('two parses never share default objects', () => {
  const a = parseOperatorConfig(minimal, SOURCE, {});
  a.targets[0]!.allowedNamespaces.push('mutated');
  const b = parseOperatorConfig(minimal, SOURCE, {});
  assert.deepEqual(b.targets[0]!.allowedNamespaces, ['*']);
});

test('malformed YAML names the file, line and column', () => {
  const text = 'targets:\n  - name: default\n    namespace: [flipt\n';
  assertRejected(text, /config\.yaml:\d+:\d+: invalid YAML/);
  const badIndent = 'targets:\n  - name: a\n namespace: b\n';
  assertRejected(badIndent, `${SOURCE}:3:`, 'invalid YAML');
  const tab = 'targets:\n\t- name: a\n';
  assertRejected(tab, `${SOURCE}:2:`, 'invalid YAML');
});

test('the YAML error says where once, with no excerpt', () => {
  const message = assertRejected('targets:\n  - name: a\n namespace: b\n', 'invalid YAML');
  assert.doesNotMatch(message, /at line \d+, column \d+/);
  assert.doesNotMatch(message, /:$/);
});

test('an alias to an unknown anchor, or an alias bomb, is a ConfigError naming the file', () => {
  assertRejected(`${minimal}health: *nowhere\n`, 'invalid YAML');
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
  assertRejected(`${bomb.join('\n')}\n`, 'invalid YAML');
});

test('durations longer than a Node.js timer can wait are refused, naming the field', () => {
  assertRejected(`${minimal}resyncPeriod: 720h\n`, 'resyncPeriod: must be at most 596h');
  assertRejected(`${minimal}exchange: {cache: {ttl: ${'9'.repeat(30)}h}}\n`, 'exchange.cache.ttl: must be at most 596h');
  assertRejected(
    minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    restart: {minInterval: 1000h}\n'),
    'targets.0.restart.minInterval: must be at most 596h',
  );
  assert.equal(parseOperatorConfig(`${minimal}resyncPeriod: 596h\n`, SOURCE, {}).resyncPeriod, 596 * 3_600_000);
  assertRejected(`${minimal}resyncPeriod: 596h1ms\n`, 'resyncPeriod: must be at most 596h');
});

test('duplicate keys in a mapping are an error, not a silent override', () => {
  assertRejected(`${minimal}health: {port: 1}\nhealth: {port: 2}\n`, 'invalid YAML', `${SOURCE}:`);
});

test('an empty or comment-only file says targets are required', () => {
  assertRejected('', 'targets: required');
  assertRejected('# nothing here\n', 'targets: required');
  assertRejected('null\n', 'targets: required');
});

test('a file that is not a mapping is refused', () => {
  assertRejected('- a\n- b\n', 'must be object');
  assertRejected('just text\n', 'must be object');
});

test('unknown keys are named, at the top level and nested', () => {
  assertRejected(`${minimal}extra: true\n`, 'extra: unknown field');
  assertRejected(minimal.replace('      kind: Deployment\n', '      kind: Deployment\n      replicas: 2\n'), 'targets.0.workload.replicas: unknown field');
  assertRejected(`${minimal}exchange:\n  cache:\n    size: 3\n`, 'exchange.cache.size: unknown field');
  // A misspelt limit would otherwise leave the target without one; a TLS setting the exchange lacks (a client CA) would be silently ignored.
  assertRejected(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    limits: {clientsPerNamspace: 5}\n'), 'targets.0.limits.clientsPerNamspace: unknown field');
  assertRejected(`${minimal}exchange:\n  tls: {certFile: /tls/tls.crt, keyFile: /tls/tls.key, caFile: /tls/ca.crt}\n`, 'exchange.tls.caFile: unknown field');
  assertRejected(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    configmap: {name: x}\n'), 'targets.0.configmap: unknown field');
});

test('wrong types and bad durations are named', () => {
  const withRestart = (value: string) => minimal.replace('    namespace: flipt\n', `    namespace: flipt\n    restart:\n      minInterval: ${value}\n`);
  assertRejected(withRestart('10'), 'targets.0.restart.minInterval', 'must be string');
  assertRejected(withRestart('"ten seconds"'), 'targets.0.restart.minInterval', 'must be a duration');
  assertRejected(withRestart('-5s'), 'targets.0.restart.minInterval', 'must be a duration');
  assertRejected(`${minimal}exchange:\n  port: "8443"\n`, 'exchange.port', 'must be integer');
  assertRejected(`${minimal}exchange:\n  port: 70000\n`, 'exchange.port', '65535');
  assertRejected(`${minimal}exchange:\n  cache:\n    ttl: forever\n`, 'exchange.cache.ttl', 'must be a duration');
  assertRejected(`${minimal}leaderElection:\n  enabled: "yes"\n`, 'leaderElection.enabled', 'must be boolean');
  assertRejected(`${minimal}resyncPeriod: 10\n`, 'resyncPeriod', 'must be string');
  assertRejected('targets: {}\n', 'targets: must be array');
  assertRejected('targets: []\n', 'targets');
});

test('enums, names and URLs are checked', () => {
  assertRejected(minimal.replace('kind: Deployment', 'kind: DaemonSet'), 'targets.0.workload.kind: must be one of Deployment, StatefulSet');
  assertRejected(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    credentialReference: file\n'), 'targets.0.credentialReference: must be one of secretFile, env, inline');
  assertRejected(minimal.replace('name: default', 'name: Default'), 'targets.0.name');
  assertRejected(minimal.replace('namespace: flipt', 'namespace: flipt.io'), 'targets.0.namespace');
  assertRejected(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    url: flipt:8080\n'), 'targets.0.url');
});

test('allowedNamespaces takes namespace names or "*", nothing else', () => {
  const withAllowed = (list: string) => minimal.replace('    namespace: flipt\n', `    namespace: flipt\n    allowedNamespaces: ${list}\n`);
  assert.deepEqual(parseOperatorConfig(withAllowed('["*"]'), SOURCE, {}).targets[0]!.allowedNamespaces, ['*']);
  assert.deepEqual(parseOperatorConfig(withAllowed('[a, b-2]'), SOURCE, {}).targets[0]!.allowedNamespaces, ['a', 'b-2']);
  for (const bad of ['"team_a"', '"Team"', '"a.b"', '"payments*"', '"*a"', '"a b"', '"-a"', `"${'a'.repeat(64)}"`]) {
    assertRejected(withAllowed(`[${bad}]`), 'targets.0.allowedNamespaces.0');
  }
});

test('missing required fields are named', () => {
  assertRejected(minimal.replace('    namespace: flipt\n', ''), 'targets.0.namespace: required');
  assertRejected(minimal.replace('    workload:\n      kind: Deployment\n      name: flipt\n', ''), 'targets.0.workload: required');
  assertRejected(minimal.replace('      kind: Deployment\n', ''), 'targets.0.workload.kind: required');
  assertRejected(minimal.replace('    configMap:\n      name: flipt\n', '    configMap: {}\n'), 'targets.0.configMap.name: required');
  assertRejected(`${minimal}exchange:\n  tls: {certFile: /a}\n`, 'exchange.tls.keyFile: required');
  assertRejected('exchange: {}\n', 'targets: required');
});

test('every problem is reported at once', () => {
  const message = assertRejected(`${minimal}extra: 1\nhealth: {port: x}\n`);
  assert.match(message, /extra: unknown field/);
  assert.match(message, /health\.port: must be integer/);
});

const second = (name: string, configMap: string, namespace = 'flipt') => `
  - name: ${name}
    namespace: ${namespace}
    configMap: {name: ${configMap}}
    workload: {kind: Deployment, name: ${configMap}}
`;

test('duplicate target names are refused', () => {
  assertRejected(minimal + second('default', 'other'), 'duplicate target name "default"');
});

test('two targets on one ConfigMap are refused; the same name in two namespaces is fine', () => {
  assertRejected(minimal + second('other', 'flipt'), '"default" and "other" both manage ConfigMap flipt/flipt');
  const config = parseOperatorConfig(minimal + second('other', 'flipt', 'flipt-2'), SOURCE, {});
  assert.deepEqual(
    config.targets.map((t) => `${t.namespace}/${t.configMap.name}`),
    ['flipt/flipt', 'flipt-2/flipt'],
  );
});

test('inconsistent leader election timings and clashing ports are refused', () => {
  assertRejected(`${minimal}leaderElection: {leaseDuration: 10s, renewDeadline: 10s}\n`, 'retryPeriod < renewDeadline < leaseDuration');
  assertRejected(`${minimal}health: {port: 8080}\n`, 'health.port, metrics.port and exchange.port must differ');
  // The exchange port does not count when the exchange is off.
  const config = parseOperatorConfig(`${minimal}exchange: {enabled: false, port: 8080}\nhealth: {port: 9000}\n`, SOURCE, {});
  assert.equal(config.exchange.enabled, false);
});

test('JWT settings: the kind is an enum, the exchange must be on, the key schedule and lifetime must make sense', () => {
  const jwtTarget = minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    credentialKind: jwt\n');
  assert.equal(parseOperatorConfig(jwtTarget, SOURCE, {}).targets[0]!.credentialKind, 'jwt');
  assertRejected(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    credentialKind: token\n'), 'targets.0.credentialKind: must be one of staticToken, jwt');
  assertRejected(`${jwtTarget}exchange: {enabled: false}\n`, 'targets.default.credentialKind: jwt needs exchange.enabled: true');
  assertRejected(`${minimal}jwt: {signingKeys: {rotateEvery: 1m, publishAhead: 1m}}\n`, 'jwt.signingKeys: publishAhead must be shorter than rotateEvery');
  assertRejected(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    jwt: {lifetime: 5s}\n'), 'targets.default.jwt.lifetime: must be at least 10s');
  assertRejected(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    jwt: {lifetime: 9999ms}\n'), 'targets.default.jwt.lifetime: must be at least 10s');
  assert.equal(parseOperatorConfig(minimal.replace('    namespace: flipt\n', '    namespace: flipt\n    jwt: {lifetime: 10s}\n'), SOURCE, {}).targets[0]!.jwt.lifetime, 10_000);
  assertRejected(`${minimal}jwt: {jwksUrl: operator:8443}\n`, 'jwt.jwksUrl: must match');
  assertRejected(`${minimal}jwt: {issuer: ""}\n`, 'jwt.issuer');
  assertRejected(`${minimal}jwt: {keys: {}}\n`, 'jwt.keys: unknown field');
  assert.equal(parseOperatorConfig(minimal, SOURCE, { POD_NAMESPACE: 'ops' }).jwt.signingKeys.namespace, 'ops', 'the signing keys live in the operator\'s own namespace');
});

test('the example config in deploy/ loads', async () => {
  const path = new URL('../../deploy/config.yaml', import.meta.url).pathname;
  const config = await loadOperatorConfig(path, { POD_NAMESPACE: 'flipt-client-operator' });
  assert.ok(config.targets.length >= 1);
  for (const target of config.targets) assert.equal(target.credentialReference === 'inline', false, 'the example does not use the insecure inline mode');
});

test('loadOperatorConfig reads a file, and a missing file is a one-line error naming the path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fco-config-'));
  try {
    const path = join(dir, 'config.yaml');
    writeFileSync(path, minimal);
    const config = await loadOperatorConfig(path, {});
    assert.equal(config.targets[0]!.name, 'default');

    writeFileSync(path, `${minimal}bogus: 1\n`);
    await assert.rejects(loadOperatorConfig(path, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith(`${path}: `), err.message);
      assert.match(err.message, /bogus: unknown field/);
      return true;
    });

    const missing = join(dir, 'nope.yaml');
    await assert.rejects(loadOperatorConfig(missing, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.includes(missing), err.message);
      assert.ok(!err.message.includes('\n'), err.message);
      assert.match(err.message, /ENOENT/);
      return true;
    });

    await assert.rejects(loadOperatorConfig(dir, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith(`${dir}: `) && !err.message.includes('\n'), err.message);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('leader election: retryPeriod equal to renewDeadline is refused too', () => {
  assertRejected(`${minimal}leaderElection: {retryPeriod: 10s, renewDeadline: 10s, leaseDuration: 15s}\n`, 'retryPeriod < renewDeadline < leaseDuration');
});

test('the exchange port may not clash with the health or metrics port while the exchange is on', () => {
  assertRejected(`${minimal}exchange: {port: 8081}\n`, 'health.port, metrics.port and exchange.port must differ');
  assertRejected(`${minimal}exchange: {port: 8080}\n`, 'health.port, metrics.port and exchange.port must differ');
});

test('a ConfigMap name whose default credentials Secret name would pass 253 characters needs credentialsSecret', () => {
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(43)}`;
  assert.equal(long.length, 235, '235 + "-client-credentials" is 254');
  const withConfigMap = (extra: string) => minimal.replace('      name: flipt\n    workload', `      name: ${long}\n${extra}    workload`);
  assertRejected(withConfigMap(''), 'targets.default.credentialsSecret', 'longer than 253 characters');
  assert.equal(parseOperatorConfig(withConfigMap('    credentialsSecret: tokens\n'), SOURCE, {}).targets[0]!.credentialsSecret, 'tokens');
});

test('numeric bounds: JWT lifetime, body size, cache size and rate limits', () => {
  const jwtLifetime = (value: string) => minimal.replace('    namespace: flipt\n', `    namespace: flipt\n    jwt: {lifetime: ${value}}\n`);
  assert.equal(parseOperatorConfig(jwtLifetime('10s'), SOURCE, {}).targets[0]!.jwt.lifetime, 10_000);
  assertRejected(jwtLifetime('9s'), 'targets.default.jwt.lifetime: must be at least 10s');
  assertRejected(`${minimal}exchange: {maxBodyBytes: 2097152}\n`, 'exchange.maxBodyBytes');
  assertRejected(`${minimal}exchange: {maxBodyBytes: 255}\n`, 'exchange.maxBodyBytes');
  assertRejected(`${minimal}exchange: {maxBodyBytes: 1048577}\n`, 'exchange.maxBodyBytes');
  assert.equal(parseOperatorConfig(`${minimal}exchange: {maxBodyBytes: 1048576, maxConnections: 65536}\n`, SOURCE, {}).exchange.maxBodyBytes, 1048576);
  assertRejected(`${minimal}exchange: {maxConnections: 0}\n`, 'exchange.maxConnections');
  assertRejected(`${minimal}exchange: {maxConnections: 65537}\n`, 'exchange.maxConnections');
  assertRejected(`${minimal}exchange: {cache: {maxEntries: 0}}\n`, 'exchange.cache.maxEntries');
  assertRejected(`${minimal}exchange: {rateLimit: {perServiceAccountPerMinute: 0}}\n`, 'exchange.rateLimit.perServiceAccountPerMinute');
  assertRejected(`${minimal}exchange: {rateLimit: {failedPerSourcePerMinute: 0}}\n`, 'exchange.rateLimit.failedPerSourcePerMinute');
  assertRejected(`${minimal}exchange: {rateLimit: {globalPerSecond: 0}}\n`, 'exchange.rateLimit.globalPerSecond');
});

test('allowedNamespaces names whole namespaces: no prefix, suffix or pattern but "*"', () => {
  const target = exampleTarget({ allowedNamespaces: ['team', 'payments'] });
  assert.deepEqual(['team', 'payments'].map((ns) => targetAllowsNamespace(target, ns)), [true, true]);
  assert.deepEqual(['team-evil', 'tea', 'payments2', 'xteam', ''].map((ns) => targetAllowsNamespace(target, ns)), [false, false, false, false, false]);
  assert.equal(targetAllowsNamespace(exampleTarget({ allowedNamespaces: ['*'] }), 'anything'), true);
});
