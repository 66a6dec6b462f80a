/**
 * ClientHello and ServerHello bodies → typed objects (RFC 8446 §4.1.2-4.1.4, RFC 5246 §7.4.1),
 * plus the bounds-checked reader every handshake parser here uses. Malformed input throws a
 * `MitmError('MITM_ERR_TLS_PARSE')` that the record layer turns into an `Error` event.
 */
import type { CipherInfo } from '../capture/flow.js';
import { MitmError } from '../errors.js';
import { cipherInfo } from './suites.js';
import {
  certCompressionName,
  compressionMethodName,
  ecPointFormatName,
  extensionName,
  groupName,
  pskKeyExchangeModeName,
  signatureSchemeName,
  versionName,
} from './names.js';

/** RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest (SHA-256 of "HelloRetryRequest"). */
const HELLO_RETRY_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';
/** RFC 8446 §4.1.3 downgrade sentinels: the last 8 bytes of a server random ("DOWNGRD" + 01/00). */
const DOWNGRADE_TLS12 = '444f574e47524401';
const DOWNGRADE_TLS11 = '444f574e47524400';
const RANDOM_LENGTH = 32;
const TLS13 = 0x0304;

export function parseError(message: string): MitmError {
  return new MitmError('MITM_ERR_TLS_PARSE', message);
}

/** Bounds-checked big-endian cursor; every read names what it reads so errors say what was short. */
export class ByteReader {
  private pos: number;
  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
    private readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): number {
    if (n > this.end - this.pos) throw parseError(`truncated ${what}: needs ${n} bytes, ${this.end - this.pos} left`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.bytes[this.need(1, what)]!;
  }

  u16(what: string): number {
    const at = this.need(2, what);
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  u24(what: string): number {
    const at = this.need(3, what);
    return (this.bytes[at]! << 16) | (this.bytes[at + 1]! << 8) | this.bytes[at + 2]!;
  }

  u32(what: string): number {
    const at = this.need(4, what);
    return ((this.bytes[at]! << 24) >>> 0) + ((this.bytes[at + 1]! << 16) | (this.bytes[at + 2]! << 8) | this.bytes[at + 3]!);
  }

  take(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }

  /** A length-prefixed vector (`opaque x<0..2^8-1>` etc.): prefix width 1, 2 or 3 bytes. */
  vector(prefix: 1 | 2 | 3, what: string): Uint8Array {
    const n = prefix === 1 ? this.u8(what) : prefix === 2 ? this.u16(what) : this.u24(what);
    return this.take(n, what);
  }

  /** A reader over a length-prefixed vector, for lists of structures. */
  sub(prefix: 1 | 2 | 3, what: string): ByteReader {
    return new ByteReader(this.vector(prefix, what));
  }

  u16List(what: string): number[] {
    if (this.remaining % 2 !== 0) throw parseError(`odd length in ${what}`);
    const out: number[] = [];
    while (this.remaining > 0) out.push(this.u16(what));
    return out;
  }

  u8List(what: string): number[] {
    const out: number[] = [];
    while (this.remaining > 0) out.push(this.u8(what));
    return out;
  }

  expectEnd(what: string): void {
    if (this.remaining !== 0) throw parseError(`${this.remaining} unexpected trailing bytes after ${what}`);
  }
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Latin-1 keeps every byte as one char, so JA4 can still see non-ASCII ALPN bytes. */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export interface ExtensionSummary {
  type: number;
  name: string;
  length: number;
}

export interface ClientHello {
  legacyVersion: number;
  legacyVersionName: string;
  random: string;
  sessionId: string;
  /** Offered suites in order, GREASE included. */
  cipherSuites: number[];
  cipherSuiteNames: string[];
  compressionMethods: number[];
  extensions: ExtensionSummary[];
  sni: string | null;
  alpn: string[];
  supportedVersions: string[];
  supportedVersionIds: number[];
  supportedGroups: string[];
  supportedGroupIds: number[];
  signatureAlgorithms: string[];
  signatureAlgorithmIds: number[];
  ecPointFormats: string[];
  ecPointFormatIds: number[];
  keyShareGroups: string[];
  pskKeyExchangeModes: string[];
  sessionTicket: { present: boolean; length: number };
  extendedMasterSecret: boolean;
  renegotiationInfo: boolean;
  /** RFC 5746 §3.3: the SCSV stands in for an empty renegotiation_info. */
  renegotiationScsv: boolean;
  statusRequest: boolean;
  encryptThenMac: boolean;
  earlyData: boolean;
  preSharedKey: boolean;
  encryptedClientHello: boolean;
  compressCertificate: string[];
  recordSizeLimit: number | null;
  applicationSettings: string[];
  /** Extensions whose body did not parse; the rest of the hello still did. */
  malformedExtensions: string[];
}

function names(ids: number[], name: (id: number) => string): string[] {
  return ids.map(name);
}

/** Reads one ClientHello extension body into `hello`; throws on a malformed body. */
function readClientExtension(hello: ClientHello, type: number, r: ByteReader): void {
  switch (type) {
    case 0: {
      // RFC 6066 §3: a list of (name_type, name); only host_name (0) is defined.
      const list = r.sub(2, 'server_name list');
      while (list.remaining > 0) {
        const kind = list.u8('server_name type');
        const value = list.vector(2, 'server_name');
        if (kind === 0 && hello.sni === null) hello.sni = latin1(value);
      }
      return;
    }
    case 5:
      hello.statusRequest = true;
      return;
    case 10:
      hello.supportedGroupIds = r.sub(2, 'supported_groups').u16List('supported_groups');
      hello.supportedGroups = names(hello.supportedGroupIds, groupName);
      return;
    case 11:
      hello.ecPointFormatIds = r.sub(1, 'ec_point_formats').u8List('ec_point_formats');
      hello.ecPointFormats = names(hello.ecPointFormatIds, ecPointFormatName);
      return;
    case 13:
      hello.signatureAlgorithmIds = r.sub(2, 'signature_algorithms').u16List('signature_algorithms');
      hello.signatureAlgorithms = names(hello.signatureAlgorithmIds, signatureSchemeName);
      return;
    case 16:
    case 0x4469:
    case 0x44cd: {
      const list = r.sub(2, 'protocol name list');
      const protocols: string[] = [];
      while (list.remaining > 0) protocols.push(latin1(list.vector(1, 'protocol name')));
      if (type === 16) hello.alpn = protocols;
      else hello.applicationSettings = protocols;
      return;
    }
    case 22:
      hello.encryptThenMac = true;
      return;
    case 23:
      hello.extendedMasterSecret = true;
      return;
    case 27:
      hello.compressCertificate = names(r.sub(1, 'compress_certificate').u16List('compress_certificate'), certCompressionName);
      return;
    case 28:
      hello.recordSizeLimit = r.u16('record_size_limit');
      return;
    case 35:
      hello.sessionTicket = { present: true, length: r.remaining };
      return;
    case 41:
      hello.preSharedKey = true;
      return;
    case 42:
      hello.earlyData = true;
      return;
    case 43:
      hello.supportedVersionIds = r.sub(1, 'supported_versions').u16List('supported_versions');
      hello.supportedVersions = names(hello.supportedVersionIds, versionName);
      return;
    case 45:
      hello.pskKeyExchangeModes = names(r.sub(1, 'psk_key_exchange_modes').u8List('psk modes'), pskKeyExchangeModeName);
      return;
    case 51: {
      const list = r.sub(2, 'key_share list');
      const groups: string[] = [];
      while (list.remaining > 0) {
        groups.push(groupName(list.u16('key_share group')));
        list.vector(2, 'key_exchange');
      }
      hello.keyShareGroups = groups;
      return;
    }
    case 0xfe0d:
      hello.encryptedClientHello = true;
      return;
    case 0xff01:
      hello.renegotiationInfo = true;
      return;
    default:
      return;
  }
}

/** Throws `MITM_ERR_TLS_PARSE` with the reason; `parseClientHello` is the forgiving wrapper. */
export function readClientHello(body: Uint8Array): ClientHello {
  const r = new ByteReader(body);
  const legacyVersion = r.u16('legacy_version');
  const random = hex(r.take(RANDOM_LENGTH, 'random'));
  const sessionId = hex(r.vector(1, 'legacy_session_id'));
  const cipherSuites = r.sub(2, 'cipher_suites').u16List('cipher_suites');
  const compressionMethods = r.sub(1, 'compression_methods').u8List('compression_methods');
  const hello: ClientHello = {
    legacyVersion,
    legacyVersionName: versionName(legacyVersion),
    random,
    sessionId,
    cipherSuites,
    cipherSuiteNames: cipherSuites.map((id) => cipherInfo(id).name),
    compressionMethods,
    extensions: [],
    sni: null,
    alpn: [],
    supportedVersions: [],
    supportedVersionIds: [],
    supportedGroups: [],
    supportedGroupIds: [],
    signatureAlgorithms: [],
    signatureAlgorithmIds: [],
    ecPointFormats: [],
    ecPointFormatIds: [],
    keyShareGroups: [],
    pskKeyExchangeModes: [],
    sessionTicket: { present: false, length: 0 },
    extendedMasterSecret: false,
    renegotiationInfo: false,
    renegotiationScsv: cipherSuites.includes(0x00ff),
    statusRequest: false,
    encryptThenMac: false,
    earlyData: false,
    preSharedKey: false,
    encryptedClientHello: false,
    compressCertificate: [],
    recordSizeLimit: null,
    applicationSettings: [],
    malformedExtensions: [],
  };
  // RFC 5246 §7.4.1.2: extensions may be absent altogether (SSLv3-era hellos).
  if (r.remaining === 0) return hello;
  const list = r.sub(2, 'extensions');
  r.expectEnd('extensions');
  while (list.remaining > 0) {
    const type = list.u16('extension type');
    const data = list.vector(2, 'extension data');
    const name = extensionName(type);
    hello.extensions.push({ type, name, length: data.length });
    try {
      readClientExtension(hello, type, new ByteReader(data));
    } catch {
      hello.malformedExtensions.push(name);
    }
  }
  return hello;
}

/** Handshake message body → ClientHello, or null when it is not a well-formed one. */
export function parseClientHello(body: Uint8Array): ClientHello | null {
  try {
    return readClientHello(body);
  } catch {
    return null;
  }
}

export interface ServerHello {
  helloRetryRequest: boolean;
  legacyVersion: number;
  /** Negotiated version in Node's spelling: supported_versions when present (RFC 8446 §4.2.1). */
  version: string;
  versionId: number;
  random: string;
  sessionId: string;
  cipher: CipherInfo;
  compression: string;
  extensions: ExtensionSummary[];
  alpn: string | null;
  /** TLS 1.3 key_share group (the group asked for, in a HelloRetryRequest). */
  group: string | null;
  extendedMasterSecret: boolean;
  renegotiationInfo: boolean;
  sessionTicket: boolean;
  statusRequest: boolean;
  encryptThenMac: boolean;
  ecPointFormats: string[];
  preSharedKey: boolean;
  cookie: boolean;
  /** RFC 8446 §4.1.3: a TLS 1.3 server that negotiated less says so in its random. */
  downgradeSentinel: string | null;
}

function readServerExtension(hello: ServerHello, type: number, r: ByteReader): void {
  switch (type) {
    case 5:
      hello.statusRequest = true;
      return;
    case 11:
      hello.ecPointFormats = names(r.sub(1, 'ec_point_formats').u8List('ec_point_formats'), ecPointFormatName);
      return;
    case 16: {
      const list = r.sub(2, 'ALPN list');
      hello.alpn = latin1(list.vector(1, 'ALPN protocol'));
      return;
    }
    case 22:
      hello.encryptThenMac = true;
      return;
    case 23:
      hello.extendedMasterSecret = true;
      return;
    case 35:
      hello.sessionTicket = true;
      return;
    case 41:
      hello.preSharedKey = true;
      return;
    case 43:
      hello.versionId = r.u16('selected_version');
      hello.version = versionName(hello.versionId);
      return;
    case 44:
      hello.cookie = true;
      return;
    case 51:
      // RFC 8446 §4.2.8: HelloRetryRequest carries only the group, ServerHello a whole KeyShareEntry.
      hello.group = groupName(r.u16('key_share group'));
      return;
    case 0xff01:
      hello.renegotiationInfo = true;
      return;
    default:
      return;
  }
}

export function readServerHello(body: Uint8Array): ServerHello {
  const r = new ByteReader(body);
  const legacyVersion = r.u16('legacy_version');
  const random = hex(r.take(RANDOM_LENGTH, 'random'));
  const sessionId = hex(r.vector(1, 'legacy_session_id'));
  const suite = r.u16('cipher_suite');
  const compression = r.u8('compression_method');
  const tail = random.slice(-16);
  const hello: ServerHello = {
    helloRetryRequest: random === HELLO_RETRY_RANDOM,
    legacyVersion,
    version: versionName(legacyVersion),
    versionId: legacyVersion,
    random,
    sessionId,
    cipher: cipherInfo(suite),
    compression: compressionMethodName(compression),
    extensions: [],
    alpn: null,
    group: null,
    extendedMasterSecret: false,
    renegotiationInfo: false,
    sessionTicket: false,
    statusRequest: false,
    encryptThenMac: false,
    ecPointFormats: [],
    preSharedKey: false,
    cookie: false,
    downgradeSentinel: tail === DOWNGRADE_TLS12 ? 'TLSv1.2' : tail === DOWNGRADE_TLS11 ? 'TLSv1.1 or below' : null,
  };
  if (r.remaining === 0) return hello;
  const list = r.sub(2, 'extensions');
  r.expectEnd('extensions');
  while (list.remaining > 0) {
    const type = list.u16('extension type');
    const data = list.vector(2, 'extension data');
    hello.extensions.push({ type, name: extensionName(type), length: data.length });
    readServerExtension(hello, type, new ByteReader(data));
  }
  return hello;
}

/** True for TLS 1.3 and its drafts (0x7fxx), where everything after the ServerHello is encrypted. */
export function isTls13(versionId: number): boolean {
  return versionId === TLS13 || (versionId & 0xff00) === 0x7f00;
}
