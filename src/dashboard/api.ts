/**
 * The REST routes under /api (contract in docs/ARCHITECTURE.md). Authentication, Host and Origin checks
 * happen before this router; handlers only read and change the store.
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { flowToJson, type Flow } from '../capture/flow.js';
import { storeFilter, type CaptureStatus, type FlowStore, type StoreFilter } from '../capture/store.js';
import { filterSql } from '../capture/session/filter-sql.js';
import { isMitmError, statusFor, type ErrorCode } from '../errors.js';
import { ERROR_HEADER } from '../proxy/error-response.js';
import { harToFlows } from '../har/import.js';
import { exportHar } from '../har/export.js';
import { isDeepKey, parseFilter, type ParsedFilter } from '../filter/parse.js';
import { searchFlows } from '../capture/search.js';
import { compileFilter } from '../filter/match.js';
import type { RedactOptions } from '../har/redact.js';
import type { HarRecordingStatus } from '../har/recorder.js';
import { sendBody } from './bodies.js';
import { createRulesRouter, type RulesApiContext } from '../rules/api.js';
import { isSortColumn, SORT_COLUMNS, type SortColumn } from '../capture/session/window-sql.js';

/** HAR files from browsers embed bodies as base64 and reach tens of MiB; 200 MiB leaves room without inviting abuse. */
export const HAR_IMPORT_LIMIT_BYTES = 200 * 1024 * 1024;
const NON_NEGATIVE_INT = /^\d{1,15}$/;
/** GET /api/flows without a limit: the newest this many (a page the browser parses in a blink). */
export const DEFAULT_PAGE_FLOWS = 1000;
/** Largest page one request may ask for. */
export const MAX_PAGE_FLOWS = 50_000;

export interface ApiContext {
  store: FlowStore;
  version: string;
  /** Redaction for exports (--redact); null exports everything as captured. */
  redact: RedactOptions | null;
  recording: { path: string } | null;
  /** The recorder's health (entries, flows it could not map, why); null when not recording. */
  harStatus: (() => HarRecordingStatus) | null;
  /** Hosts tunnelled untouched because a client rejected our certificate (--auto-passthrough). */
  passthrough: Set<string> | null;
  /** Rules, breakpoints and resend; null leaves those routes out. */
  rules?: RulesApiContext | null;
}

export interface StatusJson {
  version: string;
  flows: number;
  storeBytes: number;
  storeMaxBytes: number;
  /** The session folder (null for a memory-only store). */
  session: string | null;
  capture: CaptureStatus;
  /** Flows and body bytes not yet written to the session. */
  unsaved: { flows: number; bytes: number };
  recording: { path: string } | null;
  har: HarRecordingStatus | null;
  passthrough: string[];
}

/** Every API error answer: `{error, code}` with the status statusFor(code) gives, and the code in a header as on the proxy. */
export function sendError(res: Response, code: ErrorCode, message: string): void {
  res.setHeader(ERROR_HEADER, code);
  res.status(statusFor(code)).json({ error: message, code });
}

function flowOr404(store: FlowStore, req: Request, res: Response): Flow | null {
  const id = req.params['id'];
  const flow = typeof id === 'string' ? store.get(id) : undefined;
  if (flow) return flow;
  sendError(res, 'MITM_ERR_NOT_FOUND', `no flow with id ${JSON.stringify(id)}`);
  return null;
}

/** A non-negative integer query parameter; `undefined` when absent, null when malformed. */
function intParam(req: Request, name: string): number | null | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' && NON_NEGATIVE_INT.test(value) ? Number(value) : null;
}

function flag(req: Request, name: string): boolean {
  const value = req.query[name];
  return value === '1' || value === 'true';
}

/**
 * A declared Content-Length over the limit is refused before any byte is read: body-parser would
 * first read the whole body to keep the connection reusable. `Connection: close` ends it instead.
 */
function refuseDeclaredOversize(limit: number): RequestHandler {
  return (req, res, next) => {
    const declared = Number(req.headers['content-length']);
    if (!Number.isFinite(declared) || declared <= limit) return next();
    res.setHeader('Connection', 'close');
    sendError(res, 'MITM_ERR_TOO_LARGE', `request body too large (limit ${limit} bytes)`);
  };
}

/** The flows a search found, of those the rest of the filter accepts: as a predicate and as SQL. */
function foundFilter(parsed: ParsedFilter, ids: readonly string[]): StoreFilter {
  const found = new Set(ids);
  const rest = compileFilter(parsed);
  const summary = filterSql(parsed);
  const sql = `id IN (SELECT value FROM json_each(?))${summary ? ` AND (${summary.sql})` : ''}`;
  return { test: (f) => found.has(f.id) && rest.test(f), where: { sql, params: [JSON.stringify(ids), ...(summary?.params ?? [])] } };
}

export function createApiRouter(ctx: ApiContext): Router {
  const { store } = ctx;
  const api = express.Router();
  // Captured traffic holds cookies and credentials: keep it out of the browser's disk cache.
  api.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  /**
   * A window of the list, oldest first: the newest `limit` (default 1,000), or the `limit` before
   * (`before=ID`) or after (`after=ID`) a flow, of those `filter` matches. `X-Total-Count` is the
   * number of flows, `X-Matched-Count` those the filter matches, `X-More` whether the window could
   * go on. `sort=COLUMN&order=asc|desc` orders the list by a column (ties in arrival order) and
   * `offset=N` starts the window at a position in it (a jump in a long list); both read what the
   * session has written. Body and header terms search the session first (as `/api/search`, within
   * its bounds) and combine with all of these. `since=N` (an index in arrival order) is kept for older clients.
   */
  api.get('/flows', async (req, res) => {
    const limit = intParam(req, 'limit');
    const since = intParam(req, 'since');
    if (limit === null || since === null) return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'since and limit must be non-negative integers');
    const before = req.query['before'];
    const after = req.query['after'];
    const text = req.query['filter'];
    if ((before !== undefined && typeof before !== 'string') || (after !== undefined && typeof after !== 'string') || (text !== undefined && typeof text !== 'string'))
      return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'before, after and filter must each be given once');
    if (before !== undefined && after !== undefined) return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'give before or after, not both');
    const parsed = text ? parseFilter(text) : null;
    if (parsed && parsed.errors.length > 0) return sendError(res, 'MITM_ERR_API_BAD_INPUT', `filter: ${parsed.errors.join('; ')}`);
    const deep = parsed?.terms.some((t) => isDeepKey(t.key)) ?? false;
    // Body and header terms need the flows' bodies: the session is searched first (bounded, as
    // /api/search), then the window is cut from the flows it found — in SQL, so it sorts, jumps
    // and counts like any filtered window (on the reader thread for a session on disk).
    let filter = parsed ? storeFilter(parsed) : null;
    if (deep && parsed) filter = foundFilter(parsed, (await searchFlows(store, parsed)).ids);
    const size = Math.min(MAX_PAGE_FLOWS, limit ?? DEFAULT_PAGE_FLOWS);
    for (const anchor of [before, after]) {
      if (anchor !== undefined && !store.get(anchor)) return sendError(res, 'MITM_ERR_NOT_FOUND', `no flow with id ${JSON.stringify(anchor)}`);
    }
    const offset = intParam(req, 'offset');
    const sort = req.query['sort'];
    const order = req.query['order'] ?? 'asc';
    if (offset === null) return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'offset must be a non-negative integer');
    if (sort !== undefined && (typeof sort !== 'string' || !isSortColumn(sort)))
      return sendError(res, 'MITM_ERR_API_BAD_INPUT', `sort must be one of ${SORT_COLUMNS.join(', ')}`);
    if (order !== 'asc' && order !== 'desc') return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'order must be asc or desc');
    const count = filter !== null && flag(req, 'count');
    const window = { before: before ?? null, after: after ?? null, limit: size, count };
    const page =
      since !== undefined
        ? store.range(since, limit ?? Number.MAX_SAFE_INTEGER)
        : sort !== undefined || offset !== undefined || order === 'desc'
          ? await store.sortedPage({ ...window, filter, sort: (sort as SortColumn | undefined) ?? null, order, offset: offset ?? null })
          : await store.query({ ...window, filter });
    res.setHeader('X-Total-Count', String(page.total));
    if (page.matched !== null) res.setHeader('X-Matched-Count', String(page.matched));
    res.setHeader('X-More', page.more ? '1' : '0');
    res.json(page.flows);
  });

  /**
   * Flows a filter with body and header terms matches: `{ ids, matched, scanned, complete,
   * elapsedMs }`, scanning at most `maxScan` flows (src/capture/search.ts).
   */
  api.get('/search', async (req, res) => {
    const text = req.query['filter'];
    const maxScan = intParam(req, 'maxScan');
    if (typeof text !== 'string' || text.trim() === '') return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'filter must be given once, not empty');
    if (maxScan === null) return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'maxScan must be a non-negative integer');
    const parsed = parseFilter(text);
    if (parsed.errors.length > 0) return sendError(res, 'MITM_ERR_API_BAD_INPUT', `filter: ${parsed.errors.join('; ')}`);
    res.json(await searchFlows(store, parsed, maxScan === undefined ? {} : { maxScan }));
  });

  api.delete('/flows', (_req, res) => {
    const cleared = store.size;
    store.clear();
    res.json({ cleared });
  });

  api.get('/flows/:id', (req, res) => {
    const flow = flowOr404(store, req, res);
    if (flow) res.json(flowToJson(flow));
  });

  api.get('/flows/:id/keylog', (req, res) => {
    const flow = flowOr404(store, req, res);
    if (!flow) return;
    // NSS key log format: Wireshark's tls.keylog_file decrypts a capture of either leg with it.
    const lines = store.keylog(flow);
    if (lines.length === 0) return sendError(res, 'MITM_ERR_NOT_FOUND', "no key log lines were kept for this flow's connections");
    res.set('Content-Type', 'text/plain; charset=utf-8');
    res.set('Content-Disposition', `attachment; filename="mitmscope-${flow.id}.keys"`);
    res.set('Cache-Control', 'no-store');
    res.send(`${lines.join('\n')}\n`);
  });

  api.get('/flows/:id/request/body', async (req, res) => {
    const flow = flowOr404(store, req, res);
    if (!flow) return;
    await sendBody(res, store, flow, 'request', { decode: flag(req, 'decode'), inline: flag(req, 'inline') });
  });

  api.get('/flows/:id/response/body', async (req, res) => {
    const flow = flowOr404(store, req, res);
    if (!flow) return;
    if (!flow.response) return sendError(res, 'MITM_ERR_NOT_FOUND', 'the flow has no response');
    await sendBody(res, store, flow, 'response', { decode: flag(req, 'decode'), inline: flag(req, 'inline') });
  });

  api.get('/status', (_req, res) => {
    const status: StatusJson = {
      version: ctx.version,
      flows: store.size,
      storeBytes: store.bytes,
      storeMaxBytes: store.maxBytes,
      session: store.dir,
      capture: store.status,
      unsaved: store.unsaved,
      recording: ctx.recording,
      har: ctx.harStatus?.() ?? null,
      passthrough: ctx.passthrough ? [...ctx.passthrough].sort() : [],
    };
    res.json(status);
  });

  api.get('/passthrough', (_req, res) => {
    res.json({ hosts: ctx.passthrough ? [...ctx.passthrough].sort() : [] });
  });

  // Clearing lets mitmscope intercept those hosts again (after the CA was installed, say).
  api.delete('/passthrough', (_req, res) => {
    const cleared = ctx.passthrough?.size ?? 0;
    ctx.passthrough?.clear();
    res.json({ cleared });
  });

  api.delete('/passthrough/:host', (req, res) => {
    const removed = ctx.passthrough?.delete(req.params.host) ?? false;
    if (!removed) return sendError(res, 'MITM_ERR_NOT_FOUND', `${req.params.host} is not passed through`);
    res.json({ removed: req.params.host });
  });

  api.get('/har', async (_req, res) => {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Disposition', `attachment; filename="mitmscope-${new Date().toISOString().replace(/[:.]/g, '-')}.har"`);
    await exportHar(store, res, { creatorVersion: ctx.version, redact: ctx.redact });
    res.end();
  });

  // Raw bytes, not express.json: the importer reports syntax errors with line and column.
  api.post('/har', refuseDeclaredOversize(HAR_IMPORT_LIMIT_BYTES), express.raw({ type: () => true, limit: HAR_IMPORT_LIMIT_BYTES }), (req, res) => {
    const body: unknown = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) return sendError(res, 'MITM_ERR_HAR_INVALID', 'the request body must be a HAR file');
    let flows: Flow[];
    try {
      flows = harToFlows(body);
    } catch (err) {
      if (isMitmError(err)) return sendError(res, err.code, err.message);
      throw err;
    }
    for (const flow of flows) store.add(flow);
    res.json({ imported: flows.length });
  });

  if (ctx.rules) api.use(createRulesRouter(ctx.rules));

  api.use((req, res) => sendError(res, 'MITM_ERR_NOT_FOUND', `no API route ${req.method} ${req.baseUrl}${req.path}`));
  return api;
}
