// The exchange endpoint: a pod POSTs its projected service-account token and gets its FliptClient's
// credential back, in Flipt's own wire format (wire.ts). This puts the parts together: the TokenReview
// cache, the protocol (protocol.ts, with the pure answer of answer.ts) and the transport.
import type { KubeConfig } from '@kubernetes/client-node';
import type express from 'express';
import type { Logger } from 'pino';
import type { ExchangeConfig } from '../config/operator-config.ts';
import type { CredentialSource } from './credentials.ts';
import { exchangeApp, type JwksSource } from './protocol.ts';
import type { ServiceAccountIndex } from './service-account-index.ts';
import type { CertificateReloader } from './tls.ts';
import { TokenReviewer } from './token-review.ts';
import { Transport } from './transport.ts';
import type { ExchangeOutcome } from './wire.ts';

export interface ExchangeServerOptions {
  /** The operator's `exchange` configuration: port, tls, audiences, maxBodyBytes, maxConnections, cache, rateLimit. */
  config: ExchangeConfig;
  index: ServiceAccountIndex;
  credentials: CredentialSource;
  log: Logger;
  /** A ready-made reviewer (shared between servers); otherwise one is built from `kubeConfig` and config. */
  reviewer?: TokenReviewer;
  kubeConfig?: KubeConfig;
  /** TokenReview request timeout when the reviewer is built here (default 5000). */
  reviewTimeoutMs?: number;
  onRequest?: (outcome: ExchangeOutcome, seconds: number) => void;
  /** A connection was closed unserved: `maxConnections` were already open. */
  onConnectionDropped?: () => void;
  /** Whether the caches behind `index` and `credentials` have synced (default: always). */
  ready?: () => boolean;
  /** Serve these signing keys' JWKS at /.well-known/jwks.json. */
  jwks?: JwksSource;
  /** Listen address (default: all interfaces). */
  host?: string;
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  tlsReloadIntervalMs?: number;
}

export class ExchangeServer {
  readonly app: express.Express;
  readonly reviewer: TokenReviewer;
  private readonly transport: Transport;
  private readonly sweepRateLimits: () => void;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: ExchangeServerOptions) {
    const { config, log } = options;
    if (options.reviewer) this.reviewer = options.reviewer;
    else if (options.kubeConfig) {
      this.reviewer = new TokenReviewer({
        audiences: config.audiences,
        cache: config.cache,
        kubeConfig: options.kubeConfig,
        log,
        ...(options.reviewTimeoutMs !== undefined ? { timeoutMs: options.reviewTimeoutMs } : {}),
      });
    } else throw new Error('ExchangeServer needs `reviewer` or `kubeConfig`');
    const { app, sweepRateLimits } = exchangeApp({
      reviewer: this.reviewer,
      index: options.index,
      credentials: options.credentials,
      maxBodyBytes: config.maxBodyBytes,
      rateLimit: config.rateLimit,
      log,
      ...(options.ready ? { ready: options.ready } : {}),
      ...(options.onRequest ? { onRequest: options.onRequest } : {}),
      ...(options.jwks ? { jwks: options.jwks } : {}),
    });
    this.app = app;
    this.sweepRateLimits = sweepRateLimits;
    this.transport = new Transport({
      port: config.port,
      maxConnections: config.maxConnections,
      log,
      ...(options.onConnectionDropped ? { onConnectionDropped: options.onConnectionDropped } : {}),
      ...(config.tls ? { tls: config.tls } : {}),
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.headersTimeoutMs !== undefined ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
      ...(options.tlsReloadIntervalMs !== undefined ? { tlsReloadIntervalMs: options.tlsReloadIntervalMs } : {}),
    });
  }

  /** Starts listening on config.port (0 picks a free port). Resolves with the bound port and URL. */
  async start(): Promise<{ port: number; url: string }> {
    const listening = await this.transport.start(this.app);
    this.sweepTimer = setInterval(this.sweepRateLimits, 60_000);
    this.sweepTimer.unref();
    return listening;
  }

  /** Stops accepting connections, lets requests in progress finish for a few seconds (their answers closing their connections), then closes the rest. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.transport.stop();
  }

  /** The TLS reloader, when serving HTTPS (tests use it to force a check). */
  get certificates(): CertificateReloader | undefined {
    return this.transport.certificates;
  }
}
