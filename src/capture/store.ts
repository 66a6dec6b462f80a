/**
 * The session store and the one event stream everybody subscribes to (live feed, HAR recorder,
 * tests). Flows live on disk (a session folder: SQLite for the records, segment files for the
 * bodies); memory holds the flows in flight, the writes of the current batch and a small cache of
 * recent flows. Writes are batched: body bytes go out in one `writev` per flush, then every flow
 * changed since the last flush is written in one transaction — so a stored row never points at
 * body bytes that are not on disk. Past the byte budget the oldest finished flows are evicted;
 * pending ones never are.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, accessSync, constants, chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { debuglog } from 'node:util';
import { LRUCache } from 'lru-cache';
import { StoreError } from '../errors.js';
import { summarize, type Connection, type Flow, type FlowSummary, type HandshakeEvent, type Http2Connection, type Http2Event, type Http2Stream, type Leg, type WebSocketMessage } from './flow.js';
import { SessionDb, DB_FILE, summaryOf, type FlowRow, type SummaryRow } from './session/db.js';
import { Segments, packExtents, unpackExtents, extentsLength, SEGMENT_BYTES, type Extent } from './session/segments.js';
import { existingSegments, fileSegmentIo, memorySegmentIo, type SegmentIo } from './session/segment-io.js';
import { filterSql, type SqlWhere } from './session/filter-sql.js';
import { SessionReader } from './session/reader.js';
import { compareKeys, sortKey, windowSql, type SortColumn, type SortOrder } from './session/window-sql.js';
import { compileFilter } from '../filter/match.js';
import type { ParsedFilter } from '../filter/parse.js';
import { keylogLines } from '../tls/keylog.js';
import { READ_AHEAD, searchMatcher, type SearchCandidate, type SearchResult } from './search.js';

const debug = debuglog('mitmscope:store');

export const DEFAULT_STORE_BYTES = 2 * 1024 ** 3;
/**
 * Recently finished flows kept as objects, so the HAR recorder and detail views skip a read. A
 * flow holds its connections' handshakes (events, certificates): 512 of them were ~10 MiB of
 * live heap under new-connection load, and V8 sizes its heap to a multiple of what is live.
 */
const RECENT_FLOWS = 64;
/** Connections parsed from the database, shared by the flows of one keep-alive connection. */
const CONNECTION_CACHE = 256;
/** Eviction frees down to this share of the budget, so it runs in batches, not per flow. */
const EVICT_TO = 0.9;
const EVICT_BATCH = 500;
/**
 * A flow still pending this long after it was added is written anyway (a WebSocket, a slow
 * download); most exchanges finish sooner and are written once, finished, instead of twice.
 */
const PENDING_WRITE_MS = 1000;
/**
 * Changes are gathered this long before a write. A commit has a fixed cost (WAL frames for every
 * page it touches, two system calls each, file locks, a partly filled last page written again)
 * that a batch shares: under load a tick holds a few exchanges, 50 milliseconds a hundred or more
 * (at 10 ms: 30 % more WAL writes and 3.5 times the lock calls per exchange). Nothing waits on
 * it: readers see unwritten flows from memory, and a crash loses at most this much of what had
 * just completed.
 */
const WRITE_INTERVAL_MS = 50;
/**
 * A connection written with its flows whose HTTP/2 frames changed since (a PING, a GOAWAY after
 * its last flow finished) is written again at most this often: a busy connection changes with
 * every chunk, and the live feed, not the session, is what follows it from moment to moment.
 */
const CONNECTION_REWRITE_MS = 1000;
/**
 * Body bytes queued past this are written at once rather than at the next batch: a bulk transfer
 * queues ~6 MiB per batch interval, and every queued chunk holds its Buffer (and the allocator's
 * pages) until it is on disk. Rows still wait for the batch; they only point at bytes written.
 */
const EARLY_BODY_FLUSH_BYTES = 1024 * 1024;
/** While capture is paused (disk full, I/O error), a write is tried again this often. */
const RETRY_MS = 1000;
/** Flows waiting for a write while paused; past this the oldest finished ones are dropped and counted. */
const MAX_UNSAVED = 10_000;
/** A segment is at most this share of the budget, so eviction frees space in small steps. */
const SEGMENTS_PER_BUDGET = 16;
const SEGMENT_DIR = 'bodies';
const EMPTY = Buffer.alloc(0);
export const INTERRUPTED = 'the proxy stopped before this exchange finished';

export type StoreEvent =
  | { type: 'flow'; flow: FlowSummary }
  | { type: 'flow-update'; flow: FlowSummary }
  | { type: 'flow-evicted'; id: string }
  | { type: 'tls'; connectionId: string; event: HandshakeEvent }
  /** One relayed WebSocket message: `index` in the flow's `websocket.messages`; `data` may be a shortened preview (`truncated`). */
  | { type: 'ws-message'; flowId: string; index: number; message: WebSocketMessage }
  | { type: 'capture'; status: CaptureStatus }
  | H2FramesEvent
  | { type: 'cleared' };

/**
 * What changed in one connection's HTTP/2 frame record (Connection.http2): `events` are listed
 * events from index `first` on; the counters are the connection's latest; `timings` are the
 * streams whose HEADERS/DATA timings changed (matched to a flow's `http2` by connection and id).
 */
export interface H2FramesEvent {
  type: 'h2-frames';
  connectionId: string;
  leg: Leg;
  first: number;
  events: Http2Event[];
  dropped: number;
  streams: number;
  windowUpdates: Http2Connection['windowUpdates'];
  timings: Http2Stream[];
}

export type StoreListener = (event: StoreEvent) => void;
export type BodyPart = 'request' | 'response';

export interface CaptureStatus {
  /** `paused` while the session cannot be written (disk full, I/O error); proxying goes on. */
  state: 'recording' | 'paused';
  reason: string | null;
  since: number | null;
  /** Flows that could not be saved at all while paused. */
  lost: number;
  /** Flows the database refused for their content (a bug if ever non-zero), and the last reason. */
  rejected: number;
  lastRejected: string | null;
}

export interface FlowStoreOptions {
  /** Session folder; none keeps everything in memory (embedding, unit tests). */
  session?: string | null;
  /** Disk budget of the session in bytes. */
  maxBytes?: number;
  /** Storage of body segments (tests inject failures here). */
  segmentIo?: SegmentIo;
}

/** A filter as both a predicate (flows in memory) and, when it has one, SQL (flows on disk). */
export interface StoreFilter {
  test: (flow: FlowSummary) => boolean;
  where: SqlWhere | null;
}

/** A filter-language expression for `page`; null when it has nothing to filter by. */
export function storeFilter(parsed: ParsedFilter): StoreFilter | null {
  const compiled = compileFilter(parsed);
  return compiled.empty ? null : { test: (f) => compiled.test(f), where: filterSql(parsed) };
}

/** A flow with where its bodies lie in the session (see `iterateBodies`). */
export interface StoredFlow {
  flow: Flow;
  readonly request: readonly Extent[];
  readonly response: readonly Extent[];
}

export interface PageQuery {
  /** Only flows this filter accepts; null for all. A bare predicate is run on every row. */
  filter?: StoreFilter | ((flow: FlowSummary) => boolean) | null;
  limit: number;
  /** Flows older than this id (the window before it), or newer than `after`; neither: the newest. */
  before?: string | null;
  after?: string | null;
  /** Count every match (a full scan when filtered). */
  count?: boolean;
}

export interface SortedQuery {
  filter: StoreFilter | null;
  /** null: arrival order. */
  sort: SortColumn | null;
  order: SortOrder;
  limit: number;
  before?: string | null;
  after?: string | null;
  /** The window from this position in list order (when there is no anchor); neither: the last rows. */
  offset?: number | null;
  count?: boolean;
}

/** A flow with the key a sorted window orders it by. */
interface Keyed {
  seq: number;
  s: FlowSummary;
  key: string | number;
}

export interface Page {
  /** Oldest first. */
  flows: FlowSummary[];
  total: number;
  /** Flows the filter matches in the whole store, when counted (equals `total` without a filter). */
  matched: number | null;
  /** More flows exist beyond the window in the direction it was asked. */
  more: boolean;
}

/** One flow the store tracks in memory: in flight, or changed since the last write. */
interface Entry {
  seq: number;
  flow: Flow;
  request: Extent[];
  response: Extent[];
  /** WebSocket messages not yet written. */
  messages: { index: number; message: WebSocketMessage }[];
  /** performance.now() when added: young pending flows wait (see PENDING_WRITE_MS). */
  addedAt: number;
  /** A row for it exists in the database. */
  written: boolean;
}

/** Where a capture writes: an append of a run of body bytes, or null when capture is paused. */
export interface BodySink {
  append(buffers: Buffer[], length: number): boolean;
}

export class FlowStore {
  readonly maxBytes: number;
  /** The session folder, or null for a memory-only store. */
  readonly dir: string | null;
  private readonly db: SessionDb;
  private readonly segments: Segments;
  /** Full-scan queries off the event loop (sessions on disk; a memory store runs them inline). */
  private readonly reader: SessionReader | null;
  /** Body searches on a thread of their own, so a long one never holds up list windows. */
  private readonly searcher: SessionReader | null;
  private readonly emitter = new EventEmitter();
  /** Flows in flight or not yet written, by id. */
  private readonly live = new Map<string, Entry>();
  private readonly dirty = new Set<Entry>();
  /** Young pending flows whose first write waits (they are listed from memory meanwhile). */
  private readonly deferred = new Set<Entry>();
  /** The batch `write` is storing right now. */
  private inFlight: Entry[] = [];
  private deferTimer: NodeJS.Timeout | null = null;
  private readonly recent: LRUCache<string, Entry>;
  private readonly connections = new LRUCache<string, Connection>({ max: CONNECTION_CACHE });
  /** What each connection looked like when last written, so an unchanged one is not rewritten. */
  private readonly connectionMarks = new WeakMap<Connection, string>();
  /** Written connections whose frames changed since; see CONNECTION_REWRITE_MS. */
  private readonly staleConnections = new Set<Connection>();
  private connectionTimer: NodeJS.Timeout | null = null;
  private nextSeq: number;
  private count: number;
  private queue: StoreEvent[] = [];
  private emitScheduled = false;
  private flushScheduled = false;
  private writing: Promise<void> | null = null;
  /** An early write of queued body bytes (see EARLY_BODY_FLUSH_BYTES), while one runs. */
  private bodyFlush: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private closing = false;
  private capture: CaptureStatus = { state: 'recording', reason: null, since: null, lost: 0, rejected: 0, lastRejected: null };

  constructor(options: FlowStoreOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_STORE_BYTES;
    this.dir = options.session ?? null;
    this.recent = new LRUCache<string, Entry>({ max: RECENT_FLOWS });
    const segmentBytes = Math.max(1024 * 1024, Math.min(SEGMENT_BYTES, Math.floor(this.maxBytes / SEGMENTS_PER_BUDGET)));
    if (this.dir) {
      prepareFolder(this.dir);
      this.db = openDb(join(this.dir, DB_FILE));
      const bodies = join(this.dir, SEGMENT_DIR);
      this.segments = new Segments(options.segmentIo ?? fileSegmentIo(bodies), existingSegments(bodies), segmentBytes);
      this.reader = new SessionReader(join(this.dir, DB_FILE));
      this.searcher = new SessionReader(join(this.dir, DB_FILE));
    } else {
      this.db = new SessionDb(':memory:');
      this.segments = new Segments(options.segmentIo ?? memorySegmentIo(), new Map(), segmentBytes);
      this.reader = null;
      this.searcher = null;
    }
    this.db.markInterrupted(INTERRUPTED);
    this.checkBodies();
    this.nextSeq = this.db.maxSeq() + 1;
    this.count = this.db.count();
    // Subscribers are optional and many (one per dashboard tab).
    this.emitter.setMaxListeners(0);
    // Segments nobody refers to (emptied by eviction before a crash) go at once.
    void this.segments.collect();
  }

  /**
   * Counts references from stored bodies into segments, and drops references to bytes a crash
   * tore off (the row was written, the bytes were not): that body is kept as far as it exists.
   */
  private checkBodies(): void {
    const torn: { seq: number; part: BodyPart; kept: Extent[] }[] = [];
    for (const row of this.db.bodyRefs()) {
      for (const part of ['request', 'response'] as const) {
        const extents = unpackExtents(part === 'request' ? row.request_body : row.response_body);
        const kept = extents.filter((e) => this.segments.holds(e));
        this.segments.retain(kept);
        if (kept.length !== extents.length) torn.push({ seq: row.seq, part, kept });
      }
    }
    if (torn.length === 0) return;
    debug('%d bodies lost bytes to a torn write; keeping what exists', torn.length);
    this.db.transaction(() => {
      for (const t of torn) {
        const row = this.db.flowBySeq(t.seq);
        if (!row) continue;
        const flow = this.rowToFlow(row);
        const message = t.part === 'request' ? flow.request : flow.response;
        if (message) message.bodyTruncated = true;
        flow.notes.push(`the ${t.part} body was cut short: the proxy stopped while writing it`);
        const request = t.part === 'request' ? t.kept : unpackExtents(row.request_body);
        const response = t.part === 'response' ? t.kept : unpackExtents(row.response_body);
        this.db.putFlow(this.rowOf({ seq: t.seq, flow, request, response, messages: [], addedAt: 0, written: true }));
      }
    });
  }

  /** Flows in the session, in flight included. */
  get size(): number {
    return this.count;
  }

  /** Bytes the session takes on disk (database pages in use, its write-ahead log, body segments). */
  get bytes(): number {
    return this.db.bytes() + this.walBytes() + this.segments.bytes;
  }

  private walBytes(): number {
    if (!this.dir) return 0;
    try {
      return statSync(join(this.dir, `${DB_FILE}-wal`)).size;
    } catch {
      return 0;
    }
  }

  get status(): CaptureStatus {
    return { ...this.capture };
  }

  /** Flows changed since the last write, plus body bytes not yet on disk: zero once all is saved. */
  get unsaved(): { flows: number; bytes: number } {
    return { flows: this.dirty.size + this.deferred.size, bytes: this.segments.queued };
  }

  /** Adds a new flow (usually pending) and announces it. Bodies already on the flow (imports) are stored too. */
  add(flow: Flow): void {
    const entry: Entry = { seq: this.nextSeq++, flow, request: [], response: [], messages: [], addedAt: performance.now(), written: false };
    this.count += 1;
    this.live.set(flow.id, entry);
    this.takeBody(entry, 'request');
    this.takeBody(entry, 'response');
    if (flow.websocket) flow.websocket.messages.forEach((message, index) => entry.messages.push({ index, message }));
    this.markDirty(entry);
    if (this.listening) this.emit({ type: 'flow', flow: summarize(flow) });
  }

  /** Announces that a flow changed; finished flows are written and leave memory. */
  update(flow: Flow): void {
    const entry = this.live.get(flow.id) ?? this.reload(flow);
    if (!entry) return;
    entry.flow = flow;
    this.takeBody(entry, 'response');
    this.markDirty(entry);
    if (this.listening) this.emit({ type: 'flow-update', flow: summarize(flow) });
  }

  tlsEvent(connectionId: string, event: HandshakeEvent): void {
    this.emit({ type: 'tls', connectionId, event });
  }

  /** Announces what a chunk of HTTP/2 frames changed on a connection (its record is already updated). */
  h2Frames(connection: Connection, change: { first: number; events: Http2Event[]; timings: Http2Stream[] }): void {
    const h2 = connection.http2;
    if (!h2) return;
    this.noteStale(connection);
    if (!this.listening) return;
    this.emit({
      type: 'h2-frames',
      connectionId: connection.id,
      leg: connection.side,
      first: change.first,
      events: change.events,
      dropped: h2.dropped,
      streams: h2.streams,
      windowUpdates: h2.windowUpdates,
      timings: change.timings,
    });
  }

  /**
   * Stores a WebSocket message already appended to a flow and announces it; the announcement may
   * carry a shorter `preview` (live clients fetch the whole copy with the flow).
   */
  wsMessage(flowId: string, index: number, message: WebSocketMessage, preview: WebSocketMessage = message): void {
    const entry = this.live.get(flowId);
    if (!entry) return;
    entry.messages.push({ index, message });
    this.markDirty(entry);
    this.emit({ type: 'ws-message', flowId, index, message: preview });
  }

  /**
   * Where the body of a flow being captured goes. Each `append` is a run of bytes in arrival
   * order; false means the bytes were not kept (capture paused or falling behind).
   */
  bodySink(flow: Flow, part: BodyPart): BodySink {
    return {
      append: (buffers, length) => {
        const entry = this.live.get(flow.id);
        if (!entry || this.capture.state === 'paused') return false;
        const extent = this.segments.append(buffers, length);
        if (!extent) return false;
        if (!pushExtent(entry[part], extent)) this.segments.retain([extent]);
        if (this.segments.queued >= EARLY_BODY_FLUSH_BYTES) this.flushBodies();
        this.scheduleWrite();
        return true;
      },
    };
  }

  get(id: string): Flow | undefined {
    const entry = this.live.get(id) ?? this.recent.get(id);
    if (entry) return entry.flow;
    const row = this.db.flowById(id);
    return row ? this.rowToFlow(row) : undefined;
  }

  /** Every flow, oldest first, loaded whole (without bodies). For small sessions and tests; pages and `iterate` scale. */
  list(): Flow[] {
    return [...this.iterate()];
  }

  /** Every flow, oldest first, read in batches so memory stays flat however large the session. */
  *iterate(batch = 200): Generator<Flow> {
    for (const { flow } of this.iterateBodies(batch)) yield flow;
  }

  /**
   * `iterate` with where each flow's bodies lie in the session, for scans that read many
   * bodies (search): `readStored` then needs no lookup per body.
   */
  *iterateBodies(batch = 200): Generator<StoredFlow> {
    const fromMemory = (e: Entry): StoredFlow => ({ flow: e.flow, request: e.request, response: e.response });
    // Flows without a row yet (a young pending flow waits for its first write) come in their place in arrival order.
    const unwritten = [...this.live.values()].filter((e) => !e.written).sort((a, b) => a.seq - b.seq);
    let u = 0;
    let after = 0;
    for (;;) {
      const rows = this.db.rowsAfter(after, batch);
      for (const row of rows) {
        while (u < unwritten.length && unwritten[u]!.seq < row.seq) yield fromMemory(unwritten[u++]!);
        // Written since the list was taken: this row is its turn.
        if (u < unwritten.length && unwritten[u]!.seq === row.seq) u += 1;
        const e = this.live.get(row.id);
        yield e ? fromMemory(e) : { flow: this.rowToFlow(row), request: unpackExtents(row.request_body), response: unpackExtents(row.response_body) };
      }
      if (rows.length < batch) break;
      after = rows[rows.length - 1]!.seq;
    }
    while (u < unwritten.length) yield fromMemory(unwritten[u++]!);
    // Flows added since their batch was read are not written yet; they are in memory.
    const last = Math.max(after, unwritten.at(-1)?.seq ?? 0);
    const added = [...this.live.values()].filter((x) => x.seq > last && !this.db.flowBySeq(x.seq)).sort((a, b) => a.seq - b.seq);
    for (const e of added) yield fromMemory(e);
  }

  /**
   * A body search (`capture/search.ts`) over a session on disk: the written rows are scanned by
   * the search thread, which reads bodies from the segment files itself; the flows held in memory
   * (in flight, or changed since the last write) are tested here, and the two merged in arrival
   * order — the same flows `iterateBodies` would give, memory winning. Null for a memory store.
   */
  async searchSession(parsed: ParsedFilter, maxScan: number, maxIds: number): Promise<Omit<SearchResult, 'elapsedMs'> | null> {
    if (!this.searcher) return null;
    const live = [...this.live.values()].sort((a, b) => a.seq - b.seq);
    const scan = await this.searcher.search({ parsed, maxScan, maxIds: maxIds + live.length, skip: live.map((e) => e.seq) });
    // The thread counted memory's flows in their place; they are tested here, from memory.
    const reached = new Set(scan.skipped);
    const mine = live.filter((e) => reached.has(e.seq));
    const matcher = searchMatcher(parsed);
    const found: { seq: number; id: string }[] = [];
    for (let i = 0; i < mine.length; i += READ_AHEAD) {
      const batch = mine.slice(i, i + READ_AHEAD).filter((e) => matcher.summary(summarize(e.flow)));
      const candidates = batch.map((e): SearchCandidate => ({ request: e.flow.request, response: e.flow.response, read: (part, limit) => this.readStored(e, part, limit) }));
      (await matcher.test(candidates)).forEach((ok, j) => {
        if (ok) found.push({ seq: batch[j]!.seq, id: batch[j]!.flow.id });
      });
    }
    const ids = scan.matches
      .concat(found)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, maxIds)
      .map((m) => m.id);
    return { ids, matched: scan.matched + found.length, scanned: scan.scanned, complete: scan.complete };
  }

  /** At most `limit` bytes of a body from `iterateBodies`. */
  readStored(stored: Pick<StoredFlow, BodyPart>, part: BodyPart, limit = Infinity): Promise<Buffer> {
    const extents = stored[part];
    return extents.length === 0 ? Promise.resolve(EMPTY) : this.segments.read(extents, limit);
  }

  /** The newest `n` summaries, oldest first. */
  newest(n: number): FlowSummary[] {
    return this.page({ limit: n }).flows;
  }

  /** A window of the (filtered) list; see `PageQuery`. Unwritten flows are included. */
  page(q: PageQuery): Page {
    const filter: StoreFilter | null = typeof q.filter === 'function' ? { test: q.filter, where: null } : (q.filter ?? null);
    const anchor = q.after ?? q.before ?? null;
    const anchorSeq = anchor === null ? null : this.seqOf(anchor);
    const direction: 'older' | 'newer' = q.after ? 'newer' : 'older';
    const bound = anchorSeq ?? (direction === 'older' ? Number.MAX_SAFE_INTEGER : 0);
    const flows: FlowSummary[] = [];
    let more = false;
    for (const s of this.summaries(direction, bound, filter)) {
      if (flows.length === q.limit) {
        more = true;
        break;
      }
      flows.push(s);
    }
    if (direction === 'older') flows.reverse();
    return { flows, total: this.count, matched: filter ? (q.count ? this.countMatching(filter) : null) : this.count, more };
  }

  /**
   * `page`, with filtered windows and counts (which may scan every row) run by the session's
   * reader thread, so the proxy never waits on them. The dashboard API uses this.
   */
  async query(q: PageQuery): Promise<Page> {
    const filter = typeof q.filter === 'function' ? null : (q.filter ?? null);
    if (!this.reader || !filter?.where) return this.page(q);
    const anchor = q.after ?? q.before ?? null;
    const anchorSeq = anchor === null ? null : this.seqOf(anchor);
    const direction: 'older' | 'newer' = q.after ? 'newer' : 'older';
    const bound = anchorSeq ?? (direction === 'older' ? Number.MAX_SAFE_INTEGER : 0);
    // Unwritten changes may stand in for some rows: ask for enough to fill the window anyway.
    const margin = this.dirty.size + this.deferred.size + 1;
    const [rows, counted] = await Promise.all([
      this.reader.rows(direction, bound, filter.where, q.limit + margin),
      q.count ? this.reader.count(filter.where) : Promise.resolve(null),
    ]);
    const flows: FlowSummary[] = [];
    let more = rows.length === q.limit + margin;
    for (const s of this.summaries(direction, bound, filter, rows)) {
      if (flows.length === q.limit) {
        more = true;
        break;
      }
      flows.push(s);
    }
    if (direction === 'older') flows.reverse();
    return { flows, total: this.count, matched: counted === null ? null : counted + this.unwrittenCorrection(filter), more };
  }

  /**
   * A window of the list sorted by a column, or at a position: what SQLite holds, with flows
   * changed in memory standing in for their rows. Flows never written yet (younger than one
   * write batch) are missing until the next fetch; the live feed shows them meanwhile.
   */
  async sortedPage(q: SortedQuery): Promise<Page> {
    const keyed = (seq: number, s: FlowSummary): Keyed => ({ seq, s, key: sortKey(s, seq, q.sort) });
    const unwritten = new Map<string, Keyed>();
    for (const e of this.unwritten()) unwritten.set(e.flow.id, keyed(e.seq, summarize(e.flow)));
    const anchorId = q.after ?? q.before ?? null;
    let anchor: { side: 'before' | 'after'; key: string | number; seq: number } | null = null;
    if (anchorId !== null) {
      const row = this.db.flowById(anchorId);
      const at = unwritten.get(anchorId) ?? (row ? keyed(row.seq, summaryOf(row)) : null);
      if (at) anchor = { key: at.key, seq: at.seq, side: q.after ? 'after' : 'before' };
    }
    const where = q.filter?.where ?? null;
    if (!anchor && q.sort === null && where === null && q.offset !== undefined && q.offset !== null) {
      // Arrival order unfiltered: seqs are dense but for evictions at the front, so a position is
      // a seq, found through the primary key instead of stepping over every row before it.
      const first = this.db.minSeq();
      if (first !== null && q.offset > 0) {
        const seq = q.order === 'asc' ? first + q.offset - 1 : this.db.maxSeq() - q.offset + 1;
        anchor = { side: 'after', key: seq, seq };
      }
    }
    // Rows changed in memory are dropped from the answer and merged back: ask for enough to fill the window anyway.
    const margin = unwritten.size;
    const query = windowSql({ sort: q.sort, order: q.order, where, anchor, offset: anchor ? null : (q.offset ?? null), limit: q.limit + margin });
    const [rows, counted] = await Promise.all([
      this.reader ? this.reader.select(query.sql, query.params) : Promise.resolve(this.db.select(query.sql, query.params)),
      q.filter && q.count ? (this.reader && where ? this.reader.count(where).then((n) => n + this.unwrittenCorrection(q.filter!)) : Promise.resolve(this.countMatching(q.filter))) : Promise.resolve(null),
    ]);
    const sign = query.ascending ? 1 : -1;
    const found = rows.filter((r) => !unwritten.has(r.id)).map((r) => keyed(r.seq, summaryOf(r)));
    const beyond = (u: Keyed, bound: { key: string | number; seq: number }): boolean => sign * compareKeys(u, bound) > 0;
    const last = rows.length > q.limit + margin ? found.at(-1) : undefined;
    const extra = [...unwritten.values()].filter((u) => {
      if (q.filter && !q.filter.test(u.s)) return false;
      if (anchor) return beyond(u, anchor) && (!last || !beyond(u, last));
      // A jump counts written rows only: flows in memory join it when they fall inside it.
      if (q.offset !== undefined && q.offset !== null && found.length > 0 && !beyond(u, found[0]!)) return false;
      return !last || !beyond(u, last);
    });
    const merged = found.concat(extra).sort((a, b) => sign * compareKeys(a, b));
    const flows = merged.slice(0, q.limit).map((k) => k.s);
    if (query.reversed) flows.reverse();
    return { flows, total: this.count, matched: q.filter ? counted : this.count, more: merged.length > q.limit };
  }

  /** Flows a filter matches in the whole session: counted by SQLite, corrected for unwritten changes. */
  private countMatching(filter: StoreFilter): number {
    if (!filter.where) {
      let n = 0;
      for (const _ of this.summaries('older', Number.MAX_SAFE_INTEGER, filter)) n += 1;
      return n;
    }
    return this.db.count(filter.where) + this.unwrittenCorrection(filter);
  }

  /** What unwritten changes add to (or take from) a count of the written rows. */
  private unwrittenCorrection(filter: StoreFilter): number {
    let n = 0;
    for (const e of this.unwritten()) {
      const row = e.written ? this.db.flowBySeq(e.seq) : undefined;
      if (row && filter.test(summaryOf(row))) n -= 1;
      if (filter.test(summarize(e.flow))) n += 1;
    }
    return n;
  }

  /**
   * Summaries from the database merged by seq with flows not written yet (memory wins), of those
   * the filter accepts: SQL decides for rows when it can, the predicate for the rest.
   */
  private *summaries(direction: 'older' | 'newer', bound: number, filter: StoreFilter | null = null, rows: Iterable<SummaryRow> | null = null): Generator<FlowSummary> {
    const older = direction === 'older';
    const memory = [...this.unwritten()].filter((e) => (older ? e.seq < bound : e.seq > bound)).sort((a, b) => (older ? b.seq - a.seq : a.seq - b.seq));
    const first = (a: number, b: number): boolean => (older ? a > b : a < b);
    const accept = (s: FlowSummary): boolean => !filter || filter.test(s);
    const rowsFiltered = filter?.where ?? null;
    let i = 0;
    // Rows the SQL filter drops may be stale copies of flows changed in memory: those come from memory.
    for (const row of rows ?? this.db.summaries(direction, bound, rowsFiltered)) {
      while (i < memory.length && first(memory[i]!.seq, row.seq)) {
        const s = summarize(memory[i++]!.flow);
        if (accept(s)) yield s;
      }
      if (i < memory.length && memory[i]!.seq === row.seq) {
        const s = summarize(memory[i++]!.flow);
        if (accept(s)) yield s;
        continue;
      }
      const s = summaryOf(row);
      if (rowsFiltered || accept(s)) yield s;
    }
    while (i < memory.length) {
      const s = summarize(memory[i++]!.flow);
      if (accept(s)) yield s;
    }
  }

  /** Flows `from` .. `from + limit` in arrival order (an index, for clients that page by position). */
  range(from: number, limit: number): Page {
    const flows: FlowSummary[] = [];
    let i = 0;
    let more = false;
    for (const s of this.summaries('newer', 0)) {
      if (i++ < from) continue;
      if (flows.length === limit) {
        more = true;
        break;
      }
      flows.push(s);
    }
    return { flows, total: this.count, matched: this.count, more };
  }

  private seqOf(id: string): number | null {
    const e = this.live.get(id) ?? this.recent.get(id);
    if (e) return e.seq;
    return this.db.flowById(id)?.seq ?? null;
  }

  /**
   * Replaces a body of a flow in flight with `bytes` (a rule's rewrite, an edit at a breakpoint):
   * the old bytes are released. The caller sets the message's sizes.
   */
  replaceBody(flow: Flow, part: BodyPart, bytes: Buffer): void {
    const entry = this.live.get(flow.id) ?? this.reload(flow);
    if (!entry) return;
    const old = entry[part];
    entry[part] = [];
    void this.segments.release(old);
    const extent = this.segments.append([bytes], bytes.length);
    const message = part === 'request' ? flow.request : flow.response;
    if (extent) {
      entry[part].push(extent);
      this.segments.retain([extent]);
    } else if (bytes.length > 0 && message) message.bodyTruncated = true;
    this.markDirty(entry);
  }

  /**
   * NSS key log lines of a flow's connections, client leg first (Wireshark decrypts a capture of
   * either leg with them): from the live handshake while it is in memory, else from the session.
   */
  keylog(flow: Flow): string[] {
    const lines: string[] = [];
    for (const c of [flow.clientConnection, flow.serverConnection]) {
      if (!c) continue;
      const live = keylogLines(c.tls);
      lines.push(...(live.length > 0 ? live : this.db.keylogOf(c.id)));
    }
    return lines;
  }

  /** A captured body read from the session, at most `limit` bytes. */
  async readBody(id: string, part: BodyPart, limit = Infinity): Promise<Buffer> {
    const extents = this.extentsOf(id, part);
    return extents.length === 0 ? EMPTY : this.segments.read(extents, limit);
  }

  /** A captured body as a stream from the session (large downloads never sit in memory whole). */
  bodyStream(id: string, part: BodyPart): Readable {
    return this.segments.stream(this.extentsOf(id, part));
  }

  /** Bytes of a body held in the session. */
  storedBodySize(id: string, part: BodyPart): number {
    return extentsLength(this.extentsOf(id, part));
  }

  /** A copy of the flow with both bodies read from the session (HAR export, the recorder). */
  async withBodies(flow: Flow): Promise<Flow> {
    const request = { ...flow.request, body: await this.readBody(flow.id, 'request') };
    const response = flow.response ? { ...flow.response, body: await this.readBody(flow.id, 'response') } : null;
    return { ...flow, request, response };
  }

  private extentsOf(id: string, part: BodyPart): Extent[] {
    const e = this.live.get(id) ?? this.recent.get(id);
    if (e) return e[part];
    const row = this.db.flowById(id);
    return row ? unpackExtents(part === 'request' ? row.request_body : row.response_body) : [];
  }

  /** Resolves once everything announced so far is on disk. */
  async flushed(): Promise<void> {
    while (this.writing || this.dirty.size > 0 || this.segments.queued > 0) {
      if (!this.writing) this.startWrite();
      await this.writing;
      if (this.capture.state === 'paused') return;
    }
  }

  clear(): void {
    const pending = [...this.live.values()].filter((e) => inFlight(e.flow));
    this.db.deleteAll();
    this.live.clear();
    this.dirty.clear();
    this.deferred.clear();
    this.recent.clear();
    this.staleConnections.clear();
    this.count = 0;
    // In-flight exchanges go on and are stored when they finish, as after any clear.
    this.segments.resetRefs();
    for (const e of pending) {
      e.written = false;
      this.live.set(e.flow.id, e);
      this.segments.retain([...e.request, ...e.response]);
      this.markDirty(e);
      this.count += 1;
    }
    void this.segments.collect();
    this.emit({ type: 'cleared' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Flows still in flight are written as they are (a reopened session marks them interrupted).
    this.closing = true;
    for (const e of this.deferred) this.dirty.add(e);
    this.deferred.clear();
    await this.flushed().catch(() => {});
    await this.bodyFlush;
    if (this.connectionTimer) clearTimeout(this.connectionTimer);
    this.connectionTimer = null;
    this.writeConnections();
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.deferTimer) clearTimeout(this.deferTimer);
    await this.reader?.close();
    await this.searcher?.close();
    await this.segments.close();
    this.db.close();
  }

  /** A connection already in the session changed: it is written again within CONNECTION_REWRITE_MS. */
  private noteStale(connection: Connection): void {
    // The others are written with their first flow.
    if (this.closed || !this.connectionMarks.has(connection)) return;
    this.staleConnections.add(connection);
    if (this.connectionTimer) return;
    this.connectionTimer = setTimeout(() => {
      this.connectionTimer = null;
      this.writeConnections();
    }, CONNECTION_REWRITE_MS);
    this.connectionTimer.unref();
  }

  /** Writes the connections that changed since they were written (their flows' seq is kept). */
  private writeConnections(): void {
    if (this.closed || this.staleConnections.size === 0) return;
    const stale = [...this.staleConnections];
    this.staleConnections.clear();
    if (this.capture.state === 'paused') {
      for (const c of stale) this.noteStale(c);
      return;
    }
    try {
      this.db.transaction(() => {
        for (const c of stale) {
          const mark = connectionMark(c);
          if (this.connectionMarks.get(c) === mark) continue;
          // seq 0: `last_seq` keeps the newest flow's, so eviction is unchanged.
          this.db.putConnection(c, 0);
          this.connectionMarks.set(c, mark);
          this.connections.delete(c.id);
        }
      });
    } catch (err) {
      debug('connections not rewritten (%s): trying again', (err as Error).message);
      for (const c of stale) this.noteStale(c);
    }
  }

  /** Summaries cost a little per event: none are made while nobody listens. */
  private get listening(): boolean {
    return this.emitter.listenerCount('event') > 0;
  }

  subscribe(listener: StoreListener): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  // --- writing -------------------------------------------------------------------------------

  /** Bodies handed in on the flow itself (imports, tests) are moved into the session. */
  private takeBody(entry: Entry, part: BodyPart): void {
    const message = part === 'request' ? entry.flow.request : entry.flow.response;
    if (!message || message.body.length === 0) return;
    const bytes = message.body;
    message.body = EMPTY;
    const extent = this.segments.append([bytes], bytes.length);
    if (!extent) message.bodyTruncated = true;
    else if (!pushExtent(entry[part], extent)) this.segments.retain([extent]);
  }

  private reload(flow: Flow): Entry | null {
    const cached = this.recent.get(flow.id);
    if (cached) {
      this.recent.delete(flow.id);
      this.live.set(flow.id, cached);
      return cached;
    }
    const row = this.db.flowById(flow.id);
    if (!row) return null;
    const entry: Entry = { seq: row.seq, flow, request: unpackExtents(row.request_body), response: unpackExtents(row.response_body), messages: [], addedAt: 0, written: true };
    this.live.set(flow.id, entry);
    return entry;
  }

  /** Starts writing queued body bytes now (one flush at a time); a failure pauses capture like a batch's. */
  private flushBodies(): void {
    if (this.bodyFlush || this.closed) return;
    this.bodyFlush = this.segments.flush().then(
      () => {
        this.bodyFlush = null;
      },
      (err: unknown) => {
        this.bodyFlush = null;
        this.pause(err);
      },
    );
  }

  private markDirty(entry: Entry): void {
    if (this.closed) return;
    this.deferred.delete(entry);
    this.dirty.add(entry);
    if (this.capture.state === 'paused' && this.dirty.size > MAX_UNSAVED) this.dropUnsaved();
    this.scheduleWrite();
  }

  private scheduleWrite(): void {
    if (this.flushScheduled || this.writing || this.capture.state === 'paused') return;
    this.flushScheduled = true;
    setTimeout(() => {
      this.flushScheduled = false;
      if (!this.writing) this.startWrite();
    }, WRITE_INTERVAL_MS);
  }

  private startWrite(): void {
    this.writing = this.write().finally(() => {
      this.writing = null;
      if ((this.dirty.size > 0 || this.segments.queued > 0) && this.capture.state === 'recording') this.scheduleWrite();
    });
  }

  /** Flows whose latest state is only in memory (including the batch being written now). */
  private *unwritten(): Generator<Entry> {
    yield* this.dirty;
    yield* this.deferred;
    // While body bytes flush, the batch is in neither `dirty` nor the database: lists must still see it.
    for (const e of this.inFlight) if (!this.dirty.has(e) && !this.deferred.has(e)) yield e;
  }

  /** Moves young pending flows aside until they are old enough (or change state). */
  private takeBatch(): Entry[] {
    const now = performance.now();
    const batch: Entry[] = [];
    for (const e of this.dirty) {
      if (!e.written && e.flow.state === 'pending' && now - e.addedAt < PENDING_WRITE_MS && !this.closing) this.deferred.add(e);
      else batch.push(e);
    }
    this.dirty.clear();
    if (this.deferred.size > 0 && !this.deferTimer) {
      this.deferTimer = setTimeout(() => {
        this.deferTimer = null;
        for (const e of this.deferred) this.dirty.add(e);
        this.deferred.clear();
        this.scheduleWrite();
      }, PENDING_WRITE_MS);
      // Nothing is lost by not waiting: close() writes deferred flows at once.
      this.deferTimer.unref();
    }
    return batch;
  }

  /** One batch: body bytes first, then the rows that point at them, in one transaction. */
  private async write(): Promise<void> {
    const batch = this.takeBatch();
    this.inFlight = batch;
    try {
      await this.segments.flush();
      this.db.transaction(() => {
        for (const e of batch) this.writeGuarded(e);
      });
    } catch (err) {
      for (const e of batch) this.dirty.add(e);
      this.pause(err);
      return;
    } finally {
      this.inFlight = [];
    }
    for (const e of batch) {
      if (inFlight(e.flow) || this.dirty.has(e)) continue;
      this.live.delete(e.flow.id);
      this.recent.set(e.flow.id, e);
    }
    if (this.capture.state === 'paused') this.resume();
    if (this.bytes > this.maxBytes) await this.evict();
  }

  /**
   * A flow the database refuses for its content (a value no column takes) is dropped and counted,
   * never a reason to stop capturing; I/O failures abort the batch and pause capture.
   */
  private writeGuarded(e: Entry): void {
    try {
      this.writeEntry(e);
    } catch (err) {
      if (isIoError(err)) throw err;
      debug('flow %s cannot be stored: %o', e.flow.id, err);
      this.capture.rejected += 1;
      this.capture.lastRejected = `${e.flow.request.method} ${e.flow.request.url}: ${(err as Error).message}`;
    }
  }

  private writeEntry(e: Entry): void {
    for (const c of [e.flow.clientConnection, e.flow.serverConnection]) {
      if (!c) continue;
      const mark = connectionMark(c);
      if (this.connectionMarks.get(c) === mark) continue;
      this.db.putConnection(c, e.seq);
      const lines = keylogLines(c.tls);
      if (lines.length > 0) this.db.putKeylog(c.id, lines);
      this.connectionMarks.set(c, mark);
    }
    // Bytes a failed flush lost are dropped; bytes still queued are written with the next batch.
    for (const part of ['request', 'response'] as const) {
      const lost = e[part].filter((x) => this.segments.lost(x));
      if (lost.length === 0) continue;
      e[part] = e[part].filter((x) => !this.segments.lost(x));
      void this.segments.release(lost);
      const message = part === 'request' ? e.flow.request : e.flow.response;
      if (message) message.bodyTruncated = true;
    }
    this.db.putFlow(this.rowOf(e, (x) => this.segments.holds(x)));
    e.written = true;
    for (const m of e.messages) this.db.putMessage(e.seq, m.index, m.message);
    e.messages = [];
  }

  private rowOf(e: Entry, held: (x: Extent) => boolean = () => true): FlowRow {
    const f = e.flow;
    const request = e.request.filter(held);
    const response = e.response.filter(held);
    const s = summarize(f);
    const data = JSON.stringify({
      ...f,
      clientConnection: undefined,
      serverConnection: undefined,
      request: { ...f.request, body: undefined },
      response: f.response ? { ...f.response, body: undefined } : null,
      websocket: f.websocket ? { ...f.websocket, messages: undefined } : null,
    });
    return {
      seq: e.seq,
      id: f.id,
      kind: s.kind,
      state: s.state,
      method: s.method,
      url: s.url,
      scheme: s.scheme,
      host: s.host,
      status: s.status,
      content_type: s.contentType,
      request_size: s.requestSize,
      response_size: s.responseSize,
      started_at: Number.isFinite(s.startedAt) ? s.startedAt : 0,
      duration: s.duration,
      tls_version: s.tlsVersion,
      error: s.error,
      imported: s.imported ? 1 : 0,
      client_connection: f.clientConnection?.id ?? null,
      server_connection: f.serverConnection?.id ?? null,
      request_body: request.length > 0 ? packExtents(request) : null,
      response_body: response.length > 0 ? packExtents(response) : null,
      data,
    };
  }

  private rowToFlow(row: FlowRow): Flow {
    const flow = JSON.parse(row.data) as Flow;
    flow.request.body = EMPTY;
    if (flow.response) flow.response.body = EMPTY;
    flow.clientConnection = row.client_connection ? this.connection(row.client_connection) : null;
    flow.serverConnection = row.server_connection ? this.connection(row.server_connection) : null;
    if (flow.websocket) flow.websocket.messages = this.db.messagesOf(row.seq);
    return flow;
  }

  private connection(id: string): Connection | null {
    let c = this.connections.get(id);
    if (!c) {
      c = this.db.connectionById(id) ?? undefined;
      if (c) this.connections.set(id, c);
    }
    return c ?? null;
  }

  // --- faults and eviction ----------------------------------------------------------------------

  private pause(err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const reason = code === 'ENOSPC' || code === 'SQLITE_FULL' ? `the disk is full (${code})` : `the session cannot be written (${code}: ${(err as Error).message})`;
    debug('capture paused: %s', reason);
    if (this.capture.state !== 'paused') {
      this.capture = { ...this.capture, state: 'paused', reason, since: Date.now() };
      this.emit({ type: 'capture', status: this.status });
    }
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.writing) this.startWrite();
    }, RETRY_MS);
  }

  private resume(): void {
    debug('capture resumed');
    this.capture = { ...this.capture, state: 'recording', reason: null, since: null };
    this.emit({ type: 'capture', status: this.status });
  }

  /** While paused, memory must stay bounded: the oldest finished unsaved flows go, counted. */
  private dropUnsaved(): void {
    for (const e of this.dirty) {
      if (this.dirty.size <= MAX_UNSAVED) break;
      if (inFlight(e.flow)) continue;
      this.dirty.delete(e);
      this.live.delete(e.flow.id);
      this.count -= 1;
      this.capture.lost += 1;
      this.emit({ type: 'flow-evicted', id: e.flow.id });
    }
  }

  private async evict(): Promise<void> {
    const target = this.maxBytes * EVICT_TO;
    while (this.bytes > target) {
      const rows = this.db.oldestFinished(EVICT_BATCH).filter((r) => !this.live.has(r.id));
      if (rows.length === 0) break;
      this.db.deleteFlows(rows.map((r) => r.seq));
      this.count -= rows.length;
      const released: Extent[] = [];
      for (const r of rows) {
        released.push(...unpackExtents(r.request_body), ...unpackExtents(r.response_body));
        this.recent.delete(r.id);
        this.emit({ type: 'flow-evicted', id: r.id });
      }
      await this.segments.release(released);
      const min = this.db.minSeq();
      this.db.deleteConnectionsBefore(min ?? this.nextSeq);
      if (rows.length < EVICT_BATCH && this.bytes > target) break;
    }
  }

  /** Emission is asynchronous and batched per tick so capture never waits on subscribers. */
  private emit(event: StoreEvent): void {
    if (this.emitter.listenerCount('event') === 0) return;
    this.queue.push(event);
    if (this.emitScheduled) return;
    this.emitScheduled = true;
    setImmediate(() => {
      this.emitScheduled = false;
      const batch = this.queue;
      this.queue = [];
      for (const ev of batch) this.emitter.emit('event', ev);
    });
  }
}

/** Pending and paused (held at a breakpoint) flows are still running: they stay in memory. */
function inFlight(flow: Flow): boolean {
  return flow.state === 'pending' || flow.state === 'paused';
}

/** Appends an extent, merging it into the previous one when the bytes are contiguous (true then). */
function pushExtent(list: Extent[], e: Extent): boolean {
  const last = list[list.length - 1];
  if (last && last.segment === e.segment && last.offset + last.length === e.offset) {
    last.length += e.length;
    return true;
  }
  list.push(e);
  return false;
}

/** Changes when a connection gains key log lines, handshake events, certificates, HTTP/2 frames or closes. */
function connectionMark(c: Connection): string {
  const t = c.tls;
  const h2 = c.http2;
  const frames = h2 ? `|${h2.events.length}|${h2.dropped}|${h2.streams}|${Object.values(h2.windowUpdates).reduce((n, w) => n + w.frames, 0)}` : '';
  return `${c.closedAt ?? ''}|${keylogLines(t).length}|${t ? `${t.events.length}|${t.certificates.length}|${t.version}|${t.alpn}|${t.error}|${t.fallback}` : ''}${frames}`;
}

/** Errors of the disk or the file system, as opposed to a value the database refuses. */
function isIoError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return /^(E[A-Z]+|SQLITE_(FULL|IOERR.*|CANTOPEN.*|READONLY.*|BUSY.*|LOCKED.*|CORRUPT.*|NOTADB|PERM|PROTOCOL))$/.test(code);
}

function prepareFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK | constants.R_OK);
    chmodSync(dir, 0o700);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new StoreError('MITM_ERR_SESSION_IO', dir, `the session folder ${dir} cannot be used (${code}): choose a writable folder with --session DIR`, { cause: err });
  }
}

function openDb(path: string): SessionDb {
  const existed = existsSync(path);
  try {
    const db = new SessionDb(path);
    chmodSync(path, 0o600);
    return db;
  } catch (err) {
    const message = (err as Error).message;
    if (existed)
      throw new StoreError(
        'MITM_ERR_SESSION_CORRUPT',
        path,
        `the session database ${path} cannot be opened (${message}); it was left untouched — start with another --session folder, or move this one away`,
        { cause: err },
      );
    throw new StoreError('MITM_ERR_SESSION_IO', path, `the session database ${path} cannot be created (${message})`, { cause: err });
  }
}
