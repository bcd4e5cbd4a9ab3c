// The operator as a real process (node src/main.ts) with a given config and kubeconfig. Its output is
// kept so tests can read its logs and check that no credential ever appears in them.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { scratchDir } from './scratch.ts';

// FCO_OPERATOR_ENTRY=dist/main.js runs the compiled build (as the image does) instead of the sources.
// Read at each start, not when this module loads: a script that sets it in its own body (the
// benchmark) runs after its imports.
const operatorEntry = () => process.env.FCO_OPERATOR_ENTRY ?? fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface OperatorProcess {
  child: ChildProcess;
  output: () => string;
  /** The JSON log lines of its output so far (pino's: `level` as a label, `msg`, then the fields). */
  logRecords: () => Array<{ level: string; msg: string } & Record<string, unknown>>;
  /** SIGTERM and wait for a graceful exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash at whatever point the process is. */
  kill(): Promise<void>;
  exited: Promise<number | null>;
}

// Below Linux's ephemeral range (32768 and up): a port the kernel lent to an outgoing connection
// cannot be listened on, and a restarted operator reuses its predecessor's ports.
let nextPort = 20000 + Math.floor(Math.random() * 12000);

export interface WrittenConfig {
  path: string;
  ports: { health: number; metrics: number; exchange: number };
}

/** Writes an operator config with its own ports for probes, metrics and the exchange. */
export function writeOperatorConfig(config: Record<string, unknown>): WrittenConfig {
  const dir = scratchDir('operator-config');
  const path = join(dir, 'config.yaml');
  const ports = { health: nextPort++, metrics: nextPort++, exchange: nextPort++ };
  const full = {
    health: { port: ports.health },
    metrics: { port: ports.metrics },
    leaderElection: { enabled: true, namespace: 'default', leaseName: `fco-${process.pid}-${nextPort}` },
    ...config,
    exchange: { port: ports.exchange, enabled: false, ...(config.exchange as object | undefined) },
  };
  writeFileSync(path, stringify(full));
  return { path, ports };
}

export function startOperator(configPath: string, kubeconfigPath: string, env: Record<string, string> = {}): OperatorProcess {
  // FCO_OPERATOR_NODE_ARGS: extra Node flags, e.g. the image's --max-old-space-size=256 --max-semi-space-size=4.
  const nodeArgs = process.env.FCO_OPERATOR_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, operatorEntry(), '--config', configPath, '--kubeconfig', kubeconfigPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'debug', ...env },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    logRecords: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: string; msg: string } & Record<string, unknown>),
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
