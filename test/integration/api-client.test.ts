// How the operator's clients talk to the API server. HTTP/1.1 only: over HTTP/2, an operator stopped
// right after a burst of 500 clients (about one stop in three) blocked its event loop in Node's HTTP/2
// session send path until it aborted with std::bad_alloc, its Lease never handed back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { getJson, loadKubeConfig, makeClients } from '../../src/kube/client.ts';
import { Informer } from '../../src/runtime/informer.ts';
import { createLogger } from '../../src/log.ts';
import { testCluster } from '../support/cluster.ts';

/** The application protocol each new connection to the API server negotiated while `run` ran. */
async function protocolsDuring(run: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onConnected = (message: unknown) => {
    const { socket } = message as { socket: TLSSocket };
    seen.push(String(socket.alpnProtocol));
  };
  subscribe('undici:client:connected', onConnected);
  try {
    await run();
  } finally {
    unsubscribe('undici:client:connected', onConnected);
  }
  return seen;
}

test('the API server offers HTTP/2, and the operator\'s clients, watches included, use HTTP/1.1', async () => {
  const { kubeconfigPath } = await testCluster();
  const kubeConfig = loadKubeConfig(kubeconfigPath);
  const server = kubeConfig.getCurrentCluster()!.server;

  // Without the restriction undici would take HTTP/2: the server offers it.
  const plain = new Agent({ connect: { rejectUnauthorized: false } });
  const offered = await protocolsDuring(async () => {
    const res = await request(`${server}/livez`, { dispatcher: plain });
    await res.body.dump();
  });
  await plain.close();
  assert.deepEqual(offered, ['h2']);

  const used = await protocolsDuring(async () => {
    const clients = makeClients(kubeConfig);
    // A few at once, so that more than one connection is needed and made.
    await Promise.all(Array.from({ length: 4 }, () => clients.core.listNamespace()));
    await getJson(kubeConfig, '/api/v1/namespaces?limit=1');
    const informer = new Informer(kubeConfig, { name: 'namespaces', path: '/api/v1/namespaces', onChange: () => {} }, createLogger('silent'));
    void informer.start();
    await informer.waitForSync();
    await informer.stop();
  });
  assert.ok(used.length >= 2, `connections made: ${used.length}`);
  assert.deepEqual(new Set(used), new Set(['http/1.1']));
});
