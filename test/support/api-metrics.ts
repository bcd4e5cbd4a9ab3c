// The API server's own count of requests (apiserver_request_total from its /metrics), so tests count
// the calls the operator made where they arrived, not with the operator's counters.
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, request } from 'undici';

/** Requests the API server has served for the resource (optionally one verb, e.g. POST), summed over every label set. */
export async function apiServerRequests(kubeConfig: KubeConfig, resource: string, verb?: string): Promise<number> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await request(`${kubeConfig.getCurrentCluster()!.server}/metrics`, {
      headers: { authorization: `Bearer ${kubeConfig.getCurrentUser()!.token}` },
      dispatcher,
    });
    const text = await res.body.text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith('apiserver_request_total{') || !line.includes(`resource="${resource}"`)) continue;
      if (verb && !line.includes(`verb="${verb}"`)) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  } finally {
    await dispatcher.close();
  }
}
