// A plain-HTTP proxy in front of the API server that can cut one operator off as a network partition
// would: while partitioned nothing reaches the server and nothing comes back (requests hang, watch
// streams go silent), and when it heals the requests whose connection is still open are delivered
// late, as TCP would retransmit them. It can also make some watches lag: their events held back while
// every other request and watch passes, as when one of the API server's watch caches falls behind; and
// it can stall chosen writes, never delivered, to stop an operator between two of its writes, or delay
// them, delivered when the test says, to land someone else's write before the operator's. It
// records every write the server accepted through it, with the resourceVersion the server gave it, so
// a test can order them against other writes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

export interface ProxiedWrite {
  method: string;
  path: string;
  status: number;
  resourceVersion: number | undefined;
}

interface Held {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  gone: boolean;
}

export class ApiProxy {
  readonly url: string;
  /** Writes (non-GET) the server answered with 2xx, in the order the answers came. */
  readonly writes: ProxiedWrite[] = [];
  /** Requests held by the partition whose client gave up (closed the connection) before it healed. */
  abandoned = 0;
  /** Requests held by the partition and delivered when it healed, and how many of them were writes. */
  delivered = 0;
  deliveredWrites = 0;
  private readonly server: Server;
  private readonly upstream: string;
  // HTTP/1.1, a connection per request in flight, as a network path carries them (and watches never queue behind one another).
  private readonly dispatcher = new Agent({ connect: { rejectUnauthorized: false }, allowH2: false });
  private partitioned = false;
  private readonly held: Held[] = [];
  private readonly silenced = new Set<() => void>();
  private lagging: RegExp | undefined;
  private readonly lagged = new Set<() => void>();
  private stalling: RegExp | undefined;
  /** Writes stalled so far (never delivered). */
  readonly stalled: Array<{ method: string; path: string }> = [];
  private readonly stalledResponses: ServerResponse[] = [];
  private delaying: RegExp | undefined;
  private readonly delayed: Held[] = [];

  private constructor(server: Server, upstream: string, url: string) {
    this.server = server;
    this.upstream = upstream;
    this.url = url;
  }

  static async start(upstream: string): Promise<ApiProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new ApiProxy(server, upstream, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => void proxy.handle(req, res).catch(() => res.destroy()));
    return proxy;
  }

  /** From now on nothing passes, either way. */
  partition(): void {
    this.partitioned = true;
  }

  /** Delivers what was held and still wanted, then passes everything again. */
  heal(): void {
    this.partitioned = false;
    for (const resume of this.silenced) resume();
    this.silenced.clear();
    for (const held of this.held.splice(0)) {
      if (held.gone) {
        this.abandoned++;
        continue;
      }
      this.delivered++;
      if (held.req.method !== 'GET') this.deliveredWrites++;
      void this.forward(held.req, held.res, held.body);
    }
  }

  /** From now on the watches whose path and query match hold their events back (until catchUp). */
  lag(watches: RegExp): void {
    this.lagging = watches;
  }

  /** The lagging watches pass on what they held, and everything after. */
  catchUp(): void {
    this.lagging = undefined;
    for (const resume of this.lagged) resume();
    this.lagged.clear();
  }

  /** From now on the writes whose `<METHOD> <path>` matches are held and never delivered (until stopStalling). */
  stall(writes: RegExp): void {
    this.stalling = writes;
  }

  /** Writes pass again; the stalled ones are dropped, as a connection to a dead client is. */
  stopStalling(): void {
    this.stalling = undefined;
    for (const res of this.stalledResponses.splice(0)) res.destroy();
  }

  /** From now on the writes whose `<METHOD> <path>` matches wait, until deliverDelayed. */
  delay(writes: RegExp): void {
    this.delaying = writes;
  }

  /** Writes waiting in delay (their client still waiting for the answer). */
  get delayedWrites(): number {
    return this.delayed.filter((held) => !held.gone).length;
  }

  /** The delayed writes go on to the server now, in the order they came; writes pass again. */
  deliverDelayed(): void {
    this.delaying = undefined;
    for (const held of this.delayed.splice(0)) if (!held.gone) void this.forward(held.req, held.res, held.body);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    // Open watches never finish on their own.
    await this.dispatcher.destroy();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method !== 'GET' && this.stalling?.test(`${req.method} ${req.url}`)) {
      this.stalled.push({ method: req.method ?? '', path: req.url ?? '' });
      this.stalledResponses.push(res);
      return;
    }
    const delayed = req.method !== 'GET' && this.delaying?.test(`${req.method} ${req.url}`);
    if (this.partitioned || delayed) {
      const held: Held = { req, res, body, gone: false };
      res.once('close', () => (held.gone = true));
      (delayed ? this.delayed : this.held).push(held);
      return;
    }
    await this.forward(req, res, body);
  }

  private async forward(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => !['host', 'connection', 'keep-alive', 'transfer-encoding'].includes(name)));
    const method = req.method ?? 'GET';
    let answer;
    try {
      answer = await request(`${this.upstream}${req.url}`, {
        method: method as 'GET',
        headers: headers as Record<string, string>,
        ...(body.length > 0 ? { body } : {}),
        dispatcher: this.dispatcher,
        // Watches stay open for minutes, silent in between.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    } catch {
      res.destroy();
      return;
    }
    const responseHeaders = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !['connection', 'keep-alive', 'transfer-encoding'].includes(name)));
    if (method !== 'GET') {
      const text = await answer.body.text();
      if (answer.statusCode >= 200 && answer.statusCode < 300) {
        const rv = Number((JSON.parse(text) as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion);
        this.writes.push({ method, path: req.url ?? '', status: answer.statusCode, resourceVersion: Number.isFinite(rv) && rv > 0 ? rv : undefined });
      }
      await this.whenConnected();
      res.writeHead(answer.statusCode, responseHeaders as Record<string, string>).end(text);
      return;
    }
    res.writeHead(answer.statusCode, responseHeaders as Record<string, string>);
    // A watch answers its headers at once and events later: pass the headers on now.
    res.flushHeaders();
    // A stream (a watch) goes silent while partitioned, and resumes when healed.
    for await (const chunk of answer.body) {
      await this.whenConnected();
      await this.whenCaughtUp(req.url ?? '');
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
      if (res.destroyed) break;
    }
    res.end();
  }

  private whenCaughtUp(url: string): Promise<void> {
    if (!this.lagging?.test(url)) return Promise.resolve();
    return new Promise((resolve) => this.lagged.add(resolve));
  }

  private whenConnected(): Promise<void> {
    if (!this.partitioned) return Promise.resolve();
    return new Promise((resolve) => this.silenced.add(resolve));
  }
}
