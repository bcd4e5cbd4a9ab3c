import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Controller } from '../../src/runtime/controller.ts';
import { systemClock } from '../../src/runtime/clock.ts';

test('a queue of reconciles that need no I/O never starves the event loop: a timer due now runs long before the queue is empty', async () => {
  const keys = 10_000;
  let reconciled = 0;
  const controller = new Controller('test', async () => void reconciled++, pino({ level: 'silent' }), systemClock, 16);
  for (let i = 0; i < keys; i++) controller.enqueue(`key-${i}`);
  controller.start();
  // What a probe, an exchange request or a lease renewal waits on: one turn of the event loop.
  const seenByTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(reconciled), 0));
  assert.ok(seenByTimer < keys / 10, `a timer ran after ${seenByTimer} of ${keys} reconciles`);
  while (reconciled < keys) await new Promise((r) => setTimeout(r, 5));
  await controller.stop();
});

async function waitUntil(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a failed reconcile is retried with exponential backoff, and a success resets the backoff', async () => {
  const retries: number[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void retries.push((JSON.parse(line) as { retryInMs: number }).retryInMs) });
  const outcomes = ['fail', 'fail', 'ok', 'fail', 'ok'];
  let calls = 0;
  const controller = new Controller(
    'test',
    async () => {
      if (outcomes[calls++] === 'fail') throw new Error('boom');
    },
    log,
    systemClock,
    1,
  );
  controller.start();
  controller.enqueue('k');
  await waitUntil(() => calls === 3, 'two retries of the failed key');
  controller.enqueue('k');
  await waitUntil(() => calls === 5, 'the retry after a later failure');
  await controller.stop();
  assert.deepEqual(retries, [200, 400, 200], 'backoff doubles per failure and starts over after a success');
});

test('a reconcile that asks to look again after a delay is called again', async () => {
  let calls = 0;
  const controller = new Controller('test', async () => (++calls === 1 ? { requeueAfterMs: 20 } : undefined), pino({ level: 'silent' }), systemClock, 1);
  controller.start();
  controller.enqueue('k');
  await waitUntil(() => calls === 2, 'the requeue');
  await controller.stop();
});

test('a stopped controller starts again and reconciles keys added after the restart; start is idempotent', async () => {
  const seen: string[] = [];
  let running = 0;
  let maxRunning = 0;
  const controller = new Controller(
    'test',
    async (key) => {
      maxRunning = Math.max(maxRunning, ++running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      seen.push(key);
    },
    pino({ level: 'silent' }),
    systemClock,
    1,
  );
  controller.start();
  controller.start();
  for (const key of ['a', 'b', 'c']) controller.enqueue(key);
  await waitUntil(() => seen.length === 3, 'the first keys');
  assert.equal(maxRunning, 1, 'one worker, as configured, however often start is called');
  await controller.stop();
  controller.enqueue('after-stop');
  controller.start();
  controller.enqueue('after-restart');
  await waitUntil(() => seen.includes('after-restart'), 'a key added after the restart');
  await controller.stop();
});

test('as many reconciles run at once as the controller has workers, and stop() returns once those in progress have finished', async () => {
  const release: Array<() => void> = [];
  let running = 0;
  let finished = 0;
  const controller = new Controller(
    'test',
    async () => {
      running++;
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
      finished++;
    },
    pino({ level: 'silent' }),
    systemClock,
    3,
  );
  for (let i = 0; i < 10; i++) controller.enqueue(`key-${i}`);
  controller.start();
  await waitUntil(() => running === 3, 'three reconciles in progress');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(running, 3, 'no more than the workers');
  let stopped = false;
  const stopping = controller.stop().then(() => void (stopped = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(stopped, false, 'stop waits for the reconciles in progress');
  release.splice(0).forEach((r) => r());
  await stopping;
  assert.equal(finished, 3, 'those in progress finished; the rest were dropped');
});
