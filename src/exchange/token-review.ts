// Validating a service-account token with the TokenReview API (authentication.k8s.io/v1), cached.
//
// - The cache is keyed by sha256(token): the token itself is never stored, logged or put in an error.
// - A positive answer is kept until the token's own `exp` (read from the JWT payload without
//   verifying it: the API server did the verifying) or the cache TTL, whichever comes first; a negative
//   one for the negative TTL. Outages are never cached.
// - Concurrent reviews of one token share a single API call.
// - The cache holds at most maxEntries positive and maxEntries negative answers, least recently used
//   go first (lru-cache), and bad tokens never push good answers out. lru-cache's own fetch() is not
//   used to share calls: it stores every answer in one cache, and a negative answer must never take a
//   positive one's place; a map of the reviews in flight does that job.
// - "The API server could not answer" (network, timeout, 5xx, 429, our own credentials refused) is a
//   ReviewUnavailableError (the exchange answers 503); "the token is not good" is a result (401).
import { createHash } from 'node:crypto';
import type { KubeConfig, V1TokenReview, V1TokenReviewStatus } from '@kubernetes/client-node';
import { decodeJwt } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { ExchangeConfig } from '../config/operator-config.ts';
import { postJson } from '../kube/client.ts';
import { statusCode } from '../kube/errors.ts';

export type UnauthenticatedReason = 'malformed' | 'expired' | 'audience' | 'invalid';

export interface ServiceAccountIdentity {
  namespace: string;
  name: string;
  uid?: string;
  podName?: string;
  podUid?: string;
}

export type ReviewResult =
  | {
      kind: 'authenticated';
      username: string;
      /** Set when the token belongs to a service account. */
      serviceAccount?: ServiceAccountIdentity;
      /** Audiences the API server confirmed (the intersection with the configured ones). */
      audiences: string[];
      /** The token's own expiry (ms since epoch), when it has one. */
      expiresAtMs?: number;
    }
  | { kind: 'unauthenticated'; reason: UnauthenticatedReason };

export class ReviewUnavailableError extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.name = 'ReviewUnavailableError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Sends one TokenReview and returns its status. Throws on transport or HTTP errors. */
export type ReviewFunction = (token: string, audiences: string[], signal: AbortSignal) => Promise<V1TokenReviewStatus | undefined>;

export interface TokenReviewerOptions {
  audiences: string[];
  cache: ExchangeConfig['cache'];
  /** How TokenReviews are sent: to the API server of this kubeconfig, or by a function (tests). */
  kubeConfig?: KubeConfig;
  review?: ReviewFunction;
  /** Abandon a review after this long and answer 503 (default 5000). */
  timeoutMs?: number;
  now?: () => number;
  log?: Logger;
}

export interface TokenReviewStats {
  /** TokenReview calls sent to the API server (including failed ones). */
  apiCalls: number;
  /** Answers served from the cache. */
  cacheHits: number;
  /** Requests that joined a review already in flight. */
  collapsed: number;
  /** Tokens answered without any call because they cannot be a valid token (not a JWT, expired). */
  rejectedLocally: number;
  /** Reviews that failed because the API server could not answer. */
  unavailable: number;
  evictions: number;
  entries: number;
}

/** Retry-After for 503 answers, unless the API server gave its own. */
const RETRY_AFTER_SECONDS = 5;
const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';
const POD_NAME_KEY = 'authentication.kubernetes.io/pod-name';
const POD_UID_KEY = 'authentication.kubernetes.io/pod-uid';

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class TokenReviewer {
  readonly audiences: readonly string[];
  private readonly positive: LRUCache<string, ReviewResult>;
  private readonly negative: LRUCache<string, ReviewResult>;
  private readonly inFlight = new Map<string, Promise<ReviewResult>>();
  private readonly ttl: number;
  private readonly negativeTtl: number;
  private readonly timeoutMs: number;
  private readonly send: ReviewFunction;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private readonly counters = { apiCalls: 0, cacheHits: 0, collapsed: 0, rejectedLocally: 0, unavailable: 0, evictions: 0 };
  private lastOutageLogMs = -Infinity;
  private suppressedOutageLogs = 0;

  constructor(options: TokenReviewerOptions) {
    if (options.audiences.length === 0) throw new Error('TokenReviewer needs at least one audience');
    this.audiences = [...options.audiences];
    this.ttl = options.cache.ttl;
    this.negativeTtl = options.cache.negativeTtl;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.now = options.now ?? Date.now;
    this.log = options.log;
    const cache = () =>
      new LRUCache<string, ReviewResult>({
        max: Math.max(1, options.cache.maxEntries),
        // Expiry is read from our clock on every access (tests move it), never from a cached reading.
        ttlResolution: 0,
        perf: { now: this.now },
        dispose: (_value, _key, reason) => {
          if (reason === 'evict') this.counters.evictions++;
        },
      });
    this.positive = cache();
    this.negative = cache();
    if (options.review) this.send = options.review;
    else if (options.kubeConfig) this.send = apiReview(options.kubeConfig);
    else throw new Error('TokenReviewer needs either `kubeConfig` or `review`');
  }

  /** Reviews the token (from the cache when possible). Throws ReviewUnavailableError when the API server cannot answer. */
  async review(token: string): Promise<ReviewResult> {
    const now = this.now();
    const claims = readClaims(token);
    if (!claims) {
      this.counters.rejectedLocally++;
      return { kind: 'unauthenticated', reason: 'malformed' };
    }
    if (claims.expMs !== undefined && claims.expMs <= now) {
      this.counters.rejectedLocally++;
      return { kind: 'unauthenticated', reason: 'expired' };
    }
    const key = tokenHash(token);
    const cached = this.positive.get(key) ?? this.negative.get(key);
    if (cached) {
      this.counters.cacheHits++;
      return cached;
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      this.counters.collapsed++;
      return pending;
    }
    const promise = this.callApi(token, claims).then((result) => {
      this.store(key, result, claims.expMs);
      return result;
    });
    this.inFlight.set(key, promise);
    try {
      return await promise;
    } finally {
      this.inFlight.delete(key);
    }
  }

  stats(): TokenReviewStats {
    return { ...this.counters, entries: this.positive.size + this.negative.size };
  }

  private store(key: string, result: ReviewResult, tokenExpMs: number | undefined): void {
    const positive = result.kind === 'authenticated';
    let ttl = positive ? this.ttl : this.negativeTtl;
    if (positive && tokenExpMs !== undefined) ttl = Math.min(ttl, tokenExpMs - this.now());
    // lru-cache keeps an entry while its age is at most ttl (and reads a ttl of 0 as "forever"); an
    // answer here expires at exactly ttl, as a token does at exactly its exp.
    if (ttl > 1) (positive ? this.positive : this.negative).set(key, result, { ttl: ttl - 1 });
  }

  private async callApi(token: string, claims: Claims): Promise<ReviewResult> {
    this.counters.apiCalls++;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), this.timeoutMs);
    let status: V1TokenReviewStatus | undefined;
    try {
      status = await this.send(token, [...this.audiences], controller.signal);
    } catch (err) {
      const { reason, retryAfterSeconds, invalidRequest } = classify(err, controller.signal.aborted, RETRY_AFTER_SECONDS);
      // The API server refused the review request itself (a 4xx other than auth, not-found, timeout or
      // rate limiting): the token made it invalid, which says the token is not a good one.
      if (invalidRequest) return { kind: 'unauthenticated', reason: 'invalid' };
      this.counters.unavailable++;
      this.logOutage(reason);
      throw new ReviewUnavailableError(`TokenReview unavailable: ${reason}`, retryAfterSeconds);
    } finally {
      clearTimeout(timer);
    }
    return interpret(status, this.audiences, claims);
  }

  private logOutage(reason: string): void {
    const now = this.now();
    if (now - this.lastOutageLogMs < 10_000) {
      this.suppressedOutageLogs++;
      return;
    }
    this.log?.warn({ reason, suppressed: this.suppressedOutageLogs }, 'TokenReview failed; answering 503');
    this.lastOutageLogMs = now;
    this.suppressedOutageLogs = 0;
  }
}

interface Claims {
  expMs?: number;
  audiences: string[];
}

/** The unverified claims we use, or undefined when the text is not a JWT at all. */
function readClaims(token: string): Claims | undefined {
  let payload: Record<string, unknown>;
  try {
    // A plain object, or it throws.
    payload = decodeJwt(token) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const exp = payload.exp;
  const aud = payload.aud;
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  return {
    ...(typeof exp === 'number' && Number.isFinite(exp) ? { expMs: exp * 1000 } : {}),
    audiences,
  };
}

function interpret(status: V1TokenReviewStatus | undefined, configured: readonly string[], claims: Claims): ReviewResult {
  const audienceMismatch = claims.audiences.length > 0 && !claims.audiences.some((a) => configured.includes(a));
  if (!status?.authenticated) return { kind: 'unauthenticated', reason: audienceMismatch ? 'audience' : 'invalid' };
  // An audience-aware authenticator returns the audiences it matched; an empty list means "valid for
  // the API server itself", which is not us.
  const audiences = (status.audiences ?? []).filter((a) => configured.includes(a));
  if (audiences.length === 0) return { kind: 'unauthenticated', reason: 'audience' };
  const username = status.user?.username ?? '';
  const result: ReviewResult = {
    kind: 'authenticated',
    username,
    audiences,
    ...(claims.expMs !== undefined ? { expiresAtMs: claims.expMs } : {}),
  };
  if (username.startsWith(SERVICE_ACCOUNT_PREFIX)) {
    const [namespace, name, ...rest] = username.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
    if (namespace && name && rest.length === 0) {
      const extra = status.user?.extra ?? {};
      const podName = extra[POD_NAME_KEY]?.[0];
      const podUid = extra[POD_UID_KEY]?.[0];
      const uid = status.user?.uid;
      result.serviceAccount = {
        namespace,
        name,
        ...(uid ? { uid } : {}),
        ...(podName ? { podName } : {}),
        ...(podUid ? { podUid } : {}),
      };
    }
  }
  return result;
}

function classify(
  err: unknown,
  timedOut: boolean,
  defaultRetryAfter: number,
): { reason: string; retryAfterSeconds: number; invalidRequest: boolean } {
  if (timedOut) return { reason: 'timed out', retryAfterSeconds: defaultRetryAfter, invalidRequest: false };
  const code = statusCode(err);
  if (code !== undefined) {
    const headers = (err as { headers?: Record<string, string> }).headers ?? {};
    const given = Number.parseInt(headers['retry-after'] ?? '', 10);
    const retryAfterSeconds = Number.isFinite(given) && given > 0 ? Math.min(given, 60) : defaultRetryAfter;
    const invalidRequest = code >= 400 && code < 500 && ![401, 403, 404, 408, 429].includes(code);
    return { reason: `API server answered ${code}`, retryAfterSeconds, invalidRequest };
  }
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error)?.name;
  return { reason: `network error (${String(detail ?? 'unknown')})`, retryAfterSeconds: defaultRetryAfter, invalidRequest: false };
}

/** A ReviewFunction that sends the TokenReview as plain JSON, aborting on the signal. */
function apiReview(kubeConfig: KubeConfig): ReviewFunction {
  return async (token, audiences, signal) => {
    const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } };
    const review = (await postJson(kubeConfig, '/apis/authentication.k8s.io/v1/tokenreviews', body, signal)) as V1TokenReview;
    return review.status;
  };
}
