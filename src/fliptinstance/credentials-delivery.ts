// Whether Flipt can read the credentials Secret the way its config refers to the tokens: in secretFile
// mode every key as a file under the file secrets provider's base path (Flipt refuses to start when
// a `${secret:file:<id>}` names no file there), in env mode every key as a variable (a `${env:...}`
// that names no variable is an empty token, which matches no client's). Pure. Only the containers
// that mount Flipt's config are read: where none does, the operator cannot tell which one runs
// Flipt, and says nothing.
import type { TargetConfig } from '../config/operator-config.ts';
import type { CredentialsNotDelivered, StringSetting } from '../vocabulary/registration.ts';
import type { PodEnv } from './flipt-env.ts';

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

/** A directory as a mount path and a base path compare: without trailing slashes. */
export function directory(path: string): string {
  return path.replace(/\/+$/, '') || '/';
}

/**
 * The base path one container's Flipt reads: a written FLIPT_ variable over the config, and a
 * `${env:NAME}` setting as that container's NAME says. Undefined where the operator cannot read it
 * (an empty one too: Flipt's provider refuses it, with its own message).
 */
function basePathIn(container: string, env: PodEnv, setting: StringSetting): string | undefined {
  const last = (name: string) => env.vars.findLast((v) => v.container === container && v.name === name);
  const bound = last(BASE_PATH_VARIABLE);
  const value = bound && bound.value !== '' ? bound.value : typeof setting === 'string' ? setting : last(setting.env)?.value;
  return value && !value.includes('${') ? value : undefined;
}

/**
 * What keeps the containers that mount Flipt's config from reading the credentials Secret as the
 * config refers to it, for a message; undefined where nothing does or the operator cannot tell.
 */
export function credentialsNotDelivered(
  target: TargetConfig,
  delivery: readonly CredentialsDelivery[] | undefined,
  env: PodEnv,
  basePath: StringSetting | undefined,
): CredentialsNotDelivered | undefined {
  if (target.credentialKind !== 'staticToken' || delivery === undefined) return undefined;
  const workload = `${target.workload.kind} ${target.namespace}/${target.workload.name}`;
  const secret = `Secret ${target.namespace}/${target.credentialsSecret}`;
  if (target.credentialReference === 'env') {
    const without = delivery.filter((d) => !d.envFrom).map((d) => d.container);
    if (without.length === 0) return undefined;
    return {
      reason: 'CredentialsNotMounted',
      message: `${workload} gives container ${without.join(', ')}, which mounts Flipt's config, no envFrom of ${secret}, where the config's \${env:...} references find the tokens, so Flipt reads them empty and accepts none; add envFrom: [{secretRef: {name: ${target.credentialsSecret}, optional: true}}] to that container (without a prefix)`,
    };
  }
  if (target.credentialReference !== 'secretFile' || basePath === undefined) return undefined;
  for (const d of delivery) {
    const path = basePathIn(d.container, env, basePath);
    if (path === undefined || d.mountPaths.includes(directory(path))) continue;
    return {
      reason: 'CredentialsNotMounted',
      message: `${workload} mounts ${secret} in container ${d.container}, which mounts Flipt's config, at no ${directory(path)}, the secrets base path, where Flipt reads the config's \${secret:file:<id>} references, so Flipt refuses to start on a config that holds a token; mount the whole Secret there (a secret volume without items, no subPath)`,
    };
  }
  return undefined;
}
