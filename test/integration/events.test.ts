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
    // Within 1,024 characters, not within 1,024 bytes; the odd first byte puts no character boundary at the limit.
    recorder.record(subject('accented'), 'Warning', 'SecretWriteFailed', `x${'é'.repeat(600)}`);
    // Four bytes and two UTF-16 units each: a cut between units would leave half a character.
    recorder.record(subject('emoji'), 'Warning', 'SecretWriteFailed', `x${'😀'.repeat(300)}`);
    const notes = async () => Object.fromEntries((await clients.events.listNamespacedEvent({ namespace })).items.map((e) => [e.regarding!.name!, e.note!]));
    await waitFor(async () => Object.keys(await notes()).length === 3, 'every Event recorded', 10_000, 100);
    const { ascii, accented, emoji } = await notes();
    assert.equal(ascii, 'x'.repeat(1024));
    assert.equal(accented, `x${'é'.repeat(511)}`);
    assert.equal(emoji, `x${'😀'.repeat(255)}`);
  } finally {
    await clients.core.deleteNamespace({ name: namespace });
  }
});
