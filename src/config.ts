/**
 * Options, their defaults and validation. `src/cli.ts` parses argv into this shape;
 * library code receives a validated `Config` and never reads argv or the environment.
 */
import { ConfigError } from './errors.js';

export type UpstreamTls = '1.2' | '1.3' | 'auto';

export interface Config {
  host: string;
  port: number;
  uiPort: number;
  ui: boolean;
  caDir: string;
  upstreamTls: UpstreamTls;
  upstreamCa: string[];
  insecure: boolean;
  har: string | null;
  harAppend: boolean;
  /** Redact credentials (and these extra headers) in HAR exports and recordings; null = off. */
  redact: { headers: string[] } | null;
  /** HAR files whose entries are loaded into the store at start. */
  load: string[];
  ignoreHosts: RegExp[];
  keylog: string | null;
  maxBody: number;
  /** Session folder the capture is stored in; null keeps it in memory (embedding, tests). */
  session: string | null;
  /** Disk budget of the session in bytes: past it the oldest finished flows are evicted. */
  storeSize: number;
  token: string | null;
  uiHosts: string[];
  autoPassthrough: boolean;
  /** Connect upstream while the client handshake runs (default), instead of at the first request. */
  eagerUpstream: boolean;
  /** Observe TLS handshakes from the bytes (default). Off only to measure what the tap costs. */
  observeTls: boolean;
  /** Offer h2 to clients by ALPN (and speak it upstream when the server chooses it). */
  http2: boolean;
  /** ms to wait for the upstream TCP+TLS connection. */
  connectTimeout: number;
  /** ms to wait for upstream response headers. */
  headersTimeout: number;
  /** ms of upstream body inactivity before giving up. */
  bodyTimeout: number;
  /** ms a client may take to send its request headers (slowloris guard). */
  clientHeadersTimeout: number;
  /** JSON rules file loaded at start (--rules); it replaces the rules saved in the session. */
  rules: string | null;
  /** ms a paused exchange waits for resume or abort before it is answered 504. */
  pauseTimeout: number;
  /** HAR file whose recorded answers serve matching requests (--serve-har). */
  serveHar: string | null;
  /** With serveHar: unmatched requests get a 404 instead of going upstream. */
  serveHarStrict: boolean;
}

export const DEFAULTS: Config = {
  host: '127.0.0.1',
  port: 8080,
  uiPort: 8081,
  ui: true,
  caDir: './ca',
  upstreamTls: '1.2',
  upstreamCa: [],
  insecure: false,
  har: null,
  harAppend: false,
  redact: null,
  load: [],
  ignoreHosts: [],
  keylog: null,
  // Bodies live on disk, so whole ones are kept up to a size no debugging session needs more of.
  maxBody: 64 * 1024 * 1024,
  session: null,
  storeSize: 2 * 1024 ** 3,
  token: null,
  uiHosts: [],
  autoPassthrough: false,
  observeTls: true,
  http2: true,
  eagerUpstream: true,
  connectTimeout: 10_000,
  headersTimeout: 60_000,
  bodyTimeout: 60_000,
  clientHeadersTimeout: 30_000,
  rules: null,
  pauseTimeout: 5 * 60_000,
  serveHar: null,
  serveHarStrict: false,
};

export function parsePort(name: string, value: string, allowZero = true): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`--${name} must be a port number, got "${value}"`);
  const n = Number(value);
  if (n > 65535 || (!allowZero && n === 0)) throw new ConfigError(`--${name} must be between ${allowZero ? 0 : 1} and 65535, got ${n}`);
  return n;
}

export function parseBytes(name: string, value: string): number {
  const m = /^(\d+)\s*([kmg]i?b?)?$/i.exec(value.trim());
  if (!m) throw new ConfigError(`--${name} must be a size in bytes (e.g. 1048576 or 1MiB), got "${value}"`);
  const unit = (m[2] ?? '').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

export function parseMs(name: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new ConfigError(`--${name} must be a positive number of milliseconds, got "${value}"`);
  return Number(value);
}

export function parseUpstreamTls(value: string): UpstreamTls {
  if (value === '1.2' || value === '1.3' || value === 'auto') return value;
  throw new ConfigError(`--upstream-tls must be 1.2, 1.3 or auto, got "${value}"`);
}

export function parseRegex(name: string, value: string): RegExp {
  try {
    return new RegExp(value, 'i');
  } catch (err) {
    throw new ConfigError(`--${name} "${value}" is not a valid regular expression: ${(err as Error).message}`);
  }
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/** Cross-option checks; returns warnings the CLI prints. */
export function validateConfig(config: Config): string[] {
  const warnings: string[] = [];
  if (!isLoopbackHost(config.host)) {
    if (!config.token) {
      throw new ConfigError(`--host ${config.host} exposes the proxy and dashboard beyond this machine; set --token (or MITMSCOPE_TOKEN) to allow it`);
    }
    warnings.push(`listening on ${config.host}: anyone who can reach it can use the proxy; the dashboard needs the token`);
  }
  if (config.ui && config.port !== 0 && config.port === config.uiPort) {
    throw new ConfigError(`--port and --ui-port must differ (both ${config.port})`);
  }
  if (config.maxBody < 0) throw new ConfigError('--max-body must not be negative');
  return warnings;
}

/** True when `host` matches one of the ignore patterns (tunnel untouched). */
export function isIgnored(config: Pick<Config, 'ignoreHosts'>, host: string, port: number): boolean {
  const target = `${host}:${port}`;
  return config.ignoreHosts.some((re) => re.test(host) || re.test(target));
}
