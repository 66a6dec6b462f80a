/**
 * The flow table's columns: their default widths, which ones sort (and by which store column),
 * and the user's sort and widths, kept in localStorage so a reload shows the table as left.
 * Storage may be absent or full (private windows, quotas): then choices last for the page only.
 */
import { signal } from '@preact/signals';
import type { SortColumn, SortState } from './window-api.js';

export interface Column {
  key: 'method' | 'host' | 'path' | 'status' | 'type' | 'size' | 'time' | 'tls';
  label: string;
  /** A CSS grid track: fixed px, or a share of the room left. */
  track: string;
  /** The store column the server sorts this one by. */
  sort: SortColumn | null;
}

export const COLUMNS: readonly Column[] = [
  { key: 'method', label: 'Method', track: '88px', sort: 'method' },
  { key: 'host', label: 'Host', track: 'minmax(0, 2.2fr)', sort: 'host' },
  { key: 'path', label: 'Path', track: 'minmax(0, 4fr)', sort: null },
  { key: 'status', label: 'Status', track: '80px', sort: 'status' },
  { key: 'type', label: 'Type', track: '92px', sort: null },
  { key: 'size', label: 'Size', track: '76px', sort: 'size' },
  // "Time" is how long the exchange took.
  { key: 'time', label: 'Time', track: '76px', sort: 'duration' },
  { key: 'tls', label: 'TLS', track: '64px', sort: null },
];

/** Narrower than this, a column cannot show a word; a drag stops there. */
const MIN_COLUMN_PX = 32;
const SORT_KEY = 'mitmscope.list.sort';
const WIDTHS_KEY = 'mitmscope.list.widths';

type Widths = Partial<Record<Column['key'], number>>;

interface StorageApi {
  localStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void };
}

function read(key: string): unknown {
  try {
    const text = (globalThis as StorageApi).localStorage?.getItem(key);
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

function write(key: string, value: unknown): void {
  try {
    const storage = (globalThis as StorageApi).localStorage;
    if (value === null) storage?.removeItem(key);
    else storage?.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or refused: the choice holds until the page closes.
  }
}

/** A stored sort, if it still names a sortable column (stored values are not trusted). */
export function storedSort(): SortState | null {
  const v = read(SORT_KEY) as { column?: unknown; order?: unknown } | null;
  if (!v || typeof v !== 'object') return null;
  const ok = COLUMNS.some((c) => c.sort !== null && c.sort === v.column);
  return ok && (v.order === 'asc' || v.order === 'desc') ? { column: v.column as SortColumn, order: v.order } : null;
}

export function saveSort(sort: SortState | null): void {
  write(SORT_KEY, sort);
}

function storedWidths(): Widths {
  const v = read(WIDTHS_KEY);
  const out: Widths = {};
  if (!v || typeof v !== 'object') return out;
  for (const c of COLUMNS) {
    const w = (v as Record<string, unknown>)[c.key];
    if (typeof w === 'number' && Number.isFinite(w) && w >= MIN_COLUMN_PX) out[c.key] = Math.round(w);
  }
  return out;
}

export const columnWidths = signal<Widths>(storedWidths());

/** Sets one column's width in px (null: back to its default) and remembers it. */
export function setColumnWidth(key: Column['key'], px: number | null): void {
  const next = { ...columnWidths.value };
  if (px === null) delete next[key];
  else next[key] = Math.max(MIN_COLUMN_PX, Math.round(px));
  columnWidths.value = next;
  write(WIDTHS_KEY, Object.keys(next).length === 0 ? null : next);
}

/** The rows' grid template: each column's chosen width, or its default track. */
export function gridTemplate(widths: Widths): string {
  return COLUMNS.map((c) => (widths[c.key] !== undefined ? `${widths[c.key]}px` : c.track)).join(' ');
}

/** A header click: ascending, then descending, then back to arrival order. */
export function nextSort(current: SortState | null, column: SortColumn): SortState | null {
  if (current?.column !== column) return { column, order: 'asc' };
  return current.order === 'asc' ? { column, order: 'desc' } : null;
}
