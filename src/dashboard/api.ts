/**
 * The REST routes under /api (contract in docs/ARCHITECTURE.md). Authentication, Host and Origin checks
 * happen before this router; handlers only read and change the store.
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { flowToJson, summarize, type Flow } from '../capture/flow.js';
import type { FlowStore } from '../capture/store.js';
import { isMitmError, statusFor, type ErrorCode } from '../errors.js';
import { ERROR_HEADER } from '../proxy/error-response.js';
import { flowsToHar, harToFlows } from '../har/mapping.js';
import type { RedactOptions } from '../har/redact.js';
import type { HarRecordingStatus } from '../har/recorder.js';
import { sendBody } from './bodies.js';

/** HAR files from browsers embed bodies as base64 and reach tens of MiB; 200 MiB leaves room without inviting abuse. */
export const HAR_IMPORT_LIMIT_BYTES = 200 * 1024 * 1024;
const NON_NEGATIVE_INT = /^\d{1,15}$/;

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
}

export interface StatusJson {
  version: string;
  flows: number;
  storeBytes: number;
  storeMaxBytes: number;
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

export function createApiRouter(ctx: ApiContext): Router {
  const { store } = ctx;
  const api = express.Router();
  // Captured traffic holds cookies and credentials: keep it out of the browser's disk cache.
  api.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  // `since` is an index in arrival order (what a client already has); `limit` caps the answer.
  api.get('/flows', (req, res) => {
    const since = intParam(req, 'since');
    const limit = intParam(req, 'limit');
    if (since === null || limit === null) return sendError(res, 'MITM_ERR_API_BAD_INPUT', 'since and limit must be non-negative integers');
    const all = store.list();
    const start = since ?? 0;
    const end = limit === undefined ? all.length : Math.min(all.length, start + limit);
    res.json(all.slice(start, end).map(summarize));
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

  api.get('/flows/:id/request/body', async (req, res) => {
    const flow = flowOr404(store, req, res);
    if (!flow) return;
    await sendBody(res, flow.request, flow.request.url, 'request', { decode: flag(req, 'decode'), inline: flag(req, 'inline') });
  });

  api.get('/flows/:id/response/body', async (req, res) => {
    const flow = flowOr404(store, req, res);
    if (!flow) return;
    if (!flow.response) return sendError(res, 'MITM_ERR_NOT_FOUND', 'the flow has no response');
    await sendBody(res, flow.response, flow.request.url, 'response', { decode: flag(req, 'decode'), inline: flag(req, 'inline') });
  });

  api.get('/status', (_req, res) => {
    const status: StatusJson = {
      version: ctx.version,
      flows: store.size,
      storeBytes: store.bytes,
      storeMaxBytes: store.maxBytes,
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

  api.get('/har', (_req, res) => {
    const har = flowsToHar(store.list(), { creatorVersion: ctx.version, redact: ctx.redact });
    res.setHeader('Content-Disposition', `attachment; filename="mitmscope-${new Date().toISOString().replace(/[:.]/g, '-')}.har"`);
    res.json(har);
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

  api.use((req, res) => sendError(res, 'MITM_ERR_NOT_FOUND', `no API route ${req.method} ${req.baseUrl}${req.path}`));
  return api;
}
