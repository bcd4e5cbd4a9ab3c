// Flipt's own reading of a config file: test/tools/fliptconfig decodes it with the viper and YAML
// libraries Flipt v2.11.0 uses and reports the static tokens Flipt would load and every string Flipt
// would resolve as a reference, and the authentication switches as its environment and the file set
// them. Built once per process from its Go module (Go's build cache keeps it).
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { scratchDir } from './scratch.ts';

const SOURCE = fileURLToPath(new URL('../tools/fliptconfig/', import.meta.url));
const run = promisify(execFile);

export interface FliptReading {
  tokens: Record<string, { credential: string; metadata: Record<string, string> | null }>;
  jwt: { enabled: boolean; validateClaims: { issuer: string; subject: string; audiences: string[] | null }; jwksUrl: string; publicKeyFile: string };
  kubernetesEnabled: boolean;
  /** Strings Flipt would replace with an environment variable or a secret. */
  references: string[];
  authenticationRequired: boolean;
  tokenEnabled: boolean;
  tokenStorageType: string;
}

let binary: Promise<string> | undefined;

function build(): Promise<string> {
  binary ??= (async () => {
    const dir = scratchDir('fliptconfig');
    const path = join(dir, 'fliptconfig');
    await run('go', ['build', '-o', path, '.'], { cwd: SOURCE, env: { ...process.env, GOWORK: 'off' } });
    return path;
  })();
  return binary;
}

/** What Flipt reads from this config text, with exactly these variables in its environment. */
export async function readAsFlipt(configText: string, env: Record<string, string> = {}): Promise<FliptReading> {
  const path = await build();
  const dir = scratchDir('flipt-config');
  const file = join(dir, 'default.yml');
  await writeFile(file, configText);
  const { stdout } = await run(path, [file], { env });
  return JSON.parse(stdout) as FliptReading;
}
