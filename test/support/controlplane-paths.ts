import { fileURLToPath } from 'node:url';

export const controlPlaneSourceDir = fileURLToPath(new URL('../controlplane/', import.meta.url));
export const controlPlaneBinary = fileURLToPath(new URL('../controlplane/bin/controlplane', import.meta.url));
