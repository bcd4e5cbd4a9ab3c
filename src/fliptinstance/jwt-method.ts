// Flipt's jwt method as the operator manages it: whether to add it (with which settings), leave it, or
// remove it, and what keeps the operator from adding it. Pure. The operator records on the ConfigMap
// the settings it wrote, so it only ever removes a jwt method of its own (or one that says exactly
// what it writes) and knows without parsing whether the config carries its current settings.
import type { TargetConfig } from '../config/operator-config.ts';
import type { FliptClient } from '../vocabulary/fliptclient.ts';
import type { BooleanSetting, JwtProblem } from '../vocabulary/registration.ts';
import { authenticationMethodsOf, type JwtMethodSettings } from './flipt-config.ts';
import { kubernetesMethodOn, type PodEnv } from './flipt-env.ts';
import { jwtMethodWanted } from './kind-switch.ts';

/** On the ConfigMap: the jwt method settings the operator wrote (JSON), absent when it wrote none. */
export const MANAGED_JWT_METHOD_ANNOTATION = 'flipt.io/managed-jwt-method';

export interface JwtMethodPlan {
  /** Write the jwt method with these settings (with a `problem` too: it stays, but Flipt cannot run it as the config stands). */
  ensure?: JwtMethodSettings;
  /** Remove the jwt method the operator wrote. */
  remove: boolean;
  /** What the ConfigMap's record says once the config is written. */
  record: string | undefined;
  problem?: JwtProblem;
  /** authentication.methods.kubernetes.enabled as the config says it, when the plan read it. */
  kubernetesEnabled?: BooleanSetting;
}

/**
 * Whether a jwt method says exactly what the operator writes, and nothing else: that one is the
 * operator's own even without its record (an apply that kept the config's text but not the
 * ConfigMap's annotations), where any other is someone's identity provider.
 */
function saysExactly(jwt: unknown, settings: JwtMethodSettings): boolean {
  const claims: unknown = isRecord(jwt) ? jwt.validate_claims : undefined;
  return (
    isRecord(jwt) &&
    hasKeys(jwt, ['enabled', 'jwks_url', 'validate_claims']) &&
    jwt.enabled === true &&
    jwt.jwks_url === settings.jwksUrl &&
    isRecord(claims) &&
    hasKeys(claims, ['audiences', 'issuer']) &&
    claims.issuer === settings.issuer &&
    Array.isArray(claims.audiences) &&
    claims.audiences.length === 1 &&
    claims.audiences[0] === settings.audience
  );
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const hasKeys = (record: Record<string, unknown>, keys: readonly string[]) => Object.keys(record).sort().join() === [...keys].sort().join();

function recordOf(settings: JwtMethodSettings): string {
  return JSON.stringify({ jwks_url: settings.jwksUrl, issuer: settings.issuer, audiences: [settings.audience] });
}

/**
 * What to do with the jwt method, given the config's text, the operator's record of it and Flipt's
 * environment. Throws FliptConfigError when the text is not YAML (the caller reports that for the
 * whole target).
 */
export function planJwtMethod(target: TargetConfig, clients: readonly FliptClient[], source: string | undefined, ownedRecord: string | undefined, env: PodEnv, now: number): JwtMethodPlan {
  if (!jwtMethodWanted(target, clients, now)) return { remove: ownedRecord !== undefined, record: undefined };
  const leave = (problem: JwtProblem): JwtMethodPlan => ({ remove: false, record: ownedRecord, problem });
  const { jwksUrl, issuer, audience } = target.jwt;
  if (!jwksUrl) {
    return leave({
      reason: 'JwksUrlMissing',
      message: `Target "${target.name}" uses JWTs, but the operator config does not say where Flipt fetches the operator's keys: set jwt.jwksUrl to the operator Service's exchange port, e.g. http://flipt-client-operator.flipt-client-operator.svc:8443/.well-known/jwks.json`,
    });
  }
  const methods = authenticationMethodsOf(source);
  const kubernetesEnabled = methods.kubernetesEnabled;
  const kubernetes = kubernetesMethodOn(kubernetesEnabled, env);
  const settings = { jwksUrl, issuer, audience };
  const keep: JwtMethodPlan = { ensure: settings, remove: false, record: recordOf(settings), kubernetesEnabled };
  if (kubernetes.on !== false) {
    const instead = `(the operator's exchange endpoint replaces it), or set the target's credentialKind back to staticToken`;
    const off = `set authentication.methods.kubernetes.enabled: false ${instead}`;
    const by = kubernetes.decidedBy;
    // The jwt method written, whatever turns the kubernetes method on beside it: the method stays, so
    // the pods that run it keep validating JWTs and JWTs are still refreshed; only Ready waits.
    if (ownedRecord !== undefined) {
      // Flipt's environment's part is FliptEnvOverride's to say (readFliptEnv).
      if (by?.via !== 'config') return keep;
      const where = kubernetes.fromEnv ? ` (container ${by.container} of its pod template does not turn it off)` : '';
      const message = `Flipt's config for target "${target.name}" enables the kubernetes method${where} beside the jwt method the operator wrote, and Flipt refuses to start with both: ${off}`;
      return { ...keep, problem: { reason: 'KubernetesMethodEnabled', message } };
    }
    const beside = `and Flipt cannot enable the jwt method beside ${kubernetes.on ? 'it' : 'the kubernetes method'}`;
    let message: string;
    if (by?.via === 'variable') {
      const what = kubernetes.on ? 'which turns the kubernetes method on' : 'to a value the operator cannot read as false';
      message = `Flipt's pod template for target "${target.name}" sets ${by.named}, ${what}, ${beside}: remove the variable ${instead}`;
    } else if (by?.via === 'reference') {
      const what = kubernetes.on ? `which container ${by.container} of Flipt's pod template sets to true` : `which the operator cannot read as false (${by.named})`;
      message = `Flipt's config for target "${target.name}" takes authentication.methods.kubernetes.enabled from \${env:${by.variable}}, ${what}, ${beside}: ${off}`;
    } else if (kubernetes.fromEnv && by) {
      message = `Flipt's config for target "${target.name}" enables the kubernetes method, and container ${by.container} of its pod template does not turn it off, ${beside}: ${off}`;
    } else {
      message = `Flipt's config for target "${target.name}" enables the kubernetes method, ${beside}: ${off}`;
    }
    return { ...leave({ reason: 'KubernetesMethodEnabled', message }), kubernetesEnabled };
  }
  if (methods.jwt !== undefined && ownedRecord === undefined && !saysExactly(methods.jwt, settings)) {
    return {
      ...leave({
        reason: 'JwtMethodConflict',
        message: `Flipt's config for target "${target.name}" already configures the jwt method (another identity provider), and Flipt validates JWTs against one key set: remove authentication.methods.jwt there, or set the target's credentialKind back to staticToken`,
      }),
      kubernetesEnabled,
    };
  }
  return keep;
}
