// Serving certificate and key from files, reloaded when they change (cert-manager rewrites the mounted
// Secret through a symlink swap, which fs.watch does not always report, so the files are also polled).
// A pair that does not load (a half-written rotation, a key that does not match) is logged and skipped:
// the server keeps its last good certificate and tries again on the next change or poll.
import { createHash } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export interface CertificateReloaderOptions {
  certFile: string;
  keyFile: string;
  /** Poll the files this often (default 10 s). */
  intervalMs?: number;
  log: Logger;
}

export class CertificateReloader {
  private readonly options: CertificateReloaderOptions;
  private current: string;
  private timer: NodeJS.Timeout | undefined;
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private server: HttpsServer | undefined;
  private readonly initial: KeyPair;
  private reloadCount = 0;

  /** Reads the pair synchronously (so a bad configuration fails at start-up) and checks it loads. */
  constructor(options: CertificateReloaderOptions) {
    this.options = options;
    const pair = { cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) };
    createSecureContext(pair); // throws on a mismatched or unreadable pair
    this.initial = pair;
    this.current = digest(pair);
  }

  get keyPair(): KeyPair {
    return this.initial;
  }

  /** How many times a changed pair was loaded into the server. */
  get reloads(): number {
    return this.reloadCount;
  }

  start(server: HttpsServer): void {
    this.server = server;
    const interval = this.options.intervalMs ?? 10_000;
    this.timer = setInterval(() => void this.check(), interval);
    this.timer.unref();
    for (const dir of new Set([dirname(this.options.certFile), dirname(this.options.keyFile)])) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.soon());
        watcher.on('error', () => watcher.close());
        this.watchers.push(watcher);
      } catch {
        // Polling alone still picks up changes.
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  /** Checks the files now; resolves once a changed pair was loaded (or found unusable). */
  check(): Promise<void> {
    this.checking ??= this.reloadIfChanged().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), 200);
    this.debounce.unref();
  }

  private async reloadIfChanged(): Promise<void> {
    let pair: KeyPair;
    try {
      pair = { cert: await readFile(this.options.certFile), key: await readFile(this.options.keyFile) };
    } catch (err) {
      this.options.log.warn({ code: (err as NodeJS.ErrnoException).code }, 'cannot read the exchange TLS certificate or key; keeping the current one');
      return;
    }
    const next = digest(pair);
    if (next === this.current) return;
    try {
      createSecureContext(pair);
      this.server?.setSecureContext(pair);
    } catch (err) {
      this.options.log.warn({ reason: (err as Error).message }, 'the new exchange TLS certificate does not load; keeping the current one');
      return;
    }
    this.current = next;
    this.reloadCount++;
    const certFingerprint = createHash('sha256').update(pair.cert).digest('hex').slice(0, 16);
    this.options.log.info({ certFingerprint }, 'reloaded the exchange TLS certificate');
  }
}

function digest(pair: KeyPair): string {
  return createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
}
