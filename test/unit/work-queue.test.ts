// The controller's work queue: de-duplication, one worker per key at a time, re-queue after done,
// delayed adds (earliest wins, however long), per-key exponential backoff, the key bound, shutdown.
import { test, mock, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../src/runtime/work-queue.ts';

/** Whether the promise has settled, without waiting for it (a few microtask turns). */
async function settled<T>(promise: Promise<T>): Promise<{ done: true; value: T } | { done: false }> {
  let result: { done: true; value: T } | { done: false } = { done: false };
  void promise.then((value) => {
    result = { done: true, value };
  });
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return result;
}

/** Takes every key that is immediately available. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.depth > 0) keys.push((await queue.get())!);
  return keys;
}

function fakeClock(t: TestContext): void {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  t.after(() => mock.timers.reset());
}

test('a key added many times while waiting is queued once, in first-add order', async () => {
  const queue = new WorkQueue();
  for (const key of ['a', 'b', 'a', 'c', 'b', 'a']) queue.add(key);
  assert.equal(queue.depth, 3);
  assert.deepEqual(await drain(queue), ['a', 'b', 'c']);
  assert.equal((await settled(queue.get())).done, false, 'nothing more to get');
  queue.shutDown();
});

test('a key is never handed to two workers at once; an add while processing runs it again after done', async () => {
  const queue = new WorkQueue();
  queue.add('a');
  assert.equal(await queue.get(), 'a');

  queue.add('a');
  queue.add('a');
  assert.equal(queue.depth, 0, 'not queued while in progress');
  const second = queue.get();
  assert.equal((await settled(second)).done, false, 'a second worker does not get the key in progress');

  queue.add('b');
  assert.equal(await second, 'b', 'another key is handed out meanwhile');

  const third = queue.get();
  assert.equal((await settled(third)).done, false);
  queue.done('a');
  assert.equal(await third, 'a', 'the key added during processing comes back once it is done');
  queue.done('a');
  queue.done('b');
  assert.equal(queue.depth, 0, 'and only once, however often it was added');
  assert.equal((await settled(queue.get())).done, false);
  queue.shutDown();
});

test('waiting workers are served in order, and a key handed to one is not handed to the next', async () => {
  const queue = new WorkQueue();
  const first = queue.get();
  const second = queue.get();
  queue.add('a');
  queue.add('a');
  assert.equal(await first, 'a');
  assert.equal((await settled(second)).done, false, 'the second worker must not get a while the first has it');
  queue.done('a');
  assert.equal(await second, 'a');
  queue.done('a');
  queue.shutDown();
});

test('done without a re-add leaves nothing queued; add after done queues again', async () => {
  const queue = new WorkQueue();
  queue.add('a');
  assert.equal(await queue.get(), 'a');
  queue.done('a');
  assert.equal(queue.depth, 0);
  queue.add('a');
  assert.equal(queue.depth, 1);
  assert.equal(await queue.get(), 'a');
  queue.shutDown();
});

test('addAfter adds the key once the delay has passed', async (t) => {
  fakeClock(t);
  const queue = new WorkQueue();
  queue.addAfter('a', 1000);
  mock.timers.tick(999);
  assert.equal(queue.depth, 0);
  mock.timers.tick(1);
  assert.equal(queue.depth, 1);
  assert.equal(await queue.get(), 'a');
  queue.shutDown();
});

test('addAfter keeps the earliest deadline of several for one key', async (t) => {
  fakeClock(t);
  const queue = new WorkQueue();
  queue.addAfter('a', 1000);
  queue.addAfter('a', 300); // earlier: replaces
  queue.addAfter('a', 5000); // later: ignored
  mock.timers.tick(299);
  assert.equal(queue.depth, 0);
  mock.timers.tick(1);
  assert.deepEqual(await drain(queue), ['a']);
  queue.done('a');
  mock.timers.tick(10_000);
  assert.equal(queue.depth, 0, 'the replaced and the ignored deadlines never fire');
  queue.shutDown();
});

test('addAfter with no delay, a negative one or NaN adds now', async () => {
  const queue = new WorkQueue();
  queue.addAfter('a', 0);
  queue.addAfter('b', -5);
  queue.addAfter('c', Number.NaN);
  assert.deepEqual(await drain(queue), ['a', 'b', 'c']);
  queue.shutDown();
});

test('a delayed add for a key already queued does not queue it twice', async (t) => {
  fakeClock(t);
  const queue = new WorkQueue();
  queue.add('a');
  queue.addAfter('a', 100);
  mock.timers.tick(100);
  assert.deepEqual(await drain(queue), ['a']);
  queue.shutDown();
});

test('a delay longer than a Node.js timer can wait (a 30-day rotation) is waited out in full', async (t) => {
  fakeClock(t);
  const queue = new WorkQueue();
  const month = 30 * 24 * 3_600_000; // 2.592e9 ms > 2^31-1
  queue.addAfter('a', month);
  mock.timers.tick(1);
  assert.equal(queue.depth, 0, 'not after 1 ms (what Node does with an overlong timer)');
  mock.timers.tick(2 ** 31 - 1);
  assert.equal(queue.depth, 0, 'not after the longest single timer');
  mock.timers.tick(month - 2 ** 31 - 1);
  assert.equal(queue.depth, 0, 'not 1 ms early');
  mock.timers.tick(1);
  assert.equal(queue.depth, 1, 'exactly on time');
  // A shorter delay still wins over a long one already waiting.
  queue.addAfter('b', month);
  queue.addAfter('b', 10);
  mock.timers.tick(10);
  assert.equal(queue.depth, 2);
  queue.shutDown();
});

test('a long delay on the real clock does not fire early', async () => {
  const queue = new WorkQueue();
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    queue.addAfter('a', 40 * 24 * 3_600_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(queue.depth, 0);
    assert.ok(!warnings.includes('TimeoutOverflowWarning'), 'no timer was asked to wait too long');
  } finally {
    process.off('warning', onWarning);
    queue.shutDown();
  }
});

test('addRateLimited backs off exponentially per key up to the maximum, and forget resets it', async (t) => {
  fakeClock(t);
  const queue = new WorkQueue({ baseBackoffMs: 100, maxBackoffMs: 1000 });
  assert.deepEqual(
    Array.from({ length: 7 }, () => queue.addRateLimited('a')),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  assert.equal(queue.addRateLimited('b'), 100, 'failures are counted per key');
  queue.forget('a');
  assert.equal(queue.addRateLimited('a'), 100, 'forget starts the backoff again');
  assert.equal(queue.addRateLimited('a'), 200);
  queue.forget('never-seen'); // harmless
  queue.shutDown();
});

test('addRateLimited really schedules the key after the backoff', async (t) => {
  fakeClock(t);
  const queue = new WorkQueue({ baseBackoffMs: 100, maxBackoffMs: 10_000 });
  assert.equal(queue.addRateLimited('a'), 100);
  mock.timers.tick(99);
  assert.equal(queue.depth, 0);
  mock.timers.tick(1);
  assert.equal(await queue.get(), 'a');
  queue.done('a');
  assert.equal(queue.addRateLimited('a'), 200);
  mock.timers.tick(199);
  assert.equal(queue.depth, 0);
  mock.timers.tick(1);
  assert.equal(queue.depth, 1);
  queue.shutDown();
});

test('the default backoff starts at 200 ms and stops at 5 minutes', () => {
  const queue = new WorkQueue();
  const delays = Array.from({ length: 20 }, () => queue.addRateLimited('a'));
  assert.equal(delays[0], 200);
  assert.equal(delays[1], 400);
  assert.equal(delays.at(-1), 300_000);
  queue.shutDown();
});

test('the key bound drops new keys and calls onDrop; known keys are never dropped', async () => {
  const dropped: string[] = [];
  const queue = new WorkQueue({ maxKeys: 2, onDrop: (key) => dropped.push(key) });
  queue.add('a');
  queue.add('b');
  queue.add('c');
  assert.deepEqual(dropped, ['c']);
  queue.add('a'); // already queued: not a new key
  assert.deepEqual(dropped, ['c']);
  assert.equal(queue.depth, 2);

  assert.equal(await queue.get(), 'a');
  queue.add('a'); // in progress: re-adding it is always allowed
  queue.add('d');
  assert.deepEqual(dropped, ['c', 'd']);
  queue.done('a');
  assert.equal(queue.depth, 2, 'a is back, after b');
  assert.deepEqual(await drain(queue), ['b', 'a']);
  queue.done('a');
  queue.done('b');
  queue.add('c');
  assert.equal(queue.depth, 1, 'room again once keys are done');
  queue.shutDown();
});

test('a key re-added while in progress is not lost at done, even with the bound full', async () => {
  const dropped: string[] = [];
  const queue = new WorkQueue({ maxKeys: 2, onDrop: (key) => dropped.push(key) });
  queue.add('a');
  queue.add('b');
  assert.equal(await queue.get(), 'a');
  assert.equal(await queue.get(), 'b');
  queue.add('a');
  queue.add('b');
  queue.done('a');
  queue.done('b');
  assert.deepEqual(dropped, []);
  assert.deepEqual(await drain(queue), ['a', 'b']);
  queue.shutDown();
});

test('a key already queued may also be added after a delay with the bound full: it is known, not new', async (t) => {
  fakeClock(t);
  const dropped: string[] = [];
  const queue = new WorkQueue({ maxKeys: 2, onDrop: (key) => dropped.push(key) });
  queue.add('a');
  queue.add('b');
  queue.addAfter('a', 100);
  assert.deepEqual(dropped, []);
  assert.equal(await queue.get(), 'a');
  queue.done('a');
  mock.timers.tick(100);
  assert.deepEqual(await drain(queue), ['b', 'a'], 'a runs again after its delay');
  queue.shutDown();
});

test('delayed keys count against the bound', async (t) => {
  fakeClock(t);
  const dropped: string[] = [];
  const queue = new WorkQueue({ maxKeys: 2, onDrop: (key) => dropped.push(key) });
  queue.addAfter('a', 100);
  queue.addAfter('b', 100);
  queue.addAfter('c', 100);
  queue.add('d');
  assert.deepEqual(dropped, ['c', 'd']);
  queue.addAfter('a', 50); // a known key may move its deadline
  queue.add('b'); // and a delayed key may be added now
  assert.deepEqual(dropped, ['c', 'd']);
  mock.timers.tick(100);
  assert.deepEqual(await drain(queue), ['b', 'a']);
  assert.deepEqual(dropped, ['c', 'd'], 'a delayed key that fires is never dropped');
  queue.shutDown();
});

test('shutDown resolves waiting workers with undefined and ignores later adds', async (t) => {
  fakeClock(t);
  const queue = new WorkQueue();
  const waiting = [queue.get(), queue.get()];
  queue.addAfter('later', 100);
  queue.shutDown();
  assert.deepEqual(await Promise.all(waiting), [undefined, undefined]);
  assert.equal(await queue.get(), undefined);
  queue.add('a');
  queue.addAfter('b', 10);
  queue.addRateLimited('c');
  mock.timers.tick(1_000_000);
  assert.equal(queue.depth, 0, 'nothing is queued after shutdown, delayed adds included');
  assert.equal(await queue.get(), undefined);
});

test('done after shutDown does not hand the key out again', async () => {
  const queue = new WorkQueue();
  queue.add('a');
  assert.equal(await queue.get(), 'a');
  queue.add('a');
  queue.shutDown();
  queue.done('a');
  assert.equal(queue.depth, 0);
  assert.equal(await queue.get(), undefined);
});
