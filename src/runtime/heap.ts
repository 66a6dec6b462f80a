/**
 * Keeps the young generation at a size that fits a proxy. V8 grows it up to 2 × 16 MiB under a
 * steady allocation rate, and parsing mitmscope's modules alone takes it to 16 MiB, although a
 * proxy's per-request objects die within milliseconds. It is let grow to `YOUNG_SPACE_BYTES`
 * (2 × 8 MiB) and then stops: the growth factor, which V8 reads whenever new space would grow, is
 * set to 1 at run time. Measured with `bench/memory.ts` (fresh proxy per run, 3 alternating
 * rounds): the heap under keep-alive load 50–60 MiB instead of 67–84 MiB, at the same request rate;
 * 2 × 4 MiB cost keep-alive throughput, and 2 × 1 MiB promoted the objects of requests in flight
 * and filled the old generation with garbage. On Node 26 (V8 14) new space commits memory as it
 * fills and its capacity grows ahead of that, so the cap takes hold a step late: ~27 MiB at most
 * under the test's load instead of ~52 MiB untuned.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/** Both semi-spaces of the young generation, past which it stops growing. */
export const YOUNG_SPACE_BYTES = 16 * 1024 * 1024;

function youngSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Lets the young generation grow to YOUNG_SPACE_BYTES and no further (growth happens in collections). */
export function tuneHeap(): void {
  const stop = (): boolean => {
    if (youngSpaceBytes() < YOUNG_SPACE_BYTES) return false;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    return true;
  };
  if (stop()) return;
  // From the initial 2 × 1 MiB, doubling reaches the cap in steps; each is seen after its collection.
  v8.setFlagsFromString('--semi-space-growth-factor=2');
  const observer = new PerformanceObserver(() => {
    if (stop()) observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}
