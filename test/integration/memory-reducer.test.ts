// Once the operator goes quiet after a burst, V8's memory reducer must collect the burst's garbage
// and return pooled pages to the OS. In Node 24 it does not on its own (src/runtime/memory-reducer.ts
// says why); this runs a child that allocates a burst the way a reconcile burst does and checks that,
// with the operator's nudge, the garbage is collected soon after it goes idle, without any GC forced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('../support/garbage-burst.ts', import.meta.url));
const MiB = 1024 * 1024;

test('after a burst, a process with the operator\'s nudge collects its garbage within 45 s of going idle', { timeout: 90_000 }, async () => {
  // The image's young-generation flag, so the burst reaches the old generation as the operator's do.
  const child = spawn(process.execPath, ['--max-semi-space-size=4', CHILD, 'nudged'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const samples: number[] = [];
  const idleSince = Date.now();
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      samples.push((JSON.parse(line) as { heapUsed: number }).heapUsed);
      if (samples.length > 1 && samples.at(-1)! < Math.max(...samples) / 4) break;
      // The reducer starts 8 s after the burst and then looks every 8 s.
      if (Date.now() - idleSince > 45_000) break;
    }
  } finally {
    child.kill();
  }
  const peak = Math.max(...samples);
  const last = samples.at(-1)!;
  assert.ok(peak > 100 * MiB, `the burst left ${(peak / MiB).toFixed(0)} MiB in the heap; expected more than 100 MiB of garbage`);
  assert.ok(last < peak / 4, `45 s after the burst the heap still held ${(last / MiB).toFixed(0)} of ${(peak / MiB).toFixed(0)} MiB: V8's memory reducer did not run`);
});
