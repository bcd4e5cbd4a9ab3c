// Starts the project's own control plane (embedded etcd + real kube-apiserver) and stops it again.
// Every instance lives in its own temporary directory on free ports it picks in 10000-19999, so two runs in parallel
// never collide; a port lost to a race makes the binary exit early and the start is retried.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { controlPlaneBinary } from './controlplane-paths.ts';

export interface ControlPlane {
  server: string;
  kubeconfigPath: string;
  dir: string;
  pid: number;
  startupMs: number;
  stop(): Promise<void>;
  /** Stops it, waits `downtimeMs`, and starts it again on the same ports with the same data. */
  restart(downtimeMs?: number): Promise<void>;
  /** Lets this process exit while the control plane runs; it is killed (and its directory removed) on exit. */
  stopOnExit(): void;
}

interface Endpoint {
  server: string;
  kubeconfig: string;
  pid: number;
}

const READY_TIMEOUT_MS = 120_000;

export async function startControlPlane(attempts = 3): Promise<ControlPlane> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await startOnce();
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`control plane did not start after ${attempts} attempts: ${String(lastError)}`);
}

async function startOnce(): Promise<ControlPlane> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'fco-controlplane-'));
  let running: Running;
  try {
    running = await launch(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const controlPlane: ControlPlane = {
    server: running.endpoint.server,
    kubeconfigPath: running.endpoint.kubeconfig,
    dir,
    pid: running.endpoint.pid,
    startupMs: Date.now() - started,
    stop: async () => {
      await stopProcess(running.child);
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async (downtimeMs = 0) => {
      await stopProcess(running.child);
      await new Promise((r) => setTimeout(r, downtimeMs));
      running = await launch(dir);
      controlPlane.pid = running.endpoint.pid;
    },
    stopOnExit: () => {
      running.child.unref();
      (running.child.stdout as unknown as { unref?: () => void }).unref?.();
      (running.child.stderr as unknown as { unref?: () => void }).unref?.();
      process.once('exit', () => {
        running.child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      });
    },
  };
  return controlPlane;
}

interface Running {
  child: ChildProcess;
  endpoint: Endpoint;
}

/** Starts the binary in `dir` (a fresh one, or one it ran in before) and waits for /readyz. */
async function launch(dir: string): Promise<Running> {
  const child = spawn(controlPlaneBinary, ['--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderrTail: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 40) stderrTail.shift();
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`control plane exited early (code ${code}, signal ${signal}):\n${stderrTail.join('\n')}`)),
    );
    child.once('error', reject);
  });
  exited.catch(() => {});
  try {
    const endpoint = await Promise.race([firstLine(child), exited]);
    const token = await readAdminToken(endpoint.kubeconfig);
    await Promise.race([waitReady(endpoint.server, token), exited]);
    return { child, endpoint };
  } catch (err) {
    await stopProcess(child);
    throw err;
  }
}

async function firstLine(child: ChildProcess): Promise<Endpoint> {
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    if (line.startsWith('{')) return JSON.parse(line) as Endpoint;
  }
  throw new Error('control plane closed stdout before announcing its endpoint');
}

async function readAdminToken(kubeconfigPath: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const match = /token: (\S+)/.exec(await readFile(kubeconfigPath, 'utf8'));
  if (!match?.[1]) throw new Error(`no admin token in ${kubeconfigPath}`);
  return match[1];
}

async function waitReady(server: string, token: string): Promise<void> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  try {
    while (Date.now() < deadline) {
      try {
        const res = await request(`${server}/readyz`, {
          dispatcher,
          headers: { authorization: `Bearer ${token}` },
        });
        last = await res.body.text();
        if (res.statusCode === 200) return;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await dispatcher.close();
  }
  throw new Error(`control plane not ready after ${READY_TIMEOUT_MS / 1000}s: ${last}`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}
