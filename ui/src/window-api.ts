/**
 * GET /api/flows as the list asks for windows: what a window query is, the request path for one
 * and the page read from an answer (rows in the body, counts in headers). No DOM here, so Node
 * tests share it.
 */
import type { FlowSummary } from './types.js';

export const SORT_COLUMNS = ['time', 'method', 'host', 'status', 'size', 'duration'] as const;
export type SortColumn = (typeof SORT_COLUMNS)[number];
export interface SortState {
  column: SortColumn;
  order: 'asc' | 'desc';
}

/** One request for a window (GET /api/flows). */
export interface WindowQuery {
  filter: string;
  sort: SortState | null;
  limit: number;
  before?: string;
  after?: string;
  offset?: number;
  /** Ask for the matched count (a full scan on the server, so only when the list changed). */
  count: boolean;
}

export interface WindowPage {
  flows: FlowSummary[];
  total: number;
  matched: number | null;
  more: boolean;
}

export type PageSource = (query: WindowQuery) => Promise<WindowPage>;

/** The path of a window request, relative to the page. */
export function windowUrl(q: WindowQuery): string {
  const params = new URLSearchParams();
  if (q.filter.trim() !== '') params.set('filter', q.filter);
  if (q.sort) {
    params.set('sort', q.sort.column);
    params.set('order', q.sort.order);
  }
  params.set('limit', String(q.limit));
  if (q.before !== undefined) params.set('before', q.before);
  else if (q.after !== undefined) params.set('after', q.after);
  else if (q.offset !== undefined) params.set('offset', String(q.offset));
  if (q.count) params.set('count', '1');
  return `api/flows?${params.toString()}`;
}

function countHeader(res: Response, name: string): number | null {
  const value = res.headers.get(name);
  return value === null || !/^\d+$/.test(value) ? null : Number(value);
}

/** The page in a successful answer; one without its total count is a broken answer. */
export async function readWindow(res: Response): Promise<WindowPage> {
  const flows = (await res.json()) as FlowSummary[];
  const total = countHeader(res, 'X-Total-Count');
  if (total === null || !Array.isArray(flows)) throw new Error('the flow list answer is malformed');
  return { flows, total, matched: countHeader(res, 'X-Matched-Count'), more: res.headers.get('X-More') === '1' };
}

/** The value a summary sorts by (the server's order; here only to notice that a row moved). */
export function sortKeyOf(f: FlowSummary, column: SortColumn): string | number | null {
  switch (column) {
    case 'time':
      return f.startedAt;
    case 'method':
      return f.method;
    case 'host':
      return f.host;
    case 'status':
      return f.status;
    case 'size':
      return f.responseSize;
    case 'duration':
      return f.duration;
  }
}
