// Whether Flipt can read the credentials Secret the way its config refers to the tokens: in secretFile
// mode every key as a file under the file secrets provider's base path (Flipt refuses to start when
// a `${secret:file:<id>}` names no file there), in env mode every key as a variable (a `${env:...}`
// that names no variable is an empty token, which matches no client's). Pure. Only the containers
// that mount Flipt's config are read: where none does, the operator cannot tell which one runs
// Flipt, and says nothing. Flipt refuses an empty base path on its own (config validation).
import { posix } from 'node:path';
import type { TargetConfig } from '../config/operator-config.ts';
import type { CredentialsNotDelivered, StringSetting } from '../vocabulary/registration.ts';
import type { PodEnv } from './flipt-env.ts';
import { listed, shown } from './message-text.ts';

/** How one container that mounts Flipt's config is given the credentials Secret. */
export interface CredentialsDelivery {
  container: string;
  /** Where it mounts every key of the Secret as a file (a volume of the whole Secret, mounted without subPath). */
  mountPaths: readonly string[];
  /** It takes every key of the Secret as a variable (envFrom without a prefix). */
  envFrom: boolean;
}

/** Flipt binds this variable over the config's secrets.providers.file.base_path. */
const BASE_PATH_VARIABLE = 'FLIPT_SECRETS_PROVIDERS_FILE_BASE_PATH';

/** A directory as a mount path and a base path compare: normalised, without a trailing slash. */
export function directory(path: string): string {
  return posix.normalize(path).replace(/(.)\/+$/, '$1');
}

/**
 * The base path one container's Flipt reads: a written FLIPT_ variable over the config, and a
 * `${env:NAME}` setting as that container's NAME says. Undefined where the operator cannot read it
 * (envFrom may set the variable, a reference in it is Flipt's to resolve) and where it is not an
 * absolute path (an empty one is for Flipt's own validation, a relative one is Flipt's working directory's).
 */
function basePathIn(container: string, env: PodEnv, setting: StringSetting): string | undefined {
  const last = (name: string) => env.vars.findLast((v) => v.container === container && v.name === name);
  // An empty variable is unset to viper.
  const variable = last(BASE_PATH_VARIABLE);
  const written = variable?.value !== '' ? variable : undefined;
  if (!written && env.envFrom.includes(container)) return undefined;
  const value = written ? written.value : typeof setting === 'string' ? setting : last(setting.env)?.value;
  return value?.startsWith('/') ? directory(value) : undefined;
}

/**
 * What keeps Flipt from reading the credentials Secret as its config refers to it, for a message:
 * Flipt runs in one of the containers that mount its config, so none of them can read it. Undefined
 * where one can, or the operator cannot tell.
 */
export function credentialsNotDelivered(
  target: TargetConfig,
  delivery: readonly CredentialsDelivery[] | undefined,
  env: PodEnv,
  basePath: StringSetting | undefined,
): CredentialsNotDelivered | undefined {
  if (target.credentialKind !== 'staticToken' || delivery === undefined || delivery.length === 0) return undefined;
  const none = `No container of ${target.workload.kind} ${target.namespace}/${target.workload.name} that mounts Flipt's config`;
  const secret = `Secret ${target.namespace}/${target.credentialsSecret}`;
  if (target.credentialReference === 'env') {
    if (delivery.some((d) => d.envFrom)) return undefined;
    return {
      reason: 'CredentialsNotMounted',
      message: `${none} (${listed(delivery.map((d) => d.container), ', ')}) takes ${secret} with envFrom (without a prefix), where the config's \${env:...} references find the tokens, so Flipt reads them empty and accepts none; add envFrom: [{secretRef: {name: ${target.credentialsSecret}, optional: true}}] to Flipt's container`,
    };
  }
  if (target.credentialReference !== 'secretFile' || basePath === undefined) return undefined;
  const paths = delivery.map((d) => ({ ...d, path: basePathIn(d.container, env, basePath) }));
  if (paths.some((d) => d.path === undefined || d.mountPaths.includes(d.path))) return undefined;
  const where = paths.map((d) => `container ${d.container}: ${shown(d.path!)}${d.mountPaths.length > 0 ? `, where it has the Secret at ${listed(d.mountPaths.map(shown), ', ')}` : ''}`);
  return {
    reason: 'CredentialsNotMounted',
    message: `${none} mounts the whole ${secret} at its secrets base path (${listed(where, '; ')}), where Flipt reads the config's \${secret:file:<id>} references, so Flipt refuses to start on a config that holds a token; mount it there (a secret volume without items, no subPath)`,
  };
}
