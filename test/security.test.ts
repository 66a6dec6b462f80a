import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { run, startProxy, tempDir } from './helpers/servers.js';
import { DEFAULTS } from '../src/config.js';
import { parseCommandLine } from '../src/command.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('security defaults', () => {
  test('by default the proxy and the dashboard listen on 127.0.0.1 only', async (t) => {
    assert.equal(DEFAULTS.host, '127.0.0.1');
    const proxy = await startProxy({ ui: true, uiPort: 0, token: 't' });
    t.after(() => proxy.cleanup());
    assert.match(proxy.proxyUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(proxy.dashboardUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('--host 0.0.0.0 with a token is accepted with a warning that names the exposure', () => {
    // Parsed only: a test never listens beyond loopback.
    const command = parseCommandLine(['--host', '0.0.0.0', '--token', 'secret'], {});
    assert.equal(command.kind, 'run');
    const warnings = command.kind === 'run' ? command.warnings : [];
    assert.ok(warnings.some((w) => /listening on 0\.0\.0\.0: anyone who can reach it can use the proxy/.test(w)), warnings.join('; '));
  });

  test('git ignores everything in ca/ but its README and .gitignore, so a CA key is never committed', async () => {
    const ignored = await run('git', ['-C', ROOT, 'check-ignore', '-v', 'ca/ca.key', 'ca/ca.pem', 'ca/ca.p12', 'ca/bundle.pem']);
    assert.equal(ignored.stdout.trim().split('\n').length, 4, ignored.stdout);
    const kept = await run('git', ['-C', ROOT, 'check-ignore', 'ca/README.md', 'ca/.gitignore']);
    assert.equal(kept.stdout.trim(), '');
  });

  test('the key log, which decrypts sessions, is created readable by its owner only', async (t) => {
    const dir = await tempDir();
    t.after(() => dir.remove());
    const keylog = join(dir.path, 'keys.log');
    const proxy = await startProxy({ keylog });
    await proxy.cleanup();
    await writeFile(join(dir.path, 'probe'), '');
    assert.equal((await stat(keylog)).mode & 0o777, 0o600);
  });
});
