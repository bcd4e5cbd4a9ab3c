// The API server's own count of requests (apiserver_request_total from its /metrics), so tests and the
// benchmark count the calls the operator made where they arrived, not with the operator's counters.
// A patch that changes nothing changes no object, so no watch sees it; it still costs the API server.
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

/** Requests the API server has served for the resource, its subresources included (optionally one verb, e.g. POST). */
export async function apiServerRequests(kubeConfig: KubeConfig, resource: string, verb?: string): Promise<number> {
  let total = 0;
  for (const [key, count] of await requestCounts(kubeConfig)) {
    const [keyVerb, keyResource] = key.split(' ') as [string, string];
    if (keyResource.split('/')[0] === resource && (!verb || keyVerb === verb)) total += count;
  }
  return total;
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
