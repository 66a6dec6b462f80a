import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { loadOrCreateRootCa, type RootCa } from '../../src/ca/root-ca.js';
import { CertificateMinter, normalizeHost, type LeafKey } from '../../src/ca/mint.js';
import { isMitmError } from '../../src/errors.js';
import { certificatesParsed, summarizeCertificate } from '../../src/tls/messages.js';
import { summarizeX509 } from '../../src/tls/tap.js';
import { requireTools } from '../helpers/tools.js';

const run = promisify(execFile);
const DAY = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

function isMint(err: unknown): boolean {
  assert.ok(isMitmError(err), String(err));
  assert.equal(err.code, 'MITM_ERR_MINT');
  return true;
}

interface Handshake {
  authorized: boolean;
  authorizationError: string | null;
  peer: tls.DetailedPeerCertificate;
}

/**
 * A TLS server on `host` port 0, closed through `t.after`. With `secureContext` it wraps each
 * socket as the proxy's intercept does (tls.Server ignores that option); with `SNICallback` it
 * is a plain tls.Server.
 */
async function serve(
  t: { after(fn: () => unknown): void },
  host: string,
  options: { SNICallback: NonNullable<tls.TlsOptions['SNICallback']> } | { secureContext: SecureContext },
): Promise<number> {
  const server =
    'secureContext' in options
      ? net.createServer((raw) => {
          const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: options.secureContext });
          socket.on('error', () => undefined);
          socket.once('secure', () => socket.end('hi'));
        })
      : tls.createServer(options, (socket) => socket.end('hi')).on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

function connect(options: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(options, () => {
      const result = {
        authorized: socket.authorized,
        authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
        peer: socket.getPeerCertificate(true),
      };
      socket.end();
      resolve(result);
    });
    socket.once('error', reject);
  });
}

function extension<T>(cert: X509Certificate, name: string): T {
  return forge.pki.certificateFromPem(cert.toString()).getExtension(name) as T;
}

describe('leaf certificates', () => {
  let dir: string;
  let rootCa: RootCa;
  let minter: CertificateMinter;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-mint-test-'));
    rootCa = await loadOrCreateRootCa(join(dir, 'ca'));
    minter = await CertificateMinter.create(rootCa);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('openssl verifies a leaf against ca.pem', { skip: requireTools('openssl') }, async () => {
    const { certPem } = await minter.certificateFor('verify.test');
    const leafFile = join(dir, 'leaf.pem');
    await writeFile(leafFile, certPem);
    const { stdout } = await run('openssl', ['verify', '-CAfile', rootCa.paths.pem, '-purpose', 'sslserver', leafFile]);
    assert.match(stdout, /leaf\.pem: OK/);
  });

  test('a Node client trusting only the CA completes a verified handshake with a server using contextFor through SNI', async (t) => {
    const port = await serve(t, '127.0.0.1', {
      SNICallback: (name, cb) => {
        minter.contextFor(name).then((ctx) => cb(null, ctx), (err: Error) => cb(err));
      },
    });
    const hs = await connect({ host: '127.0.0.1', port, servername: 'anything.test', ca: rootCa.certPem, rejectUnauthorized: true });
    assert.equal(hs.authorized, true, hs.authorizationError ?? '');
    assert.equal(hs.peer.subject.CN, 'anything.test');
    assert.equal(hs.peer.subjectaltname, 'DNS:anything.test');
    // Only the leaf is sent; the client completes the chain with the CA it trusts.
    assert.equal(hs.peer.issuerCertificate.fingerprint256, rootCa.fingerprint256);
  });

  test('the same client rejects the leaf for another name', async (t) => {
    const port = await serve(t, '127.0.0.1', { secureContext: await minter.contextFor('one.test') });
    await assert.rejects(
      connect({ host: '127.0.0.1', port, servername: 'other.test', ca: rootCa.certPem, rejectUnauthorized: true }),
      (err: NodeJS.ErrnoException) => err.code === 'ERR_TLS_CERT_ALTNAME_INVALID',
    );
  });

  for (const ip of ['127.0.0.1', '::1']) {
    test(`an IP host (${ip}) gets an IP SAN that Node accepts when connecting to the IP without SNI`, async (t) => {
      const { cert } = await minter.certificateFor(ip);
      assert.equal(cert.subjectAltName, `IP Address:${ip === '::1' ? '0:0:0:0:0:0:0:1' : ip}`);
      let port: number;
      try {
        port = await serve(t, ip, { secureContext: await minter.contextFor(ip) });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return t.skip(`${ip} is not configured here`);
        throw err;
      }
      const hs = await connect({ host: ip, port, ca: rootCa.certPem, rejectUnauthorized: true });
      assert.equal(hs.authorized, true, hs.authorizationError ?? '');
    });
  }

  test('a bracketed IPv6 literal names the same leaf as the bare one', async () => {
    const bare = await minter.certificateFor('::1');
    const bracketed = await minter.certificateFor('[::1]');
    assert.equal(bracketed.certPem, bare.certPem);
    assert.deepEqual(normalizeHost('[0:0:0:0:0:0:0:1]'), { kind: 'ip', name: '::1' });
  });

  test('an IDN gets its punycode name in the SAN and the CN', async () => {
    const { cert } = await minter.certificateFor('bücher.example');
    assert.equal(cert.subjectAltName, 'DNS:xn--bcher-kva.example');
    assert.equal(cert.subject, 'CN=xn--bcher-kva.example');
  });

  test('a name longer than 64 characters keeps it whole in the SAN and truncated in the CN', async () => {
    const host = `${'a'.repeat(63)}.${'b'.repeat(20)}.example`;
    const { cert } = await minter.certificateFor(host);
    assert.equal(cert.subjectAltName, `DNS:${host}`);
    assert.equal(cert.subject, `CN=${host.slice(0, 64)}`);
  });

  test('case and a trailing dot do not make another leaf', async () => {
    const before = minter.stats.minted;
    const a = await minter.certificateFor('Case.Test');
    const b = await minter.certificateFor('case.test.');
    assert.equal(a.certPem, b.certPem);
    assert.equal(minter.stats.minted, before + 1);
  });

  test('every leaf has its own positive 16-byte serial', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { cert } = await minter.certificateFor(`serial-${i}.test`);
      assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/);
      serials.add(cert.serialNumber);
    }
    assert.equal(serials.size, 20);
  });

  test("a leaf's key identifier differs from the CA's, and its authority key identifier is the CA's", async () => {
    const { cert } = await minter.certificateFor('ski.test');
    const ski = extension<{ subjectKeyIdentifier: string }>(cert, 'subjectKeyIdentifier');
    assert.notEqual(ski.subjectKeyIdentifier, rootCa.subjectKeyIdentifier.toString('hex'));
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] ... }
    const aki = forge.asn1.fromDer(extension<{ value: string }>(cert, 'authorityKeyIdentifier').value);
    const keyId = (aki.value as forge.asn1.Asn1[])[0]!;
    assert.equal(Buffer.from(keyId.value as string, 'binary').toString('hex'), rootCa.subjectKeyIdentifier.toString('hex'));
  });

  test('a leaf is valid from the past for at most 397 days, and not beyond its CA', async () => {
    const { cert } = await minter.certificateFor('validity.test');
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    assert.ok(from < Date.now() - DAY / 2, cert.validFrom);
    assert.ok(to - from <= 397 * DAY, `${cert.validFrom} .. ${cert.validTo}`);
    assert.ok(to - from > 390 * DAY);
    assert.ok(to <= Date.parse(rootCa.cert.validTo));
  });

  test('a leaf is an end-entity server certificate: EKU serverAuth, digitalSignature + keyEncipherment, CA:FALSE', async () => {
    const { cert } = await minter.certificateFor('usage.test');
    assert.deepEqual(cert.keyUsage, [SERVER_AUTH]);
    assert.equal(cert.ca, false);
    assert.equal(cert.issuer, rootCa.cert.subject);
    assert.ok(cert.verify(rootCa.cert.publicKey));
    const ku = extension<{ digitalSignature: boolean; keyEncipherment: boolean; keyCertSign: boolean; critical: boolean }>(cert, 'keyUsage');
    assert.deepEqual([ku.digitalSignature, ku.keyEncipherment, ku.keyCertSign, ku.critical], [true, true, false, true]);
  });

  test('50 concurrent requests for one host mint one leaf', async () => {
    const fresh = await CertificateMinter.create(rootCa);
    const contexts = await Promise.all(Array.from({ length: 50 }, () => fresh.contextFor('same.test')));
    assert.equal(fresh.stats.minted, 1);
    assert.equal(fresh.stats.coalesced, 49);
    assert.ok(contexts.every((c) => c === contexts[0]));
  });

  test('the cache keeps at most cacheSize leaves, dropping the least recently used', async () => {
    const small = await CertificateMinter.create(rootCa, { cacheSize: 10 });
    for (let i = 0; i < 25; i++) await small.contextFor(`lru-${i}.test`);
    assert.ok(small.cacheSize <= 10, String(small.cacheSize));
    await small.contextFor('lru-24.test');
    assert.equal(small.stats.hits, 1);
    await small.contextFor('lru-0.test');
    assert.equal(small.stats.minted, 26);
  });

  test('a cacheSize that is not a positive integer is a configuration error', () => {
    assert.throws(() => new CertificateMinter(rootCa, leafKey(), { cacheSize: 0 }), { code: 'MITM_ERR_CONFIG' });
  });

  test('something that is not a host rejects with MITM_ERR_MINT and caches nothing', async () => {
    const fresh = await CertificateMinter.create(rootCa);
    for (const bad of ['', 'exa mple.test', 'example.test:443', '[::1', 'not:an:ip::x']) {
      await assert.rejects(fresh.contextFor(bad), isMint, bad);
    }
    assert.equal(fresh.cacheSize, 0);
    assert.equal(fresh.stats.minted, 0);
  });

  test('a failed mint rejects with MITM_ERR_MINT, is not cached, and is tried again next time', async () => {
    // A leaf key whose private half does not match its public half: OpenSSL refuses the context.
    const good = leafKey();
    const broken = new CertificateMinter(rootCa, { ...good, privateKeyPem: leafKey().privateKeyPem });
    await assert.rejects(broken.contextFor('fail.test'), isMint);
    await assert.rejects(broken.contextFor('fail.test'), isMint);
    assert.equal(broken.cacheSize, 0);
    assert.deepEqual(broken.stats, { minted: 0, hits: 0, coalesced: 0 });
  });

  test('a minted leaf is summarized without parsing it, exactly as parsing it would', async () => {
    const fresh = await CertificateMinter.create(rootCa);
    const long = `${'a'.repeat(60)}.${'b'.repeat(30)}.test`;
    const hosts = ['plain.test', 'Mixed.Case.TEST', 'under_score.test', 'bücher.test', long];
    const leaves = [];
    for (const host of hosts) leaves.push(await fresh.leafDer(host), await fresh.leafDer(host, true));
    const before = certificatesParsed();
    const summaries = leaves.map((der) => summarizeCertificate(der));
    assert.equal(certificatesParsed(), before, 'minted DNS leaves were summarized from the cache');
    leaves.forEach((der, i) => assert.deepEqual(summaries[i], summarizeX509(new X509Certificate(der)), hosts[i >> 1]));
    // Two leaves per host, RSA then ECDSA.
    assert.equal(summaries[2 * hosts.indexOf('bücher.test')]!.subject, 'CN=xn--bcher-kva.test');
    assert.equal(summaries[2 * hosts.indexOf(long)]!.subject, `CN=${long.slice(0, 64)}`);
    // An IP leaf is parsed: OpenSSL prints addresses its own way.
    const ip = await fresh.leafDer('127.0.0.1');
    assert.deepEqual(summarizeCertificate(ip), summarizeX509(new X509Certificate(ip)));
    assert.equal(certificatesParsed(), before + 1);
  });

  test('a minter refuses the CA key as its leaf key (the leaf SKI would equal the CA SKI)', () => {
    assert.throws(
      () => new CertificateMinter(rootCa, { privateKeyPem: rootCa.keyPem, privateKey: rootCa.key, publicKey: createPublicKey(rootCa.key) }),
      isMint,
    );
  });
});

function leafKey(): LeafKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), publicKey, privateKey };
}
