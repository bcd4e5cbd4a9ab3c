// `helm template`, from the Go module pinned in test/tools (Go's `tool` directive builds and caches it;
// the first build takes a few minutes, later runs start in well under a second).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

const TOOLS = fileURLToPath(new URL('../tools/', import.meta.url));

/**
 * Renders the chart at `chartDir` (relative to the repository root) as `helm install` would create it,
 * CRDs included: `values` are given as a values file (JSON is YAML), the release lives in `namespace`.
 * `helm install` does not create `helm test` hooks; `{ tests: true }` renders them too.
 */
export async function helmTemplate(
  chartDir: string,
  values: object = {},
  namespace = 'default',
  releaseName = 'flipt-client-operator',
  options: { tests?: boolean } = {},
): Promise<KubernetesObject[]> {
  const dir = await mkdtemp(join(tmpdir(), 'fco-helm-'));
  try {
    const valuesFile = join(dir, 'values.json');
    await writeFile(valuesFile, JSON.stringify(values));
    const chart = fileURLToPath(new URL(`../../${chartDir}`, import.meta.url));
    const { stdout } = await helm(['template', releaseName, chart, '--namespace', namespace, '--include-crds', '--values', valuesFile, ...(options.tests ? [] : ['--skip-tests'])]);
    // loadAllYaml builds client-node's typed models, which is what its serializer needs to keep every field.
    return (loadAllYaml(stdout) as KubernetesObject[]).filter(Boolean);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the pinned helm with these arguments; rejects with helm's stderr in the message. */
export async function helm(args: string[], options: { timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)('go', ['tool', 'helm', ...args], {
    cwd: TOOLS,
    env: { ...process.env, GOWORK: 'off' },
    maxBuffer: 16 * 1024 * 1024,
    timeout: options.timeoutMs ?? 0,
  });
}
