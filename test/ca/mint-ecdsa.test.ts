import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import forge from 'node-forge';
import { loadOrCreateRootCa, type RootCa } from '../../src/ca/root-ca.js';
import { CertificateMinter } from '../../src/ca/mint.js';
import { KEYED_CONTEXTS_READY } from '../../src/ca/keyed-contexts.js';
import { requireTools } from '../helpers/tools.js';

/** A TLS server wrapping each socket with `context`, as the proxy's intercept does; closed by t.after. */
async function serve(t: { after(fn: () => unknown): void }, context: SecureContext): Promise<number> {
  const server = net.createServer((raw) => {
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    socket.on('error', () => undefined);
    socket.once('secure', () => socket.end('hi'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** openssl s_client with `args`, stdin closed at once; resolves with everything it printed. */
function sClient(port: number, name: string, caFile: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name, '-CAfile', caFile, '-verify_return_error', ...args], (_err, stdout, stderr) => resolve(stdout + stderr));
    child.stdin?.end();
  });
}

function nodeClient(port: number, options: tls.ConnectionOptions): Promise<{ authorized: boolean; error: string | null; peer: tls.DetailedPeerCertificate }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
      resolve({ authorized: socket.authorized, error: socket.authorizationError ? String(socket.authorizationError) : null, peer: socket.getPeerCertificate(true) });
      socket.end();
    });
    socket.once('error', reject);
  });
}

/** What forge reads from a certificate extension (only the fields asserted here). */
interface Extension {
  name: string;
  digitalSignature?: boolean;
  keyEncipherment?: boolean;
  subjectKeyIdentifier?: string;
}

describe('ECDSA P-256 leaf beside the RSA leaf', () => {
  let dir: string;
  let rootCa: RootCa;
  let minter: CertificateMinter;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-ecdsa-test-'));
    rootCa = await loadOrCreateRootCa(join(dir, 'ca'));
    minter = await CertificateMinter.create(rootCa);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('openssl s_client by default is served the ECDSA leaf and verifies it against ca.pem', { skip: requireTools('openssl') }, async (t) => {
    const port = await serve(t, await minter.contextFor('ec.test'));
    const out = await sClient(port, 'ec.test', rootCa.paths.pem, ['-verify_hostname', 'ec.test']);
    assert.match(out, /Verify return code: 0 \(ok\)/);
    assert.match(out, /Peer signature type: ECDSA/);
    assert.match(out, /Server public key is 256 bit/);
  });

  test('an RSA-only client (openssl s_client -tls1_2 -cipher AES256-SHA) is served the RSA leaf and verifies it', { skip: requireTools('openssl') }, async (t) => {
    const port = await serve(t, await minter.contextFor('rsa.test'));
    const out = await sClient(port, 'rsa.test', rootCa.paths.pem, ['-verify_hostname', 'rsa.test', '-tls1_2', '-cipher', 'AES256-SHA']);
    assert.match(out, /Verify return code: 0 \(ok\)/);
    assert.match(out, /Cipher is AES256-SHA/);
    assert.match(out, /Server public key is 2048 bit/);
  });

  test('a Node client verifies the ECDSA leaf, which is the DER leafDer(host, true) returns', async (t) => {
    const port = await serve(t, await minter.contextFor('node-ec.test'));
    const hs = await nodeClient(port, { servername: 'node-ec.test', ca: rootCa.certPem, rejectUnauthorized: true });
    assert.equal(hs.authorized, true, hs.error ?? '');
    assert.equal(hs.peer.asn1Curve, 'prime256v1');
    assert.equal(hs.peer.subjectaltname, 'DNS:node-ec.test');
    assert.deepEqual(hs.peer.raw, await minter.leafDer('node-ec.test', true));
    assert.notDeepEqual(hs.peer.raw, await minter.leafDer('node-ec.test'));
  });

  test('the ECDSA leaf signs only (no keyEncipherment) and its key identifier is the SHA-1 of its EC point', async () => {
    const cert = new X509Certificate(await minter.leafDer('usage-ec.test', true));
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.ok(cert.verify(rootCa.cert.publicKey));
    // forge cannot read EC keys, so read the extensions from the ASN.1 directly.
    const asn = forge.asn1.fromDer(cert.raw.toString('binary'));
    const readExtensions = (forge.pki as unknown as { certificateExtensionsFromAsn1(exts: forge.asn1.Asn1): Extension[] }).certificateExtensionsFromAsn1;
    const exts = readExtensions(((asn.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[]).at(-1)!);
    const ku = exts.find((e) => e.name === 'keyUsage')!;
    assert.deepEqual([ku.digitalSignature, ku.keyEncipherment], [true, false]);
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    // P-256 SPKI ends with the 65-byte uncompressed point.
    const point = spki.subarray(spki.length - 65);
    assert.equal(exts.find((e) => e.name === 'subjectKeyIdentifier')!.subjectKeyIdentifier, createHash('sha1').update(point).digest('hex'));
  });

  test('an ECDSA-only context holds the same ECDSA leaf as the context with both, minted once for the host', async (t) => {
    const fresh = await CertificateMinter.create(rootCa);
    const only = await fresh.contextFor('ec-only.test', 'ecdsa');
    const port = await serve(t, only);
    const hs = await nodeClient(port, { servername: 'ec-only.test', ca: rootCa.certPem, rejectUnauthorized: true });
    assert.equal(hs.authorized, true, hs.error ?? '');
    assert.equal(hs.peer.asn1Curve, 'prime256v1');
    const both = await fresh.contextFor('ec-only.test');
    assert.notEqual(both, only);
    const bothPort = await serve(t, both);
    const again = await nodeClient(bothPort, { servername: 'ec-only.test', ca: rootCa.certPem, rejectUnauthorized: true });
    assert.deepEqual(again.peer.raw, hs.peer.raw, 'one ECDSA certificate per host, whichever context serves it');
    assert.deepEqual(hs.peer.raw, await fresh.leafDer('ec-only.test', true));
    assert.equal(await fresh.contextFor('ec-only.test', 'ecdsa'), only);
    assert.deepEqual(fresh.stats, { minted: 1, hits: 1, coalesced: 0 });
  });

  test('an ECDSA-only context refuses a client that offers only RSA suites (so it is served only to hellos that accept ECDSA)', { skip: requireTools('openssl') }, async (t) => {
    const port = await serve(t, await minter.contextFor('ec-refuses.test', 'ecdsa'));
    const out = await sClient(port, 'ec-refuses.test', join(dir, 'ca', 'ca.pem'), ['-tls1_2', '-cipher', 'AES256-SHA']);
    assert.match(out, /handshake failure|no shared cipher|alert/i, out);
    assert.doesNotMatch(out, /Cipher is AES256-SHA/, out);
  });

  test('contexts made ahead with the leaf keys serve each new host its own leaf (the client completes the chain with its trust anchor), ECDSA or RSA', { skip: requireTools('openssl') }, async (t) => {
    const fresh = await CertificateMinter.create(rootCa);
    // The first context of each key set is made whole (it checks that keys and leaves match); then some are made ahead.
    await fresh.contextFor('ahead-first.test', 'ecdsa');
    await fresh.contextFor('ahead-first.test', 'both');
    const ahead = (): CertificateMinter['contextsMadeAhead'] => fresh.contextsMadeAhead;
    while (ahead().ecdsa!.ready < KEYED_CONTEXTS_READY || ahead().both.ready < KEYED_CONTEXTS_READY) await new Promise((resolve) => setTimeout(resolve, 5));
    const ecPort = await serve(t, await fresh.contextFor('ahead-ec.test', 'ecdsa'));
    const bothPort = await serve(t, await fresh.contextFor('ahead-both.test', 'both'));
    assert.deepEqual([ahead().ecdsa!.taken, ahead().both.taken], [1, 1], 'both contexts came from the ones made ahead');

    const hs = await nodeClient(ecPort, { servername: 'ahead-ec.test', ca: rootCa.certPem, rejectUnauthorized: true });
    assert.equal(hs.authorized, true, hs.error ?? '');
    assert.equal(hs.peer.subjectaltname, 'DNS:ahead-ec.test');
    assert.deepEqual(hs.peer.raw, await fresh.leafDer('ahead-ec.test', true));
    const chainOf = (out: string): string[] => [...out.matchAll(/^ *(\d+) s:(.*)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    const ecOut = await sClient(ecPort, 'ahead-ec.test', rootCa.paths.pem, ['-verify_hostname', 'ahead-ec.test', '-showcerts']);
    assert.match(ecOut, /Verify return code: 0 \(ok\)/);
    assert.equal(chainOf(ecOut).length, 1, `the leaf alone is sent:\n${ecOut}`);
    assert.match(chainOf(ecOut)[0]!, /ahead-ec\.test/);

    const rsaOut = await sClient(bothPort, 'ahead-both.test', rootCa.paths.pem, ['-verify_hostname', 'ahead-both.test', '-tls1_2', '-cipher', 'AES256-SHA', '-showcerts']);
    assert.match(rsaOut, /Verify return code: 0 \(ok\)/);
    assert.match(rsaOut, /Server public key is 2048 bit/);
    assert.equal(chainOf(rsaOut).length, 1, `the leaf alone is sent:\n${rsaOut}`);
    const ecOfBoth = await sClient(bothPort, 'ahead-both.test', rootCa.paths.pem, ['-verify_hostname', 'ahead-both.test']);
    assert.match(ecOfBoth, /Verify return code: 0 \(ok\)/);
    assert.match(ecOfBoth, /Server public key is 256 bit/);
  });

  test('an RSA-only minter serves RSA to a client that accepts ECDSA', async (t) => {
    const rsaOnly = await CertificateMinter.create(rootCa, { rsaOnly: true });
    const port = await serve(t, await rsaOnly.contextFor('only-rsa.test'));
    const hs = await nodeClient(port, { servername: 'only-rsa.test', ca: rootCa.certPem, rejectUnauthorized: true });
    assert.equal(hs.authorized, true, hs.error ?? '');
    assert.equal(hs.peer.bits, 2048);
    assert.deepEqual(await rsaOnly.leafDer('only-rsa.test', true), await rsaOnly.leafDer('only-rsa.test'));
  });
});
