/**
 * Leaf certificates for intercepted hosts, signed by the root CA. Every leaf shares one RSA key
 * made at start-up (as mitmproxy and mockttp do): per-host keys would cost ~50 ms each and buy
 * nothing, since whoever holds the process holds the CA key anyway. Beside each RSA leaf sits an
 * ECDSA P-256 leaf for the same name: a client whose ClientHello shows it accepts ECDSA
 * (`leaf-kind.ts`, nearly all) is served a context holding that leaf alone, so a new host costs
 * one certificate; any other gets both leaves in one SecureContext, where OpenSSL signs with
 * ECDSA when it can (a P-256 signature costs a fraction of an RSA-2048 one, paid on every full
 * handshake) and with RSA for clients that offer only RSA suites. Each part is minted when first
 * asked for and cached with the host; concurrent requests for one host mint once.
 */
import { X509Certificate, createHash, generateKeyPair, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';
import { domainToASCII } from 'node:url';
import { promisify } from 'node:util';
import { LRUCache } from 'lru-cache';
import forge from 'node-forge';
import { ConfigError, MitmError } from '../errors.js';
import { UTF8_STRING, certificateDerToPem, randomSerialHex, signCertificate, type RootCa } from './root-ca.js';
import type { LeafKind } from './leaf-kind.js';
import { KeyedContexts } from './keyed-contexts.js';
import { rememberCertificateSummary } from '../tls/messages.js';

export interface MintOptions {
  /** Most leaves kept as SecureContexts; default 1000. */
  cacheSize?: number;
  /** The shared P-256 key of the ECDSA leaves; without it leaves are RSA only. */
  ecdsaKey?: LeafKey;
}

export interface LeafKey {
  privateKeyPem: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export interface MintStats {
  /** Hosts minted for (again after their leaves left the cache). */
  minted: number;
  /** Contexts served from the cache. */
  hits: number;
  /** Requests for a context that another request was already minting. */
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
/** The curve every TLS client supports (RFC 8446 §9.1 makes secp256r1 mandatory). */
const ECDSA_CURVE = 'prime256v1';
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
/**
 * DNS names that X.509 printing leaves as they are: the summary of such a leaf is written from
 * what was minted (parsing it back costs ~0.5 ms, most of it OpenSSL decoding the public key).
 */
const PLAIN_DNS_NAME = /^[a-z0-9._-]+$/;

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

interface EcdsaTemplate {
  key: LeafKey;
  spki: forge.asn1.Asn1;
  extensions: unknown[];
  keyIdentifier: string;
}

/** One certificate of a host, as DER and PEM. */
interface Built {
  der: Buffer;
  certPem: string;
}

interface Pending<T> {
  promise: Promise<T>;
  settled: boolean;
}

/** What is minted for one host, each part made when first asked for (and shared by the contexts). */
interface HostLeaves {
  name: LeafName;
  rsa?: Promise<Built>;
  ecdsa?: Promise<Built>;
  contexts: Partial<Record<LeafKind, Pending<SecureContext>>>;
  /** Counted in `minted` (once a context or certificate of it was handed out). */
  counted: boolean;
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

/** Indexes in the TBSCertificate forge builds (it always writes the version). */
const TBS_ISSUER_INDEX = 3;
const TBS_SPKI_INDEX = 6;

/** Uncompressed EC point marker (SEC 1 §2.3.3). */
const EC_POINT_UNCOMPRESSED = 0x04;

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bytes (for EC, the point), hex. */
function ecKeyIdentifierHex(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.of(EC_POINT_UNCOMPRESSED), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return createHash('sha1').update(point).digest('hex');
}

export class CertificateMinter {
  private readonly rootCa: RootCa;
  private readonly forgePublicKey: forge.pki.PublicKey;
  /** The CA's subject exactly as encoded in ca.pem: chain building compares names byte for byte. */
  private readonly issuer: forge.asn1.Asn1;
  private readonly caNotAfter: number;
  /** The CA's subject as X509Certificate prints it (for the summaries of minted leaves). */
  private readonly issuerText: string;
  /** Extensions equal in every leaf, encoded once. */
  private readonly fixedExtensions: unknown[];
  /** The same for the ECDSA leaves, with their SubjectPublicKeyInfo; null when RSA only. */
  private readonly ecdsa: EcdsaTemplate | null;
  private readonly cache: LRUCache<string, HostLeaves>;
  /** Contexts holding the ECDSA key alone, and all the leaf keys (RSA first), made ahead. */
  private readonly keyed: { ecdsa: KeyedContexts | null; both: KeyedContexts };
  private readonly counters: MintStats = { minted: 0, hits: 0, coalesced: 0 };

  constructor(rootCa: RootCa, leafKey: LeafKey, options?: MintOptions) {
    const max = options?.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(max) || max < 1) throw new ConfigError(`certificate cache size must be a positive integer, not ${max}`);
    this.rootCa = rootCa;
    this.cache = new LRUCache<string, HostLeaves>({ max, ttl: CACHE_TTL_MS });
    this.forgePublicKey = pki.publicKeyFromPem(leafKey.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    this.issuer = subjectAsn1(rootCa.certDer);
    this.caNotAfter = Date.parse(rootCa.cert.validTo);
    this.issuerText = rootCa.cert.subject.replace(/\n/g, ', ');

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
    this.ecdsa = options?.ecdsaKey ? this.ecdsaTemplate(options.ecdsaKey) : null;
    const ecKey = this.ecdsa?.key.privateKeyPem;
    this.keyed = {
      ecdsa: ecKey ? new KeyedContexts([ecKey]) : null,
      both: new KeyedContexts(ecKey ? [leafKey.privateKeyPem, ecKey] : [leafKey.privateKeyPem]),
    };
  }

  /**
   * forge cannot hold an EC public key, so ECDSA leaves are built as RSA ones and their
   * SubjectPublicKeyInfo is swapped in the TBS before signing; the key identifier is computed here.
   */
  private ecdsaTemplate(key: LeafKey): EcdsaTemplate {
    if (key.publicKey.asymmetricKeyType !== 'ec') throw new ConfigError('the ECDSA leaf key must be an EC key');
    const spki = asn1.fromDer(key.publicKey.export({ type: 'spki', format: 'der' }).toString('binary'));
    const template = pki.createCertificate();
    template.publicKey = this.forgePublicKey;
    template.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      // No keyEncipherment: an EC key signs key exchanges, it never decrypts a premaster secret.
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.rootCa.subjectKeyIdentifier.toString('binary') },
    ]);
    return { key, spki, extensions: template.extensions, keyIdentifier: ecKeyIdentifierHex(key.publicKey) };
  }

  /**
   * A minter with fresh shared leaf keys, generated natively off the event loop: RSA 2048 and,
   * unless `rsaOnly`, ECDSA P-256.
   */
  static async create(rootCa: RootCa, options?: MintOptions & { rsaOnly?: boolean }): Promise<CertificateMinter> {
    const [rsa, ec] = await Promise.all([
      generateKeyPairAsync('rsa', { modulusLength: LEAF_KEY_BITS }),
      options?.rsaOnly ? null : generateKeyPairAsync('ec', { namedCurve: ECDSA_CURVE }),
    ]);
    // PKCS#1: OpenSSL 3 decodes it ~0.2 ms faster than PKCS#8, paid on every SecureContext.
    const privateKeyPem = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const ecdsaKey = ec ? { privateKeyPem: ec.privateKey.export({ type: 'sec1', format: 'pem' }).toString(), publicKey: ec.publicKey, privateKey: ec.privateKey } : undefined;
    return new CertificateMinter(rootCa, { privateKeyPem, publicKey: rsa.publicKey, privateKey: rsa.privateKey }, { cacheSize: options?.cacheSize ?? DEFAULT_CACHE_SIZE, ...(ecdsaKey ? { ecdsaKey } : {}) });
  }

  /**
   * The leaf for `host` (DNS name, IDN, or IPv4/IPv6 literal) as a ready SecureContext: with
   * `both` (the default) the RSA and the ECDSA leaf, OpenSSL choosing per handshake; with `ecdsa`
   * the ECDSA leaf alone, for a client known to accept it (`leafKindFor`). ALPN is not part of
   * it: Node negotiates ALPN per socket (`ALPNProtocols`), so one context serves all.
   */
  async contextFor(host: string, kind: LeafKind = 'both'): Promise<SecureContext> {
    const entry = this.entry(host);
    const which: LeafKind = this.ecdsa ? kind : 'both';
    const existing = entry.contexts[which];
    if (existing) {
      if (existing.settled) this.counters.hits++;
      else this.counters.coalesced++;
      return existing.promise;
    }
    const pending: Pending<SecureContext> = { promise: this.handedOut(entry, this.buildContext(entry, which)), settled: false };
    void pending.promise.then(() => (pending.settled = true), () => {});
    entry.contexts[which] = pending;
    return pending.promise;
  }

  /** The DER leaf for a host, from the cache once minted: the RSA one, or the ECDSA one with `ecdsa`. */
  async leafDer(host: string, ecdsa = false): Promise<Buffer> {
    const entry = this.entry(host);
    return (await this.handedOut(entry, this.part(entry, ecdsa && this.ecdsa ? 'ecdsa' : 'rsa'))).der;
  }

  /** The PEM RSA leaf for a host (for tests and the dashboard). */
  async certificateFor(host: string): Promise<{ certPem: string; cert: X509Certificate }> {
    const entry = this.entry(host);
    const leaf = await this.handedOut(entry, this.part(entry, 'rsa'));
    return { certPem: leaf.certPem, cert: new X509Certificate(leaf.der) };
  }

  /** Contexts with the leaf keys made ahead (`keyed-contexts.ts`): waiting, and handed out ready. */
  get contextsMadeAhead(): { ecdsa: { ready: number; taken: number } | null; both: { ready: number; taken: number } } {
    return { ecdsa: this.keyed.ecdsa?.counts ?? null, both: this.keyed.both.counts };
  }

  /** Hosts currently cached. */
  get cacheSize(): number {
    return this.cache.size;
  }

  get stats(): MintStats {
    return { ...this.counters };
  }

  /** The cache entry of a host, made empty when new; throws MITM_ERR_MINT for what is no host. */
  private entry(host: string): HostLeaves {
    const name = normalizeHost(host);
    let entry = this.cache.get(name.name);
    if (!entry) {
      entry = { name, contexts: {}, counted: false };
      this.cache.set(name.name, entry);
    }
    return entry;
  }

  /**
   * Counts a host once something minted for it is handed out; a failure forgets the host (the
   * next request tries again) and is reported as MITM_ERR_MINT.
   */
  private handedOut<T>(entry: HostLeaves, work: Promise<T>): Promise<T> {
    return work.then(
      (value) => {
        if (!entry.counted) {
          entry.counted = true;
          this.counters.minted++;
        }
        return value;
      },
      (err: unknown) => {
        if (this.cache.peek(entry.name.name) === entry) this.cache.delete(entry.name.name);
        throw err instanceof MitmError ? err : mintError(entry.name.name, (err as Error).message, err);
      },
    );
  }

  private part(entry: HostLeaves, kind: 'rsa' | 'ecdsa'): Promise<Built> {
    if (kind === 'rsa') return (entry.rsa ??= this.build(entry.name, this.fixedExtensions, null));
    return (entry.ecdsa ??= this.build(entry.name, this.ecdsa!.extensions, this.ecdsa));
  }

  /**
   * The chain served is the leaf alone. The root CA is a trust anchor, and a client that accepts
   * the leaf holds it already: TLS lets a server leave it out (RFC 8446 §4.4.2, RFC 5246 §7.4.2),
   * as public servers do. Sending it cost OpenSSL ~0.45 ms per new host to parse and every full
   * handshake ~1 KB more to encrypt, send and observe.
   */
  private async buildContext(entry: HostLeaves, kind: LeafKind): Promise<SecureContext> {
    if (kind === 'ecdsa' && this.keyed.ecdsa) {
      const leaf = await this.part(entry, 'ecdsa');
      return this.keyed.ecdsa.withChains([leaf.certPem]);
    }
    // Both signatures run in libuv's pool at once: on a multi-core machine the second leaf is nearly free.
    const [rsa, ec] = await Promise.all([this.part(entry, 'rsa'), this.ecdsa ? this.part(entry, 'ecdsa') : null]);
    return this.keyed.both.withChains(ec ? [rsa.certPem, ec.certPem] : [rsa.certPem]);
  }

  private async build({ kind, name }: LeafName, extensions: unknown[], ec: EcdsaTemplate | null): Promise<Built> {
    // Whole seconds: UTCTime drops the milliseconds, which would stretch the validity past the limit.
    const notBefore = Math.floor((Date.now() - LEAF_BACKDATE_MS) / 1000) * 1000;
    // A leaf outliving its CA is rejected by some clients as a whole chain; end with the CA instead.
    const notAfter = Math.min(notBefore + LEAF_VALIDITY_MS, this.caNotAfter > notBefore ? this.caNotAfter : Infinity);
    const altName = kind === 'ip' ? { type: SAN_IP, ip: name } : { type: SAN_DNS, value: name };
    const cert = pki.createCertificate();
    cert.publicKey = this.forgePublicKey;
    cert.serialNumber = randomSerialHex();
    cert.validity.notBefore = new Date(notBefore);
    cert.validity.notAfter = new Date(notAfter);
    cert.setSubject([{ shortName: 'CN', value: name.slice(0, COMMON_NAME_MAX), valueTagClass: UTF8_STRING }]);
    cert.setExtensions([...extensions, { name: 'subjectAltName', altNames: [altName] }]);
    // setExtensions derives the key identifier from forge's (RSA) key: put the EC key's in its place.
    if (ec) Object.assign(cert.getExtension('subjectKeyIdentifier') as object, { subjectKeyIdentifier: ec.keyIdentifier, value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, forge.util.hexToBytes(ec.keyIdentifier)) });
    const der = await signCertificate(cert, this.rootCa.key, (tbs) => {
      const fields = tbs.value as forge.asn1.Asn1[];
      fields[TBS_ISSUER_INDEX] = this.issuer;
      if (ec) fields[TBS_SPKI_INDEX] = ec.spki;
    });
    if (kind === 'dns' && PLAIN_DNS_NAME.test(name)) {
      const summary = { subject: `CN=${name.slice(0, COMMON_NAME_MAX)}`, issuer: this.issuerText, sans: [`DNS:${name}`] };
      rememberCertificateSummary(der, { ...summary, notBefore: new Date(notBefore).toISOString(), notAfter: new Date(notAfter).toISOString() });
    }
    return { der, certPem: certificateDerToPem(der) };
  }
}
