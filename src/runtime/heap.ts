/**
 * Keeps the proxy's memory near what it actually holds. Two things make a busy Node proxy's RSS
 * far larger than its live data (measured with `bench/memory.ts`):
 *
 * - V8 grows the young generation up to 2 × 16 MiB under a steady allocation rate, although a
 *   proxy's per-request objects die within milliseconds. It is let grow to `YOUNG_SPACE_BYTES`
 *   (a semi-space of 4 MiB), then the growth factor is set to 1. Smaller (the initial 2 × 1 MiB)
 *   was measured worse: objects of requests in flight survived two scavenges, were promoted and
 *   filled the old generation with garbage.
 * - After a full collection V8 lets the old generation grow by a factor it picks between 1.1 and 4
 *   before the next one. Under a steady load it picked large factors, and the old generation held
 *   several times the live data in garbage. `--heap-growing-percent` fixes the factor at 1.3.
 * - Body bytes pass through Buffers whose memory lives outside the V8 heap. A few hundred bytes of
 *   JavaScript objects hold megabytes of it, so young-generation scavenges, which would free it,
 *   come rarely while bodies stream, and V8 starts a full collection only once 64 MiB more of
 *   such memory is held than after the last one. `notePassed` counts body bytes; every
 *   `CHECK_BYTES` it looks at the external memory and, past `EXTERNAL_SLACK_BYTES`, asks for a
 *   young-generation collection, which frees the Buffers that died young.
 *
 * All go through V8 flags set at run time (`--semi-space-growth-factor` is read whenever new space
 * grows, `--heap-growing-percent` whenever the next limit is set; `--expose-gc` makes `gc`
 * available to a fresh context). Where a Node version lacks one, that part does nothing.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Both semi-spaces of the young generation, past which it stops growing. */
export const YOUNG_SPACE_BYTES = 8 * 1024 * 1024;
/** After a full collection the old generation may grow by this much before the next (V8's own factor reaches 4×). */
export const OLD_GROWTH_PERCENT = 30;
/** Body bytes between two looks at external memory. */
export const CHECK_BYTES = 4 * 1024 * 1024;
/** External memory (Buffers) tolerated before a young-generation collection is asked for. */
export const EXTERNAL_SLACK_BYTES = 16 * 1024 * 1024;

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gc: GcFunction | null = null;
let untilCheck = CHECK_BYTES;
let collections = 0;

function youngSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Stops the young generation's growth once it has reached YOUNG_SPACE_BYTES (growth happens in collections). */
function capYoungGeneration(): void {
  const stop = (): boolean => {
    if (youngSpaceBytes() < YOUNG_SPACE_BYTES) return false;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    return true;
  };
  if (stop()) return;
  // From the initial 2 × 1 MiB, doubling reaches the cap in two steps; each is seen after its collection.
  v8.setFlagsFromString('--semi-space-growth-factor=2');
  const observer = new PerformanceObserver(() => {
    if (stop()) observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}

/** Applies both measures; returns what took effect (for tests). */
export function tuneHeap(): { youngGenerationCapped: boolean; externalPacing: boolean } {
  capYoungGeneration();
  v8.setFlagsFromString(`--heap-growing-percent=${OLD_GROWTH_PERCENT}`);
  let externalPacing = false;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('typeof gc === "function" ? gc : null');
    if (typeof fn === 'function') {
      gc = fn as GcFunction;
      externalPacing = true;
    }
  } catch {
    gc = null;
  }
  return { youngGenerationCapped: true, externalPacing };
}

/** Counts body bytes that passed through the proxy; cheap enough for every chunk. */
export function notePassed(bytes: number): void {
  untilCheck -= bytes;
  if (untilCheck > 0) return;
  untilCheck = CHECK_BYTES;
  if (gc === null) return;
  if (v8.getHeapStatistics().external_memory > EXTERNAL_SLACK_BYTES) {
    gc({ type: 'minor' });
    collections += 1;
  }
}

/** Young-generation collections asked for so far. */
export function pacedCollections(): number {
  return collections;
}
