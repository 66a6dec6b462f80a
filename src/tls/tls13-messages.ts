/**
 * The TLS 1.3 handshake messages that travel encrypted (RFC 8446 §4.3-§4.6) → event details:
 * EncryptedExtensions, CertificateRequest, Certificate, CertificateVerify, Finished,
 * NewSessionTicket, KeyUpdate, EndOfEarlyData, CompressedCertificate (RFC 8879). Throws
 * MITM_ERR_TLS_PARSE (via ByteReader) on malformed bodies; the caller contains it.
 */
import { ByteReader } from './hello.js';
import { MAX_CERTIFICATES_SUMMARIZED, summarizeCertificate, type CertificateSummaryResult } from './messages.js';
import { certCompressionName, extensionName, groupName, handshakeTypeName, signatureSchemeName } from './names.js';

type Details = Record<string, unknown>;

/** ExtensionType values read here (RFC 8446 §4.2, RFC 6066, RFC 7301, RFC 8449). */
const EXT = {
  serverName: 0,
  maxFragmentLength: 1,
  statusRequest: 5,
  supportedGroups: 10,
  signatureAlgorithms: 13,
  alpn: 16,
  signedCertificateTimestamp: 18,
  recordSizeLimit: 28,
  earlyData: 42,
  certificateAuthorities: 47,
} as const;

/** RFC 6066 §4: max_fragment_length code → bytes. */
const MAX_FRAGMENT_LENGTHS: Record<number, number> = { 1: 512, 2: 1024, 3: 2048, 4: 4096 };

/** RFC 8446 §4.6.3 KeyUpdateRequest. */
const KEY_UPDATE_REQUESTS = ['update_not_requested', 'update_requested'];

function eachExtension(r: ByteReader, visit: (type: number, body: ByteReader) => void): string[] {
  const names: string[] = [];
  while (r.remaining > 0) {
    const type = r.u16('extension type');
    const body = r.sub(2, `${extensionName(type)} extension`);
    names.push(extensionName(type));
    visit(type, body);
  }
  return names;
}

/** RFC 8446 §4.3.1 EncryptedExtensions: what the server agreed to beyond the ServerHello. */
export function encryptedExtensionsDetails(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const d: Details = {};
  d['extensions'] = eachExtension(r.sub(2, 'extensions'), (type, x) => {
    switch (type) {
      case EXT.serverName:
        // RFC 6066 §3: an empty server_name extension acknowledges the client's SNI.
        d['serverNameAcknowledged'] = true;
        break;
      case EXT.alpn: {
        const list = x.sub(2, 'protocol_name_list');
        d['alpn'] = Buffer.from(list.vector(1, 'protocol name')).toString('latin1');
        break;
      }
      case EXT.supportedGroups:
        d['supportedGroups'] = x.sub(2, 'named_group_list').u16List('groups').map(groupName);
        break;
      case EXT.earlyData:
        d['earlyDataAccepted'] = true;
        break;
      case EXT.recordSizeLimit:
        d['recordSizeLimit'] = x.u16('record_size_limit');
        break;
      case EXT.maxFragmentLength: {
        const code = x.u8('max_fragment_length');
        d['maxFragmentLength'] = MAX_FRAGMENT_LENGTHS[code] ?? `unknown (${code})`;
        break;
      }
      default:
        break;
    }
  });
  r.expectEnd('EncryptedExtensions');
  return d;
}

/** RFC 8446 §4.3.2 CertificateRequest: the server asks the client for a certificate. */
export function certificateRequest13Details(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const d: Details = { contextLength: r.vector(1, 'certificate_request_context').length };
  d['extensions'] = eachExtension(r.sub(2, 'extensions'), (type, x) => {
    if (type === EXT.signatureAlgorithms) d['signatureAlgorithms'] = x.sub(2, 'supported_signature_algorithms').u16List('signature algorithms').map(signatureSchemeName);
    if (type === EXT.certificateAuthorities) {
      const list = x.sub(2, 'authorities');
      let count = 0;
      while (list.remaining > 0) {
        list.vector(2, 'DistinguishedName');
        count++;
      }
      d['certificateAuthorities'] = count;
    }
  });
  r.expectEnd('CertificateRequest');
  return d;
}

/** RFC 8446 §4.4.2 Certificate: entries carry per-certificate extensions (stapled OCSP, SCTs). */
export function certificate13Details(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const contextLength = r.vector(1, 'certificate_request_context').length;
  const list = r.sub(3, 'certificate_list');
  r.expectEnd('Certificate');
  const certificates: CertificateSummaryResult[] = [];
  let count = 0;
  let ocspStapled = false;
  let scts = false;
  while (list.remaining > 0) {
    const der = list.vector(3, 'cert_data');
    eachExtension(list.sub(2, 'CertificateEntry extensions'), (type) => {
      if (type === EXT.statusRequest) ocspStapled = true;
      if (type === EXT.signedCertificateTimestamp) scts = true;
    });
    count++;
    if (certificates.length < MAX_CERTIFICATES_SUMMARIZED) certificates.push(summarizeCertificate(der));
  }
  const d: Details = { count, certificates };
  if (contextLength > 0) d['contextLength'] = contextLength;
  if (ocspStapled) d['ocspStapled'] = true;
  if (scts) d['signedCertificateTimestamps'] = true;
  return d;
}

/** RFC 8446 §4.4.3 CertificateVerify: a signature over the transcript with the certificate's key. */
export function certificateVerify13Details(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const d: Details = { signatureAlgorithm: signatureSchemeName(r.u16('algorithm')), signatureLength: r.vector(2, 'signature').length };
  r.expectEnd('CertificateVerify');
  return d;
}

/** RFC 8446 §4.4.4 Finished: an HMAC over the transcript, as long as the suite's hash. */
export function finished13Details(body: Uint8Array): Details {
  return { verifyDataLength: body.length };
}

/** RFC 8446 §4.6.1 NewSessionTicket: a resumption ticket sent after the handshake. */
export function newSessionTicket13Details(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const d: Details = { lifetimeSeconds: r.u32('ticket_lifetime') };
  // ticket_age_add only obscures the ticket's age on the wire; nothing to show.
  r.u32('ticket_age_add');
  d['nonceLength'] = r.vector(1, 'ticket_nonce').length;
  d['ticketLength'] = r.vector(2, 'ticket').length;
  d['extensions'] = eachExtension(r.sub(2, 'extensions'), (type, x) => {
    if (type === EXT.earlyData) d['maxEarlyDataSize'] = x.u32('max_early_data_size');
  });
  r.expectEnd('NewSessionTicket');
  return d;
}

/** RFC 8446 §4.6.3 KeyUpdate: the sender switches to its next traffic secret. */
export function keyUpdateDetails(body: Uint8Array): Details {
  const r = new ByteReader(body);
  const code = r.u8('request_update');
  r.expectEnd('KeyUpdate');
  return { requestUpdate: KEY_UPDATE_REQUESTS[code] ?? `unknown (${code})` };
}

/** RFC 8879 §4 CompressedCertificate: named and sized; the chain inside stays compressed. */
export function compressedCertificateDetails(body: Uint8Array): Details {
  const r = new ByteReader(body);
  return {
    algorithm: certCompressionName(r.u16('algorithm')),
    uncompressedLength: r.u24('uncompressed_length'),
    compressedLength: r.vector(3, 'compressed_certificate_message').length,
  };
}

/** Details for one decrypted handshake message of type `type`. */
export function tls13MessageDetails(type: number, body: Uint8Array): { name: string; details: Details } {
  const name = handshakeTypeName(type);
  switch (type) {
    case 4:
      return { name, details: newSessionTicket13Details(body) };
    case 5:
      return { name, details: { length: body.length } };
    case 8:
      return { name, details: encryptedExtensionsDetails(body) };
    case 11:
      return { name, details: certificate13Details(body) };
    case 13:
      return { name, details: certificateRequest13Details(body) };
    case 15:
      return { name, details: certificateVerify13Details(body) };
    case 20:
      return { name, details: finished13Details(body) };
    case 24:
      return { name, details: keyUpdateDetails(body) };
    case 25:
      return { name, details: compressedCertificateDetails(body) };
    default:
      return { name: name.startsWith('unknown') ? 'UnknownHandshake' : name, details: { messageType: type, length: body.length } };
  }
}
