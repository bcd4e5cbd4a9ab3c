// The Event recorder against the real API server: a note longer than the API server takes is cut to
// fit (1 KiB of UTF-8, between characters) rather than refused, so `kubectl describe` still shows it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { EventRecorder } from '../../src/kube/events.ts';
import { createNamespace, testCluster, waitFor } from '../support/cluster.ts';

test('an Event whose note passes 1 KiB is recorded with its note cut to 1 KiB, multi-byte characters whole', async () => {
  const { clients } = await testCluster();
  const namespace = await createNamespace(clients, 'events');
  const recorder = new EventRecorder(clients.json, pino({ level: 'silent' }));
  const subject = (name: string) => ({ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace, uid: '00000000-0000-0000-0000-000000000001' } });
  try {
    recorder.record(subject('ascii'), 'Warning', 'SecretWriteFailed', 'x'.repeat(3000));
    // 600 characters of two bytes each: within 1,024 characters, not within 1,024 bytes.
    recorder.record(subject('accented'), 'Warning', 'SecretWriteFailed', `${'é'.repeat(600)}`);
    const notes = async () => Object.fromEntries((await clients.events.listNamespacedEvent({ namespace })).items.map((e) => [e.regarding!.name!, e.note!]));
    await waitFor(async () => Object.keys(await notes()).length === 2, 'both Events recorded', 10_000, 100);
    const { ascii, accented } = await notes();
    assert.equal(ascii, 'x'.repeat(1024));
    assert.equal(accented, 'é'.repeat(512));
  } finally {
    await clients.core.deleteNamespace({ name: namespace });
  }
});
