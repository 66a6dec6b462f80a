/**
 * The bounded in-memory flow store and the one event stream everybody subscribes to
 * (live feed, HAR recorder, tests). Pending flows are never evicted; complete ones are
 * evicted oldest-completed first once their total size passes the byte budget.
 */
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import { summarize, type Flow, type FlowSummary, type HandshakeEvent, type WebSocketMessage } from './flow.js';

/**
 * Fixed cost of a flow's objects beyond its bodies and headers, and of each header pair (an
 * array and two strings): a heap snapshot of 100k stored flows showed ~3.1 KB of heap per flow
 * with ~12 headers, so the budget counts what the heap really holds.
 */
const FLOW_OVERHEAD_BYTES = 2048;
const HEADER_OVERHEAD_BYTES = 80;
export const DEFAULT_STORE_BYTES = 512 * 1024 * 1024;

export type StoreEvent =
  | { type: 'flow'; flow: FlowSummary }
  | { type: 'flow-update'; flow: FlowSummary }
  | { type: 'flow-evicted'; id: string }
  | { type: 'tls'; connectionId: string; event: HandshakeEvent }
  /** One relayed WebSocket message: `index` in the flow's `websocket.messages`; `data` may be a shortened preview (`truncated`). */
  | { type: 'ws-message'; flowId: string; index: number; message: WebSocketMessage }
  | { type: 'cleared' };

export type StoreListener = (event: StoreEvent) => void;

function headersSize(headers: readonly [string, string][]): number {
  let n = 0;
  for (const [k, v] of headers) n += k.length + v.length + HEADER_OVERHEAD_BYTES;
  return n;
}

export function flowSize(flow: Flow): number {
  let n = FLOW_OVERHEAD_BYTES + flow.request.url.length + flow.request.body.length + headersSize(flow.request.headers);
  if (flow.response) n += flow.response.body.length + headersSize(flow.response.headers);
  if (flow.websocket) for (const m of flow.websocket.messages) n += m.data.length + 64;
  return n;
}

export interface FlowStoreOptions {
  maxBytes?: number;
}

export class FlowStore {
  readonly maxBytes: number;
  /** Every stored flow in arrival order; the LRU below only accounts for complete ones. */
  private readonly flows = new Map<string, Flow>();
  private readonly done: LRUCache<string, Flow>;
  private readonly emitter = new EventEmitter();
  private queue: StoreEvent[] = [];
  private flushScheduled = false;

  constructor(options: FlowStoreOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_STORE_BYTES;
    this.done = new LRUCache<string, Flow>({
      maxSize: this.maxBytes,
      sizeCalculation: (flow) => Math.max(1, flowSize(flow)),
      dispose: (_flow, id, reason) => {
        if (reason === 'evict') {
          this.flows.delete(id);
          this.emit({ type: 'flow-evicted', id });
        }
      },
    });
    // Subscribers are optional and many (one per dashboard tab).
    this.emitter.setMaxListeners(0);
  }

  get size(): number {
    return this.flows.size;
  }

  /** Adds a new flow (usually pending) and announces it. */
  add(flow: Flow): void {
    this.flows.set(flow.id, flow);
    if (flow.state !== 'pending') this.done.set(flow.id, flow);
    if (this.listening) this.emit({ type: 'flow', flow: summarize(flow) });
  }

  /** Announces that a flow changed; complete and failed flows become evictable. */
  update(flow: Flow): void {
    if (!this.flows.has(flow.id)) return;
    if (flow.state !== 'pending') this.done.set(flow.id, flow);
    if (this.listening) this.emit({ type: 'flow-update', flow: summarize(flow) });
  }

  tlsEvent(connectionId: string, event: HandshakeEvent): void {
    this.emit({ type: 'tls', connectionId, event });
  }

  /** Announces a WebSocket message already appended to a stored flow. */
  wsMessage(flowId: string, index: number, message: WebSocketMessage): void {
    if (!this.flows.has(flowId)) return;
    this.emit({ type: 'ws-message', flowId, index, message });
  }

  get(id: string): Flow | undefined {
    return this.flows.get(id);
  }

  list(): Flow[] {
    return [...this.flows.values()];
  }

  summaries(): FlowSummary[] {
    const out: FlowSummary[] = [];
    for (const flow of this.flows.values()) out.push(summarize(flow));
    return out;
  }

  clear(): void {
    this.flows.clear();
    this.done.clear();
    this.emit({ type: 'cleared' });
  }

  /** Bytes accounted for complete flows (pending ones are not counted until they finish). */
  get bytes(): number {
    return this.done.calculatedSize;
  }

  /** Summaries cost a little per event: none are made while nobody listens. */
  private get listening(): boolean {
    return this.emitter.listenerCount('event') > 0;
  }

  subscribe(listener: StoreListener): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  /** Emission is asynchronous and batched per tick so capture never waits on subscribers. */
  private emit(event: StoreEvent): void {
    if (this.emitter.listenerCount('event') === 0) return;
    this.queue.push(event);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = this.queue;
      this.queue = [];
      for (const e of batch) this.emitter.emit('event', e);
    });
  }
}
