/**
 * The API of rules, breakpoints and resend, mounted under /api behind the same token, Host and
 * Origin checks as the rest. Malformed input answers 400 with the field and the reason.
 */
import express, { type Response, type Router } from 'express';
import type { FlowStore } from '../capture/store.js';
import { FieldError, isMitmError, MitmError, statusFor } from '../errors.js';
import { ERROR_HEADER } from '../proxy/error-response.js';
import type { Breakpoints } from './breakpoints.js';
import { parseRequestEdits, parseResponseEdits } from './edits.js';
import { replay, type ReplayOptions } from './replay.js';
import type { RuleSet } from './rule-set.js';
import { validateRule } from './validate.js';

/** Rules and edits are small JSON; a body or a response of a few MiB is the most anyone edits by hand. */
const JSON_LIMIT = '16mb';

export interface RulesApiContext {
  store: FlowStore;
  rules: RuleSet;
  breakpoints: Breakpoints;
  /** How resends reach upstream servers; null when there is no proxy (dashboard-only tests). */
  replay: Omit<ReplayOptions, 'store'> | null;
}

/** The dashboard's JSON error shape; a FieldError adds where the input is wrong. */
function answer(res: Response, err: MitmError): void {
  const extra = err instanceof FieldError ? { index: err.index, field: err.field, reason: err.reason } : {};
  res.status(statusFor(err.code)).setHeader(ERROR_HEADER, err.code).json({ error: err.message, code: err.code, ...extra });
}

function fail(res: Response, err: unknown): void {
  if (!isMitmError(err)) throw err;
  answer(res, err);
}

function notFound(res: Response, what: string): void {
  answer(res, new MitmError('MITM_ERR_NOT_FOUND', `no ${what}`));
}

export function createRulesRouter(ctx: RulesApiContext): Router {
  const api = express.Router();
  const json = express.json({ limit: JSON_LIMIT, strict: false });

  api.get('/rules', (_req, res) => {
    res.json(ctx.rules.list());
  });

  api.post('/rules', json, async (req, res) => {
    try {
      res.status(201).json(await ctx.rules.add(validateRule(req.body, null)));
    } catch (err) {
      fail(res, err);
    }
  });

  api.put('/rules/:id', json, async (req, res) => {
    const id = req.params['id'] as string;
    try {
      const body: unknown = req.body;
      const rule = validateRule(typeof body === 'object' && body !== null && !Array.isArray(body) ? { ...body, id } : body, null);
      if (!(await ctx.rules.update(id, rule))) return notFound(res, `rule with id ${JSON.stringify(id)}`);
      res.json(rule);
    } catch (err) {
      fail(res, err);
    }
  });

  api.delete('/rules/:id', async (req, res) => {
    const id = req.params['id'] as string;
    try {
      if (!(await ctx.rules.remove(id))) return notFound(res, `rule with id ${JSON.stringify(id)}`);
      res.json({ removed: id });
    } catch (err) {
      fail(res, err);
    }
  });

  api.post('/flows/:id/resume', json, (req, res) => {
    const id = req.params['id'] as string;
    const phase = ctx.breakpoints.phaseOf(id);
    if (phase === null) return notPaused(res, id);
    try {
      const edits = phase === 'request' ? parseRequestEdits(req.body) : parseResponseEdits(req.body);
      ctx.breakpoints.resume(id, edits);
      res.json({ resumed: id, at: phase });
    } catch (err) {
      fail(res, err);
    }
  });

  api.post('/flows/:id/abort', (req, res) => {
    const id = req.params['id'] as string;
    const phase = ctx.breakpoints.phaseOf(id);
    if (phase === null || !ctx.breakpoints.abort(id)) return notPaused(res, id);
    res.json({ aborted: id, at: phase });
  });

  api.post('/flows/:id/replay', json, async (req, res) => {
    const source = ctx.store.get(req.params['id'] as string);
    if (!source) return notFound(res, `flow with id ${JSON.stringify(req.params['id'])}`);
    if (!ctx.replay) return answer(res, new MitmError('MITM_ERR_CANNOT_REPLAY', 'resending needs the proxy, which is not running'));
    try {
      const flow = await replay(source, parseRequestEdits(req.body), { store: ctx.store, ...ctx.replay });
      res.json({ id: flow.id });
    } catch (err) {
      fail(res, err);
    }
  });

  function notPaused(res: Response, id: string): void {
    if (!ctx.store.get(id)) return notFound(res, `flow with id ${JSON.stringify(id)}`);
    answer(res, new MitmError('MITM_ERR_NOT_PAUSED', 'the flow is not paused at a breakpoint'));
  }

  return api;
}
