// Builds the Go tools the tests use before the tests start, so a cold build shows progress instead of
// a silent test; Go's build cache keeps them. helm and kustomize are pinned in test/tools/go.mod;
// test/tools/fliptconfig (Flipt's own config reader: viper and its YAML decoder) is a module of its own.
import { fileURLToPath } from 'node:url';
import { runWithProgress } from './lib/run-with-progress.ts';

const tools = fileURLToPath(new URL('../test/tools/', import.meta.url));
const env = { ...process.env, GOWORK: 'off' };
console.log('test tools: building helm, kustomize and the Flipt config reader from Go modules if needed (cold: about 4 minutes)');
const seconds =
  (await runWithProgress('test tools', 'go', ['build', '-o', '/dev/null', 'helm.sh/helm/v3/cmd/helm', 'sigs.k8s.io/kustomize/kustomize/v5'], { cwd: tools, env })) +
  (await runWithProgress('test tools', 'go', ['build', '-o', '/dev/null', '.'], { cwd: `${tools}fliptconfig/`, env }));
console.log(`test tools: ready in ${seconds}s`);
