/**
 * Which leaf certificate a client can be served, read from its ClientHello (pure). A client that
 * surely verifies an ECDSA P-256 leaf gets a context holding only that leaf: half the minting
 * of a new host (one certificate built, one key loaded into OpenSSL). Any doubt gets the context
 * with both leaves, where OpenSSL chooses per handshake as it always did.
 */
import type { ClientHello } from '../tls/hello.js';
import { cipherInfo } from '../tls/suites.js';

export type LeafKind = 'ecdsa' | 'both';

const TLS13 = 0x0304;
/** ecdsa_secp256r1_sha256 (RFC 8446 §4.2.3), the scheme our P-256 leaf signs with. */
const ECDSA_P256_SHA256 = 0x0403;
/** secp256r1 (RFC 8422 §5.1.1): a TLS 1.2 client names the curves its certificates may use. */
const SECP256R1 = 23;
/** TLS 1.2 suites an ECDSA leaf serves that OpenSSL's default list enables. */
const ECDSA_SUITE = /^TLS_ECDHE_ECDSA_WITH_(AES|CHACHA20)_/;

export function leafKindFor(hello: ClientHello | null): LeafKind {
  if (!hello || !hello.signatureAlgorithmIds.includes(ECDSA_P256_SHA256)) return 'both';
  // TLS 1.3 (we accept it): the signature scheme alone decides (RFC 8446 §4.4.2.2).
  if (hello.supportedVersionIds.includes(TLS13)) return 'ecdsa';
  // TLS 1.2: an ECDHE_ECDSA suite and the leaf's curve must be offered too (RFC 8422 §5.1).
  if (!hello.supportedGroupIds.includes(SECP256R1)) return 'both';
  return hello.cipherSuites.some((id) => ECDSA_SUITE.test(cipherInfo(id).name)) ? 'ecdsa' : 'both';
}
