/**
 * Starts and stops the dashboard: one HTTP server for the express app and the websocket
 * upgrade of the live feed, both behind the same Host, Origin and token checks.
 */
import type { RedactOptions } from '../har/redact.js';
import type { HarRecordingStatus } from '../har/recorder.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import type { FlowStore } from '../capture/store.js';
import { ConfigError, type ErrorCode } from '../errors.js';
import { endWithErrorResponse } from '../proxy/error-response.js';
import { harCreator } from '../har/mapping.js';
import { createApp, type CaFiles } from './app.js';
import { AccessPolicy, requestUrl, urlHostFor } from './auth.js';
import { LiveFeed, type LiveOptions } from './live.js';
import type { RulesApiContext } from '../rules/api.js';

const debug = debuglog('mitmscope:dashboard');

export const LIVE_PATH = '/api/live';

export interface DashboardOptions {
  store: FlowStore;
  /** Bind address, default 127.0.0.1. */
  host: string;
  /** 0 in tests. */
  port: number;
  token: string;
  /** Extra allowed Host names (--ui-host), `NAME` or `NAME:PORT`. */
  uiHosts: string[];
  /** Paths; served without token at /ca.pem, /ca.cer, /ca.p12. */
  caFiles: CaFiles;
  /** Folder of the built static UI; when it has no index.html, GET / says the UI is not built. */
  uiDir: string;
  /** Shown by GET /api/status. */
  recording?: { path: string } | null;
  /** The recorder's health for GET /api/status. */
  harStatus?: (() => HarRecordingStatus) | null;
  /** Redaction for HAR exports (--redact). */
  redact?: RedactOptions | null;
  /** The proxy's passthrough hosts: listed and clearable through the API. */
  passthrough?: Set<string> | null;
  /** Serves /proxy.pac without a token when set. */
  pac?: { script: () => string; contentType: string } | null;
  /** Rules, breakpoints and resend routes; absent leaves them out. */
  rules?: RulesApiContext | null;
  /** Live-feed tuning (tests shorten the heartbeat and limits). */
  live?: Partial<LiveOptions>;
}

export interface Dashboard {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Refuses an upgrade with a plain HTTP response, as `ws` does for its own refusals. */
function refuseUpgrade(socket: Duplex, code: ErrorCode, message: string): void {
  socket.once('finish', () => socket.destroy());
  endWithErrorResponse(socket, { code, message });
}

function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new ConfigError(`the dashboard cannot listen on ${host}:${port}: ${err.code ?? err.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const server = http.createServer();
  const address = await listen(server, options.port, options.host);
  // The policy needs the real port (cookie name, same-origin checks), known only after listen.
  let policy: AccessPolicy;
  try {
    policy = new AccessPolicy({ token: options.token, host: options.host, uiHosts: options.uiHosts, port: address.port });
  } catch (err) {
    server.close();
    throw err;
  }
  const live = new LiveFeed(options.store, options.live ?? {});
  const app = createApp({
    store: options.store,
    policy,
    caFiles: options.caFiles,
    uiDir: options.uiDir,
    version: harCreator().version,
    recording: options.recording ?? null,
    harStatus: options.harStatus ?? null,
    redact: options.redact ?? null,
    pac: options.pac ?? null,
    passthrough: options.passthrough ?? null,
    rules: options.rules ?? null,
  });
  server.on('request', app);
  server.on('clientError', (err, socket) => {
    debug('client error: %s', err.message);
    socket.destroy();
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => debug('upgrade socket error: %s', err.message));
    const url = requestUrl(req);
    if (!policy.allowsRequest(req)) return refuseUpgrade(socket, 'MITM_ERR_AUTH_HOST', 'forbidden: unknown Host');
    // Browsers send Origin on every websocket handshake; a foreign one is cross-site websocket hijacking.
    const origin = req.headers.origin;
    if (origin !== undefined && !policy.allowsOrigin(origin, req.headers.host)) return refuseUpgrade(socket, 'MITM_ERR_AUTH_ORIGIN', 'forbidden: cross-origin websocket');
    if (url.pathname !== LIVE_PATH) return refuseUpgrade(socket, 'MITM_ERR_NOT_FOUND', 'no websocket here');
    if (policy.credential(req, url) === null) return refuseUpgrade(socket, 'MITM_ERR_AUTH_TOKEN', 'unauthorized');
    live.handleUpgrade(req, socket, head);
  });

  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHostFor(options.host)}:${address.port}`,
    port: address.port,
    close() {
      closing ??= (async () => {
        await live.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}
