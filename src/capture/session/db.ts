/**
 * The session database (SQLite through better-sqlite3): one row per flow with the columns the
 * list and its filters read, the rest of the flow as JSON, connections (shared by the flows of a
 * keep-alive connection) once each, WebSocket messages one row each. The format is documented
 * in docs/SESSION-FORMAT.md. All calls are synchronous; the store batches them per flush.
 */
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { tlsLegOf, type Connection, type FlowSummary, type WebSocketMessage } from '../flow.js';
import { SQL_FUNCTIONS, type SqlWhere } from './filter-sql.js';

/** Bumped when the schema changes incompatibly; older files are refused with a clear message. */
export const SCHEMA_VERSION = 1;
export const DB_FILE = 'session.db';

/** Columns of a flow row that summaries and filters read, in `FlowSummary` terms. */
export interface FlowRow {
  seq: number;
  id: string;
  kind: string;
  state: string;
  method: string;
  url: string;
  scheme: string;
  host: string;
  status: number | null;
  content_type: string | null;
  request_size: number;
  response_size: number;
  started_at: number;
  duration: number | null;
  tls_version: string | null;
  error: string | null;
  imported: number;
  client_connection: string | null;
  server_connection: string | null;
  request_body: Buffer | null;
  response_body: Buffer | null;
  data: string;
}

export type SummaryRow = Pick<
  FlowRow,
  'seq' | 'id' | 'kind' | 'state' | 'method' | 'url' | 'scheme' | 'host' | 'status' | 'content_type' | 'request_size' | 'response_size' | 'started_at' | 'duration' | 'tls_version' | 'error' | 'imported' | 'server_connection'
>;

export const SUMMARY_COLUMNS = 'seq, id, kind, state, method, url, scheme, host, status, content_type, request_size, response_size, started_at, duration, tls_version, error, imported, server_connection';

/** Summary rows of those `where` accepts, newest first below a bound or oldest first above it (`?` = the bound). */
export function summariesSql(direction: 'older' | 'newer', where: SqlWhere | null, limit: number | null = null): string {
  const filter = where ? ` AND (${where.sql})` : '';
  const order = direction === 'older' ? `seq < ?${filter} ORDER BY seq DESC` : `seq > ?${filter} ORDER BY seq ASC`;
  return `SELECT ${SUMMARY_COLUMNS} FROM flows WHERE ${order}${limit === null ? '' : ` LIMIT ${Math.floor(limit)}`}`;
}

export function countSql(where: SqlWhere | null): string {
  return `SELECT count(*) AS n FROM flows${where ? ` WHERE ${where.sql}` : ''}`;
}

/** Registers the SQL functions filters use on a connection. */
export function registerFunctions(db: Database.Database): void {
  for (const [name, fn] of Object.entries(SQL_FUNCTIONS)) db.function(name, { deterministic: true }, fn);
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS flows (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  method TEXT NOT NULL,
  url TEXT NOT NULL,
  scheme TEXT NOT NULL,
  host TEXT NOT NULL,
  status INTEGER,
  content_type TEXT,
  request_size INTEGER NOT NULL,
  response_size INTEGER NOT NULL,
  started_at REAL NOT NULL,
  duration REAL,
  tls_version TEXT,
  error TEXT,
  imported INTEGER NOT NULL,
  client_connection TEXT,
  server_connection TEXT,
  request_body BLOB,
  response_body BLOB,
  data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS connections (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keylog (
  connection TEXT NOT NULL,
  idx INTEGER NOT NULL,
  line TEXT NOT NULL,
  PRIMARY KEY (connection, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ws_messages (
  flow_seq INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (flow_seq, idx)
) WITHOUT ROWID;
`;

export function summaryOf(row: SummaryRow): FlowSummary {
  return {
    id: row.id,
    kind: row.kind as FlowSummary['kind'],
    state: row.state as FlowSummary['state'],
    method: row.method,
    url: row.url,
    scheme: row.scheme as FlowSummary['scheme'],
    host: row.host,
    status: row.status,
    contentType: row.content_type,
    requestSize: row.request_size,
    responseSize: row.response_size,
    startedAt: row.started_at,
    duration: row.duration,
    tlsVersion: row.tls_version,
    tlsLeg: tlsLegOf(row.tls_version, row.scheme as FlowSummary['scheme'], row.server_connection !== null),
    error: row.error,
    imported: row.imported === 1,
    // Kept in the row's JSON, not in columns: the list reads `state`; the flow itself has both.
    paused: null,
    replayOf: null,
  };
}

export class SessionDb {
  readonly db: Database.Database;
  private readonly upsertFlow: Statement<FlowRow>;
  private readonly upsertConnection: Statement<[string, number, string]>;
  private readonly insertMessage: Statement<[number, number, string]>;
  private readonly insertKeylog: Statement<[string, number, string]>;
  private readonly keylog: Statement<[string], { line: string }>;
  private readonly byId: Statement<[string], FlowRow>;
  private readonly bySeq: Statement<[number], FlowRow>;
  private readonly connection: Statement<[string], { data: string }>;
  private readonly messages: Statement<[number], { data: string }>;

  /** Opens (creating when absent) and checks the file; throws what SQLite says about a bad one. */
  constructor(path: string, options: { readonly?: boolean } = {}) {
    this.db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
    if (!options.readonly) {
      // WAL: readers never wait for the writer, commits are appends; NORMAL syncs at checkpoints,
      // so a killed process loses nothing committed (only a power cut can lose the last commits).
      // 16 KiB pages (new files only): a commit of a few dozen rows is a few WAL frames, each
      // costing two system calls, instead of a dozen.
      this.db.pragma('page_size = 16384');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
      const version = this.meta('schema');
      if (version === null) this.setMeta('schema', String(SCHEMA_VERSION));
      else if (version !== String(SCHEMA_VERSION)) throw new Error(`session format ${version} is not supported (this mitmscope reads format ${SCHEMA_VERSION})`);
    }
    registerFunctions(this.db);
    this.upsertFlow = this.db.prepare(
      `INSERT INTO flows (seq, id, kind, state, method, url, scheme, host, status, content_type, request_size, response_size, started_at, duration, tls_version, error, imported, client_connection, server_connection, request_body, response_body, data)
       VALUES (@seq, @id, @kind, @state, @method, @url, @scheme, @host, @status, @content_type, @request_size, @response_size, @started_at, @duration, @tls_version, @error, @imported, @client_connection, @server_connection, @request_body, @response_body, @data)
       ON CONFLICT(seq) DO UPDATE SET state = excluded.state, method = excluded.method, url = excluded.url, status = excluded.status, content_type = excluded.content_type,
         request_size = excluded.request_size, response_size = excluded.response_size, duration = excluded.duration, tls_version = excluded.tls_version, error = excluded.error,
         client_connection = excluded.client_connection, server_connection = excluded.server_connection, request_body = excluded.request_body, response_body = excluded.response_body, data = excluded.data`,
    );
    this.upsertConnection = this.db.prepare(
      'INSERT INTO connections (id, last_seq, data) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq), data = excluded.data',
    );
    this.insertMessage = this.db.prepare('INSERT OR REPLACE INTO ws_messages (flow_seq, idx, data) VALUES (?, ?, ?)');
    this.insertKeylog = this.db.prepare('INSERT OR IGNORE INTO keylog (connection, idx, line) VALUES (?, ?, ?)');
    this.keylog = this.db.prepare('SELECT line FROM keylog WHERE connection = ? ORDER BY idx');
    this.byId = this.db.prepare('SELECT * FROM flows WHERE id = ?');
    this.bySeq = this.db.prepare('SELECT * FROM flows WHERE seq = ?');
    this.connection = this.db.prepare('SELECT data FROM connections WHERE id = ?');
    this.messages = this.db.prepare('SELECT data FROM ws_messages WHERE flow_seq = ? ORDER BY idx');
  }

  meta(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Runs `fn` in one transaction (all or nothing). */
  transaction(fn: () => void): void {
    this.db.transaction(fn)();
  }

  putFlow(row: FlowRow): void {
    this.upsertFlow.run(row);
  }

  putConnection(connection: Connection, seq: number): void {
    this.upsertConnection.run(connection.id, seq, JSON.stringify(connection));
  }

  putMessage(flowSeq: number, index: number, message: WebSocketMessage): void {
    this.insertMessage.run(flowSeq, index, JSON.stringify(message));
  }

  /** A connection's NSS key log lines, in the order its TLS stack logged them (lines already stored stay). */
  putKeylog(connectionId: string, lines: readonly string[]): void {
    lines.forEach((line, i) => this.insertKeylog.run(connectionId, i, line));
  }

  keylogOf(connectionId: string): string[] {
    return this.keylog.all(connectionId).map((r) => r.line);
  }

  flowById(id: string): FlowRow | undefined {
    return this.byId.get(id);
  }

  flowBySeq(seq: number): FlowRow | undefined {
    return this.bySeq.get(seq);
  }

  connectionById(id: string): Connection | null {
    const row = this.connection.get(id);
    return row ? (JSON.parse(row.data) as Connection) : null;
  }

  messagesOf(seq: number): WebSocketMessage[] {
    return this.messages.all(seq).map((r) => JSON.parse(r.data) as WebSocketMessage);
  }

  count(where: SqlWhere | null = null): number {
    return (this.db.prepare(countSql(where)).get(...(where?.params ?? [])) as { n: number }).n;
  }

  maxSeq(): number {
    return (this.db.prepare('SELECT max(seq) AS n FROM flows').get() as { n: number | null }).n ?? 0;
  }

  /** Summary rows (of those `where` accepts) newest first below `bound`, or oldest first above it. */
  summaries(direction: 'older' | 'newer', bound: number, where: SqlWhere | null = null): IterableIterator<SummaryRow> {
    return this.db.prepare(summariesSql(direction, where)).iterate(bound, ...(where?.params ?? [])) as IterableIterator<SummaryRow>;
  }

  /** Summary rows of a query built elsewhere (window-sql.ts); read-only. */
  select(sql: string, params: readonly (string | number)[]): SummaryRow[] {
    return this.db.prepare(sql).all(...params) as SummaryRow[];
  }

  /** Whole rows oldest first, from `above` (exclusive), at most `limit`. */
  rowsAfter(above: number, limit: number): FlowRow[] {
    return this.db.prepare('SELECT * FROM flows WHERE seq > ? ORDER BY seq ASC LIMIT ?').all(above, limit) as FlowRow[];
  }

  /** Rows that refer to body bytes, for reference counts and the torn-write check at open. */
  bodyRefs(): IterableIterator<{ seq: number; request_body: Buffer | null; response_body: Buffer | null }> {
    return this.db
      .prepare('SELECT seq, request_body, response_body FROM flows WHERE request_body IS NOT NULL OR response_body IS NOT NULL')
      .iterate() as IterableIterator<{ seq: number; request_body: Buffer | null; response_body: Buffer | null }>;
  }

  /** The oldest finished flows, the candidates for eviction. */
  oldestFinished(limit: number): { seq: number; id: string; request_body: Buffer | null; response_body: Buffer | null }[] {
    return this.db
      .prepare("SELECT seq, id, request_body, response_body FROM flows WHERE state NOT IN ('pending', 'paused') ORDER BY seq ASC LIMIT ?")
      .all(limit) as { seq: number; id: string; request_body: Buffer | null; response_body: Buffer | null }[];
  }

  deleteFlows(seqs: readonly number[]): void {
    const flows = this.db.prepare('DELETE FROM flows WHERE seq = ?');
    const messages = this.db.prepare('DELETE FROM ws_messages WHERE flow_seq = ?');
    this.transaction(() => {
      for (const seq of seqs) {
        flows.run(seq);
        messages.run(seq);
      }
    });
  }

  /** Connections no remaining flow at or after `seq` refers to. */
  deleteConnectionsBefore(seq: number): void {
    this.db.prepare('DELETE FROM keylog WHERE connection IN (SELECT id FROM connections WHERE last_seq < ?)').run(seq);
    this.db.prepare('DELETE FROM connections WHERE last_seq < ?').run(seq);
  }

  minSeq(): number | null {
    return (this.db.prepare('SELECT min(seq) AS n FROM flows').get() as { n: number | null }).n;
  }

  deleteAll(): void {
    this.db.exec('DELETE FROM flows; DELETE FROM connections; DELETE FROM keylog; DELETE FROM ws_messages;');
  }

  /** Flows a killed proxy left pending (or paused at a breakpoint): they can never finish now. */
  markInterrupted(message: string): number {
    const rows = this.db.prepare("SELECT seq, data FROM flows WHERE state IN ('pending', 'paused')").all() as { seq: number; data: string }[];
    const update = this.db.prepare("UPDATE flows SET state = 'error', error = ?, data = ? WHERE seq = ?");
    this.transaction(() => {
      for (const r of rows) {
        const data = JSON.parse(r.data) as { state: string; error: unknown; paused?: unknown };
        data.state = 'error';
        data.paused = null;
        data.error = { stage: 'client-response', code: 'MITM_ERR_INTERRUPTED', message };
        update.run(`client-response: ${message}`, JSON.stringify(data), r.seq);
      }
    });
    return rows.length;
  }

  /** Bytes the database holds (its file less free pages, plus the WAL not yet checkpointed). */
  bytes(): number {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * pageSize;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
