// What the exchange answers, decided from what is already known: the TokenReview's verdict, the
// FliptClient the service account is bound to, and that client's credential. Pure: no I/O, the clock
// is a parameter. Every refusal says what to do, and none repeats what the caller sent.
import type { Credential } from './credentials.ts';
import type { ServiceAccountLookup } from './service-account-index.ts';
import type { ReviewResult, ServiceAccountIdentity } from './token-review.ts';
import { ExchangeError, GrpcCode, protoTimestamp, serviceAccountMetadata, type ExchangeResponse } from './wire.ts';

/** Retry-After (seconds) when the client is not Ready yet. */
const NOT_READY_RETRY_AFTER_SECONDS = 5;

const UNAUTHENTICATED_MESSAGES: Record<Exclude<Extract<ReviewResult, { kind: 'unauthenticated' }>['reason'], 'audience'>, string> = {
  malformed: 'the token is not a Kubernetes service account token',
  expired: 'the token has expired',
  invalid: 'the token is not valid: unknown, revoked, expired, or issued by another cluster',
};

/** The service account the reviewed token belongs to, or the refusal (401, 403). */
export function serviceAccountOf(review: ReviewResult, audiences: readonly string[]): ServiceAccountIdentity {
  if (review.kind === 'unauthenticated') {
    const message =
      review.reason === 'audience'
        ? `the token's audience is not accepted here; request a projected service account token with audience ${audiences.map((a) => JSON.stringify(a)).join(' or ')}`
        : UNAUTHENTICATED_MESSAGES[review.reason];
    throw new ExchangeError(401, GrpcCode.Unauthenticated, 'unauthenticated', message, { 'WWW-Authenticate': `Bearer error="invalid_token"` });
  }
  if (!review.serviceAccount) {
    throw new ExchangeError(403, GrpcCode.PermissionDenied, 'not_service_account', 'only Kubernetes service account tokens can be exchanged');
  }
  return review.serviceAccount;
}

export interface AnswerInput {
  serviceAccount: ServiceAccountIdentity;
  bound: ServiceAccountLookup;
  /** The bound client's credential (undefined when the client is unknown or the lookup failed). */
  credential: Credential | undefined;
  /** When the reviewed token expires (ms), if it says. */
  tokenExpiresAtMs: number | undefined;
  nowMs: number;
}

/** The answer to a reviewed service account: its FliptClient's credential in Flipt's shape, or the refusal (403, 503). */
export function answerFor(input: AnswerInput): ExchangeResponse {
  const { serviceAccount: sa, bound, credential, nowMs } = input;
  const who = `service account ${sa.namespace}/${sa.name}`;
  if (bound.kind === 'unbound') {
    throw new ExchangeError(
      403,
      GrpcCode.PermissionDenied,
      'unbound',
      `${who} is not bound to a FliptClient: list it in spec.serviceAccounts of a FliptClient in namespace ${sa.namespace}`,
    );
  }
  if (bound.kind === 'ambiguous') {
    throw new ExchangeError(
      403,
      GrpcCode.PermissionDenied,
      'ambiguous',
      `${who} is listed by more than one FliptClient (${bound.clients.join(', ')}); none is served until exactly one lists it`,
    );
  }
  if (!credential?.ready || !credential.token) {
    // 503 rather than 403: being not Ready is (usually) a state the operator is working out of,
    // so a pod that starts together with its FliptClient should retry, not give up.
    const why = credential?.reason ? ` (${credential.reason})` : '';
    throw new ExchangeError(503, GrpcCode.Unavailable, 'not_ready', `FliptClient ${bound.namespace}/${bound.name} is not Ready${why}; retry later`, {
      'Retry-After': String(NOT_READY_RETRY_AFTER_SECONDS),
    });
  }
  const issuedMs = credential.issuedAt ? Date.parse(credential.issuedAt) : NaN;
  const created = protoTimestamp(Number.isFinite(issuedMs) ? issuedMs : nowMs);
  const expiresAtMs = earliestFuture(nowMs, input.tokenExpiresAtMs, credential.expiresAt ? Date.parse(credential.expiresAt) : undefined);
  const metadata = { ...credential.metadata, ...serviceAccountMetadata(sa) };
  return {
    clientToken: credential.token,
    authentication: {
      id: credential.tokenId,
      method: credential.kind === 'jwt' ? 'METHOD_JWT' : 'METHOD_KUBERNETES',
      ...(expiresAtMs !== undefined ? { expiresAt: protoTimestamp(expiresAtMs) } : {}),
      createdAt: created,
      updatedAt: created,
      metadata,
    },
  };
}

function earliestFuture(nowMs: number, ...candidates: Array<number | undefined>): number | undefined {
  const future = candidates.filter((c): c is number => c !== undefined && Number.isFinite(c) && c > nowMs);
  return future.length > 0 ? Math.min(...future) : undefined;
}
