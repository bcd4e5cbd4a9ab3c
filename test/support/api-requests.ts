// Requests the API server has served, from its own metrics: what the benchmark reports per
// FliptClient, and what tests count to prove an operator sent nothing (a no-op patch changes no
// object, so no watch sees it, but it still costs the API server).
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, request } from 'undici';

/** apiserver_request_total by "VERB resource[/subresource]", summed over every other label. */
export async function requestCounts(kubeConfig: KubeConfig): Promise<Map<string, number>> {
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await request(`${kubeConfig.getCurrentCluster()!.server}/metrics`, { headers: { authorization: `Bearer ${kubeConfig.getCurrentUser()!.token}` }, dispatcher });
    const counts = new Map<string, number>();
    for (const line of (await res.body.text()).split('\n')) {
      if (!line.startsWith('apiserver_request_total{')) continue;
      const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return counts;
  } finally {
    await dispatcher.close();
  }
}

/** The requests that change objects (leases aside: a leader renews its own) served between two counts. */
export function writesBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const writes = new Map<string, number>();
  for (const [key, value] of after) {
    const [verb, resource] = key.split(' ') as [string, string];
    if (!['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY'].includes(verb) || resource.startsWith('leases') || resource.endsWith('reviews')) continue;
    const served = value - (before.get(key) ?? 0);
    if (served > 0) writes.set(key, served);
  }
  return writes;
}
