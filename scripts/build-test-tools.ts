// Builds the Go tools the tests use (helm and kustomize, pinned in test/tools/go.mod) before the
// tests start, so a cold build shows progress instead of a silent test. Go's build cache keeps them.
import { fileURLToPath } from 'node:url';
import { runWithProgress } from './lib/run-with-progress.ts';

const cwd = fileURLToPath(new URL('../test/tools/', import.meta.url));
const env = { ...process.env, GOWORK: 'off' };
console.log('test tools: building helm and kustomize from Go modules if needed (cold: about 4 minutes)');
const seconds = await runWithProgress('test tools', 'go', ['build', '-o', '/dev/null', 'helm.sh/helm/v3/cmd/helm', 'sigs.k8s.io/kustomize/kustomize/v5'], { cwd, env });
console.log(`test tools: ready in ${seconds}s`);
