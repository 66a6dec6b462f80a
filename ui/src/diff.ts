/**
 * Differences between two flows' parts, for the compare view: headers matched by name in wire
 * order, text as a line diff, JSON as the paths whose values differ. Pure, for tests.
 */
import type { Header } from './types.js';

export type Change = 'same' | 'changed' | 'added' | 'removed';

export interface HeaderRow {
  name: string;
  a: string | null;
  b: string | null;
  change: Change;
}

/**
 * Rows in wire order: A's headers (a repeated name pairs with B's occurrence of the same rank),
 * with B-only headers after the A header they follow in B.
 */
export function diffHeaders(a: readonly Header[], b: readonly Header[]): HeaderRow[] {
  const key = (name: string, rank: number) => `${name.toLowerCase()}\u0000${rank}`;
  const ranked = (list: readonly Header[]) => {
    const seen = new Map<string, number>();
    return list.map(([name, value]) => {
      const rank = seen.get(name.toLowerCase()) ?? 0;
      seen.set(name.toLowerCase(), rank + 1);
      return { name, value, key: key(name, rank) };
    });
  };
  const ra = ranked(a);
  const rb = ranked(b);
  const inB = new Map(rb.map((h) => [h.key, h]));
  const inA = new Set(ra.map((h) => h.key));
  // B-only headers, grouped after the nearest preceding header B shares with A.
  const after = new Map<string, HeaderRow[]>();
  let anchor = '';
  for (const h of rb) {
    if (inA.has(h.key)) anchor = h.key;
    else after.set(anchor, [...(after.get(anchor) ?? []), { name: h.name, a: null, b: h.value, change: 'added' }]);
  }
  const rows: HeaderRow[] = [...(after.get('') ?? [])];
  for (const h of ra) {
    const other = inB.get(h.key);
    rows.push(other ? { name: h.name, a: h.value, b: other.value, change: other.value === h.value ? 'same' : 'changed' } : { name: h.name, a: h.value, b: null, change: 'removed' });
    rows.push(...(after.get(h.key) ?? []));
  }
  return rows;
}

export interface LineDiff {
  change: 'same' | 'added' | 'removed';
  text: string;
}

/** Lines past which the diff is not computed (the LCS table is lines²): the texts are shown whole instead. */
export const MAX_DIFF_LINES = 3000;

/** A line diff (longest common subsequence); null when either text is too long to diff. */
export function diffLines(a: string, b: string): LineDiff[] | null {
  const la = a.split('\n');
  const lb = b.split('\n');
  if (la.length > MAX_DIFF_LINES || lb.length > MAX_DIFF_LINES) return null;
  // Common head and tail first: most bodies differ in a few lines.
  let head = 0;
  while (head < la.length && head < lb.length && la[head] === lb[head]) head++;
  let tail = 0;
  while (tail < la.length - head && tail < lb.length - head && la[la.length - 1 - tail] === lb[lb.length - 1 - tail]) tail++;
  const ma = la.slice(head, la.length - tail);
  const mb = lb.slice(head, lb.length - tail);
  const n = ma.length;
  const m = mb.length;
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] = ma[i] === mb[j] ? lcs[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!);
    }
  }
  const out: LineDiff[] = la.slice(0, head).map((text) => ({ change: 'same', text }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && ma[i] === mb[j]) {
      out.push({ change: 'same', text: ma[i++]! });
      j++;
    } else if (i < n && (j >= m || lcs[(i + 1) * (m + 1) + j]! >= lcs[i * (m + 1) + j + 1]!)) out.push({ change: 'removed', text: ma[i++]! });
    else out.push({ change: 'added', text: mb[j++]! });
  }
  for (const text of la.slice(la.length - tail)) out.push({ change: 'same', text });
  return out;
}

export interface JsonChange {
  /** JSONPath-like: `$.items[2].name`. */
  path: string;
  change: 'changed' | 'added' | 'removed';
  a?: unknown;
  b?: unknown;
}

function pathKey(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Paths whose values differ between two JSON documents (objects by key, arrays by index). */
export function diffJson(a: unknown, b: unknown, path = '$', out: JsonChange[] = []): JsonChange[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= b.length) out.push({ path: `${path}[${i}]`, change: 'removed', a: a[i] });
      else if (i >= a.length) out.push({ path: `${path}[${i}]`, change: 'added', b: b[i] });
      else diffJson(a[i], b[i], `${path}[${i}]`, out);
    }
  } else if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a)) {
      if (!Object.hasOwn(b, k)) out.push({ path: pathKey(path, k), change: 'removed', a: a[k] });
      else diffJson(a[k], b[k], pathKey(path, k), out);
    }
    for (const k of Object.keys(b)) if (!Object.hasOwn(a, k)) out.push({ path: pathKey(path, k), change: 'added', b: b[k] });
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push({ path, change: 'changed', a, b });
  }
  return out;
}

/** The parsed document when `text` is JSON, else undefined. */
export function parseJson(text: string): unknown {
  const t = text.trim();
  if (t === '' || !'{["'.includes(t[0]!)) return undefined;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return undefined;
  }
}
