// A child process for memory-reducer.test.ts: optionally keeps V8's memory reducer working as the
// operator does, allocates a burst of garbage, then idles and prints its heap every half second.
import { keepMemoryReducerWorking } from '../../src/runtime/memory-reducer.ts';

if (process.argv[2] === 'nudged') keepMemoryReducerWorking();
let window: object[][] = [];
const start = Date.now();
while (Date.now() - start < 3000) {
  const chunk: object[] = [];
  for (let i = 0; i < 20_000; i++) chunk.push({ name: `object-${i}`, pair: [i, i + 1] });
  window.push(chunk);
  if (window.length > 40) window.shift();
}
window = [];
setInterval(() => process.stdout.write(`${JSON.stringify({ heapUsed: process.memoryUsage().heapUsed })}\n`), 500);
