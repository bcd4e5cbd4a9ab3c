// Flipt's environment: Flipt binds a FLIPT_<KEY_PATH> variable to every key of its config and reads it
// over the config file (viper: env before file). A variable in Flipt's pod template can therefore undo
// what the operator writes to the config, or decide what it reads there, with nothing in the ConfigMap
// to show it. Pure: which of them matter for a target, and what they do. The operator cannot tell
// which container runs Flipt, so every container's variables count (the message names the container);
// variables from `envFrom` are not seen: reading them would need access to other ConfigMaps and Secrets.
import type { TargetConfig } from '../config/operator-config.ts';
import type { EnvOverride } from '../vocabulary/registration.ts';
import { goParseBool } from './flipt-config.ts';

/** A variable of a container of Flipt's pod template that bears on the target's credentials (see `bearsOnCredentials`). */
export interface FliptEnvVar {
  container: string;
  name: string;
  /** Its value when written in the pod template; undefined when it comes from `valueFrom` or refers to another variable. */
  value: string | undefined;
}

const REQUIRED = 'FLIPT_AUTHENTICATION_REQUIRED';
const TOKEN_METHOD = 'FLIPT_AUTHENTICATION_METHODS_TOKEN_';
const JWT_METHOD = 'FLIPT_AUTHENTICATION_METHODS_JWT_';
const KUBERNETES_ENABLED = 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED';
/** secretFile mode turns this provider on: the tokens are `${secret:file:<id>}` references. */
const FILE_SECRETS_ENABLED = 'FLIPT_SECRETS_PROVIDERS_FILE_ENABLED';
/** Flipt's authentication methods: an `enabled` that is not a boolean keeps Flipt from starting, whichever method it is. */
const METHOD_ENABLED = /^FLIPT_AUTHENTICATION_METHODS_(?:TOKEN|GITHUB|OIDC|KUBERNETES|JWT)_ENABLED$/;
/** Flipt resolves `${env:NAME}` in any string it decodes, one from its environment too (stringToReferenceHookFunc). */
const FLIPT_ENV_REFERENCE = /^\$\{env:[a-zA-Z_]+[a-zA-Z0-9_]*\}$/;
/** Kubernetes does not bound a variable's name; a message written to every client's status is. */
const NAME_SHOWN = 100;

/** Whether Flipt reads this variable over a setting the operator writes or reads (the rest are none of its business). */
export function bearsOnCredentials(name: string): boolean {
  return name.startsWith('FLIPT_AUTHENTICATION_') || name === FILE_SECRETS_ENABLED;
}

export interface FliptEnvReading {
  /** authentication.required as written FLIPT_AUTHENTICATION_REQUIRED variables set it (false if any says false); undefined: the config decides. */
  authenticationRequired?: boolean;
  override?: EnvOverride;
}

/** What the variables of Flipt's pod template do to what the target writes and reads. */
export function readFliptEnv(target: TargetConfig, vars: readonly FliptEnvVar[]): FliptEnvReading {
  const reading: FliptEnvReading = {};
  const blocking: string[] = [];
  const unknown: string[] = [];
  const required: boolean[] = [];
  // Kubernetes takes the last of a name repeated in one container.
  const effective = new Map(vars.map((v) => [`${v.container}/${v.name}`, v]));
  for (const v of effective.values()) {
    // An empty value is as good as unset: viper ignores it.
    if (v.value === '') continue;
    const shownName = v.name.length > NAME_SHOWN ? `${v.name.slice(0, NAME_SHOWN)}…` : v.name;
    const named = `${shownName} (container ${v.container})`;
    // Values are never repeated in a message: they are the user's text, and would reach every client's status.
    const written = v.value !== undefined && !FLIPT_ENV_REFERENCE.test(v.value) ? v.value : undefined;
    const bool = written === undefined ? undefined : goParseBool(written);
    if ((v.name === REQUIRED || v.name === FILE_SECRETS_ENABLED || METHOD_ENABLED.test(v.name)) && written !== undefined && bool === undefined) {
      blocking.push(`${named} to something other than a boolean, so Flipt refuses to start`);
    } else if (v.name === REQUIRED) {
      if (bool === undefined) unknown.push(named);
      else required.push(bool);
    } else if (target.credentialKind === 'staticToken' && v.name.startsWith(TOKEN_METHOD)) {
      if (v.name === `${TOKEN_METHOD}ENABLED` && bool !== undefined) {
        if (!bool) blocking.push(`${named}, which turns the token method off, so Flipt accepts no static token`);
      } else if (v.name === `${TOKEN_METHOD}STORAGE_TYPE` && written !== undefined) {
        if (written !== 'static') blocking.push(`${named} to a token storage other than static, which Flipt refuses for the token method`);
      } else {
        unknown.push(named);
      }
    } else if (target.credentialKind === 'staticToken' && target.credentialReference === 'secretFile' && v.name === FILE_SECRETS_ENABLED) {
      if (bool === undefined) unknown.push(named);
      else if (!bool) blocking.push(`${named}, which turns the file secrets provider off, so Flipt cannot resolve the tokens' \${secret:file:...} references and refuses to start`);
    } else if (target.credentialKind === 'jwt' && v.name === KUBERNETES_ENABLED) {
      if (bool === undefined) unknown.push(named);
      else if (bool) blocking.push(`${named}, which turns the kubernetes method on, and Flipt cannot run it beside the jwt method`);
    } else if (target.credentialKind === 'jwt' && v.name.startsWith(JWT_METHOD)) {
      if (v.name === `${JWT_METHOD}ENABLED` && bool !== undefined) {
        if (!bool) blocking.push(`${named}, which turns the jwt method off, so Flipt accepts no JWT`);
      } else {
        unknown.push(named);
      }
    }
  }
  // Containers that disagree: the unsafe reading, so that tokens protecting nothing are never hidden.
  if (required.length > 0) reading.authenticationRequired = required.every(Boolean);
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
      message: `${workload} sets ${listed(unknown, ', ')}, which Flipt may read over the settings the operator writes to its config, and the operator cannot tell what it makes of them: move the setting into Flipt's config`,
    };
  }
  return reading;
}

/** A condition message is written to every client of the target: at most a few variables by name. */
function listed(items: readonly string[], separator: string): string {
  const shown = items.slice(0, 3).join(separator);
  return items.length > 3 ? `${shown}${separator}and ${items.length - 3} more` : shown;
}
