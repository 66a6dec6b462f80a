/**
 * Paused exchanges waiting for a decision: resume (with edits), abort, timeout, or gone (the
 * client left, the proxy stops). Every waiter is settled exactly once and its timer cleared, so
 * no promise or timer outlives its exchange. Each paused flow waits on its own.
 */
import type { RequestEdits, ResponseEdits } from './edits.js';

export type PausePhase = 'request' | 'response';

export type Decision<E> = { kind: 'resume'; edits: E } | { kind: 'abort' } | { kind: 'timeout' } | { kind: 'gone' };

interface Waiter {
  phase: PausePhase;
  settle(decision: Decision<RequestEdits | ResponseEdits>): void;
}

export class Breakpoints {
  private readonly waiting = new Map<string, Waiter>();

  /** `timeoutMs`: how long a paused exchange waits before it is answered 504. */
  constructor(readonly timeoutMs: number) {}

  /** Pauses until a decision; the caller has already marked the flow paused. */
  wait(flowId: string, phase: 'request'): Promise<Decision<RequestEdits>>;
  wait(flowId: string, phase: 'response'): Promise<Decision<ResponseEdits>>;
  wait(flowId: string, phase: PausePhase): Promise<Decision<RequestEdits | ResponseEdits>> {
    this.cancel(flowId);
    return new Promise((resolve) => {
      const timer = setTimeout(() => waiter.settle({ kind: 'timeout' }), this.timeoutMs);
      const waiter: Waiter = {
        phase,
        settle: (decision) => {
          if (this.waiting.get(flowId) !== waiter) return;
          this.waiting.delete(flowId);
          clearTimeout(timer);
          resolve(decision);
        },
      };
      this.waiting.set(flowId, waiter);
    });
  }

  /** Where the flow is paused, or null. */
  phaseOf(flowId: string): PausePhase | null {
    return this.waiting.get(flowId)?.phase ?? null;
  }

  get size(): number {
    return this.waiting.size;
  }

  resume(flowId: string, edits: RequestEdits | ResponseEdits): boolean {
    return this.decide(flowId, { kind: 'resume', edits });
  }

  abort(flowId: string): boolean {
    return this.decide(flowId, { kind: 'abort' });
  }

  /** The exchange ended without a decision (client gone): wake its waiter. */
  cancel(flowId: string): void {
    this.decide(flowId, { kind: 'gone' });
  }

  /** Wakes every waiter (shutdown). */
  close(): void {
    for (const id of [...this.waiting.keys()]) this.cancel(id);
  }

  private decide(flowId: string, decision: Decision<RequestEdits | ResponseEdits>): boolean {
    const waiter = this.waiting.get(flowId);
    if (!waiter) return false;
    waiter.settle(decision);
    return true;
  }
}
