// Builds the test control plane (etcd + kube-apiserver in one Go binary) only when it is missing or
// its inputs changed. The Go build cache makes a rebuild after an unrelated change cheap; a cold build
// on 2 cores takes many minutes, so this prints a progress line every 30 seconds.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { controlPlaneBinary, controlPlaneSourceDir } from '../test/support/controlplane-paths.ts';

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
  const started = Date.now();
  const partial = `${controlPlaneBinary}.partial`;
  mkdirSync(dirname(controlPlaneBinary), { recursive: true });
  const child = spawn('go', ['build', '-trimpath', '-buildvcs=false', '-o', partial, '.'], {
    cwd: controlPlaneSourceDir,
    env: { ...process.env, GOWORK: 'off', CGO_ENABLED: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const progress = setInterval(() => {
    console.log(`control plane: still building (${Math.round((Date.now() - started) / 1000)}s)`);
  }, 30_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  }).finally(() => clearInterval(progress));
  if (code !== 0) {
    console.error(`control plane: go build failed (exit ${code}); is Go >= 1.26 on PATH?`);
    process.exit(1);
  }
  renameSync(partial, controlPlaneBinary);
  writeFileSync(stampFile, digest);
  console.log(`control plane: built in ${Math.round((Date.now() - started) / 1000)}s`);
}

await build();
