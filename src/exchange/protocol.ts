// The exchange's HTTP protocol, as an Express app: one route on Flipt's path, its checks as a chain of
// middleware in the order that costs least first (rate limits, readiness, body), Express's JSON body
// parser with the configured limit, and one error handler that turns every refusal, parser error or
// routing miss into grpc-gateway's error body with the right status. Nothing a caller sends is ever
// echoed back or logged, and bad input never yields a 500.
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { jwksOf, type SigningKey } from '../vocabulary/signing-keys.ts';
import { answerFor, serviceAccountOf } from './answer.ts';
import type { CredentialSource } from './credentials.ts';
import { KeyedRateLimiter, TokenBucket } from './rate-limit.ts';
import type { ServiceAccountIndex } from './service-account-index.ts';
import { ReviewUnavailableError, type ReviewResult, type TokenReviewer } from './token-review.ts';
import { EXCHANGE_PATH, ExchangeError, GrpcCode, type ExchangeOutcome } from './wire.ts';

/** Longest token accepted, in characters: Kubernetes tokens are about 1 KiB. */
const MAX_TOKEN_LENGTH = 8192;
const PRINTABLE_TOKEN = /^[\x21-\x7e]+$/;

export interface ProtocolOptions {
  reviewer: TokenReviewer;
  index: ServiceAccountIndex;
  credentials: CredentialSource;
  maxBodyBytes: number;
  rateLimit: { perServiceAccountPerMinute: number; globalPerSecond: number; failedPerSourcePerMinute: number };
  /** Whether the caches behind `index` and `credentials` have synced; until then every exchange is a 503, never a false 403. */
  ready?: () => boolean;
  log: Logger;
  /** Called once per request that reached the app: outcome label and latency in seconds. */
  onRequest?: (outcome: ExchangeOutcome, seconds: number) => void;
  /** The JWT signing keys, for the JWKS at /.well-known/jwks.json. */
  jwks?: JwksSource;
}

export interface JwksSource {
  /** The keys as the cache holds them; undefined until it has synced (the JWKS answers 503, never an incomplete set). */
  keys(): readonly SigningKey[] | undefined;
  /** How long a client or proxy may cache the JWKS: well inside the time a new key is published before it signs. */
  maxAgeSeconds: number;
}

/** Where Flipt (jwt.jwks_url) fetches the operator's public keys. */
const JWKS_PATH = '/.well-known/jwks.json';

export interface ExchangeApp {
  app: express.Express;
  /** Forgets the per-service-account and per-address buckets that have refilled (call it now and then). */
  sweepRateLimits(): void;
}

export function exchangeApp(options: ProtocolOptions): ExchangeApp {
  const { reviewer, index, credentials, log } = options;
  const { globalPerSecond, perServiceAccountPerMinute, failedPerSourcePerMinute } = options.rateLimit;
  const globalLimiter = new TokenBucket(globalPerSecond, globalPerSecond);
  const serviceAccountLimiter = new KeyedRateLimiter(perServiceAccountPerMinute, perServiceAccountPerMinute / 60);
  const failureLimiter = new KeyedRateLimiter(failedPerSourcePerMinute, failedPerSourcePerMinute / 60);

  const finish = (res: Response, outcome: ExchangeOutcome, err?: ExchangeError) => {
    const seconds = (performance.now() - (res.locals.started as number)) / 1000;
    if (err) log.debug({ outcome, status: err.status, reason: err.message }, 'exchange request refused');
    try {
      options.onRequest?.(outcome, seconds);
    } catch (hookErr) {
      log.warn({ err: describe(hookErr) }, 'exchange onRequest hook threw');
    }
  };

  // An address that keeps failing is refused before it reaches the global bucket or a TokenReview.
  const sourceRateLimit: RequestHandler = (req, _res, next) =>
    next(rateLimited(failureLimiter.wait(sourceOf(req)), 'too many failed exchange requests from this address; retry later'));
  const globalRateLimit: RequestHandler = (_req, _res, next) => next(rateLimited(globalLimiter.take(), 'too many exchange requests; retry later'));
  /** Counts a refusal that is the caller's doing against its address; logs once when that address becomes limited. */
  const chargeFailure = (req: Request, refusal: ExchangeError) => {
    if (!CALLER_FAILURES.has(refusal.status)) return;
    const source = sourceOf(req);
    const limited = failureLimiter.wait(source) > 0;
    const waitMs = failureLimiter.charge(source);
    if (!limited && waitMs > 0) {
      log.warn({ source, failedPerMinute: failedPerSourcePerMinute, refusedForSeconds: Math.ceil(waitMs / 1000) }, 'exchange: an address failed too often; refusing it for a while');
    }
  };
  const readiness: RequestHandler = (_req, _res, next) =>
    next(
      options.ready && !options.ready()
        ? new ExchangeError(503, GrpcCode.Unavailable, 'starting', 'the exchange service is starting; retry later', { 'Retry-After': '2' })
        : undefined,
    );
  const jsonBody: RequestHandler = (req, _res, next) => {
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody) return next(new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'a JSON request body is required'));
    if (!req.is('application/json')) return next(new ExchangeError(415, GrpcCode.InvalidArgument, 'unsupported_media_type', 'the request body must be application/json'));
    next();
  };
  const exchange: RequestHandler = (req, res, next) => {
    // Whatever throws, writing the answer too, ends in the error handler: never an unhandled rejection, which would stop the process.
    answer(req)
      .then((body) => {
        res.status(200).json(body);
        finish(res, 'success');
      })
      .catch(next);
  };

  async function answer(req: Request) {
    const token = tokenFrom(req.body);
    let review: ReviewResult;
    try {
      review = await reviewer.review(token);
    } catch (err) {
      if (!(err instanceof ReviewUnavailableError)) throw err;
      throw new ExchangeError(503, GrpcCode.Unavailable, 'review_unavailable', 'cannot validate the token right now: the Kubernetes TokenReview API is unavailable; retry later', {
        'Retry-After': String(err.retryAfterSeconds),
      });
    }
    const sa = serviceAccountOf(review, reviewer.audiences);
    const limited = rateLimited(serviceAccountLimiter.take(`${sa.namespace}/${sa.name}`), `too many exchange requests from service account ${sa.namespace}/${sa.name}; retry later`);
    if (limited) throw limited;
    const bound = index.lookup(sa.namespace, sa.name);
    const tokenExpiresAtMs = review.kind === 'authenticated' ? review.expiresAtMs : undefined;
    const nowMs = Date.now();
    let credential = bound.kind === 'bound' ? credentials.credentialFor(bound.namespace, bound.name) : undefined;
    // A Ready client holding a JWT: a JWT of the caller's own, no longer-lived than its token.
    if (bound.kind === 'bound' && credential?.ready && credential.kind === 'jwt' && credentials.freshJwt) {
      credential = (await credentials.freshJwt(bound.namespace, bound.name, sa, tokenExpiresAtMs, nowMs)) ?? credential;
    }
    const body = answerFor({ serviceAccount: sa, bound, credential, tokenExpiresAtMs, nowMs });
    if (bound.kind === 'bound') log.debug({ namespace: sa.namespace, serviceAccount: sa.name, fliptClient: bound.name }, 'exchanged a service account token');
    return body;
  }

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  app.use((_req, res, next) => {
    res.locals.started = performance.now();
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  app.post(
    EXCHANGE_PATH,
    sourceRateLimit,
    globalRateLimit,
    readiness,
    jsonBody,
    express.json({ limit: options.maxBodyBytes, strict: false, inflate: false, type: () => true }),
    exchange,
  );
  app.all(EXCHANGE_PATH, (_req, _res, next) => next(new ExchangeError(405, GrpcCode.Unimplemented, 'method_not_allowed', 'Method Not Allowed', { Allow: 'POST' })));
  if (options.jwks) app.get(JWKS_PATH, jwksHandler(options.jwks));
  app.use((_req, _res, next) => next(new ExchangeError(404, GrpcCode.NotFound, 'not_found', 'Not Found')));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const refusal = toExchangeError(err, options.maxBodyBytes);
    if (refusal.status === 500) log.error({ path: req.path, err: describe(err) }, 'exchange request failed unexpectedly');
    if (res.headersSent) res.destroy();
    else {
      for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
      res.status(refusal.status).json(refusal.body);
    }
    chargeFailure(req, refusal);
    finish(res, refusal.outcome, refusal);
  });
  return {
    app,
    sweepRateLimits: () => {
      serviceAccountLimiter.sweep();
      failureLimiter.sweep();
    },
  };
}

/** The public keys, cacheable (Cache-Control, ETag, 304): public key material only. */
function jwksHandler(source: JwksSource): RequestHandler {
  return (req, res) => {
    const keys = source.keys();
    if (!keys) {
      res.status(503).setHeader('Retry-After', '2').json({ code: GrpcCode.Unavailable, message: 'the signing keys are not loaded yet; retry later', details: [] });
      return;
    }
    const body = JSON.stringify(jwksOf(keys, Date.now()));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    res.setHeader('Cache-Control', `public, max-age=${source.maxAgeSeconds}`);
    res.setHeader('ETag', etag);
    if (req.headers['if-none-match'] === etag) {
      res.status(304).end();
      return;
    }
    res.status(200).type('application/json').send(body);
  };
}

/** The token from a parsed body: snake_case as Flipt's gateway names it, or camelCase as protojson allows. */
function tokenFrom(body: unknown): string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'the request body must be a JSON object');
  }
  const fields = body as Record<string, unknown>;
  const snake = Object.hasOwn(fields, 'service_account_token') ? fields.service_account_token : undefined;
  const camel = Object.hasOwn(fields, 'serviceAccountToken') ? fields.serviceAccountToken : undefined;
  if (snake !== undefined && snake !== null && camel !== undefined && camel !== null && snake !== camel) {
    throw new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'give service_account_token or serviceAccountToken, not two different values');
  }
  const value = snake ?? camel;
  if (value === undefined || value === null) throw new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'service_account_token is required');
  // Flipt's gateway answers a wrongly typed field with this message.
  if (typeof value !== 'string') throw new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'invalid values for key(s) in json body');
  if (value.length === 0) throw new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'service_account_token is required');
  if (value.length > MAX_TOKEN_LENGTH) {
    throw new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', `service_account_token is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  if (!PRINTABLE_TOKEN.test(value)) {
    throw new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'service_account_token contains characters no token has (whitespace, control or non-ASCII)');
  }
  return value;
}

/**
 * The refusals that are the caller's doing: a malformed request, a token that does not authenticate.
 * Not 403 (a real service account; its own limit applies), 429 or 5xx.
 */
const CALLER_FAILURES = new Set([400, 401, 413, 415]);

/** The caller's address as the connection gives it (a forwarded header could be forged). */
function sourceOf(req: Request): string {
  return req.socket.remoteAddress ?? 'unknown';
}

function rateLimited(waitMs: number, message: string): ExchangeError | undefined {
  if (waitMs <= 0) return undefined;
  // Any wait above 0 rounds up to at least 1 s: never "retry after 0".
  return new ExchangeError(429, GrpcCode.ResourceExhausted, 'rate_limited', message, { 'Retry-After': String(Math.ceil(waitMs / 1000)) });
}

/** Every error a request can end in, as the refusal the caller sees. */
function toExchangeError(err: unknown, maxBodyBytes: number): ExchangeError {
  if (err instanceof ExchangeError) return err;
  const type = (err as { type?: unknown })?.type;
  const status = (err as { status?: unknown })?.status;
  if (typeof type === 'string') {
    // The body parser's: never repeat its message, which quotes the body, which holds the token.
    if (type === 'entity.too.large' || status === 413) {
      return new ExchangeError(413, GrpcCode.ResourceExhausted, 'payload_too_large', `the request body is larger than ${maxBodyBytes} bytes`);
    }
    if (type === 'encoding.unsupported' || type === 'charset.unsupported' || status === 415) {
      return new ExchangeError(415, GrpcCode.InvalidArgument, 'unsupported_media_type', 'the request body must be uncompressed UTF-8 JSON');
    }
    return new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'the request body is not valid JSON');
  }
  if (typeof status === 'number' && status >= 400 && status < 500) return new ExchangeError(400, GrpcCode.InvalidArgument, 'bad_request', 'malformed request');
  return new ExchangeError(500, GrpcCode.Internal, 'internal_error', 'internal error');
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
}
