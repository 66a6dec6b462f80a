/**
 * Child process for heap.test.ts, with or without `tuneHeap()`: allocates request-like objects
 * (the young generation's size is read), then streams `MiB` of short-lived 16 KiB Buffers through
 * `notePassed` the way body chunks pass the proxy (external memory is read). Prints the peaks as
 * JSON.
 */
import v8 from 'node:v8';
import { notePassed, pacedCollections, tuneHeap } from '../../src/runtime/heap.js';

const tuned = process.argv[2] === 'tuned';
const mib = Number(process.argv[3] ?? 256);
if (tuned) tuneHeap();

let maxExternal = 0;
let maxNewSpace = 0;
let sink = 0;
const newSpace = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

// Request-like objects, some of which live a little while (in flight): V8 grows the young
// generation under this pattern unless told not to.
const inFlight: { n: number; s: string; pair: number[] }[] = [];
for (let i = 0; i < 2_000_000; i++) {
  const o = { n: i, s: `header-${i}`, pair: [i, i + 1] };
  if (i % 50 === 0) inFlight.push(o);
  if (inFlight.length > 5000) inFlight.shift();
  if (i % 10_000 === 0) maxNewSpace = Math.max(maxNewSpace, newSpace());
}

// Body chunks: megabytes of Buffers held by a few small objects, as when bodies stream.
for (let round = 0; round < mib; round++) {
  for (let i = 0; i < 64; i++) {
    const chunk = Buffer.allocUnsafeSlow(16 * 1024);
    chunk[0] = i;
    sink += chunk[0]!;
    notePassed(chunk.length);
  }
  maxExternal = Math.max(maxExternal, v8.getHeapStatistics().external_memory);
  // Let the event loop turn, as a proxy does between reads.
  await new Promise((resolve) => setImmediate(resolve));
}
process.stdout.write(JSON.stringify({ maxExternal, maxNewSpace, collections: pacedCollections(), sink: sink + inFlight.length }) + '\n');
