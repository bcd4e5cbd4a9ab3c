// What `kubectl get fc -o wide` prints: the API server's Table rendering of the CRD's printer columns.
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, request } from 'undici';

/** One row per FliptClient of the namespace, column name -> printed cell, as kubectl's -o wide shows them. */
export async function printedRows(kubeConfig: KubeConfig, namespace: string): Promise<Record<string, string>[]> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await request(`${kubeConfig.getCurrentCluster()!.server}/apis/flipt.io/v1alpha1/namespaces/${namespace}/fliptclients`, {
      headers: {
        authorization: `Bearer ${kubeConfig.getCurrentUser()!.token}`,
        accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
      },
      dispatcher,
    });
    const table = (await res.body.json()) as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
    return table.rows.map((row) => Object.fromEntries(table.columnDefinitions.map((col, i) => [col.name, String(row.cells[i] ?? '')])));
  } finally {
    await dispatcher.close();
  }
}
