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

export class TestCa {
  readonly certPem: string;
  readonly keyPem: string;
  private readonly cert: forge.pki.Certificate;
  private readonly key: forge.pki.rsa.PrivateKey;

  constructor(name = 'mitmscope test CA') {
    const k = newKey();
    const cert = pki.createCertificate();
    cert.publicKey = k.publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - DAY);
    cert.validity.notAfter = new Date(Date.now() + 365 * DAY);
    const attrs = [{ name: 'commonName', value: `${name} ${randomBytes(3).toString('hex')}` }];
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(k.forgeKey, md.sha256.create());
    this.cert = cert;
    this.key = k.forgeKey;
    this.certPem = pki.certificateToPem(cert);
    this.keyPem = k.pem;
  }

  /** A server certificate for `hosts`; `expired` makes it lapse yesterday. */
  issue(hosts: string[], options: { expired?: boolean } = {}): KeyPair {
    const k = newKey();
    const cert = pki.createCertificate();
    cert.publicKey = k.publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - (options.expired ? 30 : 1) * DAY);
    cert.validity.notAfter = new Date(Date.now() + (options.expired ? -1 : 30) * DAY);
    cert.setSubject([{ name: 'commonName', value: hosts[0] ?? 'localhost' }]);
    cert.setIssuer(this.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
    ]);
    cert.sign(this.key, md.sha256.create());
    return { keyPem: k.pem, certPem: pki.certificateToPem(cert) };
  }
}

/** A self-signed server certificate (no CA at all): a leaf that is its own issuer. */
export function selfSigned(host: string): KeyPair {
  const k = newKey();
  const cert = pki.createCertificate();
  cert.publicKey = k.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + 30 * DAY);
  const attrs = [{ name: 'commonName', value: host }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: host }] },
  ]);
  cert.sign(k.forgeKey, md.sha256.create());
  return { keyPem: k.pem, certPem: pki.certificateToPem(cert) };
}
