// What a target publishes after each of its reconciles, for FliptClient reconciles to read without an
// API call: which token ids Flipt's config carries (with which credential), whether Flipt runs that
// config yet, and what keeps the target from applying changes.

export interface RolloutState {
  done: boolean;
  /** What the rollout is waiting for, for condition messages. */
  detail: string;
}

export interface TargetProblem {
  reason: 'ConfigMapMissing' | 'WorkloadMissing' | 'InvalidFliptConfig';
  message: string;
}

/** What keeps a target from configuring Flipt's jwt method; its static tokens are unaffected. */
export interface JwtProblem {
  reason: 'JwksUrlMissing' | 'KubernetesMethodEnabled' | 'JwtMethodConflict';
  message: string;
}

/**
 * Variables of Flipt's pod template that Flipt reads over the authentication settings the operator
 * writes or relies on. Blocking: a written value known to keep Flipt from accepting the target's
 * credentials (or from starting); otherwise the operator cannot tell what they do.
 */
export interface EnvOverride {
  reason: 'FliptEnvOverride';
  blocking: boolean;
  message: string;
}

/** Why a target does not register a client that it otherwise serves: no room for it. */
export interface Refusal {
  reason: 'TargetFull' | 'NamespaceLimitReached';
  message: string;
}

export interface TargetState {
  problem?: TargetProblem;
  /** What keeps the jwt method from working: not added; or, where the config holds it (`jwtConfigured`), Flipt cannot run it as the config stands. */
  jwtProblem?: JwtProblem;
  envOverride?: EnvOverride;
  /** A variable of Flipt's pod template makes Flipt refuse the target's credentials, or did until a rollout without it finishes: no client is Ready. */
  envBlocks?: true;
  /** The config the target holds now carries the operator's jwt method with the target's current settings. */
  jwtConfigured: boolean;
  /** Every running Flipt pod validates the operator's JWTs for this target (the config of the last finished rollout carries the method, and still does). */
  jwtAccepted: boolean;
  /** Clients ("<namespace>/<name>") the target has no room for, and why. */
  refused: ReadonlyMap<string, Refusal>;
  /** Clients whose due rotation the target has no room for (they keep their token), and why. */
  rotationsWithoutRoom?: ReadonlyMap<string, string>;
  /** Registered clients whose new metadata the target has no room for (they stay registered with the previous one), and why. */
  metadataWithoutRoom?: ReadonlyMap<string, string>;
  /** The last write to the target failed (the API server's reason): changes wait for the retry. */
  writeFailure?: string;
  /** How full the target is (of the API server's limits), for the metric. */
  fill?: { configMap: number; secret: number };
  /** When the restart whose rollout is still running was triggered (epoch ms). */
  rolloutSince?: number;
  /** Token id -> fingerprint of the credential the target's config and credentials Secret hold now. */
  registered: ReadonlyMap<string, string>;
  /**
   * Fingerprints of the credentials every running Flipt pod accepts, under whichever id: those of the
   * config the last finished rollout runs that the config still holds. A restart for other clients,
   * or a rotation's, leaves a client's credential accepted (old and new pods both hold it).
   */
  accepted: ReadonlySet<string>;
  /** Ids a hand-written token in the ConfigMap already uses; the operator never overwrites those. */
  conflicts: ReadonlySet<string>;
  /** Restart key of the config and credentials as they are now. */
  configHash?: string;
  /** Restart key the workload's pod template carries. */
  workloadHash?: string;
  rollout: RolloutState;
  /** authentication.required as Flipt's config says it. */
  authenticationRequired: BooleanSetting;
  /**
   * As Flipt's environment decides it (see `requiresAuthentication`): a FLIPT_AUTHENTICATION_REQUIRED
   * variable of its pod template, which Flipt reads over the config, or else the variable the config
   * names. Undefined: the config's value decides, or nothing can tell (`envOverride` says so).
   */
  authenticationRequiredByEnv?: RequiredByEnv;
  /** authentication.methods.kubernetes.enabled as Flipt's config says it; read only for a target that wants the jwt method. */
  kubernetesEnabled?: BooleanSetting;
  /** secrets.providers.file.base_path as Flipt's config says it (its default where it says nothing), once the operator has rendered it. */
  secretsBasePath?: StringSetting;
  /** Flipt's pod template does not give the containers that read its config the credentials Secret as the config refers to it. */
  credentialsNotDelivered?: CredentialsNotDelivered;
}

/** How Flipt's pod template keeps Flipt from reading the target's credentials Secret. */
export interface CredentialsNotDelivered {
  reason: 'CredentialsNotMounted';
  message: string;
}

/** authentication.required as a variable of Flipt's environment sets it. */
export interface RequiredByEnv {
  required: boolean;
  variable: string;
  /** The config names the variable (`${env:NAME}`); false: Flipt binds it over the config (FLIPT_AUTHENTICATION_REQUIRED). */
  reference: boolean;
  /** The container of Flipt's pod template whose value decided. */
  container: string;
}

/** `${env:NAME}` in Flipt's config: Flipt reads the variable NAME of its environment there. */
export interface EnvReference {
  env: string;
}

/** A boolean setting of Flipt's config: a value, or the variable Flipt takes it from. */
export type BooleanSetting = boolean | EnvReference;

/** A string setting of Flipt's config: a value, or the variable Flipt takes it from. */
export type StringSetting = string | EnvReference;

/**
 * Whether Flipt asks for a credential at all: its environment decides over its config. A variable no
 * one can read counts as true: the warning then is `envOverride`'s, not a claim that tokens protect nothing.
 */
export function requiresAuthentication(state: Pick<TargetState, 'authenticationRequired' | 'authenticationRequiredByEnv'>): boolean {
  return state.authenticationRequiredByEnv?.required ?? (typeof state.authenticationRequired === 'boolean' ? state.authenticationRequired : true);
}

/** Whether Flipt runs the config the target holds now. */
export function rolledOut(state: Pick<TargetState, 'configHash' | 'workloadHash' | 'rollout'>): boolean {
  return state.configHash !== undefined && state.configHash === state.workloadHash && state.rollout.done;
}

/** Whether every running Flipt pod accepts the credential. */
export function accepts(state: TargetState, fingerprint: string): boolean {
  return state.accepted.has(fingerprint);
}

export function sameTargetState(a: TargetState | undefined, b: TargetState): boolean {
  if (!a) return false;
  const flat = (s: TargetState) =>
    JSON.stringify({ ...s, registered: [...s.registered].sort(), accepted: [...s.accepted].sort(), conflicts: [...s.conflicts].sort(), refused: [...s.refused].sort(), rotationsWithoutRoom: [...(s.rotationsWithoutRoom ?? [])].sort(), metadataWithoutRoom: [...(s.metadataWithoutRoom ?? [])].sort() });
  return flat(a) === flat(b);
}
