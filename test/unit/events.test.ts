// The Event recorder's queue: a few Events in flight at once, a bounded number waiting, the rest
// dropped with a log line now and then; never an Event for an object without a name and namespace.
// (What the API server makes of an Event, its note cut to fit, is test/integration/events.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { JsonRequests } from '../../src/kube/client.ts';
import { EventRecorder } from '../../src/kube/events.ts';

/** A sender whose POSTs wait until released, counting how many are in flight at once. */
function heldSender() {
  const posts: Array<{ path: string; body: Record<string, unknown> }> = [];
  const release: Array<() => void> = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const api: JsonRequests = {
    post: async (path, body) => {
      posts.push({ path, body: body as Record<string, unknown> });
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      await new Promise<void>((resolve) => release.push(resolve));
      inFlight--;
      return body;
    },
    mergePatch: () => Promise.reject(new Error('not used')),
  };
  const releaseAll = async () => {
    while (release.length > 0) {
      release.splice(0).forEach((r) => r());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { api, posts, releaseAll, mostInFlight: () => mostInFlight };
}

function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

const subject = (name: string, namespace = 'team-a') => ({ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace, uid: 'u-1' } });

test('four Events are sent at a time, a thousand wait, and the rest are dropped with a warning every hundred', async () => {
  const sender = heldSender();
  const { log, lines } = capturedLog();
  const recorder = new EventRecorder(sender.api, log);
  for (let i = 0; i < 4 + 1000 + 250; i++) recorder.record(subject(`c${i}`), 'Normal', 'Ready', `note ${i}`);
  assert.equal(sender.posts.length, 4, 'four sent at once');
  const warnings = lines.filter((l) => l.msg === 'too many Events waiting to be sent; dropping some');
  assert.deepEqual(warnings.map((l) => l.dropped), [1, 101, 201]);
  await sender.releaseAll();
  assert.equal(sender.posts.length, 1004, 'the four in flight and the thousand waiting, no more');
  assert.equal(sender.mostInFlight(), 4);
  assert.deepEqual(sender.posts.map((p) => (p.body.regarding as { name: string }).name), Array.from({ length: 1004 }, (_, i) => `c${i}`), 'in the order recorded');
});

test('an Event is an events.k8s.io Event about its object, in its namespace; none for an object without a name or namespace', async () => {
  const sender = heldSender();
  const recorder = new EventRecorder(sender.api, capturedLog().log);
  recorder.record(subject('web'), 'Warning', 'SecretConflict', 'Secret web-flipt exists', 'Issue');
  recorder.record({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'cluster-scoped' } }, 'Normal', 'Ready', 'x');
  recorder.record(subject('', 'team-a'), 'Normal', 'Ready', 'x');
  recorder.record({ apiVersion: 'v1', kind: 'Secret' }, 'Normal', 'Ready', 'x');
  await sender.releaseAll();
  assert.equal(sender.posts.length, 1);
  const [{ path, body }] = sender.posts as [{ path: string; body: Record<string, unknown> }];
  assert.equal(path, '/apis/events.k8s.io/v1/namespaces/team-a/events');
  assert.match((body.metadata as { name: string }).name, /^web\.[0-9a-f]+$/);
  assert.deepEqual(
    { ...body, metadata: undefined, eventTime: undefined },
    {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: undefined,
      eventTime: undefined,
      reportingController: 'flipt.io/flipt-client-operator',
      reportingInstance: process.env.POD_NAME ?? 'flipt-client-operator',
      action: 'Issue',
      reason: 'SecretConflict',
      note: 'Secret web-flipt exists',
      type: 'Warning',
      regarding: { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', name: 'web', namespace: 'team-a', uid: 'u-1' },
    },
  );
});

test('a failed send is logged at debug level with the reason and object, and the next Events still go', async () => {
  const { log, lines } = capturedLog();
  let calls = 0;
  const api: JsonRequests = {
    post: async () => {
      if (calls++ === 0) throw Object.assign(new Error('HTTP-Code: 403'), { code: 403, body: JSON.stringify({ kind: 'Status', message: 'events is forbidden' }) });
      return {};
    },
    mergePatch: () => Promise.reject(new Error('not used')),
  };
  const recorder = new EventRecorder(api, log);
  recorder.record(subject('web'), 'Normal', 'Ready', 'first');
  recorder.record(subject('api'), 'Normal', 'Ready', 'second');
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2);
  const failure = lines.find((l) => l.msg === 'could not record event');
  assert.deepEqual({ level: failure?.level, err: failure?.err, reason: failure?.reason, object: failure?.object }, { level: 20, err: 'API 403: events is forbidden', reason: 'Ready', object: 'team-a/web' });
});
