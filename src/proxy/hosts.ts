/** Host names as the proxy handles them: `[::1]` in authorities, `::1` on sockets and in SANs. */
import { isIP } from 'node:net';

/** `[::1]` → `::1`; names and IPv4 unchanged. */
export function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The SNI to send upstream: the client's, else the host name — never an IP (RFC 6066 §3). */
export function upstreamServername(host: string, clientSni: string | null): string | null {
  return clientSni ?? (isIP(bareHost(host)) ? null : host);
}
