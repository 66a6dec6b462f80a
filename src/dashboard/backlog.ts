/**
 * What a live client that cannot keep up is owed, kept small: the latest summary per flow in
 * first-seen order, the latest relayed WebSocket message per flow (its `index` shows what was
 * skipped), the latest HTTP/2 frame state per connection (its `first` shows what was skipped),
 * whether the store was cleared, and how many TLS events were dropped. Sans-IO:
 * events in, one message out; past its byte budget it only remembers that a snapshot is needed.
 */
import type { FlowSummary } from '../capture/flow.js';
import type { H2FramesEvent, StoreEvent } from '../capture/store.js';
import { coalesceFrames, framesBytes } from './h2-frames.js';

export type LiveEvent = StoreEvent;

export type LiveMessage =
  | { type: 'snapshot'; flows: FlowSummary[]; total: number; resync?: true }
  | { type: 'batch'; events: LiveEvent[]; coalesced?: true; droppedTls?: number };

/** Fixed cost of a summary object and its map entry beyond its strings (V8, measured roughly). */
const SUMMARY_OVERHEAD_BYTES = 400;
/** An eviction entry holds only an id. */
const EVICTION_OVERHEAD_BYTES = 100;

type WsMessageEvent = Extract<LiveEvent, { type: 'ws-message' }>;
type Coalesced = { type: 'flow' | 'flow-update'; flow: FlowSummary } | { type: 'flow-evicted'; id: string } | WsMessageEvent | H2FramesEvent | Extract<LiveEvent, { type: 'capture' }>;

/** Map key of a flow's latest WebSocket message; flow ids are UUIDs, so no clash with them. */
function wsKey(flowId: string): string {
  return `ws:${flowId}`;
}

/** Map key of a connection's HTTP/2 frame state. */
function h2Key(connectionId: string): string {
  return `h2:${connectionId}`;
}

/** Over-estimates both a summary's heap size and its JSON length, so budgets err on the safe side. */
export function summaryBytes(f: FlowSummary): number {
  // Strings take one or two bytes per character in V8; count two.
  return SUMMARY_OVERHEAD_BYTES + 2 * (f.url.length + f.host.length + (f.contentType?.length ?? 0) + (f.error?.length ?? 0));
}

function entryBytes(entry: Coalesced | undefined): number {
  if (!entry) return 0;
  if (entry.type === 'flow-evicted') return EVICTION_OVERHEAD_BYTES + 2 * entry.id.length;
  if (entry.type === 'capture') return EVICTION_OVERHEAD_BYTES + 2 * (entry.status.reason?.length ?? 0);
  if (entry.type === 'ws-message') return SUMMARY_OVERHEAD_BYTES + 2 * entry.message.data.length;
  if (entry.type === 'h2-frames') return framesBytes(entry);
  return summaryBytes(entry.flow);
}

export class Backlog {
  private readonly entries = new Map<string, Coalesced>();
  private cleared = false;
  private droppedTls = 0;
  private bytes = 0;
  private overflowed = false;

  constructor(private readonly maxBytes: number) {}

  /** True once the budget was exceeded: the client must be sent a fresh snapshot instead. */
  get needsSnapshot(): boolean {
    return this.overflowed;
  }

  add(events: readonly LiveEvent[]): void {
    for (const event of events) {
      if (this.overflowed) return;
      switch (event.type) {
        case 'tls':
          // The handshake is in the flow; the client fetches it by id when it needs it.
          this.droppedTls++;
          break;
        case 'cleared':
          this.entries.clear();
          this.bytes = 0;
          this.cleared = true;
          break;
        case 'flow':
        case 'flow-update': {
          const previous = this.entries.get(event.flow.id);
          // A flow the client never saw stays a `flow` however often it changed since.
          this.put(event.flow.id, previous, { type: previous?.type === 'flow' ? 'flow' : event.type, flow: event.flow });
          break;
        }
        case 'capture':
          // Only the latest status matters to a client that was away.
          this.put('capture', this.entries.get('capture'), event);
          break;
        case 'ws-message': {
          const key = wsKey(event.flowId);
          this.put(key, this.entries.get(key), event);
          break;
        }
        case 'h2-frames': {
          const key = h2Key(event.connectionId);
          const previous = this.entries.get(key);
          this.put(key, previous, coalesceFrames(previous?.type === 'h2-frames' ? previous : undefined, event));
          break;
        }
        case 'flow-evicted': {
          this.remove(wsKey(event.id));
          const previous = this.entries.get(event.id);
          // Added and evicted while the client was away: it never needs to hear of it.
          if (previous?.type === 'flow') this.remove(event.id);
          else this.put(event.id, previous, { type: 'flow-evicted', id: event.id });
          break;
        }
        default: {
          // Fails to compile when the store gains an event type: decide here how it coalesces.
          const unhandled: never = event;
          void unhandled;
        }
      }
      if (this.bytes > this.maxBytes) {
        this.overflowed = true;
        this.entries.clear();
        this.bytes = 0;
      }
    }
  }

  /** The coalesced batch (`cleared` first), or null when nothing happened or a snapshot is needed. */
  message(): LiveMessage | null {
    if (this.overflowed) return null;
    const events: LiveEvent[] = this.cleared ? [{ type: 'cleared' }] : [];
    for (const entry of this.entries.values()) events.push(entry);
    if (events.length === 0 && this.droppedTls === 0) return null;
    return this.droppedTls > 0 ? { type: 'batch', events, coalesced: true, droppedTls: this.droppedTls } : { type: 'batch', events, coalesced: true };
  }

  private remove(key: string): void {
    const previous = this.entries.get(key);
    if (!previous) return;
    this.entries.delete(key);
    this.bytes -= entryBytes(previous);
  }

  private put(id: string, previous: Coalesced | undefined, entry: Coalesced): void {
    // Map.set on an existing key keeps its position: first-seen order survives updates.
    this.entries.set(id, entry);
    this.bytes += entryBytes(entry) - entryBytes(previous);
  }
}
