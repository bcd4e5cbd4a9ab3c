// Flipt's environment: Flipt binds a FLIPT_<KEY_PATH> variable to every key of its config and reads it
// over the config file (viper: env before file). A variable in Flipt's pod template can therefore undo
// what the operator writes to the config, or decide what it reads there, with nothing in the ConfigMap
// to show it; and a `${env:NAME}` setting of the config is what the variable NAME says. Pure: which
// of them matter for a target, and what they do. The operator cannot tell which container runs Flipt,
// so every container's variables count (the message names the container); variables from `envFrom`
// are not seen: reading them would need access to other ConfigMaps and Secrets.
import type { TargetConfig } from '../config/operator-config.ts';
import type { BooleanSetting, EnvOverride, RequiredByEnv } from '../vocabulary/registration.ts';
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
  authenticationRequired?: RequiredByEnv;
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
 * and none takes variables from envFrom), or which variable the operator cannot read. Containers that
 * neither set NAME nor use envFrom do not count: a sidecar without it says nothing about Flipt's. A
 * variable the image itself sets (a Dockerfile ENV) is not in the pod template, and not seen.
 */
function referencedValues(name: string, env: PodEnv): { values: { container: string; value: string }[] } | { unknown: string } {
  const set = effectiveVars(env.vars).filter((v) => v.name === name);
  // Kubernetes puts a container's env over its envFrom, but Flipt may run in a container whose envFrom sets it.
  const viaEnvFrom = env.envFrom.find((container) => !set.some((v) => v.container === container));
  if (viaEnvFrom !== undefined) return { unknown: `${shown(name)} (through envFrom of container ${viaEnvFrom}, perhaps)` };
  const unreadable = set.find((v) => v.value === undefined);
  if (unreadable) return { unknown: named(unreadable) };
  if (set.length === 0) return { values: [{ container: '', value: '' }] };
  return { values: set.map((v) => ({ container: v.container, value: v.value! })) };
}

/** A string as Flipt's weakly typed decoding makes it a boolean: empty is false; undefined where Flipt refuses it. */
function weakBool(value: string): boolean | undefined {
  return value === '' ? false : goParseBool(value);
}

/**
 * Whether Flipt runs its kubernetes method: a FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED in the
 * pod template decides over the config (`byVariable`; true if any container says true), a
 * `${env:NAME}` setting is what NAME says. `on` undefined: the operator cannot tell it is off (a value
 * it cannot read, or one that is no boolean, with which Flipt does not start at all).
 */
export function kubernetesMethodOn(setting: BooleanSetting, env: PodEnv): { on: boolean | undefined; byVariable: boolean } {
  const set = effectiveVars(env.vars).filter((v) => v.name === KUBERNETES_ENABLED && v.value !== '');
  if (set.length > 0) {
    const read = set.map((v) => (v.value === undefined || ENV_REFERENCE.test(v.value) ? undefined : goParseBool(v.value)));
    return { on: read.some((b) => b === true) ? true : read.every((b) => b === false) ? false : undefined, byVariable: true };
  }
  if (typeof setting === 'boolean') return { on: setting, byVariable: false };
  const referenced = referencedValues(setting.env, env);
  if ('unknown' in referenced) return { on: undefined, byVariable: false };
  const read = referenced.values.map((v) => weakBool(v.value));
  return { on: read.some((b) => b === true) ? true : read.every((b) => b === false) ? false : undefined, byVariable: false };
}

/** The settings of Flipt's config that the operator reads, as the config says them. */
export interface ReadSettings {
  authenticationRequired: BooleanSetting;
  /** Read only for a target that wants the jwt method. */
  kubernetesEnabled?: BooleanSetting;
}

/** What the variables of Flipt's pod template do to what the target writes and reads. */
export function readFliptEnv(target: TargetConfig, env: PodEnv, settings: ReadSettings): FliptEnvReading {
  const reading: FliptEnvReading = {};
  const blocking: string[] = [];
  const unknown: string[] = [];
  const requiredByVariable: boolean[] = [];
  const variablesSet = new Set<string>();
  for (const v of effectiveVars(env.vars)) {
    // An empty value is as good as unset: viper ignores it.
    if (!bearsOnCredentials(v.name) || v.value === '') continue;
    variablesSet.add(v.name);
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
  // A `${env:NAME}` setting of the config, where no FLIPT_ variable decides over it: what NAME says,
  // each container's value as Flipt decodes it (undefined: Flipt refuses it and does not start).
  const referenced = (setting: BooleanSetting | undefined, variable: string, key: string): { container: string; value: boolean }[] | undefined => {
    if (setting === undefined || typeof setting === 'boolean' || variablesSet.has(variable)) return undefined;
    const found = referencedValues(setting.env, env);
    if ('unknown' in found) {
      unknown.push(found.unknown);
      return undefined;
    }
    const values = found.values.map(({ container, value }) => ({ container, value: weakBool(value) }));
    const refused = values.find((v) => v.value === undefined);
    if (refused) {
      blocking.push(`${named({ name: setting.env, container: refused.container })}, which Flipt's config takes ${key} from, to something other than a boolean, so Flipt refuses to start`);
      return undefined;
    }
    return values as { container: string; value: boolean }[];
  };
  const { authenticationRequired: required, kubernetesEnabled } = settings;
  // Containers that disagree: the unsafe reading, so that tokens protecting nothing are never hidden.
  if (requiredByVariable.length > 0) {
    reading.authenticationRequired = { required: requiredByVariable.every(Boolean), variable: REQUIRED, reference: false };
  } else {
    const values = referenced(required, REQUIRED, 'authentication.required');
    if (values && typeof required !== 'boolean') reading.authenticationRequired = { required: values.every((v) => v.value), variable: shown(required.env), reference: true };
  }
  if (target.credentialKind === 'jwt' && typeof kubernetesEnabled !== 'boolean' && kubernetesEnabled !== undefined) {
    const on = referenced(kubernetesEnabled, KUBERNETES_ENABLED, 'authentication.methods.kubernetes.enabled')?.find((v) => v.value);
    if (on) blocking.push(`${named({ name: kubernetesEnabled.env, container: on.container })}, which Flipt's config takes authentication.methods.kubernetes.enabled from, to true, and Flipt cannot run the kubernetes method beside the jwt method`);
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
