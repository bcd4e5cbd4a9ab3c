// The operator's own configuration file: which Flipt instances ("targets") it manages, and how the
// exchange service, probes, metrics and leader election run. Parsed with `yaml`, checked against a
// JSON Schema (which also fills in defaults), then resolved into typed values with durations in ms.
import { readFile } from 'node:fs/promises';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { DURATION_PATTERN, parseDuration } from '../util/duration.ts';

export const CREDENTIAL_REFERENCES = ['secretFile', 'env', 'inline'] as const;
export type CredentialReference = (typeof CREDENTIAL_REFERENCES)[number];
export type WorkloadKind = 'Deployment' | 'StatefulSet';

export interface TargetConfig {
  name: string;
  namespace: string;
  configMap: { name: string; key: string };
  credentialsSecret: string;
  credentialReference: CredentialReference;
  workload: { kind: WorkloadKind; name: string };
  url?: string;
  allowedNamespaces: string[];
  restart: { minIntervalMs: number };
}

export interface ExchangeConfig {
  enabled: boolean;
  port: number;
  tls?: { certFile: string; keyFile: string };
  audiences: string[];
  maxBodyBytes: number;
  cache: { ttlMs: number; negativeTtlMs: number; maxEntries: number };
  rateLimit: { perServiceAccountPerMinute: number; globalPerSecond: number };
}

export interface OperatorConfig {
  targets: TargetConfig[];
  exchange: ExchangeConfig;
  health: { port: number };
  metrics: { port: number };
  leaderElection: {
    enabled: boolean;
    namespace: string;
    leaseName: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
  resyncPeriodMs: number;
}

export class ConfigError extends Error {}

/** The longest duration the file may give: below the 2^31-1 ms a Node.js timer can wait. */
const MAX_DURATION = '596h';
const MAX_DURATION_MS = 596 * 3_600_000;
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const duration = (fallback: string) => ({ type: 'string', pattern: DURATION_PATTERN, default: fallback });
const port = (fallback: number) => ({ type: 'integer', minimum: 1, maximum: 65535, default: fallback });

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['targets'],
  properties: {
    targets: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'namespace', 'configMap', 'workload'],
        properties: {
          name: { type: 'string', pattern: DNS_LABEL, maxLength: 63 },
          namespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63 },
          configMap: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 },
              key: { type: 'string', pattern: '^[-._a-zA-Z0-9]+$', default: 'default.yml' },
            },
          },
          credentialsSecret: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 },
          credentialReference: { enum: [...CREDENTIAL_REFERENCES], default: 'secretFile' },
          workload: {
            type: 'object',
            additionalProperties: false,
            required: ['kind', 'name'],
            properties: {
              kind: { enum: ['Deployment', 'StatefulSet'] },
              name: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 },
            },
          },
          url: { type: 'string', pattern: '^https?://' },
          allowedNamespaces: {
            type: 'array',
            // A namespace name or '*'; the alternation is inside the anchors so that a name is checked whole.
            items: { type: 'string', maxLength: 63, pattern: `^(?:${DNS_LABEL.slice(1, -1)}|\\*)$` },
            default: ['*'],
          },
          restart: {
            type: 'object',
            additionalProperties: false,
            default: {},
            properties: { minInterval: duration('10s') },
          },
        },
      },
    },
    exchange: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        port: port(8443),
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['certFile', 'keyFile'],
          properties: { certFile: { type: 'string', minLength: 1 }, keyFile: { type: 'string', minLength: 1 } },
        },
        audiences: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 }, default: ['flipt-client-operator'] },
        maxBodyBytes: { type: 'integer', minimum: 256, maximum: 1048576, default: 16384 },
        cache: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            // Short: a positive review outlives a deleted ServiceAccount or Pod by up to this long.
            ttl: duration('1m'),
            negativeTtl: duration('10s'),
            maxEntries: { type: 'integer', minimum: 1, default: 10000 },
          },
        },
        rateLimit: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            perServiceAccountPerMinute: { type: 'integer', minimum: 1, default: 120 },
            globalPerSecond: { type: 'integer', minimum: 1, default: 500 },
          },
        },
      },
    },
    health: { type: 'object', additionalProperties: false, default: {}, properties: { port: port(8081) } },
    metrics: { type: 'object', additionalProperties: false, default: {}, properties: { port: port(8080) } },
    leaderElection: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        namespace: { type: 'string', pattern: DNS_LABEL },
        leaseName: { type: 'string', pattern: DNS_SUBDOMAIN, default: 'flipt-client-operator' },
        leaseDuration: duration('15s'),
        renewDeadline: duration('10s'),
        retryPeriod: duration('2s'),
      },
    },
    resyncPeriod: duration('10m'),
  },
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
const validate = ajv.compile(schema);

/** Reads and validates the operator configuration file; every error names the file and the field. */
export async function loadOperatorConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<OperatorConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read operator config: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseOperatorConfig(text, path, env);
}

export function parseOperatorConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const where = first.linePos?.[0] ? `:${first.linePos[0].line}:${first.linePos[0].col}` : '';
    // prettyErrors appends " at line L, column C:" and a source excerpt; the prefix already says where.
    const message = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`${source}${where}: invalid YAML: ${message}`);
  }
  let raw: unknown;
  try {
    // Throws for an alias to an unknown anchor, or too many aliases (a "billion laughs" document).
    raw = doc.toJS() ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!validate(raw)) {
    const messages = (validate.errors ?? []).map(describeError);
    throw new ConfigError(`${source}: invalid operator config: ${[...new Set(messages)].join('; ')}`);
  }
  return resolve(raw as RawConfig, source, env);
}

function describeError(error: ErrorObject): string {
  const field = error.instancePath === '' ? '(top level)' : error.instancePath.slice(1).replaceAll('/', '.');
  switch (error.keyword) {
    case 'additionalProperties':
      return `${field === '(top level)' ? '' : `${field}.`}${String(error.params.additionalProperty)}: unknown field`;
    case 'required':
      return `${field === '(top level)' ? '' : `${field}.`}${String(error.params.missingProperty)}: required`;
    case 'enum':
      return `${field}: must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
    case 'pattern':
      return field.endsWith('minInterval') || /(ttl|Ttl|Duration|Deadline|Period)$/.test(field)
        ? `${field}: must be a duration such as 10s, 5m or 1h30m`
        : `${field}: must match ${String(error.params.pattern)}`;
    default:
      return `${field}: ${error.message ?? 'invalid'}`;
  }
}

interface RawTarget {
  name: string;
  namespace: string;
  configMap: { name: string; key: string };
  credentialsSecret?: string;
  credentialReference: CredentialReference;
  workload: { kind: WorkloadKind; name: string };
  url?: string;
  allowedNamespaces: string[];
  restart: { minInterval: string };
}

interface RawConfig {
  targets: RawTarget[];
  exchange: {
    enabled: boolean;
    port: number;
    tls?: { certFile: string; keyFile: string };
    audiences: string[];
    maxBodyBytes: number;
    cache: { ttl: string; negativeTtl: string; maxEntries: number };
    rateLimit: { perServiceAccountPerMinute: number; globalPerSecond: number };
  };
  health: { port: number };
  metrics: { port: number };
  leaderElection: {
    enabled: boolean;
    namespace?: string;
    leaseName: string;
    leaseDuration: string;
    renewDeadline: string;
    retryPeriod: string;
  };
  resyncPeriod: string;
}

function resolve(raw: RawConfig, source: string, env: NodeJS.ProcessEnv): OperatorConfig {
  const seen = new Set<string>();
  const claimedConfigMaps = new Map<string, string>();
  for (const target of raw.targets) {
    if (seen.has(target.name)) throw new ConfigError(`${source}: targets: duplicate target name "${target.name}"`);
    seen.add(target.name);
    const configMapKey = `${target.namespace}/${target.configMap.name}`;
    const other = claimedConfigMaps.get(configMapKey);
    if (other) {
      throw new ConfigError(`${source}: targets: "${other}" and "${target.name}" both manage ConfigMap ${configMapKey}`);
    }
    claimedConfigMaps.set(configMapKey, target.name);
    if (!target.credentialsSecret && `${target.configMap.name}-client-credentials`.length > 253) {
      throw new ConfigError(`${source}: targets.${target.name}.credentialsSecret: the default name "<configMap>-client-credentials" is longer than 253 characters; set it explicitly`);
    }
  }
  const le = raw.leaderElection;
  // The schema has checked the notation; the size is checked here: durations become timer delays, and
  // Node.js fires a timer longer than 2^31-1 ms (about 24.8 days) after 1 ms instead.
  const ms = (field: string, text: string) => {
    const value = parseDuration(text);
    if (value === undefined || value > MAX_DURATION_MS) {
      throw new ConfigError(`${source}: invalid operator config: ${field}: must be at most ${MAX_DURATION} (got ${text})`);
    }
    return value;
  };
  const leaseDurationMs = ms('leaderElection.leaseDuration', le.leaseDuration);
  const renewDeadlineMs = ms('leaderElection.renewDeadline', le.renewDeadline);
  const retryPeriodMs = ms('leaderElection.retryPeriod', le.retryPeriod);
  if (!(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new ConfigError(`${source}: leaderElection: need retryPeriod < renewDeadline < leaseDuration`);
  }
  const ports = [raw.health.port, raw.metrics.port, ...(raw.exchange.enabled ? [raw.exchange.port] : [])];
  if (new Set(ports).size !== ports.length) {
    throw new ConfigError(`${source}: health.port, metrics.port and exchange.port must differ (got ${ports.join(', ')})`);
  }
  return {
    targets: raw.targets.map((t, i) => ({
      name: t.name,
      namespace: t.namespace,
      configMap: t.configMap,
      credentialsSecret: t.credentialsSecret ?? `${t.configMap.name}-client-credentials`,
      credentialReference: t.credentialReference,
      workload: t.workload,
      ...(t.url ? { url: t.url } : {}),
      allowedNamespaces: t.allowedNamespaces,
      restart: { minIntervalMs: ms(`targets.${i}.restart.minInterval`, t.restart.minInterval) },
    })),
    exchange: {
      enabled: raw.exchange.enabled,
      port: raw.exchange.port,
      ...(raw.exchange.tls ? { tls: raw.exchange.tls } : {}),
      audiences: raw.exchange.audiences,
      maxBodyBytes: raw.exchange.maxBodyBytes,
      cache: {
        ttlMs: ms('exchange.cache.ttl', raw.exchange.cache.ttl),
        negativeTtlMs: ms('exchange.cache.negativeTtl', raw.exchange.cache.negativeTtl),
        maxEntries: raw.exchange.cache.maxEntries,
      },
      rateLimit: raw.exchange.rateLimit,
    },
    health: raw.health,
    metrics: raw.metrics,
    leaderElection: {
      enabled: le.enabled,
      namespace: le.namespace ?? env.POD_NAMESPACE ?? 'flipt-client-operator',
      leaseName: le.leaseName,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    resyncPeriodMs: ms('resyncPeriod', raw.resyncPeriod),
  };
}

/** Whether a target accepts FliptClients from the namespace. */
export function targetAllowsNamespace(target: TargetConfig, namespace: string): boolean {
  return target.allowedNamespaces.includes('*') || target.allowedNamespaces.includes(namespace);
}
