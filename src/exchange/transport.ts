// The exchange's transport: listening (HTTPS with a certificate reloaded from files, or plain HTTP with
// a warning), deadlines for slow requests, bounded headers, and the answers Node's HTTP parser gives
// before a request reaches the app (408, 431, 400), in the same JSON shape as every other refusal.
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { listen } from '../runtime/listen.ts';
import { OncePer } from '../util/once-per.ts';
import { CertificateReloader } from './tls.ts';
import { GrpcCode } from './wire.ts';

/** How long requests in progress may run on after stop() before their connections are closed. */
const STOP_GRACE_MS = 5_000;
/** At most one log line per this long about dropped connections: a flood of them must not flood the log too. */
const DROP_LOG_INTERVAL_MS = 60_000;

export interface TransportOptions {
  port: number;
  /** Listen address (default: all interfaces). */
  host?: string;
  tls?: { certFile: string; keyFile: string };
  /** Connections open at once; Node closes the ones beyond at once, unserved. */
  maxConnections: number;
  /** A connection was closed unserved at maxConnections (for the metric). */
  onConnectionDropped?: () => void;
  /**
   * Whole-request deadline, headers and body (default 10 s); slower requests get 408 and are closed. A
   * TLS handshake gets as long, and so does a request's socket that neither sends nor reads (a client
   * that stops reading its answer). A connection that sends nothing gets the headers deadline.
   */
  requestTimeoutMs?: number;
  /** Deadline for the request headers (default 5 s, never above requestTimeoutMs). */
  headersTimeoutMs?: number;
  /** How often the TLS files are polled for changes (default 10 s). */
  tlsReloadIntervalMs?: number;
  log: Logger;
}

export class Transport {
  private readonly options: TransportOptions;
  private server: HttpServer | HttpsServer | undefined;
  private reloader: CertificateReloader | undefined;
  /** Answers not yet finished: once stopping, each closes its connection, so a caller's next request goes to a new one. */
  private readonly answering = new Set<ServerResponse>();

  constructor(options: TransportOptions) {
    this.options = options;
  }

  /** Starts listening (port 0 picks a free port). Resolves with the bound port and URL. */
  async start(app: RequestListener): Promise<{ port: number; url: string }> {
    if (this.server) throw new Error('exchange server already started');
    const { tls, log } = this.options;
    const requestTimeout = this.options.requestTimeoutMs ?? 10_000;
    const serverOptions: ServerOptions = {
      requestTimeout,
      headersTimeout: Math.min(this.options.headersTimeoutMs ?? 5_000, requestTimeout),
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(requestTimeout / 4))),
      maxHeaderSize: 16 * 1024,
    };
    const listener: RequestListener = (req, res) => {
      if (!this.server) res.setHeader('Connection', 'close'); // arrived during stop()'s grace
      this.answering.add(res);
      res.once('close', () => this.answering.delete(res));
      app(req, res);
    };
    let server: HttpServer | HttpsServer;
    if (tls) {
      this.reloader = new CertificateReloader({
        certFile: tls.certFile,
        keyFile: tls.keyFile,
        log,
        ...(this.options.tlsReloadIntervalMs !== undefined ? { intervalMs: this.options.tlsReloadIntervalMs } : {}),
      });
      // Node's handshake deadline is 120 s by default: a connection that never finishes TLS would hold a socket that long.
      server = createHttpsServer({ ...serverOptions, ...this.reloader.keyPair, minVersion: 'TLSv1.2', handshakeTimeout: requestTimeout }, listener);
    } else {
      server = createHttpServer(serverOptions, listener);
    }
    server.maxHeadersCount = 64;
    server.maxConnections = this.options.maxConnections;
    server.on('drop', this.dropListener());
    server.timeout = requestTimeout; // a socket with nothing sent or read for that long, such as a client that stops reading its answer
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => rejectConnection(err, socket));
    this.server = server;
    try {
      await listen(server, this.options.port, 'exchange', this.options.host);
    } catch (err) {
      this.server = undefined;
      this.reloader = undefined;
      throw err;
    }
    server.on('error', (err) => log.error({ err: err.message }, 'exchange server error'));
    this.reloader?.start(server as HttpsServer);
    const { port } = server.address() as AddressInfo;
    const host = this.options.host && this.options.host !== '0.0.0.0' && this.options.host !== '::' ? this.options.host : '127.0.0.1';
    const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    if (tls) log.info({ port, tls: true }, 'exchange service listening (HTTPS)');
    else log.warn({ port, tls: false }, 'exchange service listening over plain HTTP: tokens cross the network unencrypted; configure exchange.tls');
    return { port, url };
  }

  /** Counts each connection dropped at maxConnections; logs the count since the start at most once per DROP_LOG_INTERVAL_MS. */
  private dropListener(): () => void {
    const { maxConnections, log, onConnectionDropped } = this.options;
    const logLine = new OncePer(DROP_LOG_INTERVAL_MS);
    let droppedTotal = 0;
    return () => {
      onConnectionDropped?.();
      droppedTotal++;
      if (logLine.due()) {
        log.warn({ maxConnections, droppedTotal }, 'exchange connections closed unserved: exchange.maxConnections are open (a caller holding connections, or the cap too low for the callers)');
      }
    };
  }

  /**
   * Stops accepting connections and closes the idle ones; requests in progress may finish for up to
   * STOP_GRACE_MS, each answer closing its connection (`Connection: close`); then the rest are closed.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.reloader?.stop();
    for (const res of this.answering) if (!res.headersSent) res.setHeader('Connection', 'close');
    const closed = new Promise<void>((resolve) => server.close(() => resolve())); // close() also closes the idle connections (Node 19+)
    const timer = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  /** The TLS reloader, when serving HTTPS (tests use it to force a check). */
  get certificates(): CertificateReloader | undefined {
    return this.reloader;
  }
}

/** Node's HTTP layer refused the request (slow, oversized headers, malformed): answer in Flipt's shape and close. */
function rejectConnection(err: NodeJS.ErrnoException, socket: Socket): void {
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inProgress?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, text, message, code] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'the request took too long', GrpcCode.Unavailable]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'request headers too large', GrpcCode.InvalidArgument]
        : [400, 'Bad Request', 'malformed HTTP request', GrpcCode.InvalidArgument];
  const body = JSON.stringify({ code, message, details: [] });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`);
  // A client that never closes its side (a slow drip) is cut off shortly after the answer.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
