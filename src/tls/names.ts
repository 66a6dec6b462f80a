/**
 * Number → name tables of the IANA TLS registries the parser reports: named groups, signature
 * schemes, alerts, extensions, protocol versions, handshake types and the small enums.
 * Names follow the registries' spelling (RFC 8446 §4.2, RFC 8422, RFC 5246 §7.2) so they can be
 * searched for; protocol versions use Node's spelling (`TLSv1.2`) so they compare with
 * `TLSSocket.getProtocol()`.
 */

/** RFC 8701 §2: GREASE values are 0x?A?A with both bytes equal. */
export function isGrease(value: number): boolean {
  return (value & 0x0f0f) === 0x0a0a && (value >> 8) === (value & 0xff);
}

export function hex4(value: number): string {
  return `0x${value.toString(16).padStart(4, '0')}`;
}

function named(table: ReadonlyMap<number, string>, value: number, width: 2 | 4 = 4): string {
  const name = table.get(value);
  if (name !== undefined) return name;
  if (width === 4 && isGrease(value)) return `GREASE (${hex4(value)})`;
  return width === 4 ? `unknown (${hex4(value)})` : `unknown (${value})`;
}

function table(entries: ReadonlyArray<readonly [number, string]>): ReadonlyMap<number, string> {
  return new Map(entries);
}

/** TLS supported_groups / key_share (RFC 8446 §4.2.7, RFC 8422 §5.1.1, RFC 7919, ML-KEM drafts). */
export const NAMED_GROUPS: ReadonlyMap<number, string> = table([
  ...[
    'sect163k1', 'sect163r1', 'sect163r2', 'sect193r1', 'sect193r2', 'sect233k1', 'sect233r1', 'sect239k1',
    'sect283k1', 'sect283r1', 'sect409k1', 'sect409r1', 'sect571k1', 'sect571r1', 'secp160k1', 'secp160r1',
    'secp160r2', 'secp192k1', 'secp192r1', 'secp224k1', 'secp224r1', 'secp256k1', 'secp256r1', 'secp384r1',
    'secp521r1', 'brainpoolP256r1', 'brainpoolP384r1', 'brainpoolP512r1', 'x25519', 'x448',
    'brainpoolP256r1tls13', 'brainpoolP384r1tls13', 'brainpoolP512r1tls13', 'GC256A', 'GC256B', 'GC256C',
    'GC256D', 'GC512A', 'GC512B', 'GC512C', 'curveSM2',
  ].map((name, i): [number, string] => [i + 1, name]),
  [0x0100, 'ffdhe2048'], [0x0101, 'ffdhe3072'], [0x0102, 'ffdhe4096'], [0x0103, 'ffdhe6144'], [0x0104, 'ffdhe8192'],
  [0x0200, 'MLKEM512'], [0x0201, 'MLKEM768'], [0x0202, 'MLKEM1024'],
  [0x11eb, 'SecP256r1MLKEM768'], [0x11ec, 'X25519MLKEM768'], [0x11ed, 'SecP384r1MLKEM1024'],
  [0x6399, 'X25519Kyber768Draft00'], [0x639a, 'SecP256r1Kyber768Draft00'],
  [0xff01, 'arbitrary_explicit_prime_curves'], [0xff02, 'arbitrary_explicit_char2_curves'],
]);

/** RFC 8446 §4.2.3 SignatureScheme, plus the TLS 1.2 hash/signature pairs (RFC 5246 §7.4.1.4.1). */
export const SIGNATURE_SCHEMES: ReadonlyMap<number, string> = table([
  [0x0201, 'rsa_pkcs1_sha1'], [0x0203, 'ecdsa_sha1'],
  [0x0401, 'rsa_pkcs1_sha256'], [0x0501, 'rsa_pkcs1_sha384'], [0x0601, 'rsa_pkcs1_sha512'],
  [0x0403, 'ecdsa_secp256r1_sha256'], [0x0503, 'ecdsa_secp384r1_sha384'], [0x0603, 'ecdsa_secp521r1_sha512'],
  [0x0708, 'sm2sig_sm3'],
  [0x0709, 'gostr34102012_256a'], [0x070a, 'gostr34102012_256b'], [0x070b, 'gostr34102012_256c'],
  [0x070c, 'gostr34102012_256d'], [0x070d, 'gostr34102012_512a'], [0x070e, 'gostr34102012_512b'],
  [0x070f, 'gostr34102012_512c'],
  [0x0804, 'rsa_pss_rsae_sha256'], [0x0805, 'rsa_pss_rsae_sha384'], [0x0806, 'rsa_pss_rsae_sha512'],
  [0x0807, 'ed25519'], [0x0808, 'ed448'],
  [0x0809, 'rsa_pss_pss_sha256'], [0x080a, 'rsa_pss_pss_sha384'], [0x080b, 'rsa_pss_pss_sha512'],
  [0x081a, 'ecdsa_brainpoolP256r1tls13_sha256'], [0x081b, 'ecdsa_brainpoolP384r1tls13_sha384'],
  [0x081c, 'ecdsa_brainpoolP512r1tls13_sha512'],
  [0x0904, 'mldsa44'], [0x0905, 'mldsa65'], [0x0906, 'mldsa87'],
]);

/** TLS 1.2 HashAlgorithm and SignatureAlgorithm codes, to name pairs the table above lacks. */
const LEGACY_HASHES = ['none', 'md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'];
const LEGACY_SIGNATURES = ['anonymous', 'rsa_pkcs1', 'dsa', 'ecdsa'];

export function signatureSchemeName(value: number): string {
  const known = SIGNATURE_SCHEMES.get(value);
  if (known !== undefined) return known;
  const hash = LEGACY_HASHES[value >> 8];
  const sig = LEGACY_SIGNATURES[value & 0xff];
  if (hash !== undefined && sig !== undefined) return `${sig}_${hash}`;
  return named(SIGNATURE_SCHEMES, value);
}

/** RFC 8446 §6 and RFC 5246 §7.2 AlertDescription (historic ones without their _RESERVED suffix). */
export const ALERT_DESCRIPTIONS: ReadonlyMap<number, string> = table([
  [0, 'close_notify'], [10, 'unexpected_message'], [20, 'bad_record_mac'], [21, 'decryption_failed'],
  [22, 'record_overflow'], [30, 'decompression_failure'], [40, 'handshake_failure'], [41, 'no_certificate'],
  [42, 'bad_certificate'], [43, 'unsupported_certificate'], [44, 'certificate_revoked'],
  [45, 'certificate_expired'], [46, 'certificate_unknown'], [47, 'illegal_parameter'], [48, 'unknown_ca'],
  [49, 'access_denied'], [50, 'decode_error'], [51, 'decrypt_error'], [60, 'export_restriction'],
  [70, 'protocol_version'], [71, 'insufficient_security'], [80, 'internal_error'],
  [86, 'inappropriate_fallback'], [90, 'user_canceled'], [100, 'no_renegotiation'],
  [109, 'missing_extension'], [110, 'unsupported_extension'], [111, 'certificate_unobtainable'],
  [112, 'unrecognized_name'], [113, 'bad_certificate_status_response'], [114, 'bad_certificate_hash_value'],
  [115, 'unknown_psk_identity'], [116, 'certificate_required'], [117, 'general_error'],
  [120, 'no_application_protocol'], [121, 'ech_required'],
]);

export const ALERT_LEVELS: ReadonlyMap<number, string> = table([[1, 'warning'], [2, 'fatal']]);

/** IANA ExtensionType values (RFC 8446 §4.2 and later RFCs), plus deployed private ones. */
export const EXTENSION_NAMES: ReadonlyMap<number, string> = table([
  ...[
    'server_name', 'max_fragment_length', 'client_certificate_url', 'trusted_ca_keys', 'truncated_hmac',
    'status_request', 'user_mapping', 'client_authz', 'server_authz', 'cert_type', 'supported_groups',
    'ec_point_formats', 'srp', 'signature_algorithms', 'use_srtp', 'heartbeat',
    'application_layer_protocol_negotiation', 'status_request_v2', 'signed_certificate_timestamp',
    'client_certificate_type', 'server_certificate_type', 'padding', 'encrypt_then_mac',
    'extended_master_secret', 'token_binding', 'cached_info', 'tls_lts', 'compress_certificate',
    'record_size_limit', 'pwd_protect', 'pwd_clear', 'password_salt', 'ticket_pinning',
    'tls_cert_with_extern_psk', 'delegated_credential', 'session_ticket', 'TLMSP', 'TLMSP_proxying',
    'TLMSP_delegate', 'supported_ekt_ciphers', '', 'pre_shared_key', 'early_data',
    'supported_versions', 'cookie', 'psk_key_exchange_modes', '', 'certificate_authorities',
    'oid_filters', 'post_handshake_auth', 'signature_algorithms_cert', 'key_share', 'transparency_info',
    'connection_id_deprecated', 'connection_id', 'external_id_hash', 'external_session_id',
    'quic_transport_parameters', 'ticket_request', 'dnssec_chain', 'sequence_number_encryption_algorithms',
    'rrc', 'tls_flags',
  ]
    .map((name, i): [number, string] => [i, name])
    // 40 and 46 are reserved (used by TLS 1.3 drafts): they stay unnamed.
    .filter(([, name]) => name !== ''),
  [0x3374, 'next_protocol_negotiation'], [0x4469, 'application_settings'], [0x44cd, 'application_settings'],
  [0x7550, 'channel_id'], [0xfe0d, 'encrypted_client_hello'], [0xff01, 'renegotiation_info'],
]);

/** Record-layer and handshake version numbers in Node's spelling (`TLSSocket.getProtocol()`). */
export const PROTOCOL_VERSIONS: ReadonlyMap<number, string> = table([
  [0x0002, 'SSLv2'], [0x0300, 'SSLv3'], [0x0301, 'TLSv1'], [0x0302, 'TLSv1.1'], [0x0303, 'TLSv1.2'],
  [0x0304, 'TLSv1.3'], [0xfeff, 'DTLSv1'], [0xfefd, 'DTLSv1.2'], [0xfefc, 'DTLSv1.3'],
]);

/** Pre-RFC TLS 1.3 drafts signalled 0x7f00 + draft number (draft-ietf-tls-tls13 §4.2.1). */
const TLS13_DRAFT_PREFIX = 0x7f00;

export function versionName(value: number): string {
  const known = PROTOCOL_VERSIONS.get(value);
  if (known !== undefined) return known;
  if ((value & 0xff00) === TLS13_DRAFT_PREFIX) return `TLSv1.3 (draft ${value & 0xff})`;
  return named(PROTOCOL_VERSIONS, value);
}

/** HandshakeType (RFC 8446 §4, RFC 5246 §7.4, RFC 6066, RFC 8879), in the contract's CamelCase. */
export const HANDSHAKE_TYPES: ReadonlyMap<number, string> = table([
  [0, 'HelloRequest'], [1, 'ClientHello'], [2, 'ServerHello'], [3, 'HelloVerifyRequest'],
  [4, 'NewSessionTicket'], [5, 'EndOfEarlyData'], [6, 'HelloRetryRequest'], [8, 'EncryptedExtensions'],
  [9, 'RequestConnectionId'], [10, 'NewConnectionId'], [11, 'Certificate'], [12, 'ServerKeyExchange'],
  [13, 'CertificateRequest'], [14, 'ServerHelloDone'], [15, 'CertificateVerify'], [16, 'ClientKeyExchange'],
  [17, 'ClientCertificateRequest'], [20, 'Finished'], [21, 'CertificateUrl'], [22, 'CertificateStatus'],
  [23, 'SupplementalData'], [24, 'KeyUpdate'], [25, 'CompressedCertificate'], [26, 'EktKey'],
  [67, 'NextProtocol'], [254, 'MessageHash'],
]);

export const CONTENT_TYPES: ReadonlyMap<number, string> = table([
  [20, 'change_cipher_spec'], [21, 'alert'], [22, 'handshake'], [23, 'application_data'], [24, 'heartbeat'],
]);

export const COMPRESSION_METHODS: ReadonlyMap<number, string> = table([[0, 'null'], [1, 'DEFLATE'], [64, 'LZS']]);

export const EC_POINT_FORMATS: ReadonlyMap<number, string> = table([
  [0, 'uncompressed'], [1, 'ansiX962_compressed_prime'], [2, 'ansiX962_compressed_char2'],
]);

export const EC_CURVE_TYPES: ReadonlyMap<number, string> = table([
  [1, 'explicit_prime'], [2, 'explicit_char2'], [3, 'named_curve'],
]);

export const PSK_KEY_EXCHANGE_MODES: ReadonlyMap<number, string> = table([[0, 'psk_ke'], [1, 'psk_dhe_ke']]);

/** RFC 8879 §3 CertificateCompressionAlgorithm. */
export const CERT_COMPRESSION_ALGORITHMS: ReadonlyMap<number, string> = table([
  [1, 'zlib'], [2, 'brotli'], [3, 'zstd'],
]);

/** RFC 5246 §7.4.4 and RFC 8422 §5.5 ClientCertificateType. */
export const CLIENT_CERTIFICATE_TYPES: ReadonlyMap<number, string> = table([
  [1, 'rsa_sign'], [2, 'dss_sign'], [3, 'rsa_fixed_dh'], [4, 'dss_fixed_dh'], [5, 'rsa_ephemeral_dh'],
  [6, 'dss_ephemeral_dh'], [20, 'fortezza_dms'], [64, 'ecdsa_sign'], [65, 'rsa_fixed_ecdh'],
  [66, 'ecdsa_fixed_ecdh'],
]);

export const groupName = (value: number): string => named(NAMED_GROUPS, value);
export const extensionName = (value: number): string => named(EXTENSION_NAMES, value);
export const alertDescriptionName = (value: number): string => named(ALERT_DESCRIPTIONS, value, 2);
export const alertLevelName = (value: number): string => named(ALERT_LEVELS, value, 2);
export const handshakeTypeName = (value: number): string => named(HANDSHAKE_TYPES, value, 2);
export const contentTypeName = (value: number): string => named(CONTENT_TYPES, value, 2);
export const compressionMethodName = (value: number): string => named(COMPRESSION_METHODS, value, 2);
export const ecPointFormatName = (value: number): string => named(EC_POINT_FORMATS, value, 2);
export const ecCurveTypeName = (value: number): string => named(EC_CURVE_TYPES, value, 2);
export const pskKeyExchangeModeName = (value: number): string => named(PSK_KEY_EXCHANGE_MODES, value, 2);
export const certCompressionName = (value: number): string => named(CERT_COMPRESSION_ALGORITHMS, value);
export const clientCertificateTypeName = (value: number): string => named(CLIENT_CERTIFICATE_TYPES, value, 2);
