#!/usr/bin/env node
// The operator's entry point: parse flags, load and validate the config, connect to the API server,
// run until SIGTERM. Any problem before running is one clear line on stderr and a non-zero exit.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadOperatorConfig } from './config/operator-config.ts';
import { checkApiServer, loadKubeConfig } from './kube/client.ts';
import { createLogger } from './log.ts';
import { Operator } from './operator.ts';
import { keepMemoryReducerWorking } from './runtime/memory-reducer.ts';

const DEFAULT_CONFIG = '/etc/flipt-client-operator/config.yaml';

const USAGE = `Usage: flipt-client-operator [options]

Issues Flipt client credentials for FliptClient resources, registers them in Flipt's config,
restarts Flipt once per burst of changes, and serves the token exchange endpoint.

Options:
  -c, --config <file>     operator config file (env FLIPT_OPERATOR_CONFIG; default ${DEFAULT_CONFIG})
      --kubeconfig <file> kubeconfig to use (env KUBECONFIG; default: in-cluster service account)
  -h, --help              show this help
  -v, --version           print the version

Environment: LOG_LEVEL (default info), POD_NAMESPACE (lease namespace default), POD_NAME.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function fail(message: string, code = 1): never {
  process.stderr.write(`flipt-client-operator: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message} (see --help)`, 2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return;
  }

  const configPath = values.config ?? process.env.FLIPT_OPERATOR_CONFIG ?? DEFAULT_CONFIG;
  let config;
  try {
    config = await loadOperatorConfig(configPath);
  } catch (err) {
    fail(err instanceof ConfigError ? err.message : String(err));
  }

  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(values.kubeconfig);
  } catch (err) {
    fail(`cannot load Kubernetes credentials: ${(err as Error).message.split('\n')[0]}`);
  }
  const log = createLogger();
  let serverVersion;
  try {
    serverVersion = await checkApiServer(kubeConfig);
  } catch (err) {
    fail((err as Error).message);
  }
  log.info({ version: version(), config: configPath, apiServer: kubeConfig.getCurrentCluster()?.server, serverVersion }, 'starting');

  keepMemoryReducerWorking();
  const operator = new Operator({ config, kubeConfig, log });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    await operator.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await operator.run();
  } catch (err) {
    await operator.stop().catch(() => {});
    fail((err as Error).message.split('\n')[0]!);
  }
}

await main();
