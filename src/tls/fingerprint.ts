/**
 * JA3 and JA4 client fingerprints of a parsed ClientHello.
 * JA3 (salesforce/ja3): `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`,
 * decimal values joined by `-`, GREASE (RFC 8701) removed, MD5 of that string.
 * JA4 (FoxIO technical_details/JA4.md): `t13d1516h2_<12 hex of sha256(sorted ciphers)>_<12 hex of
 * sha256(sorted extensions minus SNI/ALPN + "_" + signature algorithms in order)>`.
 */
import { createHash } from 'node:crypto';
import type { ClientHello } from './hello.js';
import { isGrease } from './names.js';

export interface Ja3 {
  string: string;
  hash: string;
}

export type Ja4Transport = 'tcp' | 'quic' | 'dtls';

const TRANSPORT_LETTER: Readonly<Record<Ja4Transport, string>> = { tcp: 't', quic: 'q', dtls: 'd' };

/** JA4 "TLS and DTLS Version": two characters per version, "00" when unknown. */
const JA4_VERSIONS: ReadonlyMap<number, string> = new Map([
  [0x0304, '13'], [0x0303, '12'], [0x0302, '11'], [0x0301, '10'], [0x0300, 's3'], [0x0002, 's2'],
  [0xfeff, 'd1'], [0xfefd, 'd2'], [0xfefc, 'd3'],
]);

/** JA4 caps both counts at two digits. */
const MAX_COUNT = 99;
/** JA4 truncates each sha256 to its first 12 hex characters; an empty list hashes to all zeros. */
const JA4_HASH_LENGTH = 12;
const EMPTY_HASH = '0'.repeat(JA4_HASH_LENGTH);
const SNI = 0x0000;
const ALPN = 0x0010;

const notGrease = (v: number): boolean => !isGrease(v);

export function ja3(hello: ClientHello): Ja3 {
  const fields = [
    String(hello.legacyVersion),
    hello.cipherSuites.filter(notGrease).join('-'),
    hello.extensions.map((e) => e.type).filter(notGrease).join('-'),
    hello.supportedGroupIds.filter(notGrease).join('-'),
    hello.ecPointFormatIds.join('-'),
  ];
  const string = fields.join(',');
  return { string, hash: createHash('md5').update(string).digest('hex') };
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

function twoDigits(n: number): string {
  return String(Math.min(n, MAX_COUNT)).padStart(2, '0');
}

function truncatedSha256(text: string): string {
  return text === '' ? EMPTY_HASH : createHash('sha256').update(text).digest('hex').slice(0, JA4_HASH_LENGTH);
}

const isAlphanumeric = (code: number): boolean =>
  (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);

/** First and last characters of the first ALPN value; hex digits of it when either end is not alphanumeric. */
function alpnChars(hello: ClientHello): string {
  const first = hello.alpn[0];
  if (first === undefined || first.length === 0) return '00';
  const a = first.charCodeAt(0);
  const z = first.charCodeAt(first.length - 1);
  if (isAlphanumeric(a) && isAlphanumeric(z)) return first[0]! + first[first.length - 1]!;
  const hexText = Buffer.from(first, 'latin1').toString('hex');
  return hexText[0]! + hexText[hexText.length - 1]!;
}

function versionChars(hello: ClientHello): string {
  const offered = hello.supportedVersionIds.filter(notGrease);
  const version = offered.length > 0 ? Math.max(...offered) : hello.legacyVersion;
  return JA4_VERSIONS.get(version) ?? '00';
}

interface Ja4Parts {
  a: string;
  ciphers: string;
  extensions: string;
}

function ja4Parts(hello: ClientHello, transport: Ja4Transport): Ja4Parts {
  const ciphers = hello.cipherSuites.filter(notGrease);
  const extensions = hello.extensions.map((e) => e.type).filter(notGrease);
  const a =
    TRANSPORT_LETTER[transport] +
    versionChars(hello) +
    (extensions.includes(SNI) ? 'd' : 'i') +
    twoDigits(ciphers.length) +
    twoDigits(extensions.length) +
    alpnChars(hello);
  const sortedCiphers = ciphers.map(hex4).sort().join(',');
  const sortedExtensions = extensions
    .filter((t) => t !== SNI && t !== ALPN)
    .map(hex4)
    .sort()
    .join(',');
  const signatures = hello.signatureAlgorithmIds.filter(notGrease).map(hex4).join(',');
  // An empty extension list keeps JA4_c at zeros even when signature algorithms exist (spec: "Extension hash").
  const extensionsText = sortedExtensions === '' ? '' : signatures === '' ? sortedExtensions : `${sortedExtensions}_${signatures}`;
  return { a, ciphers: sortedCiphers, extensions: extensionsText };
}

export function ja4(hello: ClientHello, transport: Ja4Transport = 'tcp'): string {
  const p = ja4Parts(hello, transport);
  return `${p.a}_${truncatedSha256(p.ciphers)}_${truncatedSha256(p.extensions)}`;
}

/** JA4_r: the same fields before hashing, for reading and for comparing with other tools. */
export function ja4Raw(hello: ClientHello, transport: Ja4Transport = 'tcp'): string {
  const p = ja4Parts(hello, transport);
  return `${p.a}_${p.ciphers}_${p.extensions}`;
}
