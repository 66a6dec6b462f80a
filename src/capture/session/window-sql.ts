/**
 * Windows of the list in any order the dashboard can sort by: SQL for "the `limit` rows after
 * (or before) this one", "the rows from position N" and "the last rows", keyed by (column, seq)
 * so equal values keep arrival order and an anchor is exact. Each sortable column gets an index
 * on the same expression the query orders by, so a window over a million flows reads a few
 * hundred index entries instead of sorting the table.
 */
import type { FlowSummary } from '../flow.js';
import { SUMMARY_COLUMNS } from './db.js';
import type { SqlWhere } from './filter-sql.js';

export const SORT_COLUMNS = ['time', 'method', 'host', 'status', 'size', 'duration'] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];
export type SortOrder = 'asc' | 'desc';

/**
 * The expression each column sorts by. Missing status and duration (pending, failed) sort as -1,
 * before every real value: row values with a NULL in them would compare as unknown and lose rows.
 */
const SORT_KEYS: Record<SortColumn, string> = {
  time: 'started_at',
  method: 'method',
  host: 'host',
  status: 'IFNULL(status, -1)',
  size: 'response_size',
  duration: 'IFNULL(duration, -1)',
};

export function isSortColumn(value: string): value is SortColumn {
  return (SORT_COLUMNS as readonly string[]).includes(value);
}

/**
 * An index a sorted window by `sort` could read. The store keeps none (see docs/ARCHITECTURE.md,
 * "Sorting without indexes"); SQLite uses one where a session has it, and the benchmark adds them
 * to price them.
 */
export function sortIndexSql(sort: SortColumn): string {
  return `CREATE INDEX IF NOT EXISTS flows_by_${sort} ON flows(${SORT_KEYS[sort]}, seq)`;
}

/** The value a flow sorts by, as SQLite computes `SORT_KEYS` for its row; arrival order sorts by seq. */
export function sortKey(s: FlowSummary, seq: number, sort: SortColumn | null): string | number {
  switch (sort) {
    case null:
      return seq;
    case 'time':
      return Number.isFinite(s.startedAt) ? s.startedAt : 0;
    case 'method':
      return s.method;
    case 'host':
      return s.host;
    case 'status':
      return s.status ?? -1;
    case 'size':
      return s.responseSize;
    case 'duration':
      return s.duration ?? -1;
  }
}

/** Compares (key, seq) pairs the way the window's ORDER BY does, ascending. */
export function compareKeys(a: { key: string | number; seq: number }, b: { key: string | number; seq: number }): number {
  if (a.key < b.key) return -1;
  if (a.key > b.key) return 1;
  return a.seq - b.seq;
}

export interface WindowSpec {
  /** null: arrival order. */
  sort: SortColumn | null;
  order: SortOrder;
  where: SqlWhere | null;
  /** The rows just before or after this one in list order; its sort key and seq. */
  anchor: { side: 'before' | 'after'; key: string | number; seq: number } | null;
  /** The rows from this position in list order (ignored with an anchor). Neither: the last rows. */
  offset: number | null;
  limit: number;
}

export interface WindowSql {
  sql: string;
  params: (string | number)[];
  /** Rows come back in reverse list order (read backwards from an anchor or the end). */
  reversed: boolean;
  /** Rows come back in ascending (key, seq) order. */
  ascending: boolean;
}

/** One more row than `limit` is asked for: its presence says the window could go on. */
export function windowSql(spec: WindowSpec): WindowSql {
  const key = spec.sort === null ? null : SORT_KEYS[spec.sort];
  const ascending = spec.order === 'asc';
  const conditions: string[] = [];
  const params: (string | number)[] = [];
  let forward: boolean;
  if (spec.anchor) {
    forward = spec.anchor.side === 'after';
    const op = forward === ascending ? '>' : '<';
    if (key === null) {
      conditions.push(`seq ${op} ?`);
      params.push(spec.anchor.seq);
    } else {
      conditions.push(`(${key}, seq) ${op} (?, ?)`);
      params.push(spec.anchor.key, spec.anchor.seq);
    }
  } else {
    forward = spec.offset !== null;
  }
  if (spec.where) {
    conditions.push(`(${spec.where.sql})`);
    params.push(...spec.where.params);
  }
  const direction = forward === ascending ? 'ASC' : 'DESC';
  const orderBy = key === null ? `seq ${direction}` : `${key} ${direction}, seq ${direction}`;
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  let sql = `SELECT ${SUMMARY_COLUMNS} FROM flows${where} ORDER BY ${orderBy} LIMIT ?`;
  params.push(spec.limit + 1);
  if (!spec.anchor && spec.offset !== null) {
    sql += ' OFFSET ?';
    params.push(spec.offset);
  }
  return { sql, params, reversed: !forward, ascending: direction === 'ASC' };
}
