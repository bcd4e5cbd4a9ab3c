import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1TokenReviewStatus } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ReviewUnavailableError, TokenReviewer, type ReviewFunction } from '../../src/exchange/token-review.ts';
import { base64urlJson, unsignedJwt } from '../support/unsigned-jwt.ts';

const AUD = 'flipt-client-operator';

/** A JWT-shaped token (unsigned: the fake API server decides what is valid). */
function jwt(claims: Record<string, unknown>): string {
  return unsignedJwt({ alg: 'RS256', kid: 'k' }, claims, 'signature');
}

class Clock {
  ms = 1_700_000_000_000;
  now = () => this.ms;
  advance(ms: number) {
    this.ms += ms;
  }
}

function saStatus(ns: string, sa: string, extra: Record<string, string[]> = {}): V1TokenReviewStatus {
  return {
    authenticated: true,
    audiences: [AUD],
    user: { username: `system:serviceaccount:${ns}:${sa}`, uid: 'sa-uid-1', groups: ['system:serviceaccounts'], extra },
  };
}

/** A fake API: answers from `answer`, counts calls, optionally holds answers until released. */
function fakeApi(answer: (token: string) => V1TokenReviewStatus | Promise<V1TokenReviewStatus> = () => saStatus('ns', 'sa')) {
  const calls: Array<{ token: string; audiences: string[] }> = [];
  const review: ReviewFunction = async (token, audiences) => {
    calls.push({ token, audiences });
    return answer(token);
  };
  return { calls, review };
}

function reviewer(review: ReviewFunction, clock: Clock, cache: Partial<{ ttl: number; negativeTtl: number; maxEntries: number }> = {}, timeoutMs = 1000) {
  return new TokenReviewer({
    audiences: [AUD],
    cache: { ttl: 60_000, negativeTtl: 5_000, maxEntries: 100, ...cache },
    review,
    now: clock.now,
    timeoutMs,
  });
}

test('a positive review is cached: the second identical request makes no API call', async () => {
  const clock = new Clock();
  const api = fakeApi();
  const r = reviewer(api.review, clock);
  const token = jwt({ aud: [AUD], exp: clock.ms / 1000 + 3600 });
  const first = await r.review(token);
  assert.equal(first.kind, 'authenticated');
  assert.deepEqual(first.kind === 'authenticated' ? first.serviceAccount : undefined, { namespace: 'ns', name: 'sa', uid: 'sa-uid-1' });
  assert.deepEqual(api.calls, [{ token, audiences: [AUD] }]);
  assert.deepEqual(await r.review(token), first);
  assert.equal(api.calls.length, 1);
  assert.equal(r.stats().cacheHits, 1);
  assert.equal(r.stats().apiCalls, 1);
});

test('100 concurrent identical reviews make one API call', async () => {
  const clock = new Clock();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const api = fakeApi(async () => {
    await gate;
    return saStatus('ns', 'sa');
  });
  const r = reviewer(api.review, clock);
  const token = jwt({ aud: AUD, exp: clock.ms / 1000 + 3600 });
  const all = Promise.all(Array.from({ length: 100 }, () => r.review(token)));
  await new Promise((resolve) => setImmediate(resolve));
  release();
  const results = await all;
  assert.equal(api.calls.length, 1);
  assert.ok(results.every((x) => x.kind === 'authenticated'));
  assert.equal(r.stats().collapsed, 99);
});

test('concurrent reviews that fail share the failure, and the failure is not cached', async () => {
  const clock = new Clock();
  let fail = true;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const api = fakeApi(async () => {
    await gate;
    if (fail) throw Object.assign(new Error('Service Unavailable'), { code: 503, headers: {} });
    return saStatus('ns', 'sa');
  });
  const r = reviewer(api.review, clock);
  const token = jwt({ aud: AUD, exp: clock.ms / 1000 + 3600 });
  const all = Promise.allSettled(Array.from({ length: 10 }, () => r.review(token)));
  await new Promise((resolve) => setImmediate(resolve));
  release();
  const settled = await all;
  assert.equal(api.calls.length, 1);
  for (const s of settled) {
    assert.equal(s.status, 'rejected');
    assert.ok(s.status === 'rejected' && s.reason instanceof ReviewUnavailableError);
    assert.ok(s.status === 'rejected' && !String(s.reason.message).includes(token), 'the token must never be in an error');
  }
  fail = false;
  assert.equal((await r.review(token)).kind, 'authenticated');
  assert.equal(api.calls.length, 2, 'an outage is not cached');
});

test('an entry expires at the cache TTL and is reviewed again', async () => {
  const clock = new Clock();
  const api = fakeApi();
  const r = reviewer(api.review, clock, { ttl: 60_000 });
  const token = jwt({ aud: AUD, exp: clock.ms / 1000 + 3600 });
  await r.review(token);
  clock.advance(59_999);
  await r.review(token);
  assert.equal(api.calls.length, 1);
  clock.advance(1);
  await r.review(token);
  assert.equal(api.calls.length, 2);
});

test("an entry expires at the token's own exp when that comes before the TTL", async () => {
  const clock = new Clock();
  const api = fakeApi();
  const r = reviewer(api.review, clock, { ttl: 3_600_000 });
  const exp = Math.floor(clock.ms / 1000) + 30;
  const token = jwt({ aud: AUD, exp });
  const result = await r.review(token);
  assert.equal(result.kind === 'authenticated' ? result.expiresAtMs : undefined, exp * 1000);
  clock.advance(20_000);
  await r.review(token);
  assert.equal(api.calls.length, 1);
  clock.ms = exp * 1000;
  // Past its exp the token is refused without asking (the API server would refuse it too).
  assert.deepEqual(await r.review(token), { kind: 'unauthenticated', reason: 'expired' });
  assert.equal(api.calls.length, 1);
});

test('a token one millisecond from its exp is reviewed but not cached (lru-cache reads a TTL of 0 as forever)', async () => {
  const clock = new Clock();
  const api = fakeApi();
  const r = reviewer(api.review, clock);
  const exp = Math.floor(clock.ms / 1000) + 30;
  const token = jwt({ aud: AUD, exp });
  clock.ms = exp * 1000 - 1;
  assert.equal((await r.review(token)).kind, 'authenticated');
  assert.equal((await r.review(token)).kind, 'authenticated');
  assert.equal(api.calls.length, 2);
  assert.equal(r.stats().entries, 0);
});

test('negative answers are cached for the negative TTL only', async () => {
  const clock = new Clock();
  const api = fakeApi(() => ({ authenticated: false, error: 'invalid bearer token' }));
  const r = reviewer(api.review, clock, { negativeTtl: 5_000 });
  const token = jwt({ aud: AUD, exp: clock.ms / 1000 + 3600 });
  assert.deepEqual(await r.review(token), { kind: 'unauthenticated', reason: 'invalid' });
  clock.advance(4_999);
  assert.deepEqual(await r.review(token), { kind: 'unauthenticated', reason: 'invalid' });
  assert.equal(api.calls.length, 1);
  clock.advance(1);
  await r.review(token);
  assert.equal(api.calls.length, 2);
});

test('garbage never reaches the API server', async () => {
  const clock = new Clock();
  const api = fakeApi();
  const r = reviewer(api.review, clock);
  const garbage = [
    'not-a-token',
    'a.b.c',
    '..',
    'x.y',
    `${base64urlJson({ alg: 'none' })}.${Buffer.from('[1,2]').toString('base64url')}.`,
    `${base64urlJson({ alg: 'none' })}.${Buffer.from('"str"').toString('base64url')}.sig`,
    `${base64urlJson({ alg: 'none' })}.${Buffer.from('{not json').toString('base64url')}.sig`,
    `${base64urlJson({ alg: 'none' })}.!!!.sig`,
    'eyJ.eyJ.eyJ',
  ];
  for (const token of garbage) assert.deepEqual(await r.review(token), { kind: 'unauthenticated', reason: 'malformed' }, token);
  assert.equal(api.calls.length, 0);
  assert.equal(r.stats().rejectedLocally, garbage.length);
});

test('odd claim types are survived: exp as a string or huge number, aud as an object', async () => {
  const clock = new Clock();
  const api = fakeApi();
  const r = reviewer(api.review, clock);
  for (const claims of [{ exp: 'tomorrow', aud: AUD }, { exp: 1e300, aud: AUD }, { aud: { x: 1 } }, {}]) {
    const result = await r.review(jwt(claims));
    assert.equal(result.kind, 'authenticated', JSON.stringify(claims));
  }
  assert.equal(api.calls.length, 4);
});

test('wrong audience: refused by the API server, reported as an audience problem', async () => {
  const clock = new Clock();
  const api = fakeApi(() => ({ authenticated: false, error: '[invalid bearer token, token audiences ["other"] is invalid for the target audiences]' }));
  const r = reviewer(api.review, clock);
  assert.deepEqual(await r.review(jwt({ aud: ['other'], exp: clock.ms / 1000 + 600 })), { kind: 'unauthenticated', reason: 'audience' });
  // A JWT may name its one audience as a plain string.
  assert.deepEqual(await r.review(jwt({ aud: 'other', exp: clock.ms / 1000 + 600 })), { kind: 'unauthenticated', reason: 'audience' });
});

test('a refusal as the API server sends it, `authenticated` omitted (omitempty), is an invalid token, not an audience problem', async () => {
  const clock = new Clock();
  const r = reviewer(fakeApi(() => ({ user: {}, error: 'invalid bearer token, square/go-jose: error in cryptographic primitive' })).review, clock);
  assert.deepEqual(await r.review(jwt({ aud: [AUD], exp: clock.ms / 1000 + 600 })), { kind: 'unauthenticated', reason: 'invalid' });
});

test('an authenticated answer without a matching audience is refused (an audience-unaware authenticator)', async () => {
  const clock = new Clock();
  const r1 = reviewer(fakeApi(() => ({ ...saStatus('ns', 'sa'), audiences: [] })).review, clock);
  assert.deepEqual(await r1.review(jwt({ aud: AUD })), { kind: 'unauthenticated', reason: 'audience' });
  const r2 = reviewer(fakeApi(() => ({ ...saStatus('ns', 'sa'), audiences: ['https://kubernetes.default.svc'] })).review, clock);
  assert.deepEqual(await r2.review(jwt({ aud: AUD })), { kind: 'unauthenticated', reason: 'audience' });
  // No audience confirmed means valid for the API server itself, whatever the token claims, or if it claims none.
  assert.deepEqual(await r1.review(jwt({ sub: 'no-aud-claim' })), { kind: 'unauthenticated', reason: 'audience' });
});

test('a token for several audiences, ours among them: accepted when the API server confirms ours, invalid (not an audience problem) when it refuses', async () => {
  const clock = new Clock();
  const r = reviewer(fakeApi().review, clock);
  const result = await r.review(jwt({ aud: ['https://vault.example', AUD], exp: clock.ms / 1000 + 600 }));
  assert.equal(result.kind, 'authenticated');
  // Refused for another reason (a bad signature), such a token is reported invalid, not as an audience problem.
  const refused = reviewer(fakeApi(() => ({ authenticated: false, error: 'invalid bearer token' })).review, clock);
  assert.deepEqual(await refused.review(jwt({ aud: ['https://vault.example', AUD], exp: clock.ms / 1000 + 600 })), { kind: 'unauthenticated', reason: 'invalid' });
});

test('pod name and uid come from user.extra; a non-service-account user has no serviceAccount', async () => {
  const clock = new Clock();
  const r = reviewer(
    fakeApi((token) =>
      (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub === 'pod'
        ? saStatus('team', 'app', { 'authentication.kubernetes.io/pod-name': ['app-123'], 'authentication.kubernetes.io/pod-uid': ['pod-uid-9'] })
        : { authenticated: true, audiences: [AUD], user: { username: 'alice' } },
    ).review,
    clock,
  );
  const pod = await r.review(jwt({ sub: 'pod' }));
  assert.deepEqual(pod.kind === 'authenticated' ? pod.serviceAccount : undefined, {
    namespace: 'team',
    name: 'app',
    uid: 'sa-uid-1',
    podName: 'app-123',
    podUid: 'pod-uid-9',
  });
  const user = await r.review(jwt({ sub: 'alice' }));
  assert.equal(user.kind, 'authenticated');
  assert.equal(user.kind === 'authenticated' ? user.serviceAccount : 'x', undefined);
});

test('API errors: 5xx, 429, 401/403 (our own credentials), 404, 408 and network errors are outages; other 4xx mean a bad token', async () => {
  const clock = new Clock();
  const cases: Array<[unknown, 'unavailable' | 'invalid', number?]> = [
    [Object.assign(new Error('x'), { code: 500, headers: {} }), 'unavailable', 5],
    [Object.assign(new Error('x'), { code: 503, headers: {} }), 'unavailable', 5],
    [Object.assign(new Error('x'), { code: 429, headers: { 'retry-after': '7' } }), 'unavailable', 7],
    [Object.assign(new Error('x'), { code: 403, headers: {} }), 'unavailable', 5],
    [Object.assign(new Error('x'), { code: 401, headers: {} }), 'unavailable', 5],
    [Object.assign(new Error('x'), { code: 404, headers: {} }), 'unavailable', 5],
    [Object.assign(new Error('x'), { code: 408, headers: {} }), 'unavailable', 5],
    [Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 'unavailable', 5],
    [Object.assign(new Error('x'), { code: 400, headers: {} }), 'invalid'],
    [Object.assign(new Error('x'), { code: 422, headers: {} }), 'invalid'],
  ];
  for (const [error, expected, retryAfter] of cases) {
    const r = reviewer(
      fakeApi(() => {
        throw error;
      }).review,
      clock,
    );
    const token = jwt({ aud: AUD, n: Math.random() });
    if (expected === 'invalid') {
      assert.deepEqual(await r.review(token), { kind: 'unauthenticated', reason: 'invalid' });
    } else {
      await assert.rejects(r.review(token), (err: unknown) => {
        assert.ok(err instanceof ReviewUnavailableError);
        assert.equal(err.retryAfterSeconds, retryAfter);
        assert.ok(!err.message.includes(token));
        return true;
      });
    }
  }
});

test('an outage is logged at most once per 10 s, the next line counting the failures left out', async () => {
  const clock = new Clock();
  const lines: Array<{ msg: string; reason: string; suppressed: number }> = [];
  const r = new TokenReviewer({
    audiences: [AUD],
    cache: { ttl: 60_000, negativeTtl: 5_000, maxEntries: 100 },
    review: async () => {
      throw Object.assign(new Error('x'), { code: 503, headers: {} });
    },
    now: clock.now,
    log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) }),
  });
  for (const afterMs of [0, 1_000, 8_999, 1]) {
    clock.advance(afterMs);
    await assert.rejects(r.review(jwt({ aud: AUD, n: Math.random() })), ReviewUnavailableError);
  }
  assert.deepEqual(lines.map(({ msg, reason, suppressed }) => ({ msg, reason, suppressed })), [
    { msg: 'TokenReview failed; answering 503', reason: 'API server answered 503', suppressed: 0 },
    { msg: 'TokenReview failed; answering 503', reason: 'API server answered 503', suppressed: 2 },
  ]);
});

test('a review that hangs is abandoned after the timeout and its request aborted', async () => {
  const clock = new Clock();
  let aborted = false;
  const r = reviewer(
    (_token, _aud, signal) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          reject(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
        });
      }),
    clock,
    {},
    50,
  );
  const started = performance.now();
  await assert.rejects(r.review(jwt({ aud: AUD })), (err: unknown) => err instanceof ReviewUnavailableError && err.message === 'TokenReview unavailable: timed out');
  assert.ok(aborted);
  assert.ok(performance.now() - started < 1000);
});

test('the cache is bounded: the oldest entries are evicted', async () => {
  const clock = new Clock();
  const api = fakeApi();
  const r = reviewer(api.review, clock, { maxEntries: 3 });
  const tokens = Array.from({ length: 5 }, (_, i) => jwt({ aud: AUD, i }));
  for (const token of tokens) await r.review(token);
  assert.equal(r.stats().entries, 3);
  assert.equal(r.stats().evictions, 2);
  assert.equal(api.calls.length, 5);
  await r.review(tokens[4]!); // newest: cached
  assert.equal(api.calls.length, 5);
  await r.review(tokens[0]!); // oldest: evicted, reviewed again
  assert.equal(api.calls.length, 6);
  assert.equal(r.stats().entries, 3);
});

test('a flood of bad tokens does not push good answers out of the cache', async () => {
  const clock = new Clock();
  const api = fakeApi((token) =>
    (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { good?: boolean }).good ? saStatus('ns', 'sa') : { authenticated: false },
  );
  const r = reviewer(api.review, clock, { maxEntries: 5 });
  const good = jwt({ aud: AUD, good: true });
  await r.review(good);
  for (let i = 0; i < 50; i++) await r.review(jwt({ aud: AUD, bad: i }));
  const calls = api.calls.length;
  assert.equal((await r.review(good)).kind, 'authenticated');
  assert.equal(api.calls.length, calls, 'the good answer is still cached');
  assert.equal(r.stats().entries, 6);
});

test('a token that differs only in its signature is reviewed on its own: a cached answer is never served for a forged signature', async () => {
  const clock = new Clock();
  const api = fakeApi((token) => (token.endsWith(Buffer.from('signature').toString('base64url')) ? saStatus('ns', 'sa') : { authenticated: false, error: 'invalid bearer token' }));
  const r = reviewer(api.review, clock);
  const genuine = jwt({ aud: AUD, exp: clock.ms / 1000 + 3600, sub: 'system:serviceaccount:ns:sa' });
  assert.equal((await r.review(genuine)).kind, 'authenticated');
  const [header, payload] = genuine.split('.');
  const forged = `${header}.${payload}.${Buffer.from('forged').toString('base64url')}`;
  assert.deepEqual(await r.review(forged), { kind: 'unauthenticated', reason: 'invalid' });
  assert.equal(api.calls.length, 2, 'the forged token went to the API server');
});

test('a username with more than namespace and name after system:serviceaccount: is no service account', async () => {
  const clock = new Clock();
  const r = reviewer(fakeApi(() => ({ authenticated: true, audiences: [AUD], user: { username: 'system:serviceaccount:ns:sa:extra' } })).review, clock);
  const result = await r.review(jwt({ aud: AUD }));
  assert.equal(result.kind, 'authenticated');
  assert.equal(result.kind === 'authenticated' ? result.serviceAccount : 'x', undefined);
});

test("the API server's Retry-After is capped at 60 seconds", async () => {
  const clock = new Clock();
  const r = reviewer(
    fakeApi(() => {
      throw Object.assign(new Error('x'), { code: 429, headers: { 'retry-after': '3600' } });
    }).review,
    clock,
  );
  await assert.rejects(r.review(jwt({ aud: AUD })), (err: unknown) => err instanceof ReviewUnavailableError && err.retryAfterSeconds === 60);
});

test("a Retry-After of 0, below 0 or not a number from the API server gives the caller the default, never a retry at once", async () => {
  const clock = new Clock();
  for (const given of ['0', '-5', 'soon']) {
    const r = reviewer(
      fakeApi(() => {
        throw Object.assign(new Error('x'), { code: 429, headers: { 'retry-after': given } });
      }).review,
      clock,
    );
    await assert.rejects(r.review(jwt({ aud: AUD })), (err: unknown) => err instanceof ReviewUnavailableError && err.retryAfterSeconds > 0, given);
  }
});

test('a refused token that claims no audience is invalid, not an audience problem (there is no audience to name)', async () => {
  const clock = new Clock();
  const r = reviewer(fakeApi(() => ({ authenticated: false, error: 'invalid bearer token' })).review, clock);
  assert.deepEqual(await r.review(jwt({ exp: clock.ms / 1000 + 600 })), { kind: 'unauthenticated', reason: 'invalid' });
});
