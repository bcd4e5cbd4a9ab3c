// `kustomize build`, from the Go module pinned in test/tools (Go's `tool` directive builds and caches it).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

const TOOLS = fileURLToPath(new URL('../tools/', import.meta.url));

export async function kustomizeBuild(dir: string): Promise<KubernetesObject[]> {
  const { stdout } = await promisify(execFile)('go', ['tool', 'kustomize', 'build', fileURLToPath(new URL(`../../${dir}`, import.meta.url))], {
    cwd: TOOLS,
    env: { ...process.env, GOWORK: 'off' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return (loadAllYaml(stdout) as KubernetesObject[]).filter(Boolean);
}
