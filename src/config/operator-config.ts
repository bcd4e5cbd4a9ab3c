// The operator's own configuration file: which Flipt instances ("targets") it manages, and how the
// exchange service, probes, metrics and leader election run. Its shape is declared once, below, as a
// TypeBox schema: ajv checks a file against it (filling in defaults, naming every bad field), and the
// same schema decodes it into the typed configuration, durations into milliseconds.
import { readFile } from 'node:fs/promises';
import { FormatRegistry, Type, type StaticDecode, type TSchema } from '@sinclair/typebox';
import { TransformDecodeError, Value } from '@sinclair/typebox/value';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { DURATION_PATTERN, parseDuration } from '../util/duration.ts';

export class ConfigError extends Error {}

/** The longest duration the file may give: below the 2^31-1 ms a Node.js timer can wait. */
const MAX_DURATION = '596h';
const MAX_DURATION_MS = 596 * 3_600_000;
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** Below this a JWT would be refreshed every few seconds. */
const MIN_JWT_LIFETIME_MS = 10_000;

const DURATION = new RegExp(DURATION_PATTERN);
FormatRegistry.Set('duration', (text) => DURATION.test(text));

/** A Go-style duration in the file ("10s", "1h30m"); milliseconds once loaded. */
const Duration = (fallback: string) =>
  Type.Transform(Type.String({ format: 'duration', default: fallback }))
    .Decode((text) => {
      const ms = parseDuration(text);
      // Durations become timer delays, and Node.js fires a timer longer than 2^31-1 ms after 1 ms.
      if (ms === undefined || ms > MAX_DURATION_MS) throw new Error(`must be at most ${MAX_DURATION} (got ${text})`);
      return ms;
    })
    .Encode((ms) => `${ms}ms`);
const Port = (fallback: number) => Type.Integer({ minimum: 1, maximum: 65535, default: fallback });
const Section = <T extends Parameters<typeof Type.Object>[0]>(properties: T) => Type.Object(properties, { additionalProperties: false, default: {} });


const Target = Type.Object(
  {
    name: Type.String({ pattern: DNS_LABEL, maxLength: 63 }),
    namespace: Type.String({ pattern: DNS_LABEL, maxLength: 63 }),
    configMap: Type.Object(
      { name: Type.String({ pattern: DNS_SUBDOMAIN, maxLength: 253 }), key: Type.String({ pattern: '^[-._a-zA-Z0-9]+$', default: 'default.yml' }) },
      { additionalProperties: false },
    ),
    /** Default `<configMap.name>-client-credentials`, filled in when the file is loaded. */
    credentialsSecret: Type.Optional(Type.String({ pattern: DNS_SUBDOMAIN, maxLength: 253 })),
    credentialReference: Type.Union([Type.Literal('secretFile'), Type.Literal('env'), Type.Literal('inline')], { default: 'secretFile' }),
    workload: Type.Object(
      { kind: Type.Union([Type.Literal('Deployment'), Type.Literal('StatefulSet')]), name: Type.String({ pattern: DNS_SUBDOMAIN, maxLength: 253 }) },
      { additionalProperties: false },
    ),
    url: Type.Optional(Type.String({ pattern: '^https?://' })),
    // A namespace name or '*'; the alternation is inside the anchors so that a name is checked whole.
    allowedNamespaces: Type.Array(Type.String({ maxLength: 63, pattern: `^(?:${DNS_LABEL.slice(1, -1)}|\\*)$` }), { default: ['*'] }),
    restart: Section({ minInterval: Duration('10s') }),
    /** What a FliptClient of this target holds: a static token in Flipt's config, or a JWT the operator signs. */
    credentialKind: Type.Union([Type.Literal('staticToken'), Type.Literal('jwt')], { default: 'staticToken' }),
    jwt: Section({
      /** Default `flipt:<target name>`, filled in when the file is loaded: a JWT for one target is refused by every other. */
      audience: Type.Optional(Type.String({ minLength: 1 })),
      lifetime: Duration('1h'),
    }),
    /** Per-namespace caps, so one team cannot take a shared target's whole capacity. */
    limits: Type.Optional(
      Type.Object(
        {
          clientsPerNamespace: Type.Optional(Type.Integer({ minimum: 1 })),
          /** Bytes of Flipt's config a namespace's tokens may take. */
          bytesPerNamespace: Type.Optional(Type.Integer({ minimum: 1024 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/**
 * The config file's shape. The Helm chart's values.schema.json has the same fields (a test compares
 * them) and their constraints, but for an empty `targets`, which the chart's template refuses with a
 * clearer message than a schema's.
 */
export const OperatorConfigSchema = Type.Object(
  {
    targets: Type.Array(Target, { minItems: 1 }),
    /**
     * Several installations can share a cluster, each serving the FliptClients that name one of its
     * targets and leaving every other FliptClient, and its status, alone.
     */
    installation: Section({
      /** Recorded in the status of every FliptClient it serves (status.installation). */
      name: Type.String({ pattern: DNS_LABEL, maxLength: 63, default: 'default' }),
      /** Whether FliptClients that no installation serves get UnknownTarget from this one: true on exactly one installation per cluster. */
      reportUnknownTargets: Type.Boolean({ default: true }),
    }),
    exchange: Section({
      enabled: Type.Boolean({ default: true }),
      port: Port(8443),
      tls: Type.Optional(Type.Object({ certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
      audiences: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: ['flipt-client-operator'] }),
      maxBodyBytes: Type.Integer({ minimum: 256, maximum: 1048576, default: 16384 }),
      // Each open connection holds memory, mostly outside the heap cap (about 63 KiB once TLS is up): without a cap, a
      // caller opening connections faster than they time out could push the whole operator past its memory limit.
      maxConnections: Type.Integer({ minimum: 1, maximum: 65536, default: 1024 }),
      cache: Section({
        // Short: a positive review outlives a deleted ServiceAccount or Pod by up to this long.
        ttl: Duration('1m'),
        negativeTtl: Duration('10s'),
        maxEntries: Type.Integer({ minimum: 1, default: 10000 }),
      }),
      rateLimit: Section({
        perServiceAccountPerMinute: Type.Integer({ minimum: 1, default: 120 }),
        globalPerSecond: Type.Integer({ minimum: 1, default: 500 }),
        // Checked before the global limit: a caller sending made-up tokens (each costs a TokenReview)
        // cannot spend the budget every other pod shares.
        failedPerSourcePerMinute: Type.Integer({ minimum: 1, default: 60 }),
      }),
    }),
    health: Section({ port: Port(8081) }),
    metrics: Section({ port: Port(8080) }),
    leaderElection: Section({
      enabled: Type.Boolean({ default: true }),
      /** Default: $POD_NAMESPACE, filled in when the file is loaded. */
      namespace: Type.Optional(Type.String({ pattern: DNS_LABEL })),
      leaseName: Type.String({ pattern: DNS_SUBDOMAIN, default: 'flipt-client-operator' }),
      leaseDuration: Duration('15s'),
      renewDeadline: Duration('10s'),
      retryPeriod: Duration('2s'),
    }),
    resyncPeriod: Duration('10m'),
    // The operator as Flipt's identity provider, for targets with credentialKind jwt.
    jwt: Section({
      issuer: Type.String({ minLength: 1, default: 'flipt-client-operator' }),
      /** Where Flipt fetches the JWKS: the operator's Service, exchange port, /.well-known/jwks.json. */
      jwksUrl: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
      signingKeys: Section({
        secretName: Type.String({ pattern: DNS_SUBDOMAIN, maxLength: 253, default: 'flipt-client-operator-signing-keys' }),
        /** Default: $POD_NAMESPACE (the operator's own), filled in when the file is loaded. */
        namespace: Type.Optional(Type.String({ pattern: DNS_LABEL, maxLength: 63 })),
        rotateEvery: Duration('168h'),
        publishAhead: Duration('1m'),
      }),
    }),
  },
  { additionalProperties: false },
);

type Decoded = StaticDecode<typeof OperatorConfigSchema>;
export type CredentialReference = Decoded['targets'][number]['credentialReference'];
export type CredentialKind = Decoded['targets'][number]['credentialKind'];
/**
 * How a target's JWTs look and where Flipt gets the keys: its own audience and lifetime, and the
 * operator-wide issuer and JWKS URL (undefined when the file does not say how Flipt reaches the operator).
 */
export interface TargetJwtConfig {
  audience: string;
  lifetime: number;
  issuer: string;
  jwksUrl: string | undefined;
}
/** A target as loaded: durations in milliseconds, the credentials Secret's name and the JWT settings filled in. */
export type TargetConfig = Omit<Decoded['targets'][number], 'jwt'> & { credentialsSecret: string; jwt: TargetJwtConfig };
export type ExchangeConfig = Decoded['exchange'];
export type SigningKeysConfig = Decoded['jwt']['signingKeys'] & { namespace: string };
/** The whole file as loaded: durations in milliseconds, every default filled in. */
export type OperatorConfig = Omit<Decoded, 'targets' | 'leaderElection' | 'jwt'> & {
  targets: TargetConfig[];
  leaderElection: Decoded['leaderElection'] & { namespace: string };
  jwt: Omit<Decoded['jwt'], 'signingKeys'> & { signingKeys: SigningKeysConfig };
};

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
ajv.addFormat('duration', { type: 'string', validate: DURATION });
const validate = ajv.compile(OperatorConfigSchema as TSchema);

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
  let decoded: Decoded;
  try {
    decoded = Value.Decode(OperatorConfigSchema, raw);
  } catch (err) {
    if (!(err instanceof TransformDecodeError)) throw err;
    throw new ConfigError(`${source}: invalid operator config: ${fieldOf(err.path)}: ${err.error.message}`);
  }
  return resolve(decoded, source, env);
}

function fieldOf(pointer: string): string {
  return pointer === '' ? '(top level)' : pointer.slice(1).replaceAll('/', '.');
}

function describeError(error: ErrorObject): string {
  const field = fieldOf(error.instancePath);
  const prefix = field === '(top level)' ? '' : `${field}.`;
  switch (error.keyword) {
    case 'additionalProperties':
      return `${prefix}${String(error.params.additionalProperty)}: unknown field`;
    case 'required':
      return `${prefix}${String(error.params.missingProperty)}: required`;
    case 'const':
    case 'anyOf': {
      const allowed = allowedValuesAt(error.schemaPath);
      return allowed ? `${field}: must be one of ${allowed.join(', ')}` : `${field}: ${error.message ?? 'invalid'}`;
    }
    case 'format':
      return error.params.format === 'duration' ? `${field}: must be a duration such as 10s, 5m or 1h30m` : `${field}: ${error.message ?? 'invalid'}`;
    case 'pattern':
      return `${field}: must match ${String(error.params.pattern)}`;
    default:
      return `${field}: ${error.message ?? 'invalid'}`;
  }
}

/** The literals of the union (TypeBox's enum) that an error's schema path points into. */
function allowedValuesAt(schemaPath: string): unknown[] | undefined {
  const parts = schemaPath.replace(/^#\//, '').split('/');
  const anyOf = parts.indexOf('anyOf');
  let node: unknown = OperatorConfigSchema;
  for (const part of parts.slice(0, anyOf === -1 ? parts.length : anyOf + 1)) node = (node as Record<string, unknown> | undefined)?.[part];
  return Array.isArray(node) ? node.map((option) => (option as { const?: unknown }).const) : undefined;
}

function resolve(config: Decoded, source: string, env: NodeJS.ProcessEnv): OperatorConfig {
  const seen = new Set<string>();
  const claimedConfigMaps = new Map<string, string>();
  for (const target of config.targets) {
    if (seen.has(target.name)) throw new ConfigError(`${source}: targets: duplicate target name "${target.name}"`);
    seen.add(target.name);
    const configMapKey = `${target.namespace}/${target.configMap.name}`;
    const other = claimedConfigMaps.get(configMapKey);
    if (other) throw new ConfigError(`${source}: targets: "${other}" and "${target.name}" both manage ConfigMap ${configMapKey}`);
    claimedConfigMaps.set(configMapKey, target.name);
    if (!target.credentialsSecret && `${target.configMap.name}-client-credentials`.length > 253) {
      throw new ConfigError(`${source}: targets.${target.name}.credentialsSecret: the default name "<configMap>-client-credentials" is longer than 253 characters; set it explicitly`);
    }
  }
  const le = config.leaderElection;
  if (!(le.retryPeriod < le.renewDeadline && le.renewDeadline < le.leaseDuration)) {
    throw new ConfigError(`${source}: leaderElection: need retryPeriod < renewDeadline < leaseDuration`);
  }
  const jwtTargets = config.targets.filter((t) => t.credentialKind === 'jwt');
  if (jwtTargets.length > 0 && !config.exchange.enabled) {
    throw new ConfigError(`${source}: targets.${jwtTargets[0]!.name}.credentialKind: jwt needs exchange.enabled: true (Flipt fetches the JWKS from the exchange port)`);
  }
  const keys = config.jwt.signingKeys;
  if (keys.publishAhead >= keys.rotateEvery) {
    throw new ConfigError(`${source}: jwt.signingKeys: publishAhead must be shorter than rotateEvery`);
  }
  for (const target of config.targets) {
    if (target.jwt.lifetime < MIN_JWT_LIFETIME_MS) throw new ConfigError(`${source}: targets.${target.name}.jwt.lifetime: must be at least ${MIN_JWT_LIFETIME_MS / 1000}s`);
  }
  const ports = [config.health.port, config.metrics.port, ...(config.exchange.enabled ? [config.exchange.port] : [])];
  if (new Set(ports).size !== ports.length) {
    throw new ConfigError(`${source}: health.port, metrics.port and exchange.port must differ (got ${ports.join(', ')})`);
  }
  const ownNamespace = env.POD_NAMESPACE ?? 'flipt-client-operator';
  return {
    ...config,
    targets: config.targets.map((t) => ({
      ...t,
      credentialsSecret: t.credentialsSecret ?? `${t.configMap.name}-client-credentials`,
      jwt: { audience: t.jwt.audience ?? `flipt:${t.name}`, lifetime: t.jwt.lifetime, issuer: config.jwt.issuer, jwksUrl: config.jwt.jwksUrl },
    })),
    leaderElection: { ...le, namespace: le.namespace ?? ownNamespace },
    jwt: { ...config.jwt, signingKeys: { ...keys, namespace: keys.namespace ?? ownNamespace } },
  };
}

/** Whether a target accepts FliptClients from the namespace. */
export function targetAllowsNamespace(target: TargetConfig, namespace: string): boolean {
  return target.allowedNamespaces.includes('*') || target.allowedNamespaces.includes(namespace);
}
