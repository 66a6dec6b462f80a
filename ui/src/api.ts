/**
 * The dashboard REST API (contract in docs/ARCHITECTURE.md). Paths are relative to the page so the dashboard
 * also works behind a reverse proxy that mounts it under a prefix; the token travels in the
 * cookie the server set when the page was opened with `?token=`.
 */
import { readWindow, windowUrl, type WindowPage, type WindowQuery } from './window-api.js';
import type { FlowDetail, Header, Rule, StatusJson } from './types.js';

export const HAR_URL = 'api/har';
export const CA_URL = 'ca.pem';
export const LIVE_PATH = 'api/live';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string | null;
  constructor(status: number, message: string, code: string | null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

async function failure(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | null = null;
  try {
    const body = (await res.json()) as { error?: unknown; code?: unknown };
    if (typeof body.error === 'string') message = body.error;
    if (typeof body.code === 'string') code = body.code;
  } catch {
    // Not JSON (a proxy's error page): the status line says enough.
  }
  return new ApiError(res.status, message, code);
}

function sendJson<T>(path: string, method: string, body?: unknown): Promise<T> {
  return getJson<T>(path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
}

async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { credentials: 'same-origin', ...init });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export type BodySide = 'request' | 'response';

/** Our own URL for a captured body: built from the server's flow id, never from captured text. */
export function bodyUrl(id: string, side: BodySide, opts: { decode?: boolean; inline?: boolean } = {}): string {
  const q = new URLSearchParams();
  if (opts.decode) q.set('decode', '1');
  if (opts.inline) q.set('inline', '1');
  const query = q.toString();
  return `api/flows/${encodeURIComponent(id)}/${side}/body${query === '' ? '' : `?${query}`}`;
}

/** The NSS key log of a flow's two connections, for Wireshark (built from the flow id only). */
export function keylogUrl(id: string): string {
  return `api/flows/${encodeURIComponent(id)}/keylog`;
}

export interface BodyBytes {
  bytes: Uint8Array;
  /** The captured Content-Type (the response itself is always application/octet-stream). */
  contentType: string | null;
  truncated: boolean;
  /** `identity` | `full` | `partial` | `unsupported` | `failed`, or null when not asked to decode. */
  decode: string | null;
  encoding: string | null;
}

export async function fetchBody(id: string, side: BodySide, signal?: AbortSignal): Promise<BodyBytes> {
  const res = await fetch(bodyUrl(id, side, { decode: true }), { credentials: 'same-origin', ...(signal ? { signal } : {}) });
  if (!res.ok) throw await failure(res);
  return {
    bytes: new Uint8Array(await res.arrayBuffer()),
    contentType: res.headers.get('X-Mitmscope-Content-Type'),
    truncated: res.headers.get('X-Mitmscope-Truncated') === '1',
    decode: res.headers.get('X-Mitmscope-Decode'),
    encoding: res.headers.get('X-Mitmscope-Content-Encoding'),
  };
}

/** A window of the (filtered, sorted) list: GET /api/flows with its counts from the headers. */
export async function fetchWindow(q: WindowQuery): Promise<WindowPage> {
  const res = await fetch(windowUrl(q), { credentials: 'same-origin' });
  if (!res.ok) throw await failure(res);
  return readWindow(res);
}

export function fetchFlow(id: string, signal?: AbortSignal): Promise<FlowDetail> {
  return getJson<FlowDetail>(`api/flows/${encodeURIComponent(id)}`, signal ? { signal } : {});
}

export function fetchStatus(): Promise<StatusJson> {
  return getJson<StatusJson>('api/status');
}

export async function clearFlows(): Promise<void> {
  await getJson<unknown>('api/flows', { method: 'DELETE' });
}

export async function clearPassthrough(host?: string): Promise<void> {
  await getJson<unknown>(host === undefined ? 'api/passthrough' : `api/passthrough/${encodeURIComponent(host)}`, { method: 'DELETE' });
}

export function importHar(file: Blob): Promise<{ imported: number }> {
  return getJson<{ imported: number }>(HAR_URL, { method: 'POST', body: file, headers: { 'Content-Type': 'application/json' } });
}

export type RuleInput = Omit<Rule, 'id'> & { id?: string };

export function fetchRules(): Promise<Rule[]> {
  return getJson<Rule[]>('api/rules');
}

export function saveRule(rule: RuleInput): Promise<Rule> {
  return rule.id === undefined ? sendJson<Rule>('api/rules', 'POST', rule) : sendJson<Rule>(`api/rules/${encodeURIComponent(rule.id)}`, 'PUT', rule);
}

export async function deleteRule(id: string): Promise<void> {
  await sendJson<unknown>(`api/rules/${encodeURIComponent(id)}`, 'DELETE');
}

/** Edits for a paused or resent exchange; a field left out stays as it is. */
export interface Edits {
  method?: string;
  url?: string;
  status?: number;
  headers?: Header[];
  body?: string | { base64: string };
}

function flowAction<T>(id: string, action: 'resume' | 'abort' | 'replay', edits?: Edits): Promise<T> {
  return sendJson<T>(`api/flows/${encodeURIComponent(id)}/${action}`, 'POST', edits);
}

export function resumeFlow(id: string, edits?: Edits): Promise<unknown> {
  return flowAction(id, 'resume', edits);
}

export function abortFlow(id: string): Promise<unknown> {
  return flowAction(id, 'abort');
}

/** Sends the flow's request again (edited); answers the new flow's id. */
export function replayFlow(id: string, edits?: Edits): Promise<{ id: string }> {
  return flowAction<{ id: string }>(id, 'replay', edits);
}

/** ws(s)://same-host/…/api/live, relative to the page like every other path. */
export function liveUrl(): string {
  const url = new URL(LIVE_PATH, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  url.search = '';
  return url.href;
}
