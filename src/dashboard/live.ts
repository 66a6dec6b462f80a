/**
 * The live feed at /api/live: store events pushed to dashboard tabs over a websocket.
 *
 * Server → client messages (JSON text frames):
 *   {type: 'snapshot', flows: FlowSummary[], total: number, resync?: true}
 *       First message: the newest `snapshotMaxFlows` flows in arrival order; `total` is the
 *       store's flow count (fetch older ones with GET /api/flows). Sent again with `resync: true`
 *       when a slow client fell too far behind: the client replaces all its state with it.
 *   {type: 'batch', events: LiveEvent[], coalesced?: true, droppedTls?: number}
 *       Store events in order, flushed every `batchIntervalMs` or at `batchMaxEvents`:
 *       {type: 'flow', flow: FlowSummary}        a new flow
 *       {type: 'flow-update', flow: FlowSummary} a flow changed (latest summary)
 *       {type: 'flow-evicted', id}               the store dropped it
 *       {type: 'tls', connectionId, event}       one handshake step (HandshakeEvent)
 *       {type: 'ws-message', flowId, index, message} one relayed WebSocket message (preview)
 *       {type: 'h2-frames', connectionId, leg, first, events, dropped, streams, windowUpdates, timings}
 *           what HTTP/2 frames changed on a connection: `events` are listed from index `first`
 *           (Connection.http2.events), the counters are the latest, `timings` the streams whose
 *           HEADERS/DATA timings changed. One per connection per batch (chunks are merged).
 *       {type: 'cleared'}                        the store was emptied
 *       `coalesced: true` follows a backlog: only the latest summary per flow, in first-seen
 *       order, `cleared` first when it happened, only the latest `ws-message` per flow (its
 *       `index` shows the gap), one `h2-frames` per connection with no `events` and `first` at
 *       the connection's listed count (a client that knows fewer missed some), TLS events
 *       dropped (counted in `droppedTls`); fetch the flow for what was skipped.
 * Clients treat `flow` and `flow-update` as upserts by id: events already reflected in the
 * snapshot may follow it, because the store emits asynchronously.
 * Client → server messages are ignored.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import type { FlowStore } from '../capture/store.js';
import { Backlog, summaryBytes, type LiveEvent, type LiveMessage } from './backlog.js';
import { mergeFrames } from './h2-frames.js';

export type { LiveEvent, LiveMessage } from './backlog.js';

const debug = debuglog('mitmscope:live');

export interface LiveOptions {
  /** Ping period; a peer that has not answered the previous ping by the next one is terminated. */
  heartbeatMs: number;
  /** Longest an event waits before it is sent: ~20 messages a second keeps a table fluid. */
  batchIntervalMs: number;
  /** A full batch goes out at once so one message never grows without bound under load. */
  batchMaxEvents: number;
  /** Newest flows in the first message; a UI virtualises the rest and fetches older pages. */
  snapshotMaxFlows: number;
  /** Estimated size cap of a snapshot, below `hardLimitBytes - softLimitBytes` so a snapshot alone never trips the hard limit. */
  snapshotMaxBytes: number;
  /** Unsent bytes past which a client stops getting individual events and is coalesced. */
  softLimitBytes: number;
  /** Unsent bytes under which a coalescing client is considered drained again. */
  lowWaterBytes: number;
  /** Unsent bytes past which the client is closed (1013): it is not reading at all. */
  hardLimitBytes: number;
  /** Estimated bytes of coalesced summaries per client; past it the client gets a fresh snapshot instead. */
  maxCoalescedBytes: number;
  /** How long a close handshake may take before the socket is destroyed. */
  closeGraceMs: number;
}

export const LIVE_DEFAULTS: Readonly<LiveOptions> = {
  heartbeatMs: 30_000,
  batchIntervalMs: 50,
  batchMaxEvents: 500,
  snapshotMaxFlows: 5000,
  snapshotMaxBytes: 4 * 1024 * 1024,
  softLimitBytes: 1024 * 1024,
  lowWaterBytes: 256 * 1024,
  hardLimitBytes: 8 * 1024 * 1024,
  maxCoalescedBytes: 4 * 1024 * 1024,
  closeGraceMs: 1000,
};

/** Clients have nothing to say; a small cap keeps a hostile peer from making us buffer. */
const MAX_CLIENT_PAYLOAD_BYTES = 4096;
/** RFC 6455 §7.4.1 1013 "try again later": the client could not keep up. */
const CLOSE_TOO_SLOW = 1013;
/** RFC 6455 §7.4.1 1001 "going away". */
const CLOSE_GOING_AWAY = 1001;

class LiveClient {
  /** Cleared at each ping, set again by the pong. */
  alive = true;
  /** Null while the client keeps up; otherwise what it is owed once it drains. */
  backlog: Backlog | null = null;
  constructor(readonly ws: WebSocket) {}
}

/**
 * One batch as JSON. Handshake details come from parsers of hostile bytes; should one ever hold
 * something JSON cannot encode (a BigInt), that event is dropped rather than the whole feed.
 */
function serializeBatch(events: LiveEvent[]): string {
  try {
    return JSON.stringify({ type: 'batch', events } satisfies LiveMessage);
  } catch (err) {
    debug('batch not serialisable (%s): dropping the events that fail', (err as Error).message);
    const parts: string[] = [];
    for (const event of events) {
      try {
        parts.push(JSON.stringify(event));
      } catch {
        // dropped: already logged
      }
    }
    return `{"type":"batch","events":[${parts.join(',')}]}`;
  }
}

export class LiveFeed {
  private readonly options: LiveOptions;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<LiveClient>();
  private pending: LiveEvent[] = [];
  /** Where each connection's `h2-frames` sits in `pending`: later ones merge into it. */
  private pendingFrames = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly heartbeat: NodeJS.Timeout;
  private unsubscribe: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly store: FlowStore,
    options: Partial<LiveOptions> = {},
  ) {
    this.options = { ...LIVE_DEFAULTS, ...options };
    this.wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: MAX_CLIENT_PAYLOAD_BYTES, perMessageDeflate: false });
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Completes an upgrade the caller has already authorised. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeat);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.pending = [];
    this.pendingFrames.clear();
    await Promise.all([...this.clients].map((client) => this.drop(client, CLOSE_GOING_AWAY, 'dashboard closing')));
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private attach(ws: WebSocket): void {
    if (this.closed) {
      ws.terminate();
      return;
    }
    // Existing clients get what is queued now, so the newcomer's first batch starts after its snapshot.
    this.flush();
    const client = new LiveClient(ws);
    this.clients.add(client);
    this.unsubscribe ??= this.store.subscribe((event) => this.onEvent(event));
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('error', (err) => debug('client error: %s', err.message));
    ws.on('close', () => this.forget(client));
    this.send(client, this.snapshot(false));
  }

  private forget(client: LiveClient): void {
    this.clients.delete(client);
    client.backlog = null;
    if (this.clients.size === 0 && this.unsubscribe) {
      // With nobody listening the store skips building events at all.
      this.unsubscribe();
      this.unsubscribe = null;
      this.pending = [];
      this.pendingFrames.clear();
    }
  }

  /** The newest flows within both snapshot caps, oldest first. */
  private snapshot(resync: boolean): LiveMessage {
    const newest = this.store.newest(this.options.snapshotMaxFlows);
    let bytes = 0;
    let first = newest.length;
    while (first > 0) {
      bytes += summaryBytes(newest[first - 1]!);
      if (bytes > this.options.snapshotMaxBytes) break;
      first -= 1;
    }
    const flows = newest.slice(first);
    const total = this.store.size;
    return resync ? { type: 'snapshot', flows, total, resync: true } : { type: 'snapshot', flows, total };
  }

  private send(client: LiveClient, message: LiveMessage | string): void {
    const data = typeof message === 'string' ? message : JSON.stringify(message);
    client.ws.send(data, (err) => {
      if (err) debug('send failed: %s', err.message);
    });
  }

  private onEvent(event: LiveEvent): void {
    if (event.type === 'h2-frames') {
      // A busy connection announces every chunk: one message per connection per batch.
      const at = this.pendingFrames.get(event.connectionId);
      const earlier = at === undefined ? undefined : this.pending[at];
      if (at !== undefined && earlier?.type === 'h2-frames') {
        this.pending[at] = mergeFrames(earlier, event);
        return;
      }
      this.pendingFrames.set(event.connectionId, this.pending.length);
    }
    this.pending.push(event);
    if (this.pending.length >= this.options.batchMaxEvents) this.flush();
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => this.tick(), this.options.batchIntervalMs);
  }

  private tick(): void {
    this.timer = null;
    this.flush();
    let backlogged = false;
    for (const client of this.clients) {
      if (!client.backlog) continue;
      const buffered = client.ws.bufferedAmount;
      if (buffered > this.options.hardLimitBytes) void this.drop(client, CLOSE_TOO_SLOW, 'client too slow');
      else if (buffered <= this.options.lowWaterBytes) this.deliverBacklog(client, client.backlog);
      else backlogged = true;
    }
    if (backlogged || this.pending.length > 0) this.schedule();
  }

  /** Sends queued events: one serialisation shared by every client that keeps up. */
  private flush(): void {
    const events = this.pending;
    if (events.length === 0) return;
    this.pending = [];
    this.pendingFrames.clear();
    let payload: string | null = null;
    for (const client of this.clients) {
      if (!client.backlog) {
        const buffered = client.ws.bufferedAmount;
        if (buffered > this.options.hardLimitBytes) {
          void this.drop(client, CLOSE_TOO_SLOW, 'client too slow');
          continue;
        }
        if (buffered <= this.options.softLimitBytes) {
          payload ??= serializeBatch(events);
          this.send(client, payload);
          continue;
        }
        debug('client backlogged (%d bytes unsent): coalescing', buffered);
        client.backlog = new Backlog(this.options.maxCoalescedBytes);
        this.schedule();
      }
      client.backlog.add(events);
    }
  }

  private deliverBacklog(client: LiveClient, backlog: Backlog): void {
    client.backlog = null;
    if (backlog.needsSnapshot) {
      debug('backlog overflowed its budget: sending a fresh snapshot');
      this.send(client, this.snapshot(true));
      return;
    }
    const message = backlog.message();
    if (message) this.send(client, message);
  }

  /** Ends a client: close handshake first, then the socket after a grace period. */
  private drop(client: LiveClient, code: number, reason: string): Promise<void> {
    debug('closing client (%d %s) with %d bytes unsent', code, reason, client.ws.bufferedAmount);
    this.forget(client);
    const { ws } = client;
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => ws.terminate(), this.options.closeGraceMs);
      timer.unref();
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
    });
  }

  private beat(): void {
    for (const client of this.clients) {
      if (!client.alive) {
        debug('client missed a pong: terminating');
        this.forget(client);
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }
}
