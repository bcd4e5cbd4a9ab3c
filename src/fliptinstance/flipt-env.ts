// Flipt's environment: Flipt binds a FLIPT_<KEY_PATH> variable to every key of its config and reads it
// over the config file (viper: env before file). A variable in Flipt's pod template can therefore undo
// what the operator writes to the config, or decide what it reads there, with nothing in the ConfigMap
// to show it; and a `${env:NAME}` setting of the config is what the variable NAME says. Pure: which
// of them matter for a target, and what they do. The operator cannot tell which container runs Flipt,
// so every container's variables count (the message names the container); variables from `envFrom`
// are not seen: reading them would need access to other ConfigMaps and Secrets.
import type { TargetConfig } from '../config/operator-config.ts';
import type { BooleanSetting, EnvOverride } from '../vocabulary/registration.ts';
import { ENV_REFERENCE, goParseBool } from './flipt-config.ts';

/** A variable of a container of Flipt's pod template. */
export interface FliptEnvVar {
  container: string;
  name: string;
  /** Its value when written in the pod template; undefined when it comes from `valueFrom` or refers to another variable. */
  value: string | undefined;
}

/** The environment Flipt's pod template gives its containers. */
export interface PodEnv {
  vars: readonly FliptEnvVar[];
  /** Containers that also take variables from `envFrom`, which the operator does not read. */
  envFrom: readonly string[];
}

const REQUIRED = 'FLIPT_AUTHENTICATION_REQUIRED';
const TOKEN_METHOD = 'FLIPT_AUTHENTICATION_METHODS_TOKEN_';
const JWT_METHOD = 'FLIPT_AUTHENTICATION_METHODS_JWT_';
const KUBERNETES_ENABLED = 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED';
/** secretFile mode turns this provider on: the tokens are `${secret:file:<id>}` references. */
const FILE_SECRETS_ENABLED = 'FLIPT_SECRETS_PROVIDERS_FILE_ENABLED';
/** Flipt's authentication methods: an `enabled` that is not a boolean keeps Flipt from starting, whichever method it is. */
const METHOD_ENABLED = /^FLIPT_AUTHENTICATION_METHODS_(?:TOKEN|GITHUB|OIDC|KUBERNETES|JWT)_ENABLED$/;
/** Kubernetes does not bound a variable's name; a message written to every client's status is. */
const NAME_SHOWN = 100;

/** Whether Flipt reads this variable over a setting the operator writes or reads (the rest are none of its business). */
function bearsOnCredentials(name: string): boolean {
  return name.startsWith('FLIPT_AUTHENTICATION_') || name === FILE_SECRETS_ENABLED;
}

export interface FliptEnvReading {
  /**
   * authentication.required as Flipt's environment sets it (false if any container says false): written
   * FLIPT_AUTHENTICATION_REQUIRED variables, or else the variable a `${env:NAME}` setting names.
   * Undefined: the config's value decides, or nothing can tell (then `override` says so).
   */
  authenticationRequired?: { required: boolean; variable: string };
  override?: EnvOverride;
}

/** Kubernetes takes the last of a name repeated in one container. */
function effectiveVars(vars: readonly FliptEnvVar[]): FliptEnvVar[] {
  return [...new Map(vars.map((v) => [`${v.container}/${v.name}`, v])).values()];
}

/** A variable's name as a message shows it. */
export function shown(name: string): string {
  return name.length > NAME_SHOWN ? `${name.slice(0, NAME_SHOWN)}…` : name;
}

function named(v: Pick<FliptEnvVar, 'container' | 'name'>): string {
  return `${shown(v.name)} (container ${v.container})`;
}

/**
 * What Flipt gets for `${env:NAME}`: the value of each container that sets NAME (empty when none does
 * and none takes variables from envFrom), or which variable the operator cannot read. Only containers
 * that set NAME count, as for the FLIPT_ variables: a sidecar without it says nothing about Flipt's.
 */
function referencedValues(name: string, env: PodEnv): { values: { container: string; value: string }[] } | { unknown: string } {
  const set = effectiveVars(env.vars).filter((v) => v.name === name);
  if (set.length === 0) {
    if (env.envFrom.length > 0) return { unknown: `${shown(name)} (through envFrom of container ${env.envFrom[0]}, perhaps)` };
    return { values: [{ container: '', value: '' }] };
  }
  const unreadable = set.find((v) => v.value === undefined);
  if (unreadable) return { unknown: named(unreadable) };
  return { values: set.map((v) => ({ container: v.container, value: v.value! })) };
}

/** A string as Flipt's weakly typed decoding makes it a boolean: empty is false; undefined where Flipt refuses it. */
function weakBool(value: string): boolean | undefined {
  return value === '' ? false : goParseBool(value);
}

/**
 * Whether Flipt runs its kubernetes method, given what its config says: a written
 * FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED decides over the config (true if any container
 * says true), a `${env:NAME}` setting is what NAME says. `on` undefined: the operator cannot tell.
 */
export function kubernetesMethodOn(setting: BooleanSetting, env: PodEnv): { on: boolean | undefined; byVariable: boolean } {
  const written = effectiveVars(env.vars)
    .filter((v) => v.name === KUBERNETES_ENABLED && v.value !== undefined && v.value !== '' && !ENV_REFERENCE.test(v.value))
    .map((v) => goParseBool(v.value!))
    .filter((b) => b !== undefined);
  if (written.length > 0) return { on: written.some(Boolean), byVariable: true };
  if (typeof setting === 'boolean') return { on: setting, byVariable: false };
  const referenced = referencedValues(setting.env, env);
  return { on: 'unknown' in referenced ? undefined : referenced.values.some((v) => weakBool(v.value) === true), byVariable: false };
}

/**
 * What the variables of Flipt's pod template do to what the target writes and reads; `required` is
 * authentication.required as the config says it.
 */
export function readFliptEnv(target: TargetConfig, env: PodEnv, required: BooleanSetting): FliptEnvReading {
  const reading: FliptEnvReading = {};
  const blocking: string[] = [];
  const unknown: string[] = [];
  const requiredByVariable: boolean[] = [];
  let requiredVariableSet = false;
  for (const v of effectiveVars(env.vars)) {
    // An empty value is as good as unset: viper ignores it.
    if (!bearsOnCredentials(v.name) || v.value === '') continue;
    requiredVariableSet ||= v.name === REQUIRED;
    // Values are never repeated in a message: they are the user's text, and would reach every client's status.
    const written = v.value !== undefined && !ENV_REFERENCE.test(v.value) ? v.value : undefined;
    const bool = written === undefined ? undefined : goParseBool(written);
    if ((v.name === REQUIRED || v.name === FILE_SECRETS_ENABLED || METHOD_ENABLED.test(v.name)) && written !== undefined && bool === undefined) {
      blocking.push(`${named(v)} to something other than a boolean, so Flipt refuses to start`);
    } else if (v.name === REQUIRED) {
      if (bool === undefined) unknown.push(named(v));
      else requiredByVariable.push(bool);
    } else if (target.credentialKind === 'staticToken' && v.name.startsWith(TOKEN_METHOD)) {
      if (v.name === `${TOKEN_METHOD}ENABLED` && bool !== undefined) {
        if (!bool) blocking.push(`${named(v)}, which turns the token method off, so Flipt accepts no static token`);
      } else if (v.name === `${TOKEN_METHOD}STORAGE_TYPE` && written !== undefined) {
        if (written !== 'static') blocking.push(`${named(v)} to a token storage other than static, which Flipt refuses for the token method`);
      } else {
        unknown.push(named(v));
      }
    } else if (target.credentialKind === 'staticToken' && target.credentialReference === 'secretFile' && v.name === FILE_SECRETS_ENABLED) {
      if (bool === undefined) unknown.push(named(v));
      else if (!bool) blocking.push(`${named(v)}, which turns the file secrets provider off, so Flipt cannot resolve the tokens' \${secret:file:...} references and refuses to start`);
    } else if (target.credentialKind === 'jwt' && v.name === KUBERNETES_ENABLED) {
      if (bool === undefined) unknown.push(named(v));
      else if (bool) blocking.push(`${named(v)}, which turns the kubernetes method on, and Flipt cannot run it beside the jwt method`);
    } else if (target.credentialKind === 'jwt' && v.name.startsWith(JWT_METHOD)) {
      if (v.name === `${JWT_METHOD}ENABLED` && bool !== undefined) {
        if (!bool) blocking.push(`${named(v)}, which turns the jwt method off, so Flipt accepts no JWT`);
      } else {
        unknown.push(named(v));
      }
    }
  }
  // Containers that disagree: the unsafe reading, so that tokens protecting nothing are never hidden.
  if (requiredByVariable.length > 0) {
    reading.authenticationRequired = { required: requiredByVariable.every(Boolean), variable: REQUIRED };
  } else if (!requiredVariableSet && typeof required !== 'boolean') {
    const referenced = referencedValues(required.env, env);
    if ('unknown' in referenced) {
      unknown.push(referenced.unknown);
    } else {
      const values = referenced.values.map(({ container, value }) => ({ container, required: weakBool(value) }));
      const refused = values.find((v) => v.required === undefined);
      if (refused) blocking.push(`${named({ name: required.env, container: refused.container })}, which Flipt's config takes authentication.required from, to something other than a boolean, so Flipt refuses to start`);
      else reading.authenticationRequired = { required: values.every((v) => v.required), variable: shown(required.env) };
    }
  }
  const workload = `${target.workload.kind} ${target.namespace}/${target.workload.name}`;
  if (blocking.length > 0) {
    reading.override = {
      reason: 'FliptEnvOverride',
      blocking: true,
      message: `${workload} sets ${listed(blocking, '; ')}. Flipt reads these variables over its config: remove them, and let the config say it`,
    };
  } else if (unknown.length > 0) {
    reading.override = {
      reason: 'FliptEnvOverride',
      blocking: false,
      message: `${workload} sets ${listed(unknown, ', ')}, which Flipt may read for settings the operator writes or reads in its config, and the operator cannot tell what it makes of them: move the setting into Flipt's config`,
    };
  }
  return reading;
}

/** A condition message is written to every client of the target: at most a few variables by name. */
function listed(items: readonly string[], separator: string): string {
  const shown = items.slice(0, 3).join(separator);
  return items.length > 3 ? `${shown}${separator}and ${items.length - 3} more` : shown;
}
