/**
 * The live feed: one websocket to /api/live that delivers a snapshot of the summaries and then
 * batches of store events. It reconnects by itself with capped exponential backoff and jitter
 * (so a restarted proxy is not stampeded by every open tab), and each reconnect starts from a
 * fresh snapshot, so nothing missed while offline is lost. Older rows are not the feed's business:
 * the list fetches the pages it shows (flows.ts).
 */
import { liveUrl } from './api.js';
import { flows } from './flows.js';
import { connection, reconnectAt } from './state.js';
import type { FlowSummary, LiveEvent } from './types.js';

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 10_000;
/** ±20 %: tabs that lost the same server do not all come back in the same millisecond. */
const JITTER = 0.2;
/** A connection that stayed up this long resets the backoff. */
const STABLE_MS = 5_000;

/** src/dashboard/live.ts LiveMessage. */
type Message =
  | { type: 'snapshot'; flows: FlowSummary[]; total?: number; resync?: true }
  | { type: 'batch'; events: LiveEvent[]; coalesced?: true; droppedTls?: number }
  | LiveEvent;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Routes one parsed message; tolerant of a bare event or an array of events. */
export function handleMessage(data: unknown): void {
  if (Array.isArray(data)) {
    flows.push(data.filter(isObject) as LiveEvent[]);
    return;
  }
  if (!isObject(data) || typeof data['type'] !== 'string') return;
  const msg = data as Message;
  if (msg.type === 'snapshot') {
    if (!Array.isArray(msg.flows)) return;
    flows.snapshot(msg.flows, typeof msg.total === 'number' ? msg.total : msg.flows.length);
  } else if (msg.type === 'batch') {
    if (!Array.isArray(msg.events)) return;
    flows.push(msg.events);
    if (typeof msg.droppedTls === 'number' && msg.droppedTls > 0) flows.markTlsDropped();
  } else {
    flows.push([msg]);
  }
}

export class LiveFeed {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private openedAt = 0;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.socket?.close();
    this.socket = null;
    connection.value = 'closed';
  }

  private connect(): void {
    this.retry = null;
    reconnectAt.value = null;
    connection.value = this.attempt === 0 ? 'connecting' : 'reconnecting';
    let ws: WebSocket;
    try {
      ws = new WebSocket(liveUrl());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = ws;
    ws.onopen = () => {
      this.openedAt = Date.now();
      connection.value = 'open';
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== 'string') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(ev.data);
      } catch {
        return;
      }
      handleMessage(parsed);
    };
    ws.onclose = () => {
      if (this.socket !== ws) return;
      this.socket = null;
      if (this.stopped) return;
      if (this.openedAt !== 0 && Date.now() - this.openedAt > STABLE_MS) this.attempt = 0;
      this.openedAt = 0;
      this.scheduleReconnect();
    };
    // onerror is always followed by onclose, which does the work.
    ws.onerror = () => undefined;
  }

  private scheduleReconnect(): void {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt);
    const delay = Math.round(base * (1 - JITTER + Math.random() * 2 * JITTER));
    this.attempt++;
    connection.value = 'reconnecting';
    reconnectAt.value = Date.now() + delay;
    this.retry = setTimeout(() => this.connect(), delay);
  }

  /** Skips the wait (the "reconnect now" button). */
  reconnectNow(): void {
    if (this.socket !== null || this.stopped) return;
    if (this.retry !== null) clearTimeout(this.retry);
    this.connect();
  }
}

export const live = new LiveFeed();
