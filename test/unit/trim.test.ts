import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { dropManagedFields, trimObject } from '../../src/kube/trim.ts';

setFlagsFromString('--allow-natives-syntax');
// V8's own answer: is the object still laid out as a fast object (not a dictionary)?
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

// As the API server sends it: managedFields between other metadata fields.
const fromApiServer = () =>
  JSON.parse(
    JSON.stringify({
      apiVersion: 'flipt.io/v1alpha1',
      kind: 'FliptClient',
      metadata: {
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"spec":{}}', team: 'payments' },
        creationTimestamp: '2026-11-29T14:27:48Z',
        finalizers: ['flipt.io/revoke-token'],
        managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:spec': {} } }],
        name: 'app',
        namespace: 'team-a',
        resourceVersion: '421',
        uid: 'bb4a0ce1-b838-45ba-9318-6f4606b00c21',
      },
      spec: { target: 'default' },
    }),
  );

test('trimObject drops managed fields and the last-applied copy, keeps the rest, and leaves the objects fast', () => {
  const obj = fromApiServer();
  const spec = obj.spec;
  trimObject(obj);
  assert.deepEqual(obj.metadata, {
    annotations: { team: 'payments' },
    creationTimestamp: '2026-11-29T14:27:48Z',
    finalizers: ['flipt.io/revoke-token'],
    name: 'app',
    namespace: 'team-a',
    resourceVersion: '421',
    uid: 'bb4a0ce1-b838-45ba-9318-6f4606b00c21',
  });
  assert.equal(obj.spec, spec, 'trimmed in place: the cache holds this very object');
  assert.ok(hasFastProperties(obj.metadata), 'metadata is not a dictionary');
  assert.ok(hasFastProperties(obj.metadata.annotations), 'annotations are not a dictionary');
});

test('trimObject drops managed fields from an object without a last-applied copy (server-side applied, or the operator\'s own Secrets)', () => {
  const obj = fromApiServer();
  delete obj.metadata.annotations;
  trimObject(obj);
  assert.ok(!('managedFields' in obj.metadata));
  assert.equal(obj.metadata.name, 'app');
  assert.deepEqual(obj.metadata.finalizers, ['flipt.io/revoke-token']);
});

test('dropManagedFields keeps annotations, and leaves an object without managed fields as it was', () => {
  const obj = fromApiServer();
  dropManagedFields(obj);
  assert.equal(obj.metadata.managedFields, undefined);
  assert.ok(!('managedFields' in obj.metadata));
  assert.equal(obj.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], '{"spec":{}}');
  assert.ok(hasFastProperties(obj.metadata));
  const metadata = obj.metadata;
  trimObject({ metadata: { name: 'x' } });
  dropManagedFields(obj);
  assert.equal(obj.metadata, metadata, 'nothing to drop: not copied');
});
