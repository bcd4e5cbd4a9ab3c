// Flipt's wire format for its Kubernetes method, which the exchange speaks so that a client written
// for Flipt works unchanged against it: the path and JSON shapes of
// AuthenticationMethodKubernetesService.VerifyServiceAccount (rpc/flipt/auth/auth.proto, served by
// grpc-gateway with protojson names), and grpc-gateway's error body {"code", "message", "details"}.

export const EXCHANGE_PATH = '/auth/v1/method/kubernetes/serviceaccount';

/** Flipt's metadata keys (internal/server/authn/method/kubernetes/server.go). */
export const METADATA_NAMESPACE = 'io.flipt.auth.k8s.namespace';
export const METADATA_SERVICE_ACCOUNT_NAME = 'io.flipt.auth.k8s.serviceaccount.name';
export const METADATA_SERVICE_ACCOUNT_UID = 'io.flipt.auth.k8s.serviceaccount.uid';
export const METADATA_POD_NAME = 'io.flipt.auth.k8s.pod.name';
export const METADATA_POD_UID = 'io.flipt.auth.k8s.pod.uid';

/** A caller's service account under the metadata keys Flipt's kubernetes method gives it. */
export function serviceAccountMetadata(caller: { namespace: string; name: string; uid?: string; podName?: string; podUid?: string }): Record<string, string> {
  return {
    [METADATA_NAMESPACE]: caller.namespace,
    [METADATA_SERVICE_ACCOUNT_NAME]: caller.name,
    ...(caller.uid ? { [METADATA_SERVICE_ACCOUNT_UID]: caller.uid } : {}),
    ...(caller.podName ? { [METADATA_POD_NAME]: caller.podName } : {}),
    ...(caller.podUid ? { [METADATA_POD_UID]: caller.podUid } : {}),
  };
}

/** gRPC status codes used in error bodies. */
export const GrpcCode = {
  InvalidArgument: 3,
  NotFound: 5,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/** Every outcome of a request that reached the app (a Prometheus label). */
export const EXCHANGE_OUTCOMES = [
  'success',
  'bad_request',
  'payload_too_large',
  'unsupported_media_type',
  'unauthenticated',
  'not_service_account',
  'unbound',
  'ambiguous',
  'not_ready',
  'rate_limited',
  'review_unavailable',
  'starting',
  'not_found',
  'method_not_allowed',
  'internal_error',
] as const;
export type ExchangeOutcome = (typeof EXCHANGE_OUTCOMES)[number];

export interface ExchangeResponse {
  clientToken: string;
  authentication: {
    id: string;
    /** METHOD_JWT: send the credential as `Authorization: JWT <clientToken>`; otherwise as `Bearer`. */
    method: 'METHOD_KUBERNETES' | 'METHOD_JWT';
    expiresAt?: string;
    createdAt: string;
    updatedAt: string;
    metadata: Record<string, string>;
  };
}

/** A refusal: the HTTP status, the gRPC code and message of the body, the outcome label, extra headers. */
export class ExchangeError extends Error {
  readonly status: number;
  readonly code: number;
  readonly outcome: ExchangeOutcome;
  readonly headers: Record<string, string>;
  constructor(status: number, code: number, outcome: ExchangeOutcome, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.outcome = outcome;
    this.headers = headers;
  }

  /** grpc-gateway's error body. */
  get body(): { code: number; message: string; details: [] } {
    return { code: this.code, message: this.message, details: [] };
  }
}

/** protojson's Timestamp form: RFC 3339 in UTC, with 0 or 3 fractional digits. */
export function protoTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}
