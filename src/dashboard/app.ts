/**
 * The dashboard's express app: security headers on every response, then the Host allow-list,
 * the Origin check for state-changing requests, the public CA downloads, the token, the API and
 * the static UI, in that order.
 */
import { readFile } from 'node:fs/promises';
import { debuglog } from 'node:util';
import type { RedactOptions } from '../har/redact.js';
import type { HarRecordingStatus } from '../har/recorder.js';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { FlowStore } from '../capture/store.js';
import { statusFor, type ErrorCode } from '../errors.js';
import { sendErrorResponse } from '../proxy/error-response.js';
import type { RulesApiContext } from '../rules/api.js';
import { createApiRouter, sendError } from './api.js';
import { isStateChanging, locationWithoutToken, requestUrl, TOKEN_PARAM, type AccessPolicy } from './auth.js';

const debug = debuglog('mitmscope:dashboard');

/** No inline script or style anywhere: an injected string in the UI cannot become code. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': DASHBOARD_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export interface CaFiles {
  pem: string;
  cer: string;
  p12: string;
}

const CA_ROUTES: readonly { path: string; file: keyof CaFiles; type: string; name: string }[] = [
  { path: '/ca.pem', file: 'pem', type: 'application/x-pem-file', name: 'mitmscope-ca.pem' },
  { path: '/ca.cer', file: 'cer', type: 'application/pkix-cert', name: 'mitmscope-ca.cer' },
  { path: '/ca.p12', file: 'p12', type: 'application/x-pkcs12', name: 'mitmscope-ca.p12' },
];

export interface AppContext {
  store: FlowStore;
  policy: AccessPolicy;
  caFiles: CaFiles;
  uiDir: string;
  version: string;
  recording: { path: string } | null;
  harStatus: (() => HarRecordingStatus) | null;
  redact: RedactOptions | null;
  passthrough: Set<string> | null;
  /** The PAC script (no token: browsers fetch it before anything else); null = no /proxy.pac. */
  pac: { script: () => string; contentType: string } | null;
  rules?: RulesApiContext | null;
}

function isApi(req: Request): boolean {
  return req.path === '/api' || req.path.startsWith('/api/');
}

/** An error answer: JSON `{error, code}` under /api, the proxy's plain-text form for pages. */
function refuse(req: Request, res: Response, code: ErrorCode, message: string): void {
  if (isApi(req)) return sendError(res, code, message);
  sendErrorResponse(res, { code, message });
}

/** What an error thrown inside express (body parsing, a bug) is answered as. */
function codeForThrown(status: number): ErrorCode {
  if (status === statusFor('MITM_ERR_TOO_LARGE')) return 'MITM_ERR_TOO_LARGE';
  return status < 500 ? 'MITM_ERR_API_BAD_INPUT' : 'MITM_ERR_INTERNAL';
}

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mitmscope</title></head>
<body><h1>mitmscope</h1><p>The dashboard UI is not built yet (its folder has no index.html).
Build it and reload; the API is available under <code>/api</code> meanwhile.</p></body></html>
`;

export function createApp(ctx: AppContext): Express {
  const { policy } = ctx;
  const app = express();
  app.disable('x-powered-by');

  app.use((_req, res, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    next();
  });

  // DNS rebinding: a page on attacker.example re-pointed at 127.0.0.1 still sends its own name.
  app.use((req, res, next) => {
    if (policy.allowsRequest(req)) return next();
    refuse(req, res, 'MITM_ERR_AUTH_HOST', 'forbidden: unknown Host (the dashboard answers only to its own names)');
  });

  // CSRF: browsers always send Origin on cross-origin POST/PUT/PATCH/DELETE.
  app.use((req, res, next) => {
    const origin = req.headers.origin;
    if (origin === undefined || !isStateChanging(req.method) || policy.allowsOrigin(origin, req.headers.host)) return next();
    refuse(req, res, 'MITM_ERR_AUTH_ORIGIN', 'forbidden: cross-origin request');
  });

  // The CA certificate is public and needed before anything is trusted, so no token here.
  for (const route of CA_ROUTES) {
    app.get(route.path, async (req, res) => {
      let bytes: Buffer;
      try {
        bytes = await readFile(ctx.caFiles[route.file]);
      } catch (err) {
        debug('cannot read %s: %s', ctx.caFiles[route.file], (err as Error).message);
        refuse(req, res, 'MITM_ERR_NOT_FOUND', 'CA file not found');
        return;
      }
      res.setHeader('Content-Type', route.type);
      res.setHeader('Content-Disposition', `attachment; filename="${route.name}"`);
      res.end(bytes);
    });
  }

  if (ctx.pac) {
    const pac = ctx.pac;
    app.get('/proxy.pac', (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.type(pac.contentType).send(pac.script());
    });
  }

  app.use((req, res, next) => {
    const url = requestUrl(req);
    const via = policy.credential(req, url);
    if (via === null) return refuse(req, res, 'MITM_ERR_AUTH_TOKEN', 'unauthorized: open the dashboard URL with its token, or send Authorization: Bearer <token>');
    if (via !== 'query') return next();
    res.append('Set-Cookie', policy.cookieFor(url.searchParams.get(TOKEN_PARAM)!));
    // Pages move the token out of the address bar (history, screenshots); API callers get their
    // answer at once because fetch() does not carry cookies across a redirect.
    if ((req.method === 'GET' || req.method === 'HEAD') && !isApi(req)) {
      res.setHeader('Cache-Control', 'no-store');
      return res.redirect(303, locationWithoutToken(url));
    }
    next();
  });

  app.use('/api', createApiRouter({ store: ctx.store, version: ctx.version, recording: ctx.recording, harStatus: ctx.harStatus, redact: ctx.redact, passthrough: ctx.passthrough, rules: ctx.rules ?? null }));

  app.use(express.static(ctx.uiDir, { index: 'index.html', dotfiles: 'ignore', fallthrough: true }));

  app.get('/', (_req, res) => {
    res.status(200).type('html').send(NOT_BUILT_PAGE);
  });

  app.use((req, res) => refuse(req, res, 'MITM_ERR_NOT_FOUND', 'not found'));

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    if (status >= 500) debug('%s %s failed: %s', req.method, req.originalUrl, (err as Error)?.stack ?? String(err));
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const code = codeForThrown(status);
    const message = code === 'MITM_ERR_TOO_LARGE' ? 'request body too large' : code === 'MITM_ERR_API_BAD_INPUT' ? (err as Error).message ?? 'bad request' : 'internal error';
    refuse(req, res, code, message);
  });

  return app;
}
