/**
 * Child process for heap.test.ts, with or without `tuneHeap()`: allocates request-like objects,
 * some of which live a while (requests in flight), letting the event loop turn as a proxy does,
 * and prints the largest young generation it saw as JSON.
 */
import v8 from 'node:v8';
import { tuneHeap } from '../../src/runtime/heap.js';

if (process.argv[2] === 'tuned') tuneHeap();

const newSpace = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
let maxNewSpace = newSpace();
const inFlight: { n: number; s: string; pair: number[] }[] = [];
for (let i = 0; i < 3_000_000; i++) {
  const o = { n: i, s: `header-${i}`, pair: [i, i + 1] };
  if (i % 50 === 0) inFlight.push(o);
  if (inFlight.length > 5000) inFlight.shift();
  if (i % 5_000 === 0) {
    maxNewSpace = Math.max(maxNewSpace, newSpace());
    await new Promise((resolve) => setImmediate(resolve));
  }
}
process.stdout.write(JSON.stringify({ maxNewSpace, kept: inFlight.length }) + '\n');
