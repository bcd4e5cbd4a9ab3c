// Flipt's environment: Flipt binds a FLIPT_<KEY_PATH> variable to every key of its config and reads it
// over the config file (viper: env before file). A variable in Flipt's pod template can therefore undo
// what the operator writes to the config, or decide what it reads there, with nothing in the ConfigMap
// to show it; and a `${env:NAME}` setting of the config is what the variable NAME says. Pure: which
// of them matter for a target, and what they do. The operator cannot tell which container runs Flipt,
// so each that may (the view: those that mount its config) is read as if Flipt ran there, and where
// they disagree the unsafe reading counts (messages name the container); variables from `envFrom` are
// not seen: reading them would need access to other ConfigMaps and Secrets.
import type { TargetConfig } from '../config/operator-config.ts';
import type { BooleanSetting, EnvOverride, RequiredByEnv } from '../vocabulary/registration.ts';
import { ENV_REFERENCE, goParseBool } from './flipt-config.ts';
import { listed, shown } from './message-text.ts';

/** A variable of a container of Flipt's pod template. */
export interface FliptEnvVar {
  container: string;
  name: string;
  /** Its value when written in the pod template; undefined when it comes from `valueFrom` or refers to another variable. */
  value: string | undefined;
}

/** The environment Flipt's pod template gives its containers. */
export interface PodEnv {
  /** The containers that may run Flipt. */
  containers: readonly string[];
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

function named(v: Pick<FliptEnvVar, 'container' | 'name'>): string {
  return `${shown(v.name)} (container ${v.container})`;
}

/** A string as Flipt's weakly typed decoding makes it a boolean: empty is false; undefined where Flipt refuses it. */
function weakBool(value: string): boolean | undefined {
  return value === '' ? false : goParseBool(value);
}

/**
 * A boolean setting as Flipt would read it in one container: `value` undefined when the operator
 * cannot read it, 'refused' when Flipt would not start on it; `via` says what decided it, and `named`
 * names that variable and the container for a message.
 */
export interface ContainerReading {
  container: string;
  value: boolean | undefined | 'refused';
  via: 'config' | 'variable' | 'reference';
  /** The variable that decided (for `via` other than 'config'), as a message shows it. */
  variable?: string;
  /** That variable and its container, where the operator read or could not read it. */
  named?: string;
}

/**
 * A setting in one container: a FLIPT_ variable it sets decides over the config (an empty one is
 * unset to viper); a `${env:NAME}` setting is what the container's NAME says: empty when it does not
 * set NAME and uses no envFrom, unknown when envFrom may set it. A variable the image itself sets (a
 * Dockerfile ENV) is not in the pod template, and not seen.
 */
function settingIn(container: string, variable: string, setting: BooleanSetting, vars: readonly FliptEnvVar[], envFrom: readonly string[]): ContainerReading {
  const inContainer = (name: string) => vars.find((v) => v.container === container && v.name === name);
  const bound = inContainer(variable);
  if (bound && bound.value !== '') {
    const value = bound.value === undefined || ENV_REFERENCE.test(bound.value) ? undefined : (goParseBool(bound.value) ?? 'refused');
    return { container, value, via: 'variable', variable, named: named(bound) };
  }
  if (typeof setting === 'boolean') return { container, value: setting, via: 'config' };
  const name = shown(setting.env);
  const referenced = inContainer(setting.env);
  if (referenced) {
    const value = referenced.value === undefined ? undefined : (weakBool(referenced.value) ?? 'refused');
    return { container, value, via: 'reference', variable: name, named: named(referenced) };
  }
  if (envFrom.includes(container)) return { container, value: undefined, via: 'reference', variable: name, named: `${name} (through envFrom of container ${container}, perhaps)` };
  return { container, value: false, via: 'reference', variable: name };
}

/** The reading of every container that may run Flipt. */
function readingsOf(variable: string, setting: BooleanSetting, env: PodEnv): ContainerReading[] {
  const vars = effectiveVars(env.vars);
  return env.containers.map((container) => settingIn(container, variable, setting, vars, env.envFrom));
}

/** What the kubernetes method is, as the container deciding it reads it. */
export interface KubernetesMethodReading {
  /** On in some container; false: off in every one; undefined: the operator cannot tell it is off. */
  on: boolean | undefined;
  /** Flipt's environment has a part in it (a FLIPT_ variable, or a `${env:NAME}` setting). */
  fromEnv: boolean;
  /** The container that decides it (on, or unreadable), for a message. */
  decidedBy?: ContainerReading;
}

/**
 * Whether Flipt runs its kubernetes method, given its config's setting and its pod template. The
 * operator cannot tell which container runs Flipt: off only when off in every one.
 */
export function kubernetesMethodOn(setting: BooleanSetting, env: PodEnv): KubernetesMethodReading {
  const readings = readingsOf(KUBERNETES_ENABLED, setting, env);
  const fromEnv = readings.some((r) => r.via !== 'config');
  const on = readings.find((r) => r.value === true);
  if (on) return { on: true, fromEnv, decidedBy: on };
  const unreadable = readings.find((r) => r.value !== false);
  if (unreadable) return { on: undefined, fromEnv, decidedBy: unreadable };
  return { on: false, fromEnv };
}

/** The settings of Flipt's config that the operator reads, as the config says them. */
export interface ReadSettings {
  authenticationRequired: BooleanSetting;
  /** Read only for a target that wants the jwt method. */
  kubernetesEnabled?: BooleanSetting;
  /** The config holds the operator's jwt method. */
  jwtConfigured: boolean;
}

/** A variable that turns the kubernetes method on, as a FliptEnvOverride message lists it. */
function kubernetesOnEntry(r: ContainerReading): string {
  if (r.via === 'variable') return `${r.named}, which turns the kubernetes method on, and Flipt cannot run it beside the jwt method`;
  return `${r.named}, which Flipt's config takes authentication.methods.kubernetes.enabled from, to true, and Flipt cannot run the kubernetes method beside the jwt method`;
}

/** What the variables of Flipt's pod template do to what the target writes and reads. */
export function readFliptEnv(target: TargetConfig, env: PodEnv, settings: ReadSettings): FliptEnvReading {
  const reading: FliptEnvReading = {};
  const blocking: string[] = [];
  const unknown: string[] = [];
  for (const v of effectiveVars(env.vars)) {
    // An empty value is as good as unset: viper ignores it.
    if (!bearsOnCredentials(v.name) || v.value === '') continue;
    // Values are never repeated in a message: they are the user's text, and would reach every client's status.
    const written = v.value !== undefined && !ENV_REFERENCE.test(v.value) ? v.value : undefined;
    const bool = written === undefined ? undefined : goParseBool(written);
    if ((v.name === REQUIRED || v.name === FILE_SECRETS_ENABLED || METHOD_ENABLED.test(v.name)) && written !== undefined && bool === undefined) {
      blocking.push(`${named(v)} to something other than a boolean, so Flipt refuses to start`);
    } else if (v.name === REQUIRED) {
      if (bool === undefined) unknown.push(named(v));
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
    } else if (settings.kubernetesEnabled !== undefined && v.name === KUBERNETES_ENABLED) {
      // A written value is read per container below.
      if (bool === undefined) unknown.push(named(v));
    } else if (target.credentialKind === 'jwt' && v.name.startsWith(JWT_METHOD)) {
      if (v.name === `${JWT_METHOD}ENABLED` && bool !== undefined) {
        if (!bool) blocking.push(`${named(v)}, which turns the jwt method off, so Flipt accepts no JWT`);
      } else {
        unknown.push(named(v));
      }
    }
  }
  const requiredReadings = readingsOf(REQUIRED, settings.authenticationRequired, env);
  for (const r of requiredReadings) {
    // A FLIPT_AUTHENTICATION_REQUIRED variable's own entries come from the loop above.
    if (r.via !== 'reference') continue;
    if (r.value === 'refused') blocking.push(`${r.named}, which Flipt's config takes authentication.required from, to something other than a boolean, so Flipt refuses to start`);
    else if (r.value === undefined) unknown.push(r.named!);
  }
  // False in any container is false: the unsafe reading, so that tokens protecting nothing are never
  // hidden. Where the config itself says false, it is what to change first.
  const off = requiredReadings.filter((r) => r.value === false);
  const allTrue = requiredReadings.every((r) => r.value === true);
  const byEnv = off.length > 0 ? (off.some((r) => r.via === 'config') ? undefined : off[0]) : allTrue ? requiredReadings.find((r) => r.via !== 'config') : undefined;
  if (byEnv) reading.authenticationRequired = { required: off.length === 0, variable: byEnv.variable!, reference: byEnv.via === 'reference', container: byEnv.container };

  // The environment's part only: a container that runs the method as the config says is the jwt method plan's to report.
  const kubernetesReadings = settings.kubernetesEnabled === undefined ? [] : readingsOf(KUBERNETES_ENABLED, settings.kubernetesEnabled, env);
  for (const r of kubernetesReadings.filter((k) => k.via !== 'config')) {
    // Beside the jwt method only: while the config has none, the plan leaves it out and says why.
    if (r.value === true && settings.jwtConfigured) blocking.push(kubernetesOnEntry(r));
    else if (r.via === 'reference' && r.value === 'refused') blocking.push(`${r.named}, which Flipt's config takes authentication.methods.kubernetes.enabled from, to something other than a boolean, so Flipt refuses to start`);
    else if (r.via === 'reference' && r.value === undefined) unknown.push(r.named!);
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
