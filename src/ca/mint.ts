/**
 * Leaf certificates for intercepted hosts, signed by the root CA. Every leaf shares one RSA key
 * made at start-up (as mitmproxy and mockttp do): per-host keys would cost ~50 ms each and buy
 * nothing, since whoever holds the process holds the CA key anyway. Leaves are cached as ready
 * SecureContexts; concurrent requests for one host mint once.
 */
import { X509Certificate, generateKeyPair, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import { domainToASCII } from 'node:url';
import { promisify } from 'node:util';
import { LRUCache } from 'lru-cache';
import forge from 'node-forge';
import { ConfigError, MitmError } from '../errors.js';
import { UTF8_STRING, certificateDerToPem, randomSerialHex, signCertificate, type RootCa } from './root-ca.js';

export interface MintOptions {
  /** Most leaves kept as SecureContexts; default 1000. */
  cacheSize?: number;
}

export interface LeafKey {
  privateKeyPem: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export interface MintStats {
  minted: number;
  hits: number;
  coalesced: number;
}

/** A host as a certificate names it: a DNS name in ASCII, or a canonical IP literal. */
export interface LeafName {
  kind: 'dns' | 'ip';
  name: string;
}

const DAY_MS = 86_400_000;
/** ~1 KiB of key + certificate each, plus OpenSSL's context: a few MB at the default. */
const DEFAULT_CACHE_SIZE = 1000;
const LEAF_KEY_BITS = 2048;
/** Backdated so clients whose clock lags (VMs, phones) accept a certificate minted just now. */
const LEAF_BACKDATE_MS = DAY_MS;
/**
 * Total validity, backdating included. Apple rejects TLS leaves valid over 398 days (support
 * article HT211025), and so do browsers following the CA/B rule; RFC 5280 §4.1.2.5 counts
 * both ends, so stay a day under.
 */
const LEAF_VALIDITY_MS = 397 * DAY_MS;
/** Re-mint cached leaves after this, so a proxy left running never serves a lapsed one. */
const CACHE_TTL_MS = 30 * DAY_MS;
/** RFC 5280 Appendix A ub-common-name; the SAN carries the full name (clients match on it only). */
const COMMON_NAME_MAX = 64;
/** GeneralName tags, RFC 5280 §4.2.1.6. */
const SAN_DNS = 2;
const SAN_IP = 7;

const generateKeyPairAsync = promisify(generateKeyPair);
const { pki, asn1 } = forge;

function mintError(host: string, message: string, cause?: unknown): MitmError {
  return new MitmError('MITM_ERR_MINT', `cannot mint a certificate for ${JSON.stringify(host)}: ${message}`, cause === undefined ? undefined : { cause });
}

/**
 * Names `host` (a DNS name, IDN, IPv4, or IPv6 with or without brackets) the way a certificate
 * must: punycode, lower case, no trailing dot, IPv6 canonical. Throws MITM_ERR_MINT when it is none.
 */
export function normalizeHost(host: string): LeafName {
  let h = host.trim();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.includes(':')) {
    // A zone (fe80::1%eth0) names an interface on this machine, not part of the address.
    const bare = h.split('%')[0] ?? '';
    if (isIP(bare) !== 6) throw mintError(host, 'not a host name or IP address');
    // The URL parser prints IPv6 the RFC 5952 way (lower case, zeros compressed).
    return { kind: 'ip', name: new URL(`http://[${bare}]/`).hostname.slice(1, -1) };
  }
  if (isIP(h) === 4) return { kind: 'ip', name: h };
  // RFC 6066 §3: SNI carries no trailing dot; "example.com." is the same host.
  if (h.endsWith('.')) h = h.slice(0, -1);
  const ascii = h === '' ? '' : domainToASCII(h);
  if (ascii === '') throw mintError(host, 'not a valid host name');
  // WHATWG host parsing reads numeric forms such as 0x7f.1 as IPv4.
  if (isIP(ascii) === 4) return { kind: 'ip', name: ascii };
  return { kind: 'dns', name: ascii };
}

interface Leaf {
  der: Buffer;
  certPem: string;
  context: SecureContext;
}

/** The subject Name of a DER certificate, as ASN.1, byte for byte. */
function subjectAsn1(certDer: Buffer): forge.asn1.Asn1 {
  const certificate = asn1.fromDer(certDer.toString('binary'));
  const tbs = (certificate.value as forge.asn1.Asn1[])[0]!;
  const fields = tbs.value as forge.asn1.Asn1[];
  // TBSCertificate: [0] version (optional, context tag 0), serial, signature, issuer, validity, subject.
  const hasVersion = fields[0]!.tagClass === asn1.Class.CONTEXT_SPECIFIC;
  return fields[(hasVersion ? 1 : 0) + 4]!;
}

/** Index of `issuer` in the TBSCertificate forge builds (it always writes the version). */
const TBS_ISSUER_INDEX = 3;

export class CertificateMinter {
  private readonly rootCa: RootCa;
  private readonly leafKey: LeafKey;
  private readonly forgePublicKey: forge.pki.PublicKey;
  /** The CA's subject exactly as encoded in ca.pem: chain building compares names byte for byte. */
  private readonly issuer: forge.asn1.Asn1;
  private readonly caNotAfter: number;
  /** Extensions equal in every leaf, encoded once. */
  private readonly fixedExtensions: unknown[];
  private readonly cache: LRUCache<string, Leaf>;
  private readonly inflight = new Map<string, Promise<Leaf>>();
  private readonly counters: MintStats = { minted: 0, hits: 0, coalesced: 0 };

  constructor(rootCa: RootCa, leafKey: LeafKey, options?: MintOptions) {
    const max = options?.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(max) || max < 1) throw new ConfigError(`certificate cache size must be a positive integer, not ${max}`);
    this.rootCa = rootCa;
    this.leafKey = leafKey;
    this.cache = new LRUCache<string, Leaf>({ max, ttl: CACHE_TTL_MS });
    this.forgePublicKey = pki.publicKeyFromPem(leafKey.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    this.issuer = subjectAsn1(rootCa.certDer);
    this.caNotAfter = Date.parse(rootCa.cert.validTo);

    const template = pki.createCertificate();
    template.publicKey = this.forgePublicKey;
    template.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: rootCa.subjectKeyIdentifier.toString('binary') },
    ]);
    const ski = template.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string };
    // Clients that build chains by key identifier loop or fail when a leaf claims the CA's SKI.
    if (ski.subjectKeyIdentifier === rootCa.subjectKeyIdentifier.toString('hex')) {
      throw new MitmError('MITM_ERR_MINT', 'the leaf key is the CA key; leaves need a key of their own');
    }
    this.fixedExtensions = template.extensions;
  }

  /** A minter with a fresh shared leaf key (RSA 2048, generated natively off the event loop). */
  static async create(rootCa: RootCa, options?: MintOptions): Promise<CertificateMinter> {
    const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: LEAF_KEY_BITS });
    // PKCS#1: OpenSSL 3 decodes it ~0.2 ms faster than PKCS#8, paid on every SecureContext.
    const privateKeyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    return new CertificateMinter(rootCa, { privateKeyPem, publicKey, privateKey }, options);
  }

  /**
   * The leaf for `host` (DNS name, IDN, or IPv4/IPv6 literal) as a ready SecureContext. ALPN is
   * not part of it: Node negotiates ALPN per socket (`ALPNProtocols`), so one context serves all.
   */
  async contextFor(host: string): Promise<SecureContext> {
    return (await this.leaf(host)).context;
  }

  /** The DER leaf for a host, from the cache once minted (what the client leg presented). */
  async leafDer(host: string): Promise<Buffer> {
    return (await this.leaf(host)).der;
  }

  /** The PEM leaf for a host (for tests and the dashboard). */
  async certificateFor(host: string): Promise<{ certPem: string; cert: X509Certificate }> {
    const leaf = await this.leaf(host);
    return { certPem: leaf.certPem, cert: new X509Certificate(leaf.der) };
  }

  /** Leaves currently cached. */
  get cacheSize(): number {
    return this.cache.size;
  }

  get stats(): MintStats {
    return { ...this.counters };
  }

  private leaf(host: string): Promise<Leaf> {
    let name: LeafName;
    try {
      name = normalizeHost(host);
    } catch (err) {
      return Promise.reject(err);
    }
    const cached = this.cache.get(name.name);
    if (cached) {
      this.counters.hits++;
      return Promise.resolve(cached);
    }
    const pending = this.inflight.get(name.name);
    if (pending) {
      this.counters.coalesced++;
      return pending;
    }
    const minting = this.mint(name).then(
      (leaf) => {
        this.inflight.delete(name.name);
        this.cache.set(name.name, leaf);
        this.counters.minted++;
        return leaf;
      },
      (err: unknown) => {
        // Not cached: the next request for this host tries again.
        this.inflight.delete(name.name);
        throw err instanceof MitmError ? err : mintError(host, (err as Error).message, err);
      },
    );
    this.inflight.set(name.name, minting);
    return minting;
  }

  private async mint({ kind, name }: LeafName): Promise<Leaf> {
    const cert = pki.createCertificate();
    cert.publicKey = this.forgePublicKey;
    cert.serialNumber = randomSerialHex();
    // Whole seconds: UTCTime drops the milliseconds, which would stretch the validity past the limit.
    const notBefore = Math.floor((Date.now() - LEAF_BACKDATE_MS) / 1000) * 1000;
    // A leaf outliving its CA is rejected by some clients as a whole chain; end with the CA instead.
    const notAfter = Math.min(notBefore + LEAF_VALIDITY_MS, this.caNotAfter > notBefore ? this.caNotAfter : Infinity);
    cert.validity.notBefore = new Date(notBefore);
    cert.validity.notAfter = new Date(notAfter);
    cert.setSubject([{ shortName: 'CN', value: name.slice(0, COMMON_NAME_MAX), valueTagClass: UTF8_STRING }]);
    const altName = kind === 'ip' ? { type: SAN_IP, ip: name } : { type: SAN_DNS, value: name };
    cert.setExtensions([...this.fixedExtensions, { name: 'subjectAltName', altNames: [altName] }]);

    const der = await signCertificate(cert, this.rootCa.key, (tbs) => {
      (tbs.value as forge.asn1.Asn1[])[TBS_ISSUER_INDEX] = this.issuer;
    });
    const certPem = certificateDerToPem(der);
    const context = tls.createSecureContext({ key: this.leafKey.privateKeyPem, cert: certPem + this.rootCa.certPem });
    return { der, certPem, context };
  }
}
