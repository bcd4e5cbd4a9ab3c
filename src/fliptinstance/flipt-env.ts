// Flipt's environment: Flipt binds a FLIPT_<KEY_PATH> variable to every key of its config and reads it
// over the config file (viper: env before file). A variable in Flipt's pod template can therefore undo
// what the operator writes to the config, or decide what it reads there, with nothing in the ConfigMap
// to show it. Pure: which of them matter for a target, and what they do. Variables from `envFrom`
// are not seen: reading them would need access to other ConfigMaps and Secrets.
import type { TargetConfig } from '../config/operator-config.ts';
import type { EnvOverride } from '../vocabulary/registration.ts';
import { goParseBool } from './flipt-config.ts';

/** A FLIPT_AUTHENTICATION_* variable of a container of Flipt's pod template. */
export interface FliptEnvVar {
  container: string;
  name: string;
  /** Its value when written in the pod template; undefined when it comes from `valueFrom` or refers to another variable. */
  value: string | undefined;
}

export const AUTHENTICATION_ENV_PREFIX = 'FLIPT_AUTHENTICATION_';

const REQUIRED = 'FLIPT_AUTHENTICATION_REQUIRED';
const TOKEN_METHOD = 'FLIPT_AUTHENTICATION_METHODS_TOKEN_';
const JWT_METHOD = 'FLIPT_AUTHENTICATION_METHODS_JWT_';
const KUBERNETES_ENABLED = 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED';

export interface FliptEnvReading {
  /** authentication.required as a written FLIPT_AUTHENTICATION_REQUIRED sets it; undefined: the config decides. */
  authenticationRequired?: boolean;
  override?: EnvOverride;
}

/** What the variables of Flipt's pod template do to what the target writes and reads. */
export function readFliptEnv(target: TargetConfig, vars: readonly FliptEnvVar[]): FliptEnvReading {
  const reading: FliptEnvReading = {};
  const blocking: string[] = [];
  const unknown: string[] = [];
  // Kubernetes takes the last of a name repeated in one container.
  const effective = new Map(vars.map((v) => [`${v.container}/${v.name}`, v]));
  for (const v of effective.values()) {
    // An empty value is as good as unset: viper ignores it.
    if (v.value === '') continue;
    const named = `${v.name} (container ${v.container})`;
    const bool = v.value === undefined ? undefined : goParseBool(v.value);
    // Values are not repeated: they are the user's text, and would reach every client's status.
    const notBoolean = () => blocking.push(`${named} to something other than a boolean, so Flipt refuses to start`);
    if (v.name === REQUIRED) {
      if (v.value === undefined) unknown.push(named);
      else if (bool === undefined) notBoolean();
      else reading.authenticationRequired = bool;
    } else if (target.credentialKind === 'staticToken' && v.name.startsWith(TOKEN_METHOD)) {
      if (v.name === `${TOKEN_METHOD}ENABLED` && v.value !== undefined) {
        if (bool === undefined) notBoolean();
        else if (!bool) blocking.push(`${named}, which turns the token method off, so Flipt accepts no static token`);
      } else if (v.name === `${TOKEN_METHOD}STORAGE_TYPE` && v.value !== undefined) {
        if (v.value !== 'static') blocking.push(`${named} to a token storage other than static, so Flipt refuses to start`);
      } else {
        unknown.push(named);
      }
    } else if (target.credentialKind === 'jwt' && v.name === KUBERNETES_ENABLED) {
      if (v.value === undefined) unknown.push(named);
      else if (bool === undefined) notBoolean();
      else if (bool) blocking.push(`${named}, which turns the kubernetes method on, and Flipt cannot run it beside the jwt method`);
    } else if (target.credentialKind === 'jwt' && v.name.startsWith(JWT_METHOD)) {
      if (v.name === `${JWT_METHOD}ENABLED` && v.value !== undefined) {
        if (bool === undefined) notBoolean();
        else if (!bool) blocking.push(`${named}, which turns the jwt method off, so Flipt accepts no JWT`);
      } else {
        unknown.push(named);
      }
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
      message: `${workload} sets ${listed(unknown, ', ')}, which Flipt reads over the authentication settings the operator writes to its config, and the operator cannot tell what it does: move the setting into Flipt's config`,
    };
  }
  return reading;
}

/** A condition message is written to every client of the target: at most a few variables by name. */
function listed(items: readonly string[], separator: string): string {
  const shown = items.slice(0, 3).join(separator);
  return items.length > 3 ? `${shown}${separator}and ${items.length - 3} more` : shown;
}
