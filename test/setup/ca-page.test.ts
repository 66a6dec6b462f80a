import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { caPageHandler, type CaFiles } from '../../src/setup/ca-page.js';
import { TestCa } from '../helpers/pki.js';
import { requireTools } from '../helpers/tools.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function p12Der(certPem: string, password: string | null, keyPem?: string): Buffer {
  const cert = forge.pki.certificateFromPem(certPem);
  const key = keyPem ? forge.pki.privateKeyFromPem(keyPem) : null;
  // forge's types omit null; at run time null means "no password" (a MAC over no password bytes).
  const asn1 = forge.pkcs12.toPkcs12Asn1(key, [cert], password as string, { algorithm: '3des' });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

async function startPage(files: CaFiles, fingerprint: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(caPageHandler(files, fingerprint));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A request as a client configured with the proxy sends it: `path` may be absolute-form. */
function request(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host: 'mitmscope.test' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertStrictCsp(reply: Reply): void {
  const csp = String(reply.headers['content-security-policy']);
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|script-src/);
  assert.equal(reply.headers['x-content-type-options'], 'nosniff');
  const html = reply.body.toString();
  assert.doesNotMatch(html, /<script|\son\w+=/i, 'no script, no inline handlers');
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1];
  assert.ok(style !== undefined);
  assert.ok(csp.includes(`'sha256-${createHash('sha256').update(style).digest('base64')}'`), 'the CSP allows exactly the style block served');
}

describe('the CA install page', () => {
  const ca = new TestCa('mitmscope page test CA');
  const der = new X509Certificate(ca.certPem).raw;
  const fingerprint = new X509Certificate(ca.certPem).fingerprint256;
  let dir: string;
  let files: { pem: string; cer: string; p12: string };
  let page: Awaited<ReturnType<typeof startPage>>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-page-'));
    files = { pem: join(dir, 'ca.pem'), cer: join(dir, 'ca.cer'), p12: join(dir, 'ca.p12') };
    await writeFile(files.pem, ca.certPem);
    await writeFile(files.cer, der);
    await writeFile(files.p12, p12Der(ca.certPem, null));
    page = await startPage(files, fingerprint);
  });
  after(async () => {
    await page.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('/ is an HTML page with the three downloads, the fingerprint and a strict CSP', async () => {
    const r = await request(page.port, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assertStrictCsp(r);
    const html = r.body.toString();
    for (const link of ['/ca.pem', '/ca.cer', '/ca.p12']) assert.ok(html.includes(`href="${link}"`), link);
    assert.ok(html.includes(fingerprint));
  });

  test('it gives the install steps for macOS, Windows, Linux, NSS browsers, Firefox, Android and iOS', async () => {
    const html = (await request(page.port, '/')).body.toString();
    for (const needle of [
      'security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain',
      'certutil -user -addstore Root',
      'Trusted Root Certification Authorities',
      '/usr/local/share/ca-certificates/mitmscope.crt &#38;&#38; sudo update-ca-certificates',
      'trust anchor',
      'certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n mitmscope -i',
      'Trust this CA to identify websites',
      'network_security_config',
      '&#60;certificates src=&#34;user&#34;/&#62;',
      'Certificate Trust Settings',
    ]) {
      assert.ok(html.includes(needle), needle);
    }
  });

  test('the fingerprint is escaped: markup in it is shown, never run', async () => {
    const evil = await startPage(files, '<script>alert(1)</script>"\'&');
    try {
      const r = await request(evil.port, '/');
      assertStrictCsp(r);
      assert.ok(r.body.toString().includes('&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;'));
    } finally {
      await evil.close();
    }
  });

  test('downloads are byte-identical to the files, with their content types, as attachments', async () => {
    for (const [path, file, type, name] of [
      ['/ca.pem', files.pem, 'application/x-pem-file', 'mitmscope-ca.pem'],
      ['/ca.cer', files.cer, 'application/pkix-cert', 'mitmscope-ca.cer'],
      ['/ca.p12', files.p12, 'application/x-pkcs12', 'mitmscope-ca.p12'],
    ] as const) {
      const r = await request(page.port, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type);
      assert.equal(r.headers['content-disposition'], `attachment; filename="${name}"`);
      assert.ok(r.body.equals(await readFile(file)), path);
      assert.equal(Number(r.headers['content-length']), r.body.length);
    }
  });

  test('the downloaded DER hashes to the fingerprint shown (what the page tells users to check)', async () => {
    const r = await request(page.port, '/ca.cer');
    const hex = createHash('sha256').update(r.body).digest('hex').toUpperCase();
    assert.equal(hex.match(/../g)!.join(':'), fingerprint);
  });

  test('absolute-form request URLs (plain proxy requests) are answered the same', async () => {
    const r = await request(page.port, 'http://mitmscope.test/ca.pem');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), ca.certPem);
    assert.equal((await request(page.port, 'http://mitmscope.test/')).status, 200);
  });

  test('HEAD gives the headers without a body', async () => {
    const r = await request(page.port, '/ca.p12', 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/x-pkcs12');
    assert.equal(r.body.length, 0);
  });

  test('anything else is a 404 page that does not echo the path; other methods get 405', async () => {
    for (const path of ['/ca.key', '/../ca.key', '/ca.pem/', '/favicon.ico', '/<script>x</script>']) {
      const r = await request(page.port, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers['x-mitmscope-error'], 'MITM_ERR_NOT_FOUND', path);
      assertStrictCsp(r);
      assert.ok(!r.body.toString().includes('ca.key'));
    }
    const post = await request(page.port, '/ca.pem', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers['x-mitmscope-error'], 'MITM_ERR_METHOD_NOT_ALLOWED');
    assert.equal(post.headers['allow'], 'GET, HEAD');
  });

  test('a .p12 written by OpenSSL with an empty password is served too', { skip: requireTools('openssl') }, async () => {
    const made = join(dir, 'openssl.p12');
    execFileSync('openssl', ['pkcs12', '-export', '-nokeys', '-in', files.pem, '-out', made, '-passout', 'pass:']);
    const other = await startPage({ ...files, p12: made }, fingerprint);
    try {
      const r = await request(other.port, '/ca.p12');
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(await readFile(made)));
    } finally {
      await other.close();
    }
  });

  test('files that hold the private key are refused with a 500 that reveals nothing', async () => {
    const keyed = { pem: join(dir, 'keyed.pem'), cer: files.cer, p12: join(dir, 'keyed.p12') };
    await writeFile(keyed.pem, `${ca.certPem}${ca.keyPem}`);
    await writeFile(keyed.p12, p12Der(ca.certPem, '', ca.keyPem));
    const bad = await startPage(keyed, fingerprint);
    try {
      for (const path of ['/ca.pem', '/ca.p12']) {
        const r = await request(bad.port, path);
        assert.equal(r.status, 500, path);
        assert.equal(r.headers['x-mitmscope-error'], 'MITM_ERR_CA_IO', path);
        assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
        assert.ok(!r.body.toString().includes('PRIVATE'));
        assert.ok(!r.body.toString().includes(dir));
      }
    } finally {
      await bad.close();
    }
  });

  test('contents given as bytes (a read-only CA folder) are served as they are, and checked the same way', async () => {
    const inMemory: CaFiles = { pem: Buffer.from(ca.certPem), cer: der, p12: p12Der(ca.certPem, '') };
    const mem = await startPage(inMemory, fingerprint);
    const keyed = await startPage({ ...inMemory, pem: Buffer.from(`${ca.certPem}${ca.keyPem}`) }, fingerprint);
    try {
      for (const [path, bytes] of [['/ca.pem', inMemory.pem], ['/ca.cer', inMemory.cer], ['/ca.p12', inMemory.p12]] as const) {
        const r = await request(mem.port, path);
        assert.equal(r.status, 200, path);
        assert.ok(r.body.equals(bytes as Buffer), path);
      }
      assert.equal((await request(keyed.port, '/ca.pem')).status, 500);
    } finally {
      await mem.close();
      await keyed.close();
    }
  });

  test('serves the files the real CA module writes (its .p12 passes the no-key check)', async () => {
    const { loadOrCreateRootCa } = await import('../../src/ca/root-ca.js');
    const caDir = join(dir, 'real-ca');
    const rootCa = await loadOrCreateRootCa(caDir);
    for (const source of [rootCa.paths, { pem: Buffer.from(rootCa.certPem), cer: rootCa.certDer, p12: rootCa.p12 }]) {
      const real = await startPage(source, rootCa.fingerprint256);
      try {
        const html = (await request(real.port, '/')).body.toString();
        assert.ok(html.includes(rootCa.fingerprint256));
        for (const [path, bytes] of [['/ca.pem', Buffer.from(rootCa.certPem)], ['/ca.cer', rootCa.certDer], ['/ca.p12', rootCa.p12]] as const) {
          const r = await request(real.port, path);
          assert.equal(r.status, 200, path);
          assert.ok(r.body.equals(bytes), path);
        }
      } finally {
        await real.close();
      }
    }
  });

  test('a missing file is a 500, not a crash', async () => {
    const gone = await startPage({ ...files, cer: join(dir, 'missing.cer') }, fingerprint);
    try {
      assert.equal((await request(gone.port, '/ca.cer')).status, 500);
      assert.equal((await request(gone.port, '/')).status, 200);
    } finally {
      await gone.close();
    }
  });
});
