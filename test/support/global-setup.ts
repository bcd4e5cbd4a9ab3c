// Node's test runner calls these once per run: one control plane serves every test file, which reach
// it through FCO_TEST_KUBECONFIG (child test processes inherit this process's environment).
import { startControlPlane, type ControlPlane } from './controlplane.ts';

let controlPlane: ControlPlane | undefined;

export async function globalSetup(): Promise<void> {
  if (process.env.FCO_TEST_KUBECONFIG) return;
  controlPlane = await startControlPlane();
  process.env.FCO_TEST_KUBECONFIG = controlPlane.kubeconfigPath;
  process.stdout.write(`# control plane ready at ${controlPlane.server} in ${controlPlane.startupMs} ms\n`);
}

export async function globalTeardown(): Promise<void> {
  await controlPlane?.stop();
}
