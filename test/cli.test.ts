import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stopChild, tempDir } from './helpers/servers.js';
import { cli, startCli } from './helpers/cli.js';

describe('the mitmscope command', () => {
  test('--help prints the usage and every contract option', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const opt of ['--host', '--port', '--ui-port', '--no-ui', '--ca-dir', '--upstream-tls', '--upstream-ca', '--insecure', '--har', '--ignore-hosts', '--keylog', '--max-body', '--token']) {
      assert.ok(r.stdout.includes(opt), `help mentions ${opt}`);
    }
  });

  test('a port out of range is refused with a clear error and exit code 2', async () => {
    const r = await cli(['--port', '70000']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\[MITM_ERR_CONFIG\]/);
    assert.match(r.stderr, /--port must be between 0 and 65535, got 70000/);
  });

  test('an unknown --upstream-tls value is refused', async () => {
    const r = await cli(['--upstream-tls', '1.1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\[MITM_ERR_CONFIG\]/);
    assert.match(r.stderr, /--upstream-tls must be 1\.2, 1\.3 or auto/);
  });

  test('an unreadable --upstream-ca file stops start-up naming the file', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.remove());
    const r = await cli(['--port', '0', '--no-ui', '--ca-dir', dir.path, '--upstream-ca', join(dir.path, 'missing.pem')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[MITM_ERR_CONFIG\]/);
    assert.match(r.stderr, /--upstream-ca .*missing\.pem cannot be read: ENOENT/);
  });

  test('listening beyond loopback without a token is refused', async () => {
    const r = await cli(['--host', '0.0.0.0', '--port', '0', '--no-ui']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\[MITM_ERR_CONFIG\]/);
    assert.match(r.stderr, /set --token/);
  });

  test('start prints the proxy, dashboard and CA fingerprint; a restart keeps the fingerprint; SIGTERM exits 0', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.remove());
    const first = await startCli(['--port', '0', '--ui-port', '0', '--ca-dir', dir.path]);
    t.after(() => stopChild(first.child));
    assert.match(first.lines['proxy'] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(first.lines['dashboard'] ?? '', /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+$/);
    assert.equal(first.lines['CA'], join(dir.path, 'ca.pem'));
    const fingerprint = first.lines['CA SHA-256'];
    assert.match(fingerprint ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal((await stat(join(dir.path, 'ca.key'))).mode & 0o777, 0o600);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    const second = await startCli(['--port', '0', '--no-ui', '--ca-dir', dir.path]);
    t.after(() => stopChild(second.child));
    assert.equal(second.lines['CA SHA-256'], fingerprint);
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0);
  });

  test('a corrupt ca.key stops start-up naming the file, and leaves it untouched', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.remove());
    const first = await startCli(['--port', '0', '--no-ui', '--ca-dir', dir.path]);
    first.child.kill('SIGTERM');
    await first.exited;
    const keyPath = join(dir.path, 'ca.key');
    const corrupt = '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n';
    await writeFile(keyPath, corrupt, { mode: 0o600 });
    const before = await readFile(join(dir.path, 'ca.pem'));
    const r = await cli(['--port', '0', '--no-ui', '--ca-dir', dir.path]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ca\.key/);
    assert.match(r.stderr, /MITM_ERR_CA_CORRUPT/);
    assert.equal(await readFile(keyPath, 'utf8'), corrupt);
    assert.deepEqual(await readFile(join(dir.path, 'ca.pem')), before);
  });
});
