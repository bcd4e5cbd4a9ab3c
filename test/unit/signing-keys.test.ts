// The JWT signing-key schedule, rule by rule, on an injected clock: when a key is created, from when it
// signs, when its successor takes over and when it is retired; which key signs at any moment; and the
// JWKS, public material only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { decideSigningKeys, type KeySchedule } from '../../src/identity/key-schedule.ts';
import {
  FLIPT_CLOCK_SKEW_LEEWAY_MS,
  jwksOf,
  latestExpiryOf,
  nextSigningStart,
  parseSigningKeys,
  publishedKeys,
  signingKeyAt,
  signingKeysData,
  type KeyTimes,
  type SigningKey,
} from '../../src/vocabulary/signing-keys.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const S = 1000;
const H = 3_600_000;
const schedule: KeySchedule = { rotateEvery: 168 * H, publishAhead: 60 * S, maxLifetime: H };

type Key = KeyTimes & { kid: string };
const key = (kid: string, times: KeyTimes): Key => ({ kid, ...times });

/** Applies steps at the given instants as the reconciler would, returning the keys after each. */
function run(instants: number[], needed = true): Key[] {
  let keys: Key[] = [];
  let n = 0;
  for (const now of instants) {
    const step = decideSigningKeys(keys, schedule, needed, now);
    keys = keys.filter((k) => !step.retire.includes(k.kid));
    if (step.create) keys.push(key(`k${n++}`, step.create));
  }
  return keys;
}

test('the first key is published at once and signs publishAhead later; the schedule looks again when the successor is due', () => {
  const step = decideSigningKeys([], schedule, true, T0);
  assert.deepEqual(step.create, {
    createdAt: T0,
    signsFrom: T0 + 60 * S,
    signsUntil: T0 + 60 * S + 168 * H,
    retireAt: T0 + 60 * S + 168 * H + H + FLIPT_CLOCK_SKEW_LEEWAY_MS,
  });
  assert.deepEqual(step.retire, []);
  assert.equal(step.requeueAfterMs, 168 * H, 'the successor is due publishAhead before the first stops signing');
  const [first] = run([T0]);
  assert.deepEqual(publishedKeys([first!], T0), [first], 'published before it signs');
  assert.deepEqual(publishedKeys([first!], first!.createdAt - 1), [], 'not before it was created (a replica whose clock runs behind the one that made it)');
  assert.equal(signingKeyAt([first!], T0 + 59 * S), undefined, 'nothing signs with it before every replica had a minute to publish it');
  assert.equal(signingKeyAt([first!], T0 + 60 * S), first);
  // A key signs while a JWT it signs can still live 2 s (exp and iat are whole seconds), to the millisecond.
  assert.equal(signingKeyAt([first!], latestExpiryOf(first!) - 2 * S), first);
  assert.equal(signingKeyAt([first!], latestExpiryOf(first!) - 2 * S + 1), undefined);
});

test('a client waiting for a signing key looks again when the earliest key still to sign starts, never at one already started', () => {
  const [first] = run([T0]);
  const later = key('later', { createdAt: T0, signsFrom: T0 + 120 * S, signsUntil: T0 + H, retireAt: T0 + 2 * H });
  assert.equal(nextSigningStart([later, first!], T0), T0 + 60 * S, 'the earliest of those to come');
  assert.equal(nextSigningStart([later, first!], T0 + 60 * S - 1), T0 + 60 * S);
  assert.equal(nextSigningStart([later, first!], T0 + 60 * S), T0 + 120 * S, 'a key that signs from now is not to come: looking again now would loop');
  assert.equal(nextSigningStart([later, first!], T0 + 120 * S), undefined);
  assert.equal(nextSigningStart([], T0), undefined);
});

test('no key is created while none is needed; existing ones still retire on time', () => {
  assert.deepEqual(decideSigningKeys([], schedule, false, T0), { retire: [] });
  const old = key('old', { createdAt: T0 - 10 * H, signsFrom: T0 - 9 * H, signsUntil: T0 - 2 * H, retireAt: T0 - 1 });
  const live = key('live', { createdAt: T0 - 3 * H, signsFrom: T0 - 2 * H, signsUntil: T0 + 5 * H, retireAt: T0 + 7 * H });
  const step = decideSigningKeys([old, live], schedule, false, T0);
  assert.deepEqual(step.retire, ['old']);
  assert.equal(step.create, undefined);
  assert.equal(step.requeueAfterMs, 7 * H, 'next: the live key retires');
});

test('the successor is created exactly publishAhead before the current key stops signing, and takes over at that moment', () => {
  const [first] = run([T0]);
  const due = first!.signsUntil - schedule.publishAhead;
  assert.equal(decideSigningKeys([first!], schedule, true, due - 1).create, undefined, 'not a moment sooner');
  const step = decideSigningKeys([first!], schedule, true, due);
  assert.equal(step.create?.signsFrom, first!.signsUntil, 'signs from the moment the first stops');
  const second = key('second', step.create!);
  assert.equal(signingKeyAt([first!, second], first!.signsUntil - 1), first, 'the first signs until its end');
  assert.equal(signingKeyAt([first!, second], first!.signsUntil), second, 'the successor signs from then on');
  assert.deepEqual(
    publishedKeys([first!, second], first!.signsUntil + H).map((k) => k.kid),
    [first!.kid, 'second'],
    'the first stays published while JWTs it signed may live',
  );
});

test('a key retires when every JWT it can have signed has expired, Flipt\'s leeway included', () => {
  const [first] = run([T0]);
  // The latest JWT the first key can sign expires at retireAt - leeway: signed at signsUntil with the longest lifetime.
  assert.equal(latestExpiryOf(first!), first!.signsUntil + schedule.maxLifetime);
  assert.deepEqual(decideSigningKeys([first!], schedule, false, first!.retireAt - 1).retire, []);
  // At retireAt the key is gone from the step's view too: nothing left to look again for.
  assert.deepEqual(decideSigningKeys([first!], schedule, false, first!.retireAt), { retire: [first!.kid] });
  assert.deepEqual(publishedKeys([first!], first!.retireAt), [], 'gone from the JWKS at retireAt, even before the leader deletes it');
});

test('a late leader (down past a key\'s end) creates a successor that still waits publishAhead before it signs', () => {
  const [first] = run([T0]);
  const late = first!.signsUntil + 10 * 60 * S;
  const step = decideSigningKeys([first!], schedule, true, late);
  assert.equal(step.create?.signsFrom, late + schedule.publishAhead);
  // Meanwhile the old key still signs, with JWTs capped at its latest expiry.
  assert.equal(signingKeyAt([first!, key('s', step.create!)], late), first);
  assert.equal(signingKeyAt([first!], latestExpiryOf(first!) - 1000), undefined, 'no key whose JWTs would be cut to nothing');
});

test('thirty days of hourly checks with daily rotation: a key always signs, never one published for less than publishAhead, at most three published', () => {
  const instants = Array.from({ length: 24 * 30 }, (_, i) => T0 + i * H);
  let keys: Key[] = [];
  let n = 0;
  for (const now of instants) {
    const step = decideSigningKeys(keys, { ...schedule, rotateEvery: 24 * H }, true, now);
    keys = keys.filter((k) => !step.retire.includes(k.kid));
    if (step.create) keys.push(key(`k${n++}`, step.create));
    if (now >= T0 + 60 * S) assert.ok(signingKeyAt(keys, now), `a key signs at ${new Date(now).toISOString()}`);
    assert.ok(publishedKeys(keys, now).length <= 3);
    // Every key that signs now was published at least publishAhead ago.
    const signing = signingKeyAt(keys, now);
    if (signing) assert.ok(now - signing.createdAt >= schedule.publishAhead);
  }
  assert.ok(n >= 29, `${n} keys over 30 days of daily rotation`);
});

test('the Secret holds each key under its kid; unreadable entries are skipped; the JWKS carries no private material', async () => {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const signing: SigningKey = { kid: 'abc', privateJwk, createdAt: T0, signsFrom: T0 + S, signsUntil: T0 + H, retireAt: T0 + 2 * H };
  const data = signingKeysData([signing]);
  assert.deepEqual(Object.keys(data), ['abc']);
  const otherCurve = JSON.stringify({ ...JSON.parse(data.abc!), jwk: { ...privateJwk, crv: 'P-384' } });
  assert.deepEqual(parseSigningKeys({ ...data, junk: 'not json', other: '{"alg":"HS256"}', curve: otherCurve }), [signing], 'an ES256 key is on P-256 or is skipped');
  const jwks = jwksOf([signing], T0);
  assert.deepEqual(jwks, { keys: [{ kty: 'EC', crv: 'P-256', x: privateJwk.x, y: privateJwk.y, kid: 'abc', alg: 'ES256', use: 'sig' }] });
  assert.ok(!JSON.stringify(jwks).includes(privateJwk.d!), 'no private key');
  assert.deepEqual(jwksOf([signing], T0 + 2 * H), { keys: [] }, 'a retired key is not served');
  // Oldest first, whatever order the Secret lists them in (the API server sorts its keys by kid).
  const successor: SigningKey = { ...signing, kid: 'aaa', createdAt: T0 + H, signsFrom: T0 + H + S, signsUntil: T0 + 3 * H, retireAt: T0 + 4 * H };
  assert.deepEqual(parseSigningKeys(signingKeysData([successor, signing])).map((k) => k.kid), ['abc', 'aaa']);
});

test('an entry without its private part, without a full P-256 key or with an unreadable time is skipped, not loaded as a key that cannot sign', async () => {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const good: SigningKey = { kid: 'good', privateJwk, createdAt: T0, signsFrom: T0 + S, signsUntil: T0 + H, retireAt: T0 + 2 * H };
  const stored = JSON.parse(signingKeysData([good]).good!);
  const { d: _d, ...publicOnly } = privateJwk;
  const data = {
    good: JSON.stringify(stored),
    'no-d': JSON.stringify({ ...stored, jwk: publicOnly }),
    'bad-time': JSON.stringify({ ...stored, retireAt: 'soon' }),
    'no-time': JSON.stringify({ ...stored, signsFrom: undefined }),
    'no-jwk': JSON.stringify({ ...stored, jwk: undefined }),
    'not-ec': JSON.stringify({ ...stored, jwk: { ...privateJwk, kty: 'OKP' } }),
    'no-x': JSON.stringify({ ...stored, jwk: { ...privateJwk, x: undefined } }),
    'no-y': JSON.stringify({ ...stored, jwk: { ...privateJwk, y: undefined } }),
  };
  assert.deepEqual(parseSigningKeys(data).map((k) => k.kid), ['good']);
});
