/**
 * Hop-by-hop fields (RFC 9110 §7.6.1), sans-IO: `Connection`, the fields it names, and the fixed
 * ones that describe a single connection. A proxy removes them before forwarding a message, so
 * what a client asks of its connection to mitmscope (`Connection: close`, `Keep-Alive`) is
 * answered on that connection and never decides the fate of a pooled upstream connection — nor
 * the server's `Connection: close` that of the client's.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Header } from '../capture/flow.js';

/** Request fields never forwarded upstream (`te` and `upgrade` have paths of their own). */
export const REQUEST_HOP_BY_HOP: readonly string[] = ['connection', 'proxy-connection', 'proxy-authorization', 'keep-alive', 'te', 'trailer', 'upgrade'];
/** Response fields that describe the server's connection, not the client's. */
export const RESPONSE_HOP_BY_HOP: readonly string[] = ['connection', 'proxy-connection', 'keep-alive'];

/** The connection options a `Connection` field lists, lower case ("close", field names, …). */
export function connectionOptions(value: string | readonly string[] | undefined): Set<string> {
  const out = new Set<string>();
  if (value === undefined) return out;
  for (const line of typeof value === 'string' ? [value] : value) {
    for (const token of line.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) out.add(name);
    }
  }
  return out;
}

/** Deletes the hop-by-hop fields from a Node header object: `fixed`, and those its `Connection` names. */
export function dropHopByHop(headers: IncomingHttpHeaders, fixed: readonly string[]): void {
  for (const name of connectionOptions(headers.connection)) delete headers[name];
  for (const name of fixed) delete headers[name];
}

/** The names to leave out of wire-order pairs: `fixed`, and those a `Connection` pair names. */
export function hopByHopNames(headers: readonly Header[], fixed: readonly string[]): string[] {
  return [...new Set([...fixed, ...namedInConnection(headers)])];
}

/** Wire-order pairs without their hop-by-hop fields: `fixed`, and those a `Connection` pair names. */
export function withoutHopByHop(headers: readonly Header[], fixed: readonly string[]): Header[] {
  const drop = new Set(hopByHopNames(headers, fixed));
  return headers.filter(([k]) => !drop.has(k.toLowerCase()));
}

/** The fields a message's `Connection` pairs name. */
export function namedInConnection(headers: readonly Header[]): Set<string> {
  return connectionOptions(headers.filter(([k]) => k.toLowerCase() === 'connection').map(([, v]) => v));
}
