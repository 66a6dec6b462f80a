import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_FILE, SYSTEM_BUNDLES, writeCaBundle } from '../../src/setup/bundle.js';
import { TestCa } from '../helpers/pki.js';

const BEGIN = '-----BEGIN CERTIFICATE-----';

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

describe('writeCaBundle', () => {
  const ours = new TestCa('mitmscope bundle test CA');
  const corporate = new TestCa('corporate root');
  let dir: string;
  let fakeSystem: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mitmscope-bundle-'));
    fakeSystem = join(dir, 'system.crt');
    await writeFile(fakeSystem, corporate.certPem);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('writes <caDir>/bundle.pem: the system bundle first, our CA last, readable by everyone, no temporary file left', async () => {
    const path = await writeCaBundle(dir, ours.certPem, { systemBundles: ['/nonexistent/ca.crt', fakeSystem] });
    assert.equal(path, join(dir, BUNDLE_FILE));
    const text = await readFile(path, 'utf8');
    assert.ok(text.startsWith(corporate.certPem.trim()), 'the CAs the system trusted stay trusted');
    assert.ok(text.trimEnd().endsWith(ours.certPem.trim()));
    assert.equal(count(text, BEGIN), 2);
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
    createSecureContext({ ca: text });
  });

  test('by default it copies the first system bundle that exists, else Node’s roots', async () => {
    let system: string | null = null;
    for (const file of SYSTEM_BUNDLES) {
      if (await exists(file)) {
        system = await readFile(file, 'utf8');
        break;
      }
    }
    const text = await readFile(await writeCaBundle(dir, ours.certPem), 'utf8');
    if (system) assert.ok(text.startsWith(system.trimEnd()));
    else assert.ok(text.startsWith(rootCertificates[0]!));
    assert.ok(text.trimEnd().endsWith(ours.certPem.trim()));
  });

  test('without a usable system bundle it falls back to every one of Node’s root certificates', async () => {
    const empty = join(dir, 'empty.crt');
    await writeFile(empty, '# no certificates here\n');
    const text = await readFile(await writeCaBundle(dir, ours.certPem, { systemBundles: ['/nonexistent', empty] }), 'utf8');
    assert.equal(count(text, BEGIN), rootCertificates.length + 1);
    for (const root of rootCertificates) assert.ok(text.includes(root));
  });

  test('rewriting replaces the previous bundle (a new CA does not keep the old one trusted)', async () => {
    const other = new TestCa('replacement CA');
    await writeCaBundle(dir, ours.certPem, { systemBundles: [fakeSystem] });
    const text = await readFile(await writeCaBundle(dir, other.certPem, { systemBundles: [fakeSystem] }), 'utf8');
    assert.ok(text.includes(other.certPem.trim()));
    assert.ok(!text.includes(ours.certPem.trim()));
  });

  test('only certificate blocks are copied: a private key passed along never reaches the bundle', async () => {
    const text = await readFile(await writeCaBundle(dir, `${ours.keyPem}\n${ours.certPem}`, { systemBundles: [fakeSystem] }), 'utf8');
    assert.ok(!text.includes('PRIVATE KEY'));
    assert.ok(text.includes(ours.certPem.trim()));
  });

  test('text that is not a PEM certificate is refused with MITM_ERR_CA_CORRUPT', async () => {
    for (const bad of ['', ours.keyPem, `${BEGIN}\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n`]) {
      await assert.rejects(writeCaBundle(dir, bad, { systemBundles: [fakeSystem] }), { code: 'MITM_ERR_CA_CORRUPT' });
    }
  });

  test('a CA folder that cannot be written gives MITM_ERR_CA_IO', async () => {
    await assert.rejects(writeCaBundle(join(dir, 'missing', 'folder'), ours.certPem, { systemBundles: [fakeSystem] }), { code: 'MITM_ERR_CA_IO' });
  });
});
