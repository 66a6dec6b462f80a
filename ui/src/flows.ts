/**
 * The page's copy of the flow list: every summary in arrival order, the filtered view the table
 * shows, and the live events waiting to be applied. Events are applied at most once per frame
 * so 1,000 flows a second cost one re-render, and the filtered view is updated incrementally
 * (new flows are tested alone) except when an update, eviction or new filter forces a rescan.
 */
import { batch, signal } from '@preact/signals';
import { compileFilter, type CompiledFilter } from './filter.js';
import { onDeepResults } from './search.js';
import type { FlowSummary, LiveEvent } from './types.js';

/** Hidden tabs get no animation frames; apply queued events at least this often anyway. */
const FALLBACK_FLUSH_MS = 250;

/**
 * Animation frames when the environment has them. Looked up on globalThis rather than named, so
 * this module also runs (and type-checks) under Node for its unit tests, where timers do the job.
 */
type FrameApi = { requestAnimationFrame?: (run: () => void) => number; cancelAnimationFrame?: (id: number) => void };
const frames = globalThis as FrameApi;

export interface AppliedChanges {
  /** Flows that were added or updated (or got WebSocket messages) in this flush. */
  changed: Set<string>;
  /** Connections that reported TLS events in this flush. */
  tlsConnections: Set<string>;
  /** The list was replaced or cleared, or the server dropped TLS events: anything may have changed. */
  everything: boolean;
}

export type ChangeListener = (changes: AppliedChanges) => void;

export class FlowList {
  /** Bumped whenever `rows`, `total` or the filter changes: components read it to subscribe. */
  readonly version = signal(0);
  readonly total = signal(0);
  readonly matched = signal(0);
  readonly paused = signal(false);
  /** Live events held back while paused. */
  readonly held = signal(0);
  readonly filterErrors = signal<readonly string[]>([]);
  /** Flows held at a breakpoint, oldest first: the toolbar counts them. */
  readonly atBreakpoint = signal<readonly string[]>([]);
  private readonly pausedIds = new Set<string>();

  private all: FlowSummary[] = [];
  private pos = new Map<string, number>();
  private shown: FlowSummary[] = [];
  private filter: CompiledFilter = compileFilter('');
  private queue: LiveEvent[] = [];
  private pendingSnapshot: FlowSummary[] | null = null;
  /** Older flows fetched while paused, applied on resume. */
  private pendingOlder: FlowSummary[][] = [];
  /** The server coalesced a backlog and dropped TLS events: open details must refetch. */
  private tlsDropped = false;
  private frame = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<ChangeListener>();

  /** The filtered flows, in arrival order. Read `version.value` first to re-render on change. */
  get rows(): readonly FlowSummary[] {
    return this.shown;
  }

  /** Position of a flow in the filtered view, or -1. `hint` is where it was last time. */
  indexOf(id: string, hint = -1): number {
    if (hint >= 0 && this.shown[hint]?.id === id) return hint;
    return this.shown.findIndex((f) => f.id === id);
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Compiles the current filter again: the server's results for its body and header terms arrived. */
  refilter(): void {
    this.filter = compileFilter(this.filter.source);
    this.rescan();
    this.publish();
  }

  setFilter(text: string): void {
    if (text === this.filter.source) return;
    this.filter = compileFilter(text);
    this.filterErrors.value = this.filter.errors;
    this.rescan();
    this.publish();
  }

  /** A full list from the server (the live feed's first message, or after a reconnect). */
  snapshot(flows: FlowSummary[]): void {
    if (this.paused.value) {
      this.pendingSnapshot = flows;
      this.pendingOlder = [];
      this.queue = [];
      this.countHeld();
      return;
    }
    this.replaceAll(flows);
    this.emit({ changed: new Set(), tlsConnections: new Set(), everything: true });
    this.publish();
  }

  /**
   * Flows older than the snapshot (it carries only the newest few thousand), fetched page by
   * page: inserted before everything we have, skipping ids already known.
   */
  prependOlder(older: FlowSummary[]): void {
    if (this.paused.value) {
      this.pendingOlder.push(older);
      this.countHeld();
      return;
    }
    const fresh = older.filter((f) => !this.pos.has(f.id));
    if (fresh.length === 0) return;
    this.replaceAll(fresh.concat(this.all));
    this.publish();
  }

  /** The server dropped TLS events while we lagged: whoever shows a handshake must refetch. */
  markTlsDropped(): void {
    this.tlsDropped = true;
    this.schedule();
  }

  /** Live events: queued and applied on the next frame (or on resume when paused). */
  push(events: readonly LiveEvent[]): void {
    for (const e of events) this.queue.push(e);
    if (this.paused.value) {
      this.countHeld();
      return;
    }
    this.schedule();
  }

  pause(): void {
    this.paused.value = true;
  }

  resume(): void {
    this.paused.value = false;
    this.held.value = 0;
    if (this.pendingSnapshot) {
      this.replaceAll(this.pendingSnapshot);
      this.pendingSnapshot = null;
      this.emit({ changed: new Set(), tlsConnections: new Set(), everything: true });
      this.publish();
    }
    const older = this.pendingOlder;
    this.pendingOlder = [];
    for (const page of older) this.prependOlder(page);
    this.flush();
  }

  /** Empties the list at once (the server's `cleared` event will confirm). */
  clearLocal(): void {
    this.pendingSnapshot = null;
    this.pendingOlder = [];
    this.queue = [];
    this.replaceAll([]);
    this.emit({ changed: new Set(), tlsConnections: new Set(), everything: true });
    this.publish();
  }

  /** What "Resume (N new)" counts: held events plus flows of a held snapshot or older pages. */
  private countHeld(): void {
    let n = this.queue.length + (this.pendingSnapshot?.length ?? 0);
    for (const page of this.pendingOlder) n += page.length;
    this.held.value = n;
  }

  private replaceAll(flows: FlowSummary[]): void {
    this.all = flows.slice();
    this.pos = new Map();
    for (let i = 0; i < this.all.length; i++) this.pos.set(this.all[i]!.id, i);
    this.pausedIds.clear();
    for (const f of this.all) this.trackPaused(f);
    this.rescan();
  }

  private schedule(): void {
    if (this.frame !== 0 || this.timer !== null) return;
    if (frames.requestAnimationFrame) this.frame = frames.requestAnimationFrame(() => this.flush());
    this.timer = setTimeout(() => this.flush(), FALLBACK_FLUSH_MS);
  }

  /** Applies every queued event in one pass. */
  flush(): void {
    if (this.frame !== 0) frames.cancelAnimationFrame?.(this.frame);
    if (this.timer !== null) clearTimeout(this.timer);
    this.frame = 0;
    this.timer = null;
    if (this.paused.value || (this.queue.length === 0 && !this.tlsDropped)) return;
    const events = this.queue;
    this.queue = [];
    const changes: AppliedChanges = { changed: new Set(), tlsConnections: new Set(), everything: this.tlsDropped };
    this.tlsDropped = false;
    let needRescan = false;
    let evicted = false;
    const appended: FlowSummary[] = [];
    for (const e of events) {
      switch (e.type) {
        case 'flow':
        case 'flow-update': {
          changes.changed.add(e.flow.id);
          this.trackPaused(e.flow);
          const at = this.pos.get(e.flow.id);
          if (at === undefined) {
            this.pos.set(e.flow.id, this.all.length);
            this.all.push(e.flow);
            appended.push(e.flow);
            break;
          }
          const old = this.all[at]!;
          // Updated in place: the filtered view holds the same object and sees the change.
          const before = this.filter.test(old);
          Object.assign(old, e.flow);
          if (this.filter.test(old) !== before) needRescan = true;
          break;
        }
        case 'flow-evicted': {
          const at = this.pos.get(e.id);
          if (at === undefined) break;
          // Tombstone now, compact once below: evictions arrive by the hundred.
          this.pos.delete(e.id);
          this.pausedIds.delete(e.id);
          this.all[at] = TOMBSTONE;
          evicted = true;
          break;
        }
        case 'tls':
          changes.tlsConnections.add(e.connectionId);
          break;
        case 'ws-message':
          // The list shows no message counts; an open detail refetches the flow for them.
          changes.changed.add(e.flowId);
          break;
        case 'cleared':
          this.pausedIds.clear();
          this.all = [];
          this.pos = new Map();
          appended.length = 0;
          needRescan = true;
          changes.everything = true;
          break;
      }
    }
    if (evicted) {
      this.all = this.all.filter((f) => f !== TOMBSTONE);
      this.pos = new Map();
      for (let i = 0; i < this.all.length; i++) this.pos.set(this.all[i]!.id, i);
      needRescan = true;
    }
    if (needRescan) this.rescan();
    else for (const f of appended) if (this.filter.test(f)) this.shown.push(f);
    this.emit(changes);
    this.publish();
  }

  private rescan(): void {
    const test = this.filter.test;
    this.shown = this.filter.empty ? this.all.slice() : this.all.filter(test);
  }

  private trackPaused(flow: FlowSummary): void {
    if (flow.state === 'paused') this.pausedIds.add(flow.id);
    else this.pausedIds.delete(flow.id);
  }

  private publish(): void {
    batch(() => {
      if (this.pausedIds.size !== this.atBreakpoint.value.length || this.atBreakpoint.value.some((id) => !this.pausedIds.has(id))) this.atBreakpoint.value = [...this.pausedIds];
      this.total.value = this.all.length;
      this.matched.value = this.shown.length;
      this.version.value++;
    });
  }

  private emit(changes: AppliedChanges): void {
    for (const l of this.listeners) l(changes);
  }
}

/** Marks an evicted slot until the compaction at the end of the flush. */
const TOMBSTONE: FlowSummary = Object.freeze({
  id: '',
  kind: 'http',
  state: 'complete',
  method: '',
  url: '',
  scheme: 'http',
  host: '',
  status: null,
  contentType: null,
  requestSize: 0,
  responseSize: 0,
  startedAt: 0,
  duration: null,
  tlsVersion: null,
  error: null,
  imported: false,
}) as FlowSummary;

export const flows = new FlowList();
onDeepResults(() => flows.refilter());
