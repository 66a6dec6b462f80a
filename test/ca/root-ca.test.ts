import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { loadOrCreateRootCa, type RootCa } from '../../src/ca/root-ca.js';
import { CaError, isMitmError } from '../../src/errors.js';
import { requireTools } from '../helpers/tools.js';

const run = promisify(execFile);

async function openssl(...args: string[]): Promise<string> {
  const { stdout } = await run('openssl', args);
  return stdout;
}

/** Every file in `dir` with its bytes and mtime, to prove a failed load touched nothing. */
async function snapshot(dir: string): Promise<Map<string, { bytes: Buffer; mtimeMs: number; mode: number }>> {
  const out = new Map<string, { bytes: Buffer; mtimeMs: number; mode: number }>();
  for (const name of (await readdir(dir)).sort()) {
    const file = join(dir, name);
    const info = await stat(file);
    out.set(name, { bytes: await readFile(file), mtimeMs: info.mtimeMs, mode: info.mode });
  }
  return out;
}

async function rejectsCorrupt(dir: string, file: string, message?: RegExp): Promise<void> {
  const before = await snapshot(dir);
  await assert.rejects(loadOrCreateRootCa(dir), (err: unknown) => {
    assert.ok(err instanceof CaError, String(err));
    assert.equal(err.code, 'MITM_ERR_CA_CORRUPT');
    assert.equal(err.file, join(dir, file));
    assert.ok(err.message.includes(join(dir, file)), err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
  assert.deepEqual(await snapshot(dir), before, 'a failed load must leave every file as it was');
}

describe('the root CA', () => {
  let root: string;
  let fresh: RootCa;
  let freshDir: string;
  let counter = 0;
  const newDir = (): string => join(root, `ca-${counter++}`);

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mitmscope-ca-test-'));
    // A nested path that does not exist yet: loadOrCreateRootCa must mkdir -p it.
    freshDir = join(root, 'nested', 'deeper', 'ca');
    fresh = await loadOrCreateRootCa(freshDir);
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('a first start creates ca.pem, ca.key, ca.cer and ca.p12 in a new folder, with ca.key mode 0600', async () => {
    assert.equal(fresh.created, true);
    assert.deepEqual((await readdir(freshDir)).sort(), ['ca.cer', 'ca.key', 'ca.p12', 'ca.pem']);
    assert.deepEqual(fresh.paths, {
      pem: join(freshDir, 'ca.pem'),
      key: join(freshDir, 'ca.key'),
      cer: join(freshDir, 'ca.cer'),
      p12: join(freshDir, 'ca.p12'),
    });
    assert.equal((await stat(fresh.paths.key)).mode & 0o777, 0o600);
    assert.deepEqual(fresh.warnings, []);
  });

  test('openssl reads ca.pem as a critical CA:TRUE certificate for signing certificates and CRLs, SHA-256 signed', { skip: requireTools('openssl') }, async () => {
    const text = await openssl('x509', '-in', fresh.paths.pem, '-noout', '-text');
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    assert.match(text, /X509v3 Subject Key Identifier/);
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.match(text, /Subject: CN = mitmscope CA [0-9a-f]{12}, O = mitmscope/);
  });

  test('the CA is valid for ten years from two days ago, with a positive random serial', () => {
    const from = Date.parse(fresh.cert.validFrom);
    const to = Date.parse(fresh.cert.validTo);
    const day = 86_400_000;
    assert.ok(Date.now() - from > 1.9 * day && Date.now() - from < 2.1 * day);
    assert.ok(to - Date.now() > 3650 * day - day && to - Date.now() < 3653 * day);
    assert.match(fresh.cert.serialNumber, /^[4-7][0-9A-F]{31}$/);
  });

  test('openssl reads ca.p12 with an empty password and finds the certificate and no key', { skip: requireTools('openssl') }, async () => {
    const out = await openssl('pkcs12', '-in', fresh.paths.p12, '-nokeys', '-passin', 'pass:');
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0];
    assert.ok(pem, out);
    assert.equal(new X509Certificate(pem).fingerprint256, fresh.fingerprint256);
    const info = await openssl('pkcs12', '-in', fresh.paths.p12, '-info', '-noout', '-passin', 'pass:');
    assert.doesNotMatch(info, /Key bag|Shrouded Keybag/i);
    assert.deepEqual(await readFile(fresh.paths.p12), fresh.p12);
  });

  test('ca.cer is the DER of the certificate in ca.pem', { skip: requireTools('openssl') }, async () => {
    const der = await readFile(fresh.paths.cer);
    const pemBody = (await readFile(fresh.paths.pem, 'utf8')).replace(/-----[^-]+-----|\s/g, '');
    assert.deepEqual(der, Buffer.from(pemBody, 'base64'));
    assert.deepEqual(der, fresh.certDer);
    const opensslDer = (await run('openssl', ['x509', '-in', fresh.paths.pem, '-outform', 'der'], { encoding: 'buffer' })).stdout;
    assert.deepEqual(der, opensslDer);
  });

  test('the returned root CA describes the files: fingerprint, key pair and subject key identifier', async () => {
    assert.equal(fresh.fingerprint256, new X509Certificate(await readFile(fresh.paths.pem)).fingerprint256);
    assert.match(fresh.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(fresh.keyPem, await readFile(fresh.paths.key, 'utf8'));
    assert.equal(fresh.key.type, 'private');
    assert.ok(fresh.cert.checkPrivateKey(fresh.key));
    const ski = forge.pki.certificateFromPem(fresh.certPem).getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string };
    assert.equal(fresh.subjectKeyIdentifier.toString('hex'), ski.subjectKeyIdentifier);
    // RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING.
    const spki = createPublicKey(fresh.key).export({ type: 'pkcs1', format: 'der' });
    assert.equal(fresh.subjectKeyIdentifier.toString('hex'), createHash('sha1').update(spki).digest('hex'));
  });

  test('a second start reuses the CA and rewrites no file', async () => {
    const before = await snapshot(freshDir);
    const again = await loadOrCreateRootCa(freshDir);
    assert.equal(again.created, false);
    assert.equal(again.fingerprint256, fresh.fingerprint256);
    assert.equal(again.certPem, fresh.certPem);
    assert.deepEqual(await snapshot(freshDir), before);
  });

  test('two fresh folders get CAs with different subjects and keys', async () => {
    const other = await loadOrCreateRootCa(newDir());
    assert.notEqual(other.cert.subject, fresh.cert.subject);
    assert.notEqual(other.fingerprint256, fresh.fingerprint256);
    assert.notDeepEqual(other.subjectKeyIdentifier, fresh.subjectKeyIdentifier);
  });

  test('a missing ca.cer or ca.p12 is made again from ca.pem; ca.pem and ca.key stay untouched', { skip: requireTools('openssl') }, async () => {
    const dir = newDir();
    const first = await loadOrCreateRootCa(dir);
    const pemBefore = await stat(first.paths.pem);
    const keyBefore = await stat(first.paths.key);
    await unlink(first.paths.cer);
    await unlink(first.paths.p12);
    const again = await loadOrCreateRootCa(dir);
    assert.equal(again.created, false);
    assert.deepEqual(await readFile(again.paths.cer), first.certDer);
    await openssl('pkcs12', '-in', again.paths.p12, '-nokeys', '-passin', 'pass:');
    assert.equal((await stat(first.paths.pem)).mtimeMs, pemBefore.mtimeMs);
    assert.equal((await stat(first.paths.key)).mtimeMs, keyBefore.mtimeMs);
  });

  test('a ca.cer and ca.p12 left from another CA are replaced by ones of this ca.pem', async () => {
    const dir = newDir();
    const own = await loadOrCreateRootCa(dir);
    await copyFile(fresh.paths.cer, own.paths.cer);
    await copyFile(fresh.paths.p12, own.paths.p12);
    const again = await loadOrCreateRootCa(dir);
    assert.deepEqual(await readFile(own.paths.cer), own.certDer);
    assert.ok((await readFile(own.paths.p12)).includes(own.certDer));
    assert.ok(!again.p12.includes(fresh.certDer));
  });

  test('a ca.key readable by others is tightened to 0600, with a warning that says so', async (t) => {
    if (process.platform === 'win32') return t.skip('no POSIX modes');
    const dir = newDir();
    const first = await loadOrCreateRootCa(dir);
    await chmod(first.paths.key, 0o644);
    const again = await loadOrCreateRootCa(dir);
    assert.equal((await stat(first.paths.key)).mode & 0o777, 0o600);
    assert.equal(again.warnings.length, 1);
    assert.match(again.warnings[0]!, /ca\.key was readable by other users \(mode 644\); tightened to 600/);
  });

  test('a derived file that cannot be written is a warning, not a failure (a read-only folder of ca.pem and ca.key works)', async () => {
    const dir = newDir();
    const first = await loadOrCreateRootCa(dir);
    await unlink(first.paths.cer);
    // A folder where ca.cer should be: renaming the new file over it fails whoever runs the test.
    await mkdir(first.paths.cer);
    const again = await loadOrCreateRootCa(dir);
    assert.equal(again.fingerprint256, first.fingerprint256);
    assert.equal(again.warnings.length, 1);
    assert.ok(again.warnings[0]!.includes(first.paths.cer), again.warnings[0]);
  });

  describe('refuses damaged CA files with MITM_ERR_CA_CORRUPT, naming the file and touching nothing', () => {
    let pair: RootCa;
    let pairDir: string;
    before(async () => {
      pairDir = newDir();
      pair = await loadOrCreateRootCa(pairDir);
    });

    async function dirWith(files: Record<string, string | Buffer>): Promise<string> {
      const dir = newDir();
      await loadOrCreateRootCa(dir);
      for (const name of ['ca.pem', 'ca.key', 'ca.cer', 'ca.p12']) await rm(join(dir, name), { force: true });
      for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data, { mode: 0o600 });
      return dir;
    }

    test('a ca.key that is not a PEM private key', async () => {
      const dir = await dirWith({ 'ca.pem': pair.certPem, 'ca.key': 'not a key at all\n' });
      await rejectsCorrupt(dir, 'ca.key', /is not a valid PEM private key; restore it from a backup, or delete ca\.pem and ca\.key/);
    });

    test('a ca.key cut short', async () => {
      const dir = await dirWith({ 'ca.pem': pair.certPem, 'ca.key': pair.keyPem.slice(0, 400) });
      await rejectsCorrupt(dir, 'ca.key');
    });

    test('a ca.key encrypted with a passphrase, with the command that decrypts it', async () => {
      const encrypted = pair.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
      const dir = await dirWith({ 'ca.pem': pair.certPem, 'ca.key': encrypted });
      await rejectsCorrupt(dir, 'ca.key', /passphrase.*openssl pkey/);
    });

    test('a ca.pem that is not a certificate', async () => {
      const dir = await dirWith({ 'ca.pem': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'ca.key': pair.keyPem });
      await rejectsCorrupt(dir, 'ca.pem', /is not a valid PEM certificate/);
    });

    test('a ca.key of another CA than ca.pem', async () => {
      const dir = await dirWith({ 'ca.pem': pair.certPem, 'ca.key': fresh.keyPem });
      await rejectsCorrupt(dir, 'ca.key', /does not match the certificate/);
    });

    test('a ca.pem that is not a CA certificate', { skip: requireTools('openssl') }, async () => {
      const dir = newDir();
      await loadOrCreateRootCa(dir);
      // openssl writes a self-signed end-entity certificate and its key in place.
      await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=not-a-ca', '-days', '30',
        '-addext', 'basicConstraints=critical,CA:FALSE', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'));
      await rejectsCorrupt(dir, 'ca.pem', /is not a CA certificate/);
    });

    test('ca.pem alone (ca.key missing)', async () => {
      const dir = await dirWith({ 'ca.pem': pair.certPem });
      await rejectsCorrupt(dir, 'ca.key', /ca\.key is missing but .*ca\.pem exists; restore ca\.key from a backup, or delete ca\.pem/);
    });

    test('ca.key alone (ca.pem missing)', async () => {
      const dir = await dirWith({ 'ca.key': pair.keyPem });
      await rejectsCorrupt(dir, 'ca.pem', /ca\.pem is missing but .*ca\.key exists/);
    });

    test('the original pair still loads afterwards', async () => {
      const again = await loadOrCreateRootCa(pairDir);
      assert.equal(again.fingerprint256, pair.fingerprint256);
    });
  });

  test('a CA folder that cannot be created rejects with MITM_ERR_CA_IO naming the path', async () => {
    const blocker = join(root, 'a-file');
    await writeFile(blocker, 'not a folder');
    const dir = join(blocker, 'ca');
    await assert.rejects(loadOrCreateRootCa(dir), (err: unknown) => {
      assert.ok(isMitmError(err));
      assert.equal(err.code, 'MITM_ERR_CA_IO');
      assert.equal((err as CaError).file, dir);
      assert.ok(err.message.includes(dir), err.message);
      return true;
    });
  });

  test('a crash between publishing ca.key and ca.pem is completed on the next start', async () => {
    const dir = newDir();
    const origin = await loadOrCreateRootCa(dir);
    await unlink(origin.paths.pem);
    await unlink(origin.paths.cer);
    await unlink(origin.paths.p12);
    // What createPair leaves when killed right after linking ca.key: the pending ca.pem temp file.
    await writeFile(join(dir, '.ca.pem.0123456789ab.tmp'), origin.certPem);
    const recovered = await loadOrCreateRootCa(dir);
    assert.equal(recovered.fingerprint256, origin.fingerprint256);
    assert.deepEqual((await readdir(dir)).sort(), ['ca.cer', 'ca.key', 'ca.p12', 'ca.pem']);
  });

  test('temp files left by a crash long ago are removed; fresh ones may belong to a running start and stay', async () => {
    const dir = newDir();
    await loadOrCreateRootCa(dir);
    const old = join(dir, '.ca.key.aaaaaaaaaaaa.tmp');
    const recent = join(dir, '.ca.cer.bbbbbbbbbbbb.tmp');
    await writeFile(old, 'leftover');
    await writeFile(recent, 'in progress');
    const longAgo = new Date(Date.now() - 3_600_000);
    await utimes(old, longAgo, longAgo);
    await loadOrCreateRootCa(dir);
    const names = await readdir(dir);
    assert.ok(!names.includes('.ca.key.aaaaaaaaaaaa.tmp'));
    assert.ok(names.includes('.ca.cer.bbbbbbbbbbbb.tmp'));
  });

  test('two starts racing on one empty folder end with a single CA that both use', async () => {
    const dir = newDir();
    const [a, b] = await Promise.all([loadOrCreateRootCa(dir), loadOrCreateRootCa(dir)]);
    assert.equal(a.fingerprint256, b.fingerprint256);
    assert.equal([a.created, b.created].filter(Boolean).length, 1);
    assert.ok(a.cert.checkPrivateKey(b.key));
    assert.deepEqual((await readdir(dir)).sort(), ['ca.cer', 'ca.key', 'ca.p12', 'ca.pem']);
  });
});
