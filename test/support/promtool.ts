// Prometheus' own tools, from the Go module pinned in test/tools/promtool: `promtool` (check and unit-test
// rule files) and promql-selectors (Prometheus' PromQL parser: which metrics and labels an expression
// reads). Built with -tags remove_all_sd: promtool needs none of Prometheus' service discovery plugins,
// and leaving them out cuts its build to less than half the CPU time and a third of the memory. `go tool`
// ignores build tags, so both are built with `go build` into test/tools/promtool/bin/ (ignored by git),
// again only when their inputs change; scripts/build-test-tools.ts does it before the tests start.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runWithProgress } from '../../scripts/lib/run-with-progress.ts';

export const PROMTOOL_MODULE_DIR = fileURLToPath(new URL('../tools/promtool/', import.meta.url));
const BIN = join(PROMTOOL_MODULE_DIR, 'bin');
const PROMTOOL = join(BIN, 'promtool');
const SELECTORS = join(BIN, 'promql-selectors');
const STAMP = join(BIN, '.inputs');
const GO_ENV = { ...process.env, GOWORK: 'off', CGO_ENABLED: '0' };

function inputsDigest(): string {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'promql-selectors/main.go']) hash.update(file).update('\0').update(readFileSync(join(PROMTOOL_MODULE_DIR, file))).update('\0');
  return hash.digest('hex');
}

/** Builds promtool and promql-selectors unless they are up to date; returns the seconds it took (0 when up to date). */
export async function buildPromtool(): Promise<number> {
  const digest = inputsDigest();
  if (existsSync(PROMTOOL) && existsSync(SELECTORS) && existsSync(STAMP) && readFileSync(STAMP, 'utf8') === digest) return 0;
  mkdirSync(BIN, { recursive: true });
  const flags = ['build', '-trimpath', '-buildvcs=false', '-tags', 'remove_all_sd'];
  const seconds =
    (await runWithProgress('promtool', 'go', [...flags, '-o', PROMTOOL, 'github.com/prometheus/prometheus/cmd/promtool'], { cwd: PROMTOOL_MODULE_DIR, env: GO_ENV })) +
    (await runWithProgress('promtool', 'go', [...flags, '-o', SELECTORS, './promql-selectors'], { cwd: PROMTOOL_MODULE_DIR, env: GO_ENV }));
  writeFileSync(STAMP, digest);
  return seconds;
}

/** The Prometheus Operator release whose CRDs (PrometheusRule, ServiceMonitor) the chart's objects are applied against. */
export const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator@v0.85.0';

export interface ToolResult {
  code: number;
  output: string;
}

/** Runs `promtool <args>` (give it absolute paths); resolves with its exit code and combined output. */
export async function promtool(args: string[]): Promise<ToolResult> {
  await buildPromtool();
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, output }));
  });
}

export interface SelectorUse {
  metric: string;
  labels: string[];
}

export interface ExpressionUse {
  expr: string;
  error?: string;
  selectors: SelectorUse[];
  grouping: string[];
}

/** Parses each expression with Prometheus' PromQL parser: its error, or the metrics and labels it reads. */
export async function analysePromql(exprs: string[]): Promise<ExpressionUse[]> {
  await buildPromtool();
  const child = execFile(SELECTORS, [], { maxBuffer: 16 * 1024 * 1024 });
  child.stdin!.end(JSON.stringify(exprs));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`promql-selectors exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as ExpressionUse[];
}

/** Downloads the pinned Prometheus Operator module into Go's module cache (a no-op once there). */
export async function downloadPrometheusOperator(): Promise<void> {
  await promisify(execFile)('go', ['mod', 'download', PROMETHEUS_OPERATOR_MODULE], { cwd: PROMTOOL_MODULE_DIR, env: GO_ENV });
}

/** A CRD file of the pinned Prometheus Operator release (downloaded once into Go's module cache). */
export async function prometheusOperatorCrd(file: string): Promise<string> {
  const { stdout } = await promisify(execFile)('go', ['mod', 'download', '-json', PROMETHEUS_OPERATOR_MODULE], { cwd: PROMTOOL_MODULE_DIR, env: GO_ENV });
  const { Dir } = JSON.parse(stdout) as { Dir: string };
  return readFile(join(Dir, 'example', 'prometheus-operator-crd', file), 'utf8');
}
