// Builds the Go tools the tests use before the tests start, so a cold build shows progress instead of
// a silent test; Go's build cache keeps them. helm and kustomize are pinned in test/tools/go.mod;
// test/tools/fliptconfig (Flipt's own config reader: viper and its YAML decoder) and test/tools/promtool
// (Prometheus' promtool and PromQL parser, for the chart's alerts) are modules of their own.
import { fileURLToPath } from 'node:url';
import { buildPromtool, downloadPrometheusOperator } from '../test/support/promtool.ts';
import { runWithProgress } from './lib/run-with-progress.ts';

const tools = fileURLToPath(new URL('../test/tools/', import.meta.url));
const env = { ...process.env, GOWORK: 'off' };
console.log('test tools: building helm, kustomize, the Flipt config reader and promtool from Go modules if needed (cold: about 9 minutes)');
const started = Date.now();
await runWithProgress('test tools', 'go', ['build', '-o', '/dev/null', 'helm.sh/helm/v3/cmd/helm', 'sigs.k8s.io/kustomize/kustomize/v5'], { cwd: tools, env });
await runWithProgress('test tools', 'go', ['build', '-o', '/dev/null', '.'], { cwd: `${tools}fliptconfig/`, env });
// promtool and promql-selectors into test/tools/promtool/bin/, unless up to date.
await buildPromtool();
// The Prometheus Operator's CRDs, to apply the chart's PrometheusRule and ServiceMonitor to the API server.
await downloadPrometheusOperator();
console.log(`test tools: ready in ${Math.round((Date.now() - started) / 1000)}s`);
