// The target most unit tests decide for: Flipt's Helm chart defaults in namespace "flipt".
import type { TargetConfig } from '../../src/config/operator-config.ts';

export function exampleTarget(over: Partial<TargetConfig> = {}): TargetConfig {
  return {
    name: 'default',
    namespace: 'flipt',
    configMap: { name: 'flipt', key: 'default.yml' },
    credentialsSecret: 'flipt-client-credentials',
    credentialReference: 'secretFile',
    workload: { kind: 'Deployment', name: 'flipt' },
    allowedNamespaces: ['*'],
    restart: { minInterval: 10_000 },
    credentialKind: 'staticToken',
    jwt: { audience: 'flipt:default', lifetime: 3_600_000, issuer: 'flipt-client-operator', jwksUrl: 'http://flipt-client-operator.flipt-client-operator.svc:8443/.well-known/jwks.json' },
    ...over,
  };
}
