// The exchange endpoint: a pod POSTs its projected service-account token and gets its FliptClient's
// credential back, on the same path and in the same JSON shapes as Flipt's own Kubernetes method
// (rpc/flipt/auth/auth.proto: AuthenticationMethodKubernetesService.VerifyServiceAccount, served by
// grpc-gateway with protojson names), so a client written for Flipt works unchanged against it.
//
// Errors use grpc-gateway's body `{"code": <grpc code>, "message": "...", "details": []}`. Nothing a
// caller sends is ever echoed back or logged, and bad input never yields a 500.
import { createServer as createHttpServer, type Server as HttpServer, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { AuthenticationV1Api } from '@kubernetes/client-node';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { ExchangeConfig } from '../config/operator-config.ts';
import type { CredentialSource } from './credentials.ts';
import { KeyedRateLimiter, TokenBucket } from './rate-limit.ts';
import type { ServiceAccountIndex } from './service-account-index.ts';
import { CertificateReloader } from './tls.ts';
import { ReviewUnavailableError, TokenReviewer, type ReviewResult } from './token-review.ts';

export const EXCHANGE_PATH = '/auth/v1/method/kubernetes/serviceaccount';

/** Flipt's metadata keys (internal/server/authn/method/kubernetes/server.go). */
export const METADATA_NAMESPACE = 'io.flipt.auth.k8s.namespace';
export const METADATA_SERVICE_ACCOUNT_NAME = 'io.flipt.auth.k8s.serviceaccount.name';
export const METADATA_SERVICE_ACCOUNT_UID = 'io.flipt.auth.k8s.serviceaccount.uid';
export const METADATA_POD_NAME = 'io.flipt.auth.k8s.pod.name';
export const METADATA_POD_UID = 'io.flipt.auth.k8s.pod.uid';

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

/** Every `outcome` onRequest can report (a Prometheus label). */
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

/** Connection-level rejections Node's HTTP parser makes before a request reaches the app. */
export type ConnectionErrorKind = 'request_timeout' | 'headers_too_large' | 'malformed_http';

export interface ExchangeResponse {
  clientToken: string;
  authentication: {
    id: string;
    method: 'METHOD_KUBERNETES';
    expiresAt?: string;
    createdAt: string;
    updatedAt: string;
    metadata: Record<string, string>;
  };
}

export interface ExchangeServerOptions {
  /** The operator's `exchange` configuration: port, tls, audiences, maxBodyBytes, cache, rateLimit. */
  config: ExchangeConfig;
  index: ServiceAccountIndex;
  credentials: CredentialSource;
  log: Logger;
  /** A ready-made reviewer (shared, or with a test clock); otherwise one is built from `authentication` and config. */
  reviewer?: TokenReviewer;
  authentication?: AuthenticationV1Api;
  /** Called once per request that reached the app: outcome label and latency in seconds. */
  onRequest?: (outcome: ExchangeOutcome, seconds: number) => void;
  /** Called when Node's HTTP layer rejects a connection (slow or malformed request). */
  onConnectionError?: (kind: ConnectionErrorKind) => void;
  /**
   * Whether the caches behind `index` and `credentials` have synced. Until then every exchange is
   * answered 503 (Unavailable, Retry-After), never a false 403. Default: always ready.
   */
  ready?: () => boolean;
  /** Listen address (default: all interfaces). */
  host?: string;
  /** Whole-request deadline, headers and body (default 10 s); slower requests get 408 and are closed. */
  requestTimeoutMs?: number;
  /** Deadline for the request headers (default 5 s, never above requestTimeoutMs). */
  headersTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Longest token accepted, in characters (default 8192; Kubernetes tokens are about 1 KiB). */
  maxTokenLength?: number;
  /** Retry-After (seconds) when the client is not Ready yet (default 5). */
  notReadyRetryAfterSeconds?: number;
  /** TokenReview request timeout when the reviewer is built here (default 5000). */
  reviewTimeoutMs?: number;
  /** How often the TLS files are polled for changes (default 10 s). */
  tlsReloadIntervalMs?: number;
  maxConnections?: number;
  now?: () => number;
}

class HttpError extends Error {
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
}

const PRINTABLE_TOKEN = /^[\x21-\x7e]+$/;
const UNAUTHENTICATED_MESSAGES: Record<Extract<ReviewResult, { kind: 'unauthenticated' }>['reason'], string> = {
  malformed: 'the token is not a Kubernetes service account token',
  expired: 'the token has expired',
  audience: '', // filled in with the configured audiences
  invalid: 'the token is not valid: unknown, revoked, expired, or issued by another cluster',
};

export class ExchangeServer {
  readonly app: express.Express;
  readonly reviewer: TokenReviewer;
  private readonly options: ExchangeServerOptions;
  private readonly log: Logger;
  private readonly globalLimiter: TokenBucket;
  private readonly serviceAccountLimiter: KeyedRateLimiter;
  private readonly jsonParser: ReturnType<typeof express.json>;
  private readonly now: () => number;
  private server: HttpServer | HttpsServer | undefined;
  private reloader: CertificateReloader | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: ExchangeServerOptions) {
    this.options = options;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    const { config } = options;
    if (options.reviewer) this.reviewer = options.reviewer;
    else if (options.authentication) {
      this.reviewer = new TokenReviewer({
        audiences: config.audiences,
        cache: config.cache,
        authentication: options.authentication,
        log: options.log,
        now: this.now,
        ...(options.reviewTimeoutMs !== undefined ? { timeoutMs: options.reviewTimeoutMs } : {}),
      });
    } else throw new Error('ExchangeServer needs `reviewer` or `authentication`');
    const { globalPerSecond, perServiceAccountPerMinute } = config.rateLimit;
    this.globalLimiter = new TokenBucket(globalPerSecond, globalPerSecond, this.now);
    this.serviceAccountLimiter = new KeyedRateLimiter(perServiceAccountPerMinute, perServiceAccountPerMinute / 60, { now: this.now });
    this.jsonParser = express.json({ limit: config.maxBodyBytes, strict: false, inflate: false, type: () => true });
    this.app = this.buildApp();
  }

  /** Starts listening on config.port (0 picks a free port). Resolves with the bound port and URL. */
  async start(): Promise<{ port: number; url: string }> {
    if (this.server) throw new Error('exchange server already started');
    const requestTimeout = this.options.requestTimeoutMs ?? 10_000;
    const serverOptions: ServerOptions = {
      requestTimeout,
      headersTimeout: Math.min(this.options.headersTimeoutMs ?? 5_000, requestTimeout),
      keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 5_000,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(requestTimeout / 4))),
      maxHeaderSize: 16 * 1024,
    };
    const tls = this.options.config.tls;
    let server: HttpServer | HttpsServer;
    if (tls) {
      this.reloader = new CertificateReloader({
        certFile: tls.certFile,
        keyFile: tls.keyFile,
        log: this.log,
        ...(this.options.tlsReloadIntervalMs !== undefined ? { intervalMs: this.options.tlsReloadIntervalMs } : {}),
      });
      server = createHttpsServer({ ...serverOptions, ...this.reloader.keyPair, minVersion: 'TLSv1.2' }, this.app);
    } else {
      server = createHttpServer(serverOptions, this.app);
    }
    server.maxHeadersCount = 64;
    server.timeout = requestTimeout; // idle sockets (for instance a TLS handshake that never ends)
    if (this.options.maxConnections !== undefined) server.maxConnections = this.options.maxConnections;
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.options.config.port, this.options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.server = undefined;
      this.reloader = undefined;
      throw err;
    }
    server.on('error', (err) => this.log.error({ err: err.message }, 'exchange server error'));
    if (this.reloader) this.reloader.start(server as HttpsServer);
    this.sweepTimer = setInterval(() => this.serviceAccountLimiter.sweep(), 60_000);
    this.sweepTimer.unref();
    const { port } = server.address() as AddressInfo;
    const host = this.options.host && this.options.host !== '0.0.0.0' && this.options.host !== '::' ? this.options.host : '127.0.0.1';
    const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (tls) this.log.info({ port, tls: true }, 'exchange service listening (HTTPS)');
    else this.log.warn({ port, tls: false }, 'exchange service listening over plain HTTP: tokens cross the network unencrypted; configure exchange.tls');
    return { port, url };
  }

  /** Stops accepting connections, lets requests in progress finish for up to graceMs, then closes the rest. */
  async stop(graceMs = 5_000): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.reloader?.stop();
    clearInterval(this.sweepTimer);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  /** The TLS reloader, when serving HTTPS (tests use it to force a check). */
  get certificates(): CertificateReloader | undefined {
    return this.reloader;
  }

  private buildApp(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.set('query parser', false);
    app.use((_req, res, next) => {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      next();
    });
    app.all(EXCHANGE_PATH, (req, res, next) => {
      const started = performance.now();
      this.exchange(req, res).then(
        (outcome) => this.finish(outcome, started),
        (err: unknown) => {
          if (err instanceof HttpError) {
            this.sendError(res, err);
            this.finish(err.outcome, started, err);
          } else next(err);
        },
      );
    });
    app.use((_req, res) => {
      const started = performance.now();
      const err = new HttpError(404, GrpcCode.NotFound, 'not_found', 'Not Found');
      this.sendError(res, err);
      this.finish(err.outcome, started, err);
    });
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      const started = performance.now();
      const status = (err as { status?: unknown })?.status;
      const mapped =
        typeof status === 'number' && status >= 400 && status < 500
          ? new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'malformed request')
          : new HttpError(500, GrpcCode.Internal, 'internal_error', 'internal error');
      if (mapped.status === 500) this.log.error({ path: req.path, err: describe(err) }, 'exchange request failed unexpectedly');
      if (res.headersSent) res.destroy();
      else this.sendError(res, mapped);
      this.finish(mapped.outcome, started, mapped);
    });
    return app;
  }

  private async exchange(req: Request, res: Response): Promise<ExchangeOutcome> {
    if (req.method !== 'POST') {
      throw new HttpError(405, GrpcCode.Unimplemented, 'method_not_allowed', 'Method Not Allowed', { Allow: 'POST' });
    }
    this.rateLimit(this.globalLimiter.take(), 'too many exchange requests; retry later');
    if (this.options.ready && !this.options.ready()) {
      throw new HttpError(503, GrpcCode.Unavailable, 'starting', 'the exchange service is starting; retry later', { 'Retry-After': '2' });
    }
    const token = await this.readToken(req, res);

    let review: ReviewResult;
    try {
      review = await this.reviewer.review(token);
    } catch (err) {
      if (err instanceof ReviewUnavailableError) {
        throw new HttpError(
          503,
          GrpcCode.Unavailable,
          'review_unavailable',
          'cannot validate the token right now: the Kubernetes TokenReview API is unavailable; retry later',
          { 'Retry-After': String(err.retryAfterSeconds) },
        );
      }
      throw err;
    }
    if (review.kind === 'unauthenticated') {
      const message =
        review.reason === 'audience'
          ? `the token's audience is not accepted here; request a projected service account token with audience ${this.reviewer.audiences.map((a) => JSON.stringify(a)).join(' or ')}`
          : UNAUTHENTICATED_MESSAGES[review.reason];
      throw new HttpError(401, GrpcCode.Unauthenticated, 'unauthenticated', message, {
        'WWW-Authenticate': `Bearer error="invalid_token"`,
      });
    }
    const sa = review.serviceAccount;
    if (!sa) {
      throw new HttpError(403, GrpcCode.PermissionDenied, 'not_service_account', 'only Kubernetes service account tokens can be exchanged');
    }
    const who = `service account ${sa.namespace}/${sa.name}`;
    this.rateLimit(this.serviceAccountLimiter.take(`${sa.namespace}/${sa.name}`), `too many exchange requests from ${who}; retry later`);

    const bound = this.options.index.lookup(sa.namespace, sa.name);
    if (bound.kind === 'unbound') {
      throw new HttpError(
        403,
        GrpcCode.PermissionDenied,
        'unbound',
        `${who} is not bound to a FliptClient: list it in spec.serviceAccounts of a FliptClient in namespace ${sa.namespace}`,
      );
    }
    if (bound.kind === 'ambiguous') {
      throw new HttpError(
        403,
        GrpcCode.PermissionDenied,
        'ambiguous',
        `${who} is listed by more than one FliptClient (${bound.clients.join(', ')}); none is served until exactly one lists it`,
      );
    }
    const credential = this.options.credentials.credentialFor(bound.namespace, bound.name);
    if (!credential?.ready || !credential.token) {
      // 503 rather than 403: being not Ready is (usually) a state the operator is working out of,
      // so a pod that starts together with its FliptClient should retry, not give up.
      const why = credential?.reason ? ` (${credential.reason})` : '';
      throw new HttpError(
        503,
        GrpcCode.Unavailable,
        'not_ready',
        `FliptClient ${bound.namespace}/${bound.name} is not Ready${why}; retry later`,
        { 'Retry-After': String(this.options.notReadyRetryAfterSeconds ?? 5) },
      );
    }

    const nowMs = this.now();
    const issuedMs = credential.issuedAt ? Date.parse(credential.issuedAt) : NaN;
    const created = protoTimestamp(Number.isFinite(issuedMs) ? issuedMs : nowMs);
    const expiresAtMs = earliestFuture(nowMs, review.expiresAtMs, credential.expiresAt ? Date.parse(credential.expiresAt) : undefined);
    const metadata: Record<string, string> = { ...credential.metadata, [METADATA_NAMESPACE]: sa.namespace, [METADATA_SERVICE_ACCOUNT_NAME]: sa.name };
    if (sa.uid) metadata[METADATA_SERVICE_ACCOUNT_UID] = sa.uid;
    if (sa.podName) metadata[METADATA_POD_NAME] = sa.podName;
    if (sa.podUid) metadata[METADATA_POD_UID] = sa.podUid;
    const body: ExchangeResponse = {
      clientToken: credential.token,
      authentication: {
        id: credential.tokenId,
        method: 'METHOD_KUBERNETES',
        ...(expiresAtMs !== undefined ? { expiresAt: protoTimestamp(expiresAtMs) } : {}),
        createdAt: created,
        updatedAt: created,
        metadata,
      },
    };
    res.status(200).json(body);
    this.log.debug({ namespace: sa.namespace, serviceAccount: sa.name, fliptClient: bound.name }, 'exchanged a service account token');
    return 'success';
  }

  private rateLimit(waitMs: number, message: string): void {
    if (waitMs <= 0) return;
    throw new HttpError(429, GrpcCode.ResourceExhausted, 'rate_limited', message, { 'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))) });
  }

  private async readToken(req: Request, res: Response): Promise<string> {
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody) throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'a JSON request body is required');
    if (!req.is('application/json')) {
      throw new HttpError(415, GrpcCode.InvalidArgument, 'unsupported_media_type', 'the request body must be application/json');
    }
    try {
      await new Promise<void>((resolve, reject) => this.jsonParser(req, res, (err?: unknown) => (err ? reject(err) : resolve())));
    } catch (err) {
      throw bodyError(err, this.options.config.maxBodyBytes);
    }
    const body: unknown = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'the request body must be a JSON object');
    }
    const fields = body as Record<string, unknown>;
    const snake = Object.hasOwn(fields, 'service_account_token') ? fields.service_account_token : undefined;
    const camel = Object.hasOwn(fields, 'serviceAccountToken') ? fields.serviceAccountToken : undefined;
    if (snake !== undefined && snake !== null && camel !== undefined && camel !== null && snake !== camel) {
      throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'give service_account_token or serviceAccountToken, not two different values');
    }
    const value = snake ?? camel;
    if (value === undefined || value === null) {
      throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'service_account_token is required');
    }
    if (typeof value !== 'string') {
      // Flipt's gateway answers a wrongly typed field with this message.
      throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'invalid values for key(s) in json body');
    }
    if (value.length === 0) throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'service_account_token is required');
    const max = this.options.maxTokenLength ?? 8192;
    if (value.length > max) {
      throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', `service_account_token is longer than ${max} characters`);
    }
    if (!PRINTABLE_TOKEN.test(value)) {
      throw new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'service_account_token contains characters no token has (whitespace, control or non-ASCII)');
    }
    return value;
  }

  private sendError(res: Response, err: HttpError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
    res.status(err.status).json({ code: err.code, message: err.message, details: [] });
  }

  private finish(outcome: ExchangeOutcome, started: number, err?: HttpError): void {
    const seconds = (performance.now() - started) / 1000;
    if (err) this.log.debug({ outcome, status: err.status, reason: err.message }, 'exchange request refused');
    try {
      this.options.onRequest?.(outcome, seconds);
    } catch (hookErr) {
      this.log.warn({ err: describe(hookErr) }, 'exchange onRequest hook threw');
    }
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const kind: ConnectionErrorKind =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'malformed_http';
    if (err.code !== 'ECONNRESET') {
      try {
        this.options.onConnectionError?.(kind);
      } catch {
        // a metrics hook must not break connection handling
      }
    }
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, text, message] =
      kind === 'request_timeout'
        ? [408, 'Request Timeout', 'the request took too long']
        : kind === 'headers_too_large'
          ? [431, 'Request Header Fields Too Large', 'request headers too large']
          : [400, 'Bad Request', 'malformed HTTP request'];
    const body = JSON.stringify({ code: kind === 'request_timeout' ? GrpcCode.Unavailable : GrpcCode.InvalidArgument, message, details: [] });
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
    // A client that never closes its side (a slow drip) is cut off shortly after the answer.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }
}

function bodyError(err: unknown, limit: number): HttpError {
  const type = (err as { type?: unknown })?.type;
  const status = (err as { status?: unknown })?.status;
  if (type === 'entity.too.large' || status === 413) {
    return new HttpError(413, GrpcCode.ResourceExhausted, 'payload_too_large', `the request body is larger than ${limit} bytes`);
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported' || status === 415) {
    return new HttpError(415, GrpcCode.InvalidArgument, 'unsupported_media_type', 'the request body must be uncompressed UTF-8 JSON');
  }
  // Never repeat the parser's message: it quotes the body, which holds the token.
  return new HttpError(400, GrpcCode.InvalidArgument, 'bad_request', 'the request body is not valid JSON');
}

/** protojson's Timestamp form: RFC 3339 in UTC, with 0 or 3 fractional digits. */
export function protoTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

function earliestFuture(nowMs: number, ...candidates: Array<number | undefined>): number | undefined {
  const future = candidates.filter((c): c is number => c !== undefined && Number.isFinite(c) && c > nowMs);
  return future.length > 0 ? Math.min(...future) : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err);
}
