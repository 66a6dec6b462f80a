/**
 * Who may talk to the dashboard: the Host allow-list (DNS rebinding), the Origin check
 * (cross-site requests and websocket hijacking) and the token (bearer, query or cookie).
 * Pure functions over request headers so the express app and the websocket upgrade share them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/** Query parameter that carries the token on the first visit (the URL the CLI prints). */
export const TOKEN_PARAM = 'token';
const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** `name`, `name:port`, `[v6]`, `[v6]:port` as in RFC 9110 §7.2; anything else is refused. */
const HOST_SYNTAX = /^(\[[0-9a-f:.]+\]|[^:[\]/\s@]+)(?::(\d{1,5}))?$/i;
const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443 };
/** Names every browser resolves to this machine without asking DNS (RFC 6761 §6.3). */
const LOOPBACK_NAMES = new Set(['localhost', '[::1]']);
/** Wildcard bind addresses: the dashboard URL names `localhost` instead. */
const UNSPECIFIED = new Set(['0.0.0.0', '::', '[::]']);

export interface HostPort {
  /** Lower case, IPv6 literals in brackets, no trailing dot. */
  name: string;
  port: number | null;
}

/** Parses a Host header value (or a `--ui-host` entry); null when it is not a host. */
export function parseHost(value: string): HostPort | null {
  const m = HOST_SYNTAX.exec(value.trim());
  if (!m) return null;
  let name = m[1]!.toLowerCase();
  // A fully qualified `localhost.` is the same name; strip one dot so it compares equal.
  if (name.endsWith('.') && name.length > 1) name = name.slice(0, -1);
  if (name.startsWith('[') && isIP(name.slice(1, -1)) !== 6) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && port > 65535) return null;
  return { name, port };
}

/** An address as it appears in a Host header: IPv6 literals get brackets. */
export function hostName(address: string): string {
  const lower = address.toLowerCase();
  return isIP(lower) === 6 ? `[${lower}]` : lower;
}

/** The host to put in the dashboard URL for a bind address. */
export function urlHostFor(address: string): string {
  return UNSPECIFIED.has(address) ? 'localhost' : hostName(address);
}

/** 127.0.0.0/8 as a literal only: `127.evil.example` is a name an attacker controls. */
function isLoopbackIPv4(name: string): boolean {
  return isIP(name) === 4 && name.startsWith('127.');
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export type Credential = 'bearer' | 'query' | 'cookie';

export interface AccessPolicyInit {
  token: string;
  /** The bind address. */
  host: string;
  uiHosts: readonly string[];
  /** The port the dashboard listens on. */
  port: number;
}

export class AccessPolicy {
  readonly port: number;
  /** One cookie per port: cookies ignore ports, and two dashboards on one host must not clobber each other. */
  readonly cookieName: string;
  private readonly tokenDigest: Buffer;
  private readonly names = new Set<string>(LOOPBACK_NAMES);
  /** `--ui-host name:port` entries: the name is allowed only with that port. */
  private readonly namesWithPort = new Set<string>();

  constructor(init: AccessPolicyInit) {
    if (init.token === '') throw new ConfigError('the dashboard token must not be empty');
    this.port = init.port;
    this.cookieName = `mitmscope_token_${init.port}`;
    // Hashing first gives timingSafeEqual equal lengths and hides the token's length.
    this.tokenDigest = sha256(init.token);
    this.names.add(hostName(init.host));
    for (const entry of init.uiHosts) {
      const parsed = parseHost(entry);
      if (!parsed) throw new ConfigError(`--ui-host "${entry}" is not a host name (expected NAME or NAME:PORT)`);
      if (parsed.port === null) this.names.add(parsed.name);
      else this.namesWithPort.add(`${parsed.name}:${parsed.port}`);
    }
  }

  /**
   * True when a request addressed to this Host may be answered. The port is not checked for
   * loopback names (port forwards change it); DNS rebinding is defeated by the name alone.
   */
  allowsHost(host: HostPort): boolean {
    const { name, port } = host;
    if (this.names.has(name) || isLoopbackIPv4(name) || name.endsWith('.localhost')) return true;
    if (port !== null) return this.namesWithPort.has(`${name}:${port}`);
    // A Host without a port means the scheme's default one.
    return this.namesWithPort.has(`${name}:80`) || this.namesWithPort.has(`${name}:443`);
  }

  allowsHostHeader(value: string | undefined): boolean {
    if (value === undefined) return false;
    const host = parseHost(value);
    return host !== null && this.allowsHost(host);
  }

  /**
   * Host check for a request: the Host header, and for an absolute-form target (RFC 9112 §3.2.2,
   * where the target's authority overrides Host) that authority too.
   */
  allowsRequest(req: IncomingMessage): boolean {
    if (!this.allowsHostHeader(req.headers.host)) return false;
    const target = req.url ?? '/';
    if (target.startsWith('/')) return true;
    try {
      const url = new URL(target);
      return this.allowsHostHeader(url.host);
    } catch {
      return false;
    }
  }

  /**
   * True when `origin` is the dashboard itself: an allowed name on our port, or exactly the
   * authority the request was sent to (a reverse proxy in front). `null` origins (sandboxed
   * frames, file: pages) are foreign.
   */
  allowsOrigin(origin: string, hostHeader: string | undefined): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    const defaultPort = DEFAULT_PORTS[url.protocol];
    if (defaultPort === undefined || url.username !== '' || url.password !== '') return false;
    const originHost: HostPort = { name: url.hostname.toLowerCase(), port: url.port === '' ? defaultPort : Number(url.port) };
    if (this.allowsHost(originHost) && originHost.port === this.port) return true;
    const requested = hostHeader === undefined ? null : parseHost(hostHeader);
    if (!requested || !this.allowsHost(requested)) return false;
    return requested.name === originHost.name && (requested.port ?? defaultPort) === originHost.port;
  }

  tokenMatches(candidate: string): boolean {
    return timingSafeEqual(sha256(candidate), this.tokenDigest);
  }

  /** Which valid credential the request carries, or null. A wrong credential never wins over a right one. */
  credential(req: IncomingMessage, url: URL): Credential | null {
    const auth = req.headers.authorization;
    const bearer = auth === undefined ? null : BEARER.exec(auth)?.[1] ?? null;
    if (bearer !== null && this.tokenMatches(bearer)) return 'bearer';
    const query = url.searchParams.get(TOKEN_PARAM);
    if (query !== null && this.tokenMatches(query)) return 'query';
    const cookie = readCookie(req.headers.cookie, this.cookieName);
    if (cookie !== null && this.tokenMatches(cookie)) return 'cookie';
    return null;
  }

  /** Set-Cookie value that remembers the token for this browser. */
  cookieFor(token: string): string {
    return `${this.cookieName}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
  }
}

/** The value of cookie `name`, or null; values are percent-decoded as `cookieFor` encodes them. */
export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return null;
    }
  }
  return null;
}

/** The request target as a URL; the base is only there to make relative targets parse. */
export function requestUrl(req: IncomingMessage): URL {
  // `//evil.example/x` would parse as a network-path reference; read it as a path.
  const target = (req.url ?? '/').replace(/^\/+/, '/');
  try {
    return new URL(target, 'http://dashboard.invalid');
  } catch {
    return new URL('http://dashboard.invalid/');
  }
}

/** Where to send the browser once the token moved into a cookie: same path and query, no token. */
export function locationWithoutToken(url: URL): string {
  const params = new URLSearchParams(url.search);
  params.delete(TOKEN_PARAM);
  const query = params.toString();
  // Collapse leading slashes so the Location cannot become `//other.host` (an open redirect).
  const path = url.pathname.replace(/^\/+/, '/');
  return query === '' ? path : `${path}?${query}`;
}

export function isStateChanging(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}
