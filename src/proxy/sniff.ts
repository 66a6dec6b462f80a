/**
 * What a client speaks inside a CONNECT tunnel, from its first bytes (pure: bytes in, verdict out).
 */
import { peekClientHello } from '../tls/records.js';
import type { ClientHello } from '../tls/hello.js';

/** Longest HTTP method token we wait for before deciding it is not HTTP. */
const MAX_METHOD_LENGTH = 16;
const HTTP_METHOD = /^[A-Z]{3,16} /;

export type Sniffed =
  | { kind: 'need-more' }
  | { kind: 'tls'; sni: string | null; hello: ClientHello }
  | { kind: 'bad-tls'; reason: string }
  | { kind: 'http' }
  | { kind: 'other' };

export function sniff(bytes: Buffer): Sniffed {
  if (bytes.length === 0) return { kind: 'need-more' };
  // 0x16: a TLS handshake record. High bit + message type 1: an SSLv2-format CLIENT-HELLO,
  // which the parser names so the flow can say why it was refused.
  if (bytes[0] === 0x16 || (bytes.length >= 3 && (bytes[0]! & 0x80) !== 0 && bytes[2] === 0x01)) {
    const r = peekClientHello(bytes);
    if (r.status === 'need-more') return { kind: 'need-more' };
    if (r.status === 'not-tls') return { kind: 'bad-tls', reason: r.reason };
    return { kind: 'tls', sni: r.hello.sni ?? null, hello: r.hello };
  }
  const head = bytes.subarray(0, MAX_METHOD_LENGTH + 1).toString('latin1');
  if (HTTP_METHOD.test(head)) return { kind: 'http' };
  if (/^[A-Z]*$/.test(head) && head.length <= MAX_METHOD_LENGTH) return { kind: 'need-more' };
  return { kind: 'other' };
}
