/**
 * Where an absolute http(s) URL sends a request: the upstream target (scheme, bare host, port,
 * SNI), for resends and for rewrites or edits that move a request to another origin.
 */
import { isIP } from 'node:net';
import { bareHost } from '../proxy/hosts.js';
import type { UpstreamTarget } from '../proxy/upstream.js';

export function targetOf(url: URL): UpstreamTarget {
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const host = bareHost(url.hostname);
  // RFC 6066 §3: no IP literals in SNI.
  return { scheme, host, port: url.port ? Number(url.port) : scheme === 'https' ? 443 : 80, servername: scheme === 'https' && isIP(host) === 0 ? host : null };
}

/**
 * Where a draft's URL sends it when a rewrite or an edit moved it to another origin; null when
 * it stays on `current`'s origin.
 */
export function movedTarget(current: UpstreamTarget, url: URL): UpstreamTarget | null {
  const port = current.port === (current.scheme === 'https' ? 443 : 80) ? '' : `:${current.port}`;
  const host = current.host.includes(':') ? `[${current.host}]` : current.host;
  const before = new URL(`${current.scheme}://${host}${port}/`);
  return url.origin === before.origin ? null : targetOf(url);
}
