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
