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
