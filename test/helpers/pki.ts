/**
 * Test PKI for upstream servers: a test CA and server certificates (valid, expired, wrong host,
 * self-signed), made in set-up with node:crypto keys and node-forge certificates.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface KeyPair {
  keyPem: string;
  certPem: string;
}

const { pki, md } = forge;

function newKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = pki.privateKeyFromPem(pem);
  const publicKey = pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { forgeKey, publicKey, pem };
}

function serial(): string {
  const b = randomBytes(8);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

const DAY = 86_400_000;

type Attributes = forge.pki.CertificateField[];

interface CertSpec {
  subject: Attributes;
  issuer: Attributes;
  notBefore: number;
  notAfter: number;
  extensions: object[];
  signer: forge.pki.rsa.PrivateKey | null;
}

/** One certificate with a fresh key; `signer: null` signs it with its own key (self-signed). */
function build(spec: CertSpec): { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey; keyPem: string; certPem: string } {
  const k = newKey();
  const cert = pki.createCertificate();
  cert.publicKey = k.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(spec.notBefore);
  cert.validity.notAfter = new Date(spec.notAfter);
  cert.setSubject(spec.subject);
  cert.setIssuer(spec.issuer);
  cert.setExtensions(spec.extensions);
  cert.sign(spec.signer ?? k.forgeKey, md.sha256.create());
  return { cert, key: k.forgeKey, keyPem: k.pem, certPem: pki.certificateToPem(cert) };
}

function serverExtensions(hosts: string[]): object[] {
  return [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ];
}

export class TestCa {
  readonly certPem: string;
  readonly keyPem: string;
  private readonly cert: forge.pki.Certificate;
  private readonly key: forge.pki.rsa.PrivateKey;

  constructor(name = 'mitmscope test CA') {
    const attrs = [{ name: 'commonName', value: `${name} ${randomBytes(3).toString('hex')}` }];
    const ca = build({
      subject: attrs,
      issuer: attrs,
      notBefore: Date.now() - DAY,
      notAfter: Date.now() + 365 * DAY,
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        { name: 'subjectKeyIdentifier' },
      ],
      signer: null,
    });
    this.cert = ca.cert;
    this.key = ca.key;
    this.certPem = ca.certPem;
    this.keyPem = ca.keyPem;
  }

  /** A server certificate for `hosts`; `expired` makes it lapse yesterday. */
  issue(hosts: string[], options: { expired?: boolean } = {}): KeyPair {
    const { keyPem, certPem } = build({
      subject: [{ name: 'commonName', value: hosts[0] ?? 'localhost' }],
      issuer: this.cert.subject.attributes,
      notBefore: Date.now() - (options.expired ? 30 : 1) * DAY,
      notAfter: Date.now() + (options.expired ? -1 : 30) * DAY,
      extensions: serverExtensions(hosts),
      signer: this.key,
    });
    return { keyPem, certPem };
  }
}

/** A self-signed server certificate (no CA at all): a leaf that is its own issuer. */
export function selfSigned(host: string): KeyPair {
  const attrs = [{ name: 'commonName', value: host }];
  const { keyPem, certPem } = build({ subject: attrs, issuer: attrs, notBefore: Date.now() - DAY, notAfter: Date.now() + 30 * DAY, extensions: serverExtensions([host]), signer: null });
  return { keyPem, certPem };
}
