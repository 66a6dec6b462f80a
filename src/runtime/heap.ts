/**
 * Keeps the proxy's memory near what it actually holds. Two things make a busy Node proxy's RSS
 * far larger than its live data (measured with `bench/memory.ts`):
 *
 * - V8 grows the young generation up to 2 × 16 MiB under a steady allocation rate, although a
 *   proxy's per-request objects die within milliseconds. With a growth factor of 1 it stays at its
 *   initial size; scavenges run more often and each costs as little, since almost nothing survives.
 * - Body bytes pass through Buffers whose memory lives outside the V8 heap. A few hundred bytes of
 *   JavaScript objects hold megabytes of it, so young-generation scavenges, which would free it,
 *   come rarely while bodies stream, and V8 starts a full collection only once 64 MiB more of
 *   such memory is held than after the last one. `notePassed` counts body bytes; every
 *   `CHECK_BYTES` it looks at the external memory and, past `EXTERNAL_SLACK_BYTES`, asks for a
 *   young-generation collection, which frees the Buffers that died young.
 *
 * Both go through V8 flags set at run time (`--semi-space-growth-factor` is read whenever new
 * space grows; `--expose-gc` makes `gc` available to a fresh context). Where a Node version lacks
 * either, that half does nothing.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Body bytes between two looks at external memory. */
export const CHECK_BYTES = 4 * 1024 * 1024;
/** External memory (Buffers) tolerated before a young-generation collection is asked for. */
export const EXTERNAL_SLACK_BYTES = 16 * 1024 * 1024;

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gc: GcFunction | null = null;
let untilCheck = CHECK_BYTES;
let collections = 0;

/** Applies both measures; returns what took effect (for the start-up banner and tests). */
export function tuneHeap(): { youngGenerationCapped: boolean; externalPacing: boolean } {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
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
