/**
 * GET /api/flows as the list asks for windows: the request path for a query and the page read
 * from an answer (rows in the body, counts in headers). No DOM here, so Node tests share it.
 */
import type { WindowPage, WindowQuery } from './flows.js';
import type { FlowSummary } from './types.js';

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
