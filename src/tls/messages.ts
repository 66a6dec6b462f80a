/**
 * Plaintext TLS ≤1.2 handshake messages after the hellos (RFC 5246 §7.4, RFC 8422 §5, RFC 4279,
 * RFC 5054, RFC 6066 §8, RFC 5077 §3.3) → event details. What a message holds depends on the
 * negotiated suite's key exchange and version, which the caller passes in.
 */
import { LRUCache } from 'lru-cache';
import { createHash, X509Certificate } from 'node:crypto';
import type { CertificateSummary, CipherInfo } from '../capture/flow.js';
import { ByteReader, hex, parseError } from './hello.js';
import { clientCertificateTypeName, ecCurveTypeName, groupName, signatureSchemeName } from './names.js';

/** Chains longer than this are counted, not parsed: real chains have 2-5 certificates, and
 * X.509 parsing is the costliest thing the parser does. */
export const MAX_CERTIFICATES_SUMMARIZED = 10;
/** RFC 5246 §7.4.1.4.1: the signature algorithm field exists from TLS 1.2 on. */
const TLS12 = 0x0303;
const SSL3 = 0x0300;
/** RFC 8422 §5.4 ECParameters.curve_type named_curve. */
const NAMED_CURVE = 3;
/** RFC 7919 Appendix A (ffdhe*) and RFC 3526 (MODP) primes start with 64 one-bits, then these bytes. */
const FFDHE_PREFIX = 'ffffffffffffffffadf85458a2bb4a9a';
const MODP_PREFIX = 'ffffffffffffffffc90fdaa22168c234';

export interface HandshakeContext {
  cipher: CipherInfo | null;
  /** Negotiated version id (0 before the ServerHello). */
  versionId: number;
}

export type CertificateSummaryResult = CertificateSummary & { error?: string };

type Details = Record<string, unknown>;

/** Key-exchange family of a suite: `ECDHE-RSA` and `ECDHE (export)` both read as `ECDHE`. */
function family(ctx: HandshakeContext): string {
  return (ctx.cipher?.keyExchange ?? 'unknown').replace(/ \(.*\)$/, '');
}

function isAnonymous(ctx: HandshakeContext): boolean {
  return ctx.cipher?.authentication.startsWith('none') ?? false;
}

function colonHex(digest: Buffer): string {
  return digest.toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

function isoDate(text: string): string {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : new Date(ms).toISOString();
}

/**
 * Servers send the same chain on every connection and X509Certificate parsing costs ~0.1 ms
 * (OpenSSL decodes the key each time): summaries are remembered by the DER's SHA-256.
 */
const SUMMARY_CACHE_ENTRIES = 2048;
const summaries = new LRUCache<string, CertificateSummaryResult>({ max: SUMMARY_CACHE_ENTRIES });
let parsedCertificates = 0;

/** Certificates parsed to be summarized so far (those found in the cache are not counted). */
export function certificatesParsed(): number {
  return parsedCertificates;
}

/** The summaries' key and `sha256` field: the DER's SHA-256 as X509Certificate prints it. */
function fingerprint256(der: Uint8Array): string {
  return colonHex(createHash('sha256').update(der).digest());
}

/** Same shape as the tap's summaries of live sockets, so both sources compare. */
export function summarizeCertificate(der: Uint8Array): CertificateSummaryResult {
  const sha256 = fingerprint256(der);
  const known = summaries.get(sha256);
  // A copy: events are handed to subscribers and must not share mutable arrays.
  if (known) return { ...known, sans: [...known.sans] };
  const summary = parseSummary(der, sha256);
  summaries.set(sha256, summary);
  return { ...summary, sans: [...summary.sans] };
}

/**
 * Remembers the summary of a certificate whose fields are known without parsing it (a leaf we
 * just minted), so the handshake that presents it summarizes it from the cache.
 */
export function rememberCertificateSummary(der: Uint8Array, fields: Omit<CertificateSummary, 'sha256'>): void {
  const sha256 = fingerprint256(der);
  summaries.set(sha256, { ...fields, sans: [...fields.sans], sha256 });
}

function parseSummary(der: Uint8Array, sha256: string): CertificateSummaryResult {
  parsedCertificates++;
  try {
    const cert = new X509Certificate(der);
    return {
      subject: cert.subject.replace(/\n/g, ', '),
      issuer: cert.issuer.replace(/\n/g, ', '),
      notBefore: isoDate(cert.validFrom),
      notAfter: isoDate(cert.validTo),
      sans: (cert.subjectAltName ?? '').split(/,\s*/).filter((s) => s.length > 0),
      sha256,
    };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { subject: '', issuer: '', notBefore: '', notAfter: '', sans: [], sha256, error: `not a valid X.509 certificate: ${reason}` };
  }
}

/** RFC 5246 §7.4.2 Certificate: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>. */
export function certificateDetails(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const list = r.sub(3, 'certificate_list');
  r.expectEnd('certificate_list');
  const certificates: CertificateSummaryResult[] = [];
  let count = 0;
  while (list.remaining > 0) {
    const der = list.vector(3, 'certificate');
    count++;
    if (certificates.length < MAX_CERTIFICATES_SUMMARIZED) certificates.push(summarizeCertificate(der));
  }
  return { count, certificates };
}

function signature(r: ByteReader, ctx: HandshakeContext, d: Details): void {
  if (ctx.versionId >= TLS12) d['signatureAlgorithm'] = signatureSchemeName(r.u16('signature algorithm'));
  d['signatureLength'] = r.vector(2, 'signature').length;
}

function bitLength(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** RFC 5246 §7.4.3 ServerDHParams; names the well-known primes so "ffdhe2048" is visible. */
function dhParams(r: ByteReader, d: Details): void {
  const prime = r.vector(2, 'dh_p');
  const bits = bitLength(prime);
  const head = hex(prime.subarray(0, 16));
  d['primeBits'] = bits;
  d['generatorLength'] = r.vector(2, 'dh_g').length;
  d['publicKeyLength'] = r.vector(2, 'dh_Ys').length;
  d['group'] = head === FFDHE_PREFIX ? `ffdhe${bits}` : head === MODP_PREFIX ? `modp${bits}` : `custom ${bits}-bit prime`;
}

/** RFC 8422 §5.4 ServerECDHParams. */
function ecParams(r: ByteReader, d: Details): void {
  const curveType = r.u8('curve_type');
  d['curveType'] = ecCurveTypeName(curveType);
  if (curveType !== NAMED_CURVE) {
    // Explicit curves (deprecated by RFC 8422 §5.1.1) are not worth decoding: report the type only.
    d['undecoded'] = true;
    return;
  }
  const id = r.u16('named_curve');
  d['group'] = groupName(id);
  d['groupId'] = id;
  d['publicKeyLength'] = r.vector(1, 'ec point').length;
}

/** ServerKeyExchange; its layout follows the key exchange of the suite the ServerHello chose. */
export function serverKeyExchangeDetails(body: Uint8Array, ctx: HandshakeContext): Details {
  const kx = family(ctx);
  const d: Details = { keyExchange: kx };
  const r = new ByteReader(body);
  switch (kx) {
    case 'ECDHE':
    case 'ECDH':
      ecParams(r, d);
      if (d['undecoded'] !== true && !isAnonymous(ctx)) signature(r, ctx, d);
      break;
    case 'DHE':
    case 'DH':
      dhParams(r, d);
      if (!isAnonymous(ctx)) signature(r, ctx, d);
      break;
    case 'ECDHE-PSK':
      d['pskIdentityHintLength'] = r.vector(2, 'psk_identity_hint').length;
      ecParams(r, d);
      break;
    case 'DHE-PSK':
      d['pskIdentityHintLength'] = r.vector(2, 'psk_identity_hint').length;
      dhParams(r, d);
      break;
    case 'PSK':
    case 'RSA-PSK':
      d['pskIdentityHintLength'] = r.vector(2, 'psk_identity_hint').length;
      break;
    case 'RSA':
      // RFC 4346 §7.4.3: only export suites send a (temporary, 512-bit) RSA key here.
      d['modulusBits'] = bitLength(r.vector(2, 'rsa_modulus'));
      d['exponentLength'] = r.vector(2, 'rsa_exponent').length;
      signature(r, ctx, d);
      break;
    case 'SRP':
      d['primeBits'] = bitLength(r.vector(2, 'srp_N'));
      r.vector(2, 'srp_g');
      d['saltLength'] = r.vector(1, 'srp_s').length;
      d['publicKeyLength'] = r.vector(2, 'srp_B').length;
      if (ctx.cipher?.authentication !== 'SRP') signature(r, ctx, d);
      break;
    default:
      d['length'] = body.length;
      d['undecoded'] = true;
  }
  return d;
}

/** ClientKeyExchange (RFC 5246 §7.4.7, RFC 8422 §5.7, RFC 4279 §2-4, RFC 5054 §2.8). */
export function clientKeyExchangeDetails(body: Uint8Array, ctx: HandshakeContext): Details {
  const kx = family(ctx);
  const d: Details = { keyExchange: kx };
  const r = new ByteReader(body);
  switch (kx) {
    case 'RSA':
      // RFC 5246 §7.4.7.1: SSLv3 sent the encrypted secret without its length prefix.
      d['encryptedPreMasterLength'] = ctx.versionId === SSL3 ? body.length : r.vector(2, 'EncryptedPreMasterSecret').length;
      break;
    case 'ECDHE':
    case 'ECDH':
      d['publicKeyLength'] = r.vector(1, 'ecdh_Yc').length;
      break;
    case 'DHE':
    case 'DH':
      d['publicKeyLength'] = r.vector(2, 'dh_Yc').length;
      break;
    case 'PSK':
      d['pskIdentityLength'] = r.vector(2, 'psk_identity').length;
      break;
    case 'DHE-PSK':
      d['pskIdentityLength'] = r.vector(2, 'psk_identity').length;
      d['publicKeyLength'] = r.vector(2, 'dh_Yc').length;
      break;
    case 'ECDHE-PSK':
      d['pskIdentityLength'] = r.vector(2, 'psk_identity').length;
      d['publicKeyLength'] = r.vector(1, 'ecdh_Yc').length;
      break;
    case 'RSA-PSK':
      d['pskIdentityLength'] = r.vector(2, 'psk_identity').length;
      d['encryptedPreMasterLength'] = r.vector(2, 'EncryptedPreMasterSecret').length;
      break;
    case 'SRP':
      d['publicKeyLength'] = r.vector(2, 'srp_A').length;
      break;
    default:
      d['length'] = body.length;
      d['undecoded'] = true;
      return d;
  }
  r.expectEnd('ClientKeyExchange');
  return d;
}

/** RFC 5246 §7.4.4 CertificateRequest. */
export function certificateRequestDetails(body: Uint8Array, ctx: HandshakeContext): Details {
  const r = new ByteReader(body);
  const d: Details = {
    certificateTypes: r.sub(1, 'certificate_types').u8List('certificate_types').map(clientCertificateTypeName),
  };
  if (ctx.versionId >= TLS12) {
    d['signatureAlgorithms'] = r.sub(2, 'supported_signature_algorithms').u16List('signature algorithms').map(signatureSchemeName);
  }
  const authorities = r.sub(2, 'certificate_authorities');
  let count = 0;
  while (authorities.remaining > 0) {
    authorities.vector(2, 'DistinguishedName');
    count++;
  }
  d['certificateAuthorities'] = count;
  return d;
}

/** RFC 5246 §7.4.8 CertificateVerify (plaintext only when a TLS ≤1.2 client authenticates). */
export function certificateVerifyDetails(body: Uint8Array, ctx: HandshakeContext): Details {
  const r = new ByteReader(body);
  const d: Details = {};
  signature(r, ctx, d);
  return d;
}

/** RFC 5077 §3.3 NewSessionTicket (TLS ≤1.2; TLS 1.3's is encrypted). */
export function newSessionTicketDetails(body: Uint8Array): Details {
  const r = new ByteReader(body);
  return { lifetimeHint: r.u32('ticket_lifetime_hint'), ticketLength: r.vector(2, 'ticket').length };
}

/** RFC 6066 §8 CertificateStatus (stapled OCSP response). */
export function certificateStatusDetails(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const type = r.u8('status_type');
  return { statusType: type === 1 ? 'ocsp' : `unknown (${type})`, responseLength: r.vector(3, 'response').length };
}

export function emptyBodyDetails(body: Uint8Array, what: string): Details {
  if (body.length !== 0) throw parseError(`${what} must be empty, has ${body.length} bytes`);
  return {};
}
