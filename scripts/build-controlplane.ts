// Builds the test control plane (etcd + kube-apiserver in one Go binary) only when it is missing or
// its inputs changed. The Go build cache makes a rebuild after an unrelated change cheap; a cold build
// on 2 cores takes many minutes, so this prints a progress line every 30 seconds.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { controlPlaneBinary, controlPlaneSourceDir } from '../test/support/controlplane-paths.ts';
import { runWithProgress } from './lib/run-with-progress.ts';

const stampFile = `${controlPlaneBinary}.inputs`;

function inputsDigest(): string {
  const hash = createHash('sha256');
  const files = readdirSync(controlPlaneSourceDir)
    .filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum')
    .sort();
  for (const file of files) {
    hash.update(file).update('\0').update(readFileSync(join(controlPlaneSourceDir, file))).update('\0');
  }
  return hash.digest('hex');
}

async function build(): Promise<void> {
  const digest = inputsDigest();
  if (existsSync(controlPlaneBinary) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === digest) {
    console.log(`control plane: up to date (${controlPlaneBinary})`);
    return;
  }
  console.log('control plane: building kube-apiserver + etcd from Go modules (a cold build takes several minutes)');
  const partial = `${controlPlaneBinary}.partial`;
  mkdirSync(dirname(controlPlaneBinary), { recursive: true });
  const seconds = await runWithProgress('control plane', 'go', ['build', '-trimpath', '-buildvcs=false', '-o', partial, '.'], {
    cwd: controlPlaneSourceDir,
    env: { ...process.env, GOWORK: 'off', CGO_ENABLED: '0' },
  });
  renameSync(partial, controlPlaneBinary);
  writeFileSync(stampFile, digest);
  console.log(`control plane: built in ${seconds}s`);
}

await build();
