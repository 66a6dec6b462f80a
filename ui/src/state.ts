/**
 * UI state shared across components: what is selected and open, the list's scroll behaviour,
 * the live feed's connection state and transient notices. Flow data lives in flows.ts.
 */
import { signal } from '@preact/signals';
import type { HarRecordingStatus } from './types.js';

export type DetailTab = 'request' | 'response' | 'timing' | 'tls' | 'websocket';
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export const filterText = signal('');
/** Highlighted row (moved with ↑/↓). */
export const selectedId = signal<string | null>(null);
/** Flow shown in the detail pane (Enter or click). */
export const openId = signal<string | null>(null);
export const detailTab = signal<DetailTab>('request');
/** Keep the newest row in view as flows arrive (tail -f). */
export const autoScroll = signal(true);
export const connection = signal<ConnectionState>('connecting');
/** When the next reconnect attempt happens (epoch ms), while reconnecting. */
export const reconnectAt = signal<number | null>(null);
export const recording = signal<{ path: string } | null>(null);
/** What the recorder could not write (null while recording is not on). */
export const harHealth = signal<HarRecordingStatus | null>(null);
/** Hosts the proxy tunnels untouched (a client rejected our certificate). */
export const passthrough = signal<string[]>([]);
export const storeUsage = signal<{ bytes: number; max: number } | null>(null);
/** Height of the detail pane in px; null = the default share of the window. */
export const detailHeight = signal<number | null>(null);

export interface Notice {
  id: number;
  kind: 'info' | 'error';
  text: string;
  /** A button on the notice, such as Retry; clicking it also dismisses the notice. */
  action?: { label: string; run: () => void };
}

export interface NoticeOptions {
  /** Stays until dismissed or replaced: for a state the user must not miss, not an event. */
  sticky?: boolean;
  action?: Notice['action'];
}

const NOTICE_MS = 6000;
let noticeSeq = 0;
export const notices = signal<readonly Notice[]>([]);

/** Shows a notice; returns its id for `dismiss`. */
export function notify(kind: Notice['kind'], text: string, options: NoticeOptions = {}): number {
  const notice: Notice = { id: ++noticeSeq, kind, text, ...(options.action ? { action: options.action } : {}) };
  notices.value = [...notices.value, notice];
  if (!options.sticky) setTimeout(() => dismiss(notice.id), NOTICE_MS);
  return notice.id;
}

export function dismiss(id: number): void {
  notices.value = notices.value.filter((n) => n.id !== id);
}

export function openFlow(id: string, tab?: DetailTab): void {
  selectedId.value = id;
  openId.value = id;
  if (tab) detailTab.value = tab;
}
