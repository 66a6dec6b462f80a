import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { TestCa } from '../helpers/pki.js';
import { cli } from '../helpers/cli.js';
import { run, startHttpsServer, startProxy, tempDir, type Listening, type TestProxy } from '../helpers/servers.js';
import { requirePythonModule, requireTools } from '../helpers/tools.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('eval "$(mitmscope env)" in a clean shell', () => {
  const ca = new TestCa();
  let files: { path: string; remove(): Promise<void> };
  let proxy: TestProxy;
  let server: Listening;
  let exports = '';
  const cleanEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: files.path });

  before(async () => {
    files = await tempDir();
    await writeFile(join(files.path, 'test-ca.pem'), ca.certPem);
    server = await startHttpsServer(ca.issue(['localhost']), (req, res) => res.end(`hello ${req.headers['user-agent'] ?? ''}`));
    proxy = await startProxy({ upstreamCa: [join(files.path, 'test-ca.pem')] });
    const r = await cli(['env', '--port', String(proxy.proxyPort), '--ca-dir', proxy.caDir], { env: { ...cleanEnv(), NODE_PATH: '' } });
    assert.equal(r.code, 0, r.stderr);
    exports = r.stdout;
  });
  after(async () => {
    await proxy.cleanup();
    await server.close();
    await files.remove();
  });

  function countFrom(agent: RegExp): number {
    return proxy.store.list().filter((f) => f.port === server.port && f.state === 'complete' && agent.test(f.request.headers.find(([k]) => k.toLowerCase() === 'user-agent')?.[1] ?? '')).length;
  }

  test('curl goes through the proxy and trusts its CA with no flags', { skip: requireTools('curl') }, async () => {
    const script = `eval "$MITM_ENV"; curl -sS https://localhost:${server.port}/curl`;
    const r = await run('bash', ['-c', script], { env: { ...cleanEnv(), MITM_ENV: exports } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello curl\//);
    assert.equal(countFrom(/^curl\//), 1);
  });

  test('python3 requests goes through the proxy and trusts its CA with no flags', { skip: requirePythonModule('requests', 'python3-requests') }, async () => {
    const py = `import requests; print(requests.get('https://localhost:${server.port}/py').text)`;
    const r = await run('bash', ['-c', `eval "$MITM_ENV"; python3 -c "$PY"`], { env: { ...cleanEnv(), MITM_ENV: exports, PY: py } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello python-requests\//);
    assert.equal(countFrom(/^python-requests\//), 1);
  });

  test("node's fetch goes through the proxy with undici's EnvHttpProxyAgent, as documented for Node 20", async () => {
    const js = `const { EnvHttpProxyAgent } = require(${JSON.stringify(join(ROOT, 'node_modules', 'undici'))});
fetch('https://localhost:${server.port}/node', { dispatcher: new EnvHttpProxyAgent(), headers: { 'user-agent': 'node-fetch-test' } })
  .then((r) => r.text()).then((t) => console.log(t), (e) => { console.error(e); process.exit(1); });`;
    // NODE_EXTRA_CA_CERTS is read at process start, so the exported value must be in the environment.
    const r = await run('bash', ['-c', `eval "$MITM_ENV"; node -e "$JS"`], { env: { ...cleanEnv(), MITM_ENV: exports, JS: js } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello node-fetch-test/);
    assert.equal(countFrom(/^node-fetch-test$/), 1);
  });
});
