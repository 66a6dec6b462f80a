/**
 * The page's window over the flow list. The list itself (a million flows, filtered and sorted)
 * lives in the server's session; the page holds its length and a window of a few thousand
 * summaries around what is on screen, fetched in pages as the view moves: by anchor (the rows
 * just before or after the window) when the view scrolls past an edge, by position when it
 * jumps. Filters and sorting run on the server. Live events are applied at most once per frame:
 * new flows join the window when it reaches the end of the list, counts follow every event,
 * and what the page cannot place itself (a sorted list, an update it never saw) is refetched.
 */
import { batch, signal } from '@preact/signals';
import { storedSort } from './columns.js';
import { compileFilter, type CompiledFilter } from './filter.js';
import { framesWatch } from './h2-live.js';
import { dismiss, notify } from './state.js';
import type { CaptureStatus, FlowSummary, LiveEvent } from './types.js';
import { sortKeyOf, type PageSource, type SortState, type WindowPage, type WindowQuery } from './window-api.js';

/** Hidden tabs get no animation frames; apply queued events at least this often anyway. */
const FALLBACK_FLUSH_MS = 250;
/** Rows per fetch: a few screens, small enough that parsing one never shows as a long task. */
const PAGE_FLOWS = 400;
/** The window never holds more than this: memory stays flat however long the list. */
export const MAX_WINDOW = 5 * PAGE_FLOWS;
/** A list that changed in ways the page cannot place (sorted inserts, evictions under a filter) is refetched this long after. */
const REFRESH_MS = 1000;
/** Match results remembered for flows seen arriving, so their updates adjust the matched count. */
const RECENT_MATCHES = 10_000;

/**
 * Animation frames when the environment has them. Looked up on globalThis rather than named, so
 * this module also runs (and type-checks) under Node for its unit tests, where timers do the job.
 */
type FrameApi = { requestAnimationFrame?: (run: () => void) => number; cancelAnimationFrame?: (id: number) => void };
const frames = globalThis as FrameApi;

export interface AppliedChanges {
  /** Flows that were added or updated (or got WebSocket messages) in this flush. */
  changed: Set<string>;
  /** Connections that reported TLS events in this flush, or HTTP/2 frames an open view could not apply. */
  tlsConnections: Set<string>;
  /** The list was replaced or cleared, or the server dropped TLS events: anything may have changed. */
  everything: boolean;
}

export type ChangeListener = (changes: AppliedChanges) => void;

type Fetch = { kind: 'append' | 'prepend' | 'tail' | 'jump'; query: WindowQuery; for?: [number, number] };

export class FlowList {
  /** Bumped whenever the window, the counts or the query change: components read it to subscribe. */
  readonly version = signal(0);
  /** Flows in the store. */
  readonly total = signal(0);
  /** Flows in the list: those the filter matches, or `total` without a filter. */
  readonly matched = signal(0);
  readonly paused = signal(false);
  /** Live events held back while paused. */
  readonly held = signal(0);
  readonly filterErrors = signal<readonly string[]>([]);
  readonly sort = signal<SortState | null>(null);
  /** Flows held at a breakpoint, oldest first: the toolbar counts them (from the feed, whatever the window shows). */
  readonly atBreakpoint = signal<readonly string[]>([]);
  private readonly pausedIds = new Set<string>();
  /** The session's capture state, from the live feed (null until known). */
  readonly capture = signal<CaptureStatus | null>(null);

  private window: FlowSummary[] = [];
  /** Position of `window[0]` in the list. */
  private start = 0;
  private byId = new Map<string, FlowSummary>();
  private filter: CompiledFilter = compileFilter('');
  /** Whether each recently arrived flow matched the filter, for the count when it changes. */
  private recent = new Map<string, boolean>();
  private queue: LiveEvent[] = [];
  private pendingSnapshot: { flows: FlowSummary[]; total: number } | null = null;
  /** The server coalesced a backlog and dropped TLS events: open details must refetch. */
  private tlsDropped = false;
  private frame = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<ChangeListener>();
  /** Bumped when the list is replaced (filter, sort, clear): answers for an older list are dropped. */
  private generation = 0;
  private inflight = false;
  /** A fetch that must run next, whatever the view wants. */
  private forced: Fetch | null = null;
  /** The rows the view wants, [first, last). */
  private wanted: [number, number] = [0, 0];
  /** The matched count must be asked for with the next fetch. */
  private recount = false;
  /** A failed fetch blocks loading until Retry (or a new list), so a scroll does not hammer a failing server. */
  private failure: number | null = null;

  /** Where windows come from; the page sets GET /api/flows at start-up (see main.tsx). */
  private source: PageSource = () => Promise.reject(new Error('no flow source yet'));

  constructor(source: PageSource | null = null, sort: SortState | null = null) {
    if (source) this.source = source;
    this.sort.value = sort;
  }

  /** Sets where windows come from (kept out of the constructor so this module needs no DOM). */
  setSource(source: PageSource): void {
    this.source = source;
  }

  /** Rows in the list (the scroll height). */
  get length(): number {
    return this.matched.value;
  }

  /** The summary at a list position, when the window holds it. */
  at(index: number): FlowSummary | undefined {
    return this.window[index - this.start];
  }

  /** The window's first position and size (for tests and the bench). */
  get loaded(): { start: number; rows: readonly FlowSummary[] } {
    return { start: this.start, rows: this.window };
  }

  /** Position of a flow in the list, or -1 when it is not in the window. `hint` is where it was last time. */
  indexOf(id: string, hint = -1): number {
    if (hint >= this.start && this.window[hint - this.start]?.id === id) return hint;
    if (!this.byId.has(id)) return -1;
    return this.start + this.window.findIndex((f) => f.id === id);
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A new filter: checked here (errors show at once), run by the server. */
  setFilter(text: string): void {
    const compiled = compileFilter(text);
    this.filterErrors.value = compiled.errors;
    // The server refuses a filter with errors: keep showing the last good one.
    if (compiled.errors.length > 0 || text === this.filter.source) return;
    this.filter = compiled;
    this.reset();
  }

  setSort(sort: SortState | null): void {
    const now = this.sort.value;
    if (now?.column === sort?.column && now?.order === sort?.order) return;
    this.sort.value = sort;
    this.reset();
  }

  /** The list from the server's point of view changed wholesale: drop the window and start over. */
  private reset(): void {
    this.generation++;
    this.clearFailure();
    this.setWindow([], 0);
    this.recent.clear();
    this.recount = true;
    this.wanted = [0, 0];
    this.emit({ changed: new Set(), tlsConnections: new Set(), everything: true });
    this.publish();
    void this.load(this.firstFetch());
  }

  /** The view shows rows [first, last): fetch what the window lacks. */
  ensure(first: number, last: number): void {
    this.wanted = [first, Math.max(first, last)];
    if (!this.covers(first, last)) void this.load(null);
  }

  private covers(first: number, last: number): boolean {
    const end = Math.min(last, this.length);
    if (first >= end) return true;
    return first >= this.start && end <= this.start + this.window.length;
  }

  private get atTail(): boolean {
    return this.start + this.window.length >= this.length;
  }

  private get arrivalOrder(): boolean {
    return this.sort.value === null;
  }

  private baseQuery(): WindowQuery {
    return { filter: this.filter.source, sort: this.sort.value, limit: PAGE_FLOWS, count: this.recount && !this.filter.empty };
  }

  /** A new list opens at its end in arrival order (the newest flows), at its start when sorted. */
  private firstFetch(): Fetch {
    const base = this.baseQuery();
    return this.arrivalOrder ? { kind: 'tail', query: base } : { kind: 'jump', query: { ...base, offset: 0 } };
  }

  /** What to fetch next for the wanted rows; null when nothing is missing. */
  private nextFetch(): Fetch | null {
    const base = this.baseQuery();
    const [first, last] = this.wanted;
    if (this.covers(first, last)) return null;
    const end = this.start + this.window.length;
    if (this.window.length > 0 && first >= end && first - end < PAGE_FLOWS) return { kind: 'append', query: { ...base, after: this.window.at(-1)!.id } };
    if (this.window.length > 0 && last <= this.start && this.start - last < PAGE_FLOWS) return { kind: 'prepend', query: { ...base, before: this.window[0]!.id } };
    if (this.window.length > 0 && first < end && first >= this.start) return { kind: 'append', query: { ...base, after: this.window.at(-1)!.id } };
    if (this.window.length > 0 && last > this.start && last <= end) return { kind: 'prepend', query: { ...base, before: this.window[0]!.id } };
    if (this.arrivalOrder && last >= this.length - PAGE_FLOWS) return { kind: 'tail', query: base };
    const offset = Math.max(0, Math.min(first - Math.floor((PAGE_FLOWS - (last - first)) / 2), this.length - PAGE_FLOWS));
    return { kind: 'jump', query: { ...base, offset } };
  }

  /**
   * One fetch at a time: `forced` (a new list, a refresh) or else what the view lacks. When it
   * lands, the next one for whatever the view wants by then.
   */
  private async load(forced: Fetch | null): Promise<void> {
    if (forced) this.forced = forced;
    if (this.inflight || this.failure !== null) return;
    const next = this.forced ?? this.nextFetch();
    this.forced = null;
    if (!next) return;
    next.for ??= this.wanted;
    this.inflight = true;
    const gen = this.generation;
    let page: WindowPage;
    try {
      page = await this.source(next.query);
    } catch (err) {
      this.inflight = false;
      if (gen === this.generation) this.failed(next, err);
      else void this.load(null);
      return;
    }
    this.inflight = false;
    if (gen === this.generation && !this.apply(next, page)) return;
    void this.load(null);
  }

  /** Puts a fetched page into the window; false when it brought nothing new (stop asking). */
  private apply(fetch: Fetch, page: WindowPage): boolean {
    this.total.value = page.total;
    // Without a filter the store's size is the list's length; with one, a count when asked for.
    const exact = page.matched ?? (this.filter.empty ? page.total : null);
    if (exact !== null) this.matched.value = exact;
    if (page.matched !== null) this.recount = false;
    const fresh = page.flows.filter((f) => !this.byId.has(f.id));
    switch (fetch.kind) {
      case 'tail':
        this.setWindow(page.flows, Math.max(0, this.length - page.flows.length));
        break;
      case 'jump':
        this.setWindow(page.flows, fetch.query.offset ?? 0);
        if (!page.more && exact === null) this.matched.value = this.start + this.window.length;
        break;
      case 'append':
        this.setWindow(this.window.concat(fresh), this.start);
        // Nothing after the window: it ends the list, so either the count or our position was off.
        if (!page.more) {
          if (exact === null) this.matched.value = this.start + this.window.length;
          else this.start = Math.max(0, this.length - this.window.length);
        }
        break;
      case 'prepend':
        // Nothing before the window: it starts the list, wherever we thought it was.
        this.setWindow(fresh.concat(this.window), page.more ? Math.max(0, this.start - fresh.length) : 0);
        if (!page.more && exact === null) this.matched.value = Math.max(this.length, this.window.length);
        break;
    }
    this.trim();
    this.emit({ changed: new Set(), tlsConnections: new Set(), everything: false });
    this.publish();
    return fetch.kind === 'tail' || fetch.kind === 'jump' ? page.flows.length > 0 : fresh.length > 0;
  }

  private failed(fetch: Fetch, err: unknown): void {
    this.clearFailure();
    const why = err instanceof Error ? err.message : String(err);
    const [first, last] = fetch.for ?? this.wanted;
    const where = fetch.kind === 'tail' ? 'the newest flows' : `flows ${first + 1}–${Math.min(last, this.length)}`;
    this.failure = notify('error', `Could not load ${where} (${why}): the list has a gap there.`, {
      sticky: true,
      action: { label: 'Retry', run: () => this.retry() },
    });
  }

  /** The notice's Retry: loads what the view wants now. */
  retry(): void {
    this.failure = null;
    void this.load(this.window.length === 0 ? this.firstFetch() : null);
  }

  private clearFailure(): void {
    if (this.failure !== null) dismiss(this.failure);
    this.failure = null;
  }

  /** Keeps the window within MAX_WINDOW, dropping the side farther from what the view wants. */
  private trim(): void {
    const extra = this.window.length - MAX_WINDOW;
    if (extra <= 0) return;
    const [first, last] = this.wanted;
    const middle = (first + last) / 2;
    const windowMiddle = this.start + this.window.length / 2;
    if (middle >= windowMiddle) this.setWindow(this.window.slice(extra), this.start + extra);
    else this.setWindow(this.window.slice(0, MAX_WINDOW), this.start);
  }

  private setWindow(rows: FlowSummary[], start: number): void {
    this.window = rows;
    this.start = start;
    this.byId = new Map(rows.map((f) => [f.id, f]));
  }

  /** The live feed's first message (or a resync): the newest flows and the store's size. */
  snapshot(flows: FlowSummary[], total = flows.length): void {
    this.pausedIds.clear();
    this.trackBreakpoints(flows.map((flow) => ({ type: 'flow' as const, flow })));
    if (this.paused.value) {
      this.pendingSnapshot = { flows, total };
      this.queue = [];
      this.countHeld();
      return;
    }
    this.applySnapshot(flows, total);
  }

  private applySnapshot(flows: FlowSummary[], total: number): void {
    this.clearFailure();
    this.total.value = total;
    this.recent.clear();
    if (this.arrivalOrder && this.filter.empty && (this.window.length === 0 || this.atTail)) {
      // The newest flows are the end of the list: the window is that end.
      this.generation++;
      this.matched.value = total;
      const rows = flows.slice(-MAX_WINDOW);
      this.setWindow(rows, Math.max(0, total - rows.length));
      this.emit({ changed: new Set(), tlsConnections: new Set(), everything: true });
      this.publish();
      // The view may want older rows than the snapshot has.
      void this.load(null);
      return;
    }
    // Filtered, sorted or scrolled back: the server places the rows; refetch what is on screen.
    this.refresh(true);
    this.emit({ changed: new Set(), tlsConnections: new Set(), everything: true });
  }

  /** The server dropped TLS events while we lagged: whoever shows a handshake must refetch. */
  markTlsDropped(): void {
    this.tlsDropped = true;
    this.schedule();
  }

  /** Live events: queued and applied on the next frame (or on resume when paused). */
  push(events: readonly LiveEvent[]): void {
    this.trackBreakpoints(events);
    for (const e of events) {
      // The capture state is not list content: it shows at once, paused or not.
      if (e.type === 'capture') this.capture.value = e.status;
      else this.queue.push(e);
    }
    if (this.paused.value) {
      this.countHeld();
      return;
    }
    this.schedule();
  }

  pause(): void {
    this.paused.value = true;
  }

  /** Paused flows are counted from every event, held or not: a breakpoint must never wait unseen. */
  private trackBreakpoints(events: readonly LiveEvent[]): void {
    for (const e of events) {
      if (e.type === 'flow' || e.type === 'flow-update') {
        if (e.flow.state === 'paused') this.pausedIds.add(e.flow.id);
        else this.pausedIds.delete(e.flow.id);
      } else if (e.type === 'flow-evicted') this.pausedIds.delete(e.id);
      else if (e.type === 'cleared') this.pausedIds.clear();
    }
    const now = this.atBreakpoint.value;
    if (this.pausedIds.size !== now.length || now.some((id) => !this.pausedIds.has(id))) this.atBreakpoint.value = [...this.pausedIds];
  }

  resume(): void {
    this.paused.value = false;
    this.held.value = 0;
    const snapshot = this.pendingSnapshot;
    this.pendingSnapshot = null;
    if (snapshot) this.applySnapshot(snapshot.flows, snapshot.total);
    this.flush();
  }

  /** Empties the list at once (the server's `cleared` event will confirm). */
  clearLocal(): void {
    this.pendingSnapshot = null;
    this.queue = [];
    this.clear();
    this.emit({ changed: new Set(), tlsConnections: new Set(), everything: true });
    this.publish();
  }

  private clear(): void {
    this.generation++;
    this.clearFailure();
    this.setWindow([], 0);
    this.recent.clear();
    this.total.value = 0;
    this.matched.value = 0;
  }

  /** What "Resume (N new)" counts: held events plus the flows of a held snapshot. */
  private countHeld(): void {
    this.held.value = this.queue.length + (this.pendingSnapshot?.flows.length ?? 0);
  }

  private schedule(): void {
    if (this.frame !== 0 || this.timer !== null) return;
    if (frames.requestAnimationFrame) this.frame = frames.requestAnimationFrame(() => this.flush());
    this.timer = setTimeout(() => this.flush(), FALLBACK_FLUSH_MS);
  }

  /**
   * Refetches the window where it is (after changes the page cannot place), with the matched
   * count when filtered. Soon, not now: a burst of such changes costs one fetch.
   */
  private refresh(now = false): void {
    if (!this.filter.empty) this.recount = true;
    if (this.refreshTimer !== null) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    const run = () => {
      this.refreshTimer = null;
      this.generation++;
      const base = this.baseQuery();
      const atEnd = this.window.length === 0 ? this.arrivalOrder : this.arrivalOrder && this.atTail;
      // The window is kept until the new one lands, so rows do not blink.
      void this.load(atEnd ? { kind: 'tail', query: base } : { kind: 'jump', query: { ...base, offset: this.start, limit: Math.max(PAGE_FLOWS, this.window.length) } });
    };
    if (now) run();
    else this.refreshTimer = setTimeout(run, REFRESH_MS);
  }

  private remember(id: string, matches: boolean): void {
    if (this.recent.size >= RECENT_MATCHES) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(id, matches);
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
    let total = this.total.value;
    let matched = this.matched.value;
    let stale = false;
    const removed = new Set<string>();
    const appended: FlowSummary[] = [];
    const test = this.filter.test;
    for (const e of events) {
      switch (e.type) {
        case 'flow':
        case 'flow-update': {
          changes.changed.add(e.flow.id);
          const shown = this.byId.get(e.flow.id);
          if (shown) {
            // Updated in place: rows hold the same object and see the change.
            const key = this.sort.value ? sortKeyOf(shown, this.sort.value.column) : null;
            Object.assign(shown, e.flow);
            this.remember(shown.id, true);
            if (!test(shown)) {
              removed.add(shown.id);
              matched--;
              this.recent.set(shown.id, false);
            } else if (key !== null && key !== sortKeyOf(shown, this.sort.value!.column)) {
              stale = true;
            }
            break;
          }
          // Added earlier in this same batch (a fast failure): the pending copy takes the update.
          const queued = e.type === 'flow-update' ? appended.find((f) => f.id === e.flow.id) : undefined;
          if (queued) {
            Object.assign(queued, e.flow);
            break;
          }
          const before = this.recent.get(e.flow.id);
          const now = test(e.flow);
          this.remember(e.flow.id, now);
          const tail = this.start + this.window.length - removed.size + appended.length === matched;
          if (before === undefined) {
            if (e.type === 'flow-update') {
              // An update of a flow we never saw arrive: only the server knows if it matched before.
              if (!this.filter.empty) stale = true;
              break;
            }
            total++;
            if (!now) break;
            if (this.arrivalOrder && tail) appended.push(e.flow);
            else if (!this.arrivalOrder) stale = true;
            matched++;
          } else if (before !== now) {
            matched += now ? 1 : -1;
            if (now && this.arrivalOrder && tail) appended.push(e.flow);
            else stale = true;
          }
          break;
        }
        case 'flow-evicted': {
          total--;
          const shown = this.byId.get(e.id);
          const was = shown ? true : this.filter.empty ? true : this.recent.get(e.id);
          this.recent.delete(e.id);
          if (shown) {
            removed.add(e.id);
            matched--;
          } else if (was === true) {
            matched--;
            // Evictions take the oldest flows: in arrival order those sit before the window.
            if (this.arrivalOrder && this.start > 0) this.start--;
            else if (!this.arrivalOrder) stale = true;
          } else if (was === undefined) {
            stale = true;
          }
          break;
        }
        case 'tls':
          changes.tlsConnections.add(e.connectionId);
          break;
        case 'h2-frames':
          // An open frames view applies them in place; one that missed some refetches its flow.
          if (!framesWatch.dispatch(e)) changes.tlsConnections.add(e.connectionId);
          break;
        case 'ws-message':
          // The list shows no message counts; an open detail refetches the flow for them.
          changes.changed.add(e.flowId);
          break;
        case 'capture':
          break;
        case 'cleared':
          this.clear();
          total = 0;
          matched = 0;
          removed.clear();
          appended.length = 0;
          stale = false;
          changes.everything = true;
          break;
      }
    }
    if (removed.size > 0) this.setWindow(this.window.filter((f) => !removed.has(f.id)), this.start);
    if (appended.length > 0) {
      for (const f of appended) {
        if (this.byId.has(f.id)) continue;
        this.window.push(f);
        this.byId.set(f.id, f);
      }
      this.trim();
    }
    batch(() => {
      this.total.value = Math.max(0, total);
      this.matched.value = this.filter.empty ? Math.max(0, total) : Math.max(0, matched);
    });
    if (stale) this.refresh();
    this.emit(changes);
    this.publish();
  }

  private publish(): void {
    this.version.value++;
  }

  private emit(changes: AppliedChanges): void {
    for (const l of this.listeners) l(changes);
  }
}

/** The page's list, sorted as the user left it. */
export const flows = new FlowList(null, storedSort());
