/**
 * Editable copies of an exchange's messages (drafts), the edits a user sends at a breakpoint or
 * with a resend, and the rule rewrites. Pure: no sockets.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Header } from '../capture/flow.js';
import { Fields, httpUrl } from './validate.js';
import type { RewriteTarget } from './types.js';

export interface RequestDraft {
  method: string;
  url: string;
  headers: Header[];
  body: Buffer;
}

export interface ResponseDraft {
  status: number;
  statusText: string;
  headers: Header[];
  body: Buffer;
}

export type RequestEdits = Partial<RequestDraft>;
export type ResponseEdits = Partial<Omit<ResponseDraft, 'statusText'>>;

/** Edits for a request (`{method,url,headers,body}`); every field optional. */
export function parseRequestEdits(value: unknown): RequestEdits {
  if (value === undefined || value === null) return {};
  const f: Fields = Fields.of(value, 'MITM_ERR_EDIT_INVALID', null, '');
  const out: RequestEdits = {};
  if (f.has('method')) out.method = f.token('method').toUpperCase();
  if (f.has('url')) {
    const url = httpUrl(f.string('url'));
    if (typeof url === 'string') return f.fail('url', url);
    out.url = url.href;
  }
  if (f.has('headers')) out.headers = f.headers('headers', true);
  if (f.has('body')) out.body = f.body('body');
  return out;
}

/** Edits for a response (`{status,headers,body}`). */
export function parseResponseEdits(value: unknown): ResponseEdits {
  if (value === undefined || value === null) return {};
  const f: Fields = Fields.of(value, 'MITM_ERR_EDIT_INVALID', null, '');
  const out: ResponseEdits = {};
  if (f.has('status')) out.status = f.int('status', 100, 999);
  if (f.has('headers')) out.headers = f.headers('headers', true);
  if (f.has('body')) out.body = f.body('body');
  return out;
}

function isName(name: string, lower: string): boolean {
  return name.toLowerCase() === lower;
}

/** Every header but those named (case-insensitively). */
export function without(headers: readonly Header[], ...names: string[]): Header[] {
  return headers.filter(([n]) => !names.some((x) => isName(n, x)));
}

/**
 * Makes the framing headers tell the truth about `body`: Transfer-Encoding goes (the body is
 * whole), Content-Length is set in place, or added when there is a body and none was declared.
 */
export function fixLength(headers: readonly Header[], body: Buffer, always: boolean): Header[] {
  const out = without(headers, 'transfer-encoding');
  const i = out.findIndex(([n]) => isName(n, 'content-length'));
  const length = String(body.length);
  if (i >= 0) out[i] = [out[i]![0], length];
  if (i < 0 && (always || body.length > 0)) out.push(['Content-Length', length]);
  // A second Content-Length would make the message ambiguous (RFC 9112 §6.3).
  return out.filter(([n], j) => !isName(n, 'content-length') || j === out.findIndex(([m]) => isName(m, 'content-length')));
}

/** The body as text a regex can read: decoded when it is gzip, deflate or br encoded. */
function decodedBody(headers: readonly Header[], body: Buffer): { body: Buffer; decoded: boolean } {
  const encoding = headers.find(([n]) => isName(n, 'content-encoding'))?.[1].trim().toLowerCase();
  if (!encoding || encoding === 'identity' || body.length === 0) return { body, decoded: false };
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return { body: gunzipSync(body), decoded: true };
    if (encoding === 'deflate') return { body: inflateSync(body), decoded: true };
    if (encoding === 'br') return { body: brotliDecompressSync(body), decoded: true };
  } catch {
    // Not really encoded as declared: rewrite the bytes as they are.
  }
  return { body, decoded: false };
}

interface Message {
  headers: Header[];
  body: Buffer;
}

/** Applies one regex rewrite to a header list: each header as `Name: value`; an empty result removes it. */
function rewriteHeaders(headers: readonly Header[], re: RegExp, replace: string): Header[] {
  const out: Header[] = [];
  for (const [name, value] of headers) {
    const line = `${name}: ${value}`.replace(re, replace);
    const colon = line.indexOf(':');
    const newName = (colon < 0 ? line : line.slice(0, colon)).trim();
    if (newName === '' || /[\r\n]/.test(line)) continue;
    out.push([newName, colon < 0 ? '' : line.slice(colon + 1).trimStart()]);
  }
  return out;
}

/** A body rewrite: UTF-8 text after content decoding; a decoded body is sent decoded. */
function rewriteBody(message: Message, re: RegExp, replace: string): void {
  const { body, decoded } = decodedBody(message.headers, message.body);
  const text = body.toString('utf8');
  const next = text.replace(re, replace);
  if (next === text && !decoded) return;
  message.body = Buffer.from(next, 'utf8');
  if (decoded) message.headers = without(message.headers, 'content-encoding');
}

/** Applies a rewrite rule to a draft in place. `url` rewrites apply to requests only. */
export function applyRewrite(draft: RequestDraft | ResponseDraft, target: RewriteTarget, find: string, replace: string): void {
  const re = new RegExp(find, 'g');
  switch (target) {
    case 'url':
      if ('url' in draft) {
        const next = draft.url.replace(re, replace);
        // A rewrite that breaks the URL is not applied: the request still goes where it was going.
        if (typeof httpUrl(next) !== 'string') draft.url = next;
      }
      return;
    case 'request-header':
    case 'response-header':
      draft.headers = rewriteHeaders(draft.headers, re, replace);
      return;
    case 'request-body':
    case 'response-body':
      rewriteBody(draft, re, replace);
      return;
  }
}

export function applyRequestEdits(draft: RequestDraft, edits: RequestEdits): void {
  if (edits.method !== undefined) draft.method = edits.method;
  if (edits.url !== undefined) draft.url = edits.url;
  if (edits.headers !== undefined) draft.headers = edits.headers;
  if (edits.body !== undefined) draft.body = edits.body;
}

export function applyResponseEdits(draft: ResponseDraft, edits: ResponseEdits): void {
  if (edits.status !== undefined && edits.status !== draft.status) {
    draft.status = edits.status;
    // The reason phrase of the old status would now lie; Node fills in the standard one.
    draft.statusText = '';
  }
  if (edits.headers !== undefined) draft.headers = edits.headers;
  if (edits.body !== undefined) draft.body = edits.body;
}

/** Headers as Node's outgoing-request object (lower-case names, repeats as arrays), without `skip`. */
export function headerObject(headers: readonly Header[], skip: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (skip.includes(lower)) continue;
    const prev = out[lower];
    out[lower] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

/** Node's `rawHeaders`-style flat list, which `writeHead` accepts with case and order kept. */
export function flatHeaders(headers: readonly Header[]): string[] {
  const out: string[] = [];
  for (const [n, v] of headers) out.push(n, v);
  return out;
}
